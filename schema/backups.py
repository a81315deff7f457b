"""Tables of backups and of rejoining after a restore.

At the node that keeps backups (the data center; the province keeps the center's),
:data:`backup_catalogue` lists every backup it took whole. At a node restored from a
backup, :data:`restore_log` says from what, and :data:`rejoin_peer` tracks the peers
it asked for what it lost; at each peer, :data:`rejoin_fence` remembers the restore, so
that what the restored node signed before it and did not get back is void (but for what
:data:`rejoin_kept` names).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from schema.tables import metadata
from schema.types import DIGEST_LENGTH, UTCDateTime, code_column_type

EPOCH_LENGTH = 32
"""Hex digits of a restored node's epoch (16 random bytes)."""

__all__ = ["backup_catalogue", "rejoin_fence", "rejoin_kept", "rejoin_peer", "restore_log"]

backup_catalogue = Table(
    "backup_catalogue",
    metadata,
    Column("manifest_id", String(DIGEST_LENGTH), primary_key=True),
    Column("node", code_column_type(), nullable=False),
    Column("number", BigInteger, nullable=False),
    Column("prev", String(DIGEST_LENGTH), nullable=False),
    Column("taken_at", UTCDateTime(), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("objects", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("filename", String(200), nullable=False),
    Column("verified_at", UTCDateTime()),
    Column("problem", Text),
    Column("pruned_at", UTCDateTime()),
    Column("problem_said", Text),
    UniqueConstraint("node", "number"),
    Index(None, "node", "taken_at"),
)
"""Backups this node keeps for others, one row per manifest taken whole (every object
present and of its size). ``problem`` is what the last ``backup verify`` found, in
English; ``problem_said`` (JSON) keeps it by key, to show it in the reader's language;
``pruned_at`` says the retention policy let it go (its manifest file is gone)."""

restore_log = Table(
    "restore_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("manifest_id", String(DIGEST_LENGTH), nullable=False),
    Column("number", BigInteger, nullable=False),
    Column("taken_at", UTCDateTime(), nullable=False),
    Column("restored_at", UTCDateTime(), nullable=False),
    Column("rejoined_at", UTCDateTime()),
    Column("epoch", String(EPOCH_LENGTH)),
)
"""Restores of this node: from which backup, when, and when it rejoined its peers; the
``epoch`` of the latest is named in the header of everything the node signs after it."""

rejoin_peer = Table(
    "rejoin_peer",
    metadata,
    Column("peer", code_column_type(), primary_key=True),
    Column("request_id", String(DIGEST_LENGTH), nullable=False),
    Column("asked_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    Column("answer_file", String(200)),
    Column("answered_at", UTCDateTime()),
)
"""While a restored node rejoins: each peer asked, and its answer once it came."""

rejoin_fence = Table(
    "rejoin_fence",
    metadata,
    Column("node", code_column_type(), primary_key=True),
    Column("request_id", String(DIGEST_LENGTH), nullable=False),
    Column("void_before", UTCDateTime(), nullable=False),
    Column("out_seq", BigInteger, nullable=False),
    Column("in_seq", BigInteger, nullable=False),
    Column("answered_at", UTCDateTime(), nullable=False),
    Column("epoch", String(EPOCH_LENGTH)),
    Column("versioned", Boolean),
    Column("replaced", Text),
    Column("epoch_unknown", Boolean),
)
"""A peer's record of a node's restore. ``out_seq``: the last change-set of the node's
channel to this one that was returned to it; ``in_seq``: the last of this node's
channel to it that the node still held. What the node signed before ``void_before``
beyond those is void: it went with the node's lost state. When the node named an ``epoch``
in its request, whatever it signs beyond those that does not name that epoch is void,
however it is dated (a clock that ran ahead before the loss cannot carry it past).
``versioned``: the request said its version (its node asks again naming the fence an
answer names), so a request of another epoch takes this fence's place only by naming it;
false or null (before schema revision 0025), by its date. ``replaced``: the epochs (space-separated, oldest first)
whose fence a request of another epoch took the place of by naming it, on the way to this
one; a request of one of them that names a fence again comes from a machine that lived on
after another took over as the same node (a fork), and takes no place (null: none so, or
before revision 0028). ``epoch_unknown``: true once this node was restored from a backup,
which holds the fence as it stood then (judged by time meanwhile, whatever its ``epoch``);
the fenced peer's answer to this node's rejoin request names the epoch it runs in now,
and the fence learns it (:func:`sync.fence.learn`)."""

rejoin_kept = Table(
    "rejoin_kept",
    metadata,
    Column("node", code_column_type(), primary_key=True),
    Column("changeset_id", String(DIGEST_LENGTH), primary_key=True),
)
"""Beside a node's fence: its own change-sets to this node that its lost state signed and
that it took back when it rejoined (from another peer, or its keeper's journal, after this
one had answered). They are not void; the rest of that state is. Emptied when the fence
is replaced."""
