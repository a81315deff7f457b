"""Tables of the sync machinery: change-set log, channel heads, outbox, quarantine, relays,
the files that failed inside a sync round, and the checks of a home's consistency.

A channel is the ordered stream of change-sets from one origin to one recipient;
its head records the last change-set applied (sequence number and id), so that the
next one must carry ``seq = head.seq + 1`` and ``prev = head.last_id``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from schema.tables import metadata
from schema.types import DIGEST_LENGTH, UTCDateTime, code_column_type

__all__ = [
    "changeset_log",
    "channel_head",
    "check_finding",
    "check_run",
    "file_attempt",
    "held_file",
    "outbox",
    "quarantine",
    "relay_log",
]

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
    Column("purged_at", UTCDateTime()),
    Column("reason_said", Text),
    UniqueConstraint("origin", "recipient", "seq"),
    CheckConstraint("verdict IN ('applied', 'rejected')", name="verdict"),
    Index(None, "receipt_sent_at"),
)
"""Every change-set taken at this node, in order, with the verdict and the signed receipt.

A ``rejected`` change-set (valid signature, content refused) still takes its place on the
channel, so that one bad change-set never blocks the ones after it; nothing of it is
applied and its negative receipt tells the origin why. ``purged_at``: when its file in
``spool/taken/`` and the receipt this node signed were let go (``fiscalsync purge``).
``reason`` is in English (what the receipt says); ``reason_said`` (JSON) keeps it by key,
to show it in the reader's language (:func:`schema.said.kept`).
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
    Column("purged_at", UTCDateTime()),
    Column("receipt_reason_said", Text),
    UniqueConstraint("recipient", "seq"),
    Index(None, "acked_at", "next_attempt_at"),
)
"""Change-sets this node originated, kept until the recipient's signed receipt arrives.

``receipt_taken_at`` is when the recipient took the change-set, by the recipient's clock,
as its signed receipt says (``acked_at`` is when the receipt arrived, by this node's).
``purged_at``: when the file and its receipt were let go (``fiscalsync purge``).
``receipt_reason`` is in English, as the receipt says it; ``receipt_reason_said`` (JSON)
keeps it by key when the receipt does too (a recipient of an earlier fiscalsync does not),
to show it in the reader's language."""

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
    Column("sha256", String(DIGEST_LENGTH)),
    Column("seen_count", Integer, nullable=False, server_default="1"),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("detail_said", Text),
    UniqueConstraint("sha256"),
    CheckConstraint("seen_count >= 1", name="seen_count"),
)
"""Files refused by verification or validation, or parked, with the reason; never applied.

One entry per file content (``sha256``): a copy that arrives again bumps ``seen_count`` and
``last_seen_at`` (``received_at`` is when it was first seen) and adds no row and no file.
Entries written before content hashes were kept have none. ``detail`` is in English;
``detail_said`` (JSON) keeps it by key, to show it in the reader's language.
"""

file_attempt = Table(
    "file_attempt",
    metadata,
    Column("stage", String(16), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("attempts", Integer, nullable=False),
    Column("first_failed_at", UTCDateTime(), nullable=False),
    Column("last_failed_at", UTCDateTime(), nullable=False),
    Column("error", Text, nullable=False),
    Column("parked_at", UTCDateTime()),
    Column("error_said", Text),
    CheckConstraint("stage IN ('take', 'relay', 'send', 'receipt', 'fetch')", name="stage"),
)
"""Files that failed inside a sync round, by stage and file name, until they succeed.

A failing file is retried on later rounds; after a bounded number of attempts (or at
once, for a damaged copy of this node's own) it is parked (``parked_at``) and named in
``status`` until it is taken, repaired or gone. ``error`` is in English; ``error_said``
(JSON) keeps it by key, when it was said by key, to show it in the reader's language.
"""

relay_log = Table(
    "relay_log",
    metadata,
    Column("id", String(DIGEST_LENGTH), primary_key=True),
    Column("origin", code_column_type(), nullable=False),
    Column("recipient", code_column_type(), nullable=False),
    Column("source", code_column_type()),
    Column("target", code_column_type(), nullable=False),
    Column("times", Integer, nullable=False),
    Column("first_at", UTCDateTime(), nullable=False),
    Column("last_at", UTCDateTime(), nullable=False),
    Index(None, "last_at"),
)
"""Change-sets this node relayed for others: where each came from and where it went.

A change-set travels one path: a copy coming from another neighbour than the first
(``source``; NULL when not known) is going round in a loop, and is quarantined.
"""

held_file = Table(
    "held_file",
    metadata,
    Column("filename", String(200), primary_key=True),
    Column("sha256", String(DIGEST_LENGTH), nullable=False),
    Column("recipient", code_column_type(), nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("crl_number", BigInteger),
    Column("first_seen_at", UTCDateTime(), nullable=False),
    CheckConstraint("verdict IN ('verified', 'early')", name="verdict"),
)
"""Change-sets for another node waiting here (:mod:`sync.held`): when this node first saw
each (its own clock), and the verdict of checking it as a relay can (``verified``, under
revocation list ``crl_number``; ``early``: its signer's certificate begins after this
node's clock), for the file of hash ``sha256``."""

check_run = Table(
    "check_run",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=False),
    Column("read_data", Boolean, nullable=False),
    Column("files_read", Integer, nullable=False),
    Column("problems", Integer, nullable=False),
    Column("repaired", Integer, nullable=False),
)
"""Each ``fiscalsync check`` of this home (by hand or by the agent): when, how deep, and
how many problems it left (``problems``) after repairing what it could (``repaired``)."""

check_finding = Table(
    "check_finding",
    metadata,
    Column("run_id", Integer, ForeignKey("check_run.id", ondelete="CASCADE"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("problem", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("repaired", Boolean, nullable=False),
    Column("by_reading", Boolean, nullable=False),
    Column("said", Text),
)
"""What a check found, one row each, in the order found; ``status`` shows the last run's
(and what the last run that read every stored file found by reading them). ``problem``
and ``action`` are in English; ``said`` (JSON) keeps their messages by key, to show them
in the reader's language."""
