"""The node's identity row in its database, as far as its network's signature suite goes.

A network has one suite (``ed25519`` or ``sm2``, fixed by its root certificate). The
database records it (``node_identity.suite``) because work done inside a transaction
that sees only a connection hashes under it: the reconciliation digests (SHA-256 in an
Ed25519 network, SM3 in an SM2 one), kept in the same transaction as every change. It
is written when the node's database is made inside a network (``network init``), and
brought in line with the installed root by ``keys install`` and ``db upgrade``
(:func:`settle_suite`), which have whatever was digested under the old suite
recomputed (:data:`nodes.capabilities.SUITE_CHANGED`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.capabilities import SUITE_CHANGED
from schema.tables import node_identity
from sync.signing import SignatureSuite, get_suite

__all__ = ["network_suite", "settle_suite"]


def network_suite(conn: Connection) -> SignatureSuite:
    """The signature suite of this node's network, as its database records it."""
    name = conn.execute(_SUITE).scalar_one()
    return get_suite(name)


_SUITE = sa.select(node_identity.c.suite)


def settle_suite(conn: Connection, suite: str) -> bool:
    """Record ``suite`` as the network's, in the caller's transaction (the identity row
    locked); when it was another, what was digested under that one is recomputed.
    Returns whether anything changed."""
    get_suite(suite)  # an unknown suite is refused before anything is written
    code, before = conn.execute(
        sa.select(node_identity.c.code, node_identity.c.suite).with_for_update()
    ).one()
    if before == suite:
        return False
    conn.execute(node_identity.update().values(suite=suite))
    for recompute in SUITE_CHANGED:
        recompute(conn, code)
    return True
