"""Bucket digests kept beside the records they summarise, for reconciliation.

One row per non-empty bucket of a two-level tree over a *scope* (a set of records, e.g.
the appropriations one issuer sent one recipient): level 0 is the root, level 1 its
:data:`~sync.merkle.LEVEL1` buckets, level 2 the leaves. See :mod:`sync.merkle`.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, SmallInteger, String, Table

from schema.tables import metadata
from schema.types import DIGEST_LENGTH

__all__ = ["digest_bucket"]

digest_bucket = Table(
    "digest_bucket",
    metadata,
    Column("scope", String(64), primary_key=True),
    Column("level", SmallInteger, primary_key=True),
    Column("bucket", Integer, primary_key=True),
    Column("digest", String(DIGEST_LENGTH), nullable=False),
    Column("records", BigInteger, nullable=False),
)
"""The digest of a bucket (the sum, modulo 2^256, of its records' SHA-256) and how many
records it holds; kept in the same transaction as every change of those records."""
