"""Tables of the sync machinery: change-set log, channel heads, outbox, quarantine.

A channel is the ordered stream of change-sets from one origin to one recipient;
its head records the last change-set applied (sequence number and id), so that the
next one must carry ``seq = head.seq + 1`` and ``prev = head.last_id``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
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

__all__ = ["changeset_log", "channel_head", "outbox", "quarantine"]

changeset_log = Table(
    "changeset_log",
    metadata,
    Column("id", String(DIGEST_LENGTH), primary_key=True),
    Column("origin", code_column_type(), nullable=False),
    Column("recipient", code_column_type(), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("prev", String(DIGEST_LENGTH), nullable=False),
    Column("op_count", BigInteger, nullable=False),
    Column("created", UTCDateTime(), nullable=False),
    Column("applied_at", UTCDateTime(), nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("reason", Text),
    Column("receipt_id", String(DIGEST_LENGTH), nullable=False),
    Column("receipt_file", String(200), nullable=False),
    Column("receipt_sent_at", UTCDateTime()),
    UniqueConstraint("origin", "recipient", "seq"),
    CheckConstraint("verdict IN ('applied', 'rejected')", name="verdict"),
    Index(None, "receipt_sent_at"),
)
"""Every change-set taken at this node, in order, with the verdict and the signed receipt.

A ``rejected`` change-set (valid signature, content refused) still takes its place on the
channel, so that one bad change-set never blocks the ones after it; nothing of it is
applied and its negative receipt tells the origin why.
"""

channel_head = Table(
    "channel_head",
    metadata,
    Column("origin", code_column_type(), primary_key=True),
    Column("recipient", code_column_type(), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("last_id", String(DIGEST_LENGTH), nullable=False),
    Column("state", String(DIGEST_LENGTH), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)
"""The last change-set of each channel: applied (inbound) or enqueued (outbound).

``state`` is a running digest of the channel's history (every id and verdict in order);
receipts carry it so both ends can prove they agree on the whole channel.
"""

outbox = Table(
    "outbox",
    metadata,
    Column("id", String(DIGEST_LENGTH), primary_key=True),
    Column("recipient", code_column_type(), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("filename", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    Column("acked_at", UTCDateTime()),
    Column("receipt_id", String(DIGEST_LENGTH)),
    Column("receipt_file", String(200)),
    Column("receipt_verdict", String(16)),
    Column("receipt_reason", Text),
    Column("receipt_taken_at", UTCDateTime()),
    UniqueConstraint("recipient", "seq"),
    Index(None, "acked_at", "next_attempt_at"),
)
"""Change-sets this node originated, kept until the recipient's signed receipt arrives.

``receipt_taken_at`` is when the recipient took the change-set, by the recipient's clock,
as its signed receipt says (``acked_at`` is when the receipt arrived, by this node's)."""

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("filename", String(200), nullable=False),
    Column("changeset_id", String(DIGEST_LENGTH)),
    Column("origin", code_column_type()),
    Column("recipient", code_column_type()),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("released_at", UTCDateTime()),
    Column("dropped_at", UTCDateTime()),
)
"""Change-sets refused by verification or validation, with the reason, never applied."""
