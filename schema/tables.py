"""Business tables of a node database, on one :class:`MetaData` with a naming convention.

Nothing here is ever updated in place where money is concerned: an appropriation's
amount is the sum of its events, and every event keeps who, when and under which
document number (文号) it was made.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from schema.types import DIGEST_LENGTH, Fen, UTCDateTime, code_column_type

__all__ = [
    "appropriation",
    "appropriation_copy",
    "appropriation_copy_event",
    "appropriation_event",
    "budget_line",
    "code_change",
    "code_item",
    "counter",
    "reconciliation",
    "reconciliation_finding",
    "ledger_entry",
    "metadata",
    "node_identity",
    "report",
    "region_report",
    "region_report_line",
    "report_line",
    "topology_file",
    "topology_node",
    "year_close",
    "year_close_line",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

node_identity = Table(
    "node_identity",
    metadata,
    Column("code", code_column_type(), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("role", String(16), nullable=False),
    Column("parent_code", code_column_type()),
    Column("topology_sha256", String(DIGEST_LENGTH), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("suite", String(16), nullable=False, server_default="ed25519"),
    CheckConstraint("role IN ('province', 'city', 'county', 'center')", name="role"),
)
"""The one row saying which node this database belongs to, and the signature suite of its
network (``ed25519``, ``sm2``): the hash of the digests kept in this database is the
suite's (SHA-256, SM3)."""

topology_node = Table(
    "topology_node",
    metadata,
    Column("code", code_column_type(), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("role", String(16), nullable=False),
    Column("parent_code", code_column_type()),
    Column("endpoint", String(500)),
    Column("host_key", String(1000)),
)
"""The topology this node was set up with (a snapshot; the file in the home is the source)."""

topology_file = Table(
    "topology_file",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("toml", Text, nullable=False),
    CheckConstraint("id = 1", name="one"),
)
"""The topology file this node follows (one row): written in the transaction that takes or
publishes a version, and the file in the home is written from it after the commit
(:func:`nodes.membership.follow`)."""

counter = Table(
    "counter",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("scope", String(64), primary_key=True),
    Column("last", BigInteger, nullable=False),
    CheckConstraint("last >= 0", name="last"),
)
"""Numbers handed out under a row lock (:func:`schema.locks.take_numbers`), never max()+1:
e.g. ``appropriation`` / ``410000-2026`` holds the last appropriation number the province
gave for 2026."""

code_item = Table(
    "code_item",
    metadata,
    Column("codeset", String(16), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("code", String(16), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("parent_code", String(16)),
    Column("level", Integer, nullable=False),
    Column("is_extension", Boolean, nullable=False, default=False),
)
"""Code sets (基础数据规范): functional and economic classifications, fund types, regions."""

code_change = Table(
    "code_change",
    metadata,
    Column("codeset", String(16), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("old_code", String(16), primary_key=True),
    Column("new_code", String(16), nullable=False),
    Column("is_extension", Boolean, nullable=False, default=False),
)
"""Changed codes (科目变动对照): a code of ``year - 1`` that is ``new_code`` in ``year``,
shipped with (or imported beside) the year's code set; a carry-over (结转) into ``year``
takes the new code."""

appropriation = Table(
    "appropriation",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("year", Integer, nullable=False),
    Column("issuer", code_column_type(), nullable=False),
    Column("recipient", code_column_type(), nullable=False),
    Column("doc_no", String(100), nullable=False),
    Column("title", String(300), nullable=False, default=""),
    Column("upper_doc_no", String(100)),
    Column("parent_id", String(40), ForeignKey("appropriation.id")),
    Column("func_code", String(16), nullable=False),
    Column("econ_code", String(16), nullable=False),
    Column("fund_code", String(16), nullable=False),
    Column("transfer_type", String(16), nullable=False),
    Column("project_code", String(64)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("leaf", Integer, nullable=False),
    Column("direct", Boolean, nullable=False, default=False, server_default=false()),
    Column("indicator_kind", String(16), nullable=False, server_default="annual"),
    Column("fund_source", String(16), nullable=False, server_default="own"),
    Column("budget_level", String(16)),
    CheckConstraint("transfer_type IN ('general', 'special', 'shared')", name="transfer_type"),
    CheckConstraint(
        "indicator_kind IN ('annual', 'additional', 'advance', 'carryover')", name="indicator_kind"
    ),
    CheckConstraint("fund_source IN ('upper', 'own')", name="fund_source"),
    CheckConstraint(
        "budget_level IN ('central', 'province', 'city', 'county')", name="budget_level"
    ),
    Index(None, "recipient", "year"),
    Index(None, "issuer", "year", "doc_no"),
    Index(None, "parent_id"),
    Index(None, "issuer", "recipient", "leaf"),
)
"""Budget appropriations (预算指标), issued here or received from above. ``leaf`` is the
reconciliation leaf of the id (:func:`sync.merkle.leaf_of`), so that the records of one
leaf are found without reading the others. ``transfer_type`` is ``general`` (一般性转移支付),
``special`` (专项转移支付) or ``shared`` (共同财政事权转移支付); ``direct`` marks 直达资金,
which every breakdown keeps. ``indicator_kind`` is the 指标类型 (``annual`` 年初预算,
``additional`` 追加, ``advance`` 提前下达, ``carryover`` 结转), ``fund_source`` the 指标来源 (``upper`` 上级补助,
with its ``upper_doc_no``, or ``own`` 本级安排) and ``budget_level`` the 预算级次."""

appropriation_copy = Table(
    "appropriation_copy",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("year", Integer, nullable=False),
    Column("issuer", code_column_type(), nullable=False),
    Column("recipient", code_column_type(), nullable=False),
    Column("doc_no", String(100), nullable=False),
    Column("title", String(300), nullable=False, default=""),
    Column("func_code", String(16), nullable=False),
    Column("econ_code", String(16), nullable=False),
    Column("fund_code", String(16), nullable=False),
    Column("transfer_type", String(16), nullable=False),
    Column("direct", Boolean, nullable=False),
    Column("project_code", String(64)),
    Column("taken_at", UTCDateTime(), nullable=False),
    Index(None, "recipient", "year"),
)
"""Information copies (抄送) of appropriations issued by a node above straight to a node
below this one (a province to a county under this city): counted in this node's 全辖
view, never in its own balance."""

appropriation_copy_event = Table(
    "appropriation_copy_event",
    metadata,
    Column("appropriation_id", String(40), ForeignKey("appropriation_copy.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("amount_fen", Fen, nullable=False),
    Column("doc_no", String(100), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("changeset_id", String(DIGEST_LENGTH), nullable=False),
    CheckConstraint("kind IN ('issue', 'increase', 'decrease', 'recover')", name="kind"),
)
"""The events of a copied appropriation, as its copies told them; its amount is their sum."""

appropriation_event = Table(
    "appropriation_event",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("appropriation_id", String(40), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount_fen", Fen, nullable=False),
    Column("doc_no", String(100), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("changeset_id", String(DIGEST_LENGTH)),
    ForeignKeyConstraint(["appropriation_id"], ["appropriation.id"]).ddl_if(dialect="sqlite"),
    UniqueConstraint("appropriation_id", "seq"),
    CheckConstraint("kind IN ('issue', 'increase', 'decrease', 'recover')", name="kind"),
    Index(None, "changeset_id"),
)
"""Events of an appropriation (下达/调增/调减/收回); its amount is their sum, in fen.

The reference to the appropriation is a foreign key on SQLite only (where it costs
little). On PostgreSQL its per-row trigger was nearly half the time of a large apply's
COPY, so every writer checks the reference itself, under the locks it already holds:
an issue's event is made from the appropriation row inserted just before it in the same
transaction, an adjustment's names a row the writer read and locked (no appropriation is
ever deleted), and loading a snapshot checks every event (:mod:`schema.references`)."""

ledger_entry = Table(
    "ledger_entry",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry_date", Date, nullable=False),
    Column("direction", String(16), nullable=False),
    Column("func_code", String(16), nullable=False),
    Column("econ_code", String(16)),
    Column("amount_fen", Fen, nullable=False),
    Column("appropriation_id", String(40), ForeignKey("appropriation.id")),
    Column("memo", Text, nullable=False, default=""),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("recorded_by", String(100), nullable=False),
    CheckConstraint("direction IN ('expenditure', 'revenue')", name="direction"),
    Index(None, "entry_date"),
    Index(None, "appropriation_id"),
)
"""Expenditure payments and revenue receipts at this node, the source of its reports;
the spending of an appropriation is found by its id (:mod:`nodes.fiscal.appropriations.balances`)."""


def _report_header(kept: Column[Any]) -> list[Any]:
    """The columns of a report's header, ``kept`` among them (what differs by table)."""
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("node_code", code_column_type(), nullable=False),
        Column("period", String(16), nullable=False),
        Column("kind", String(16), nullable=False),
        Column("year", Integer, nullable=False),
        Column("version", Integer, nullable=False),
        Column("state", String(16), nullable=False),
        kept,
        Column("generated_at", UTCDateTime(), nullable=False),
        Column("generated_by", String(100), nullable=False),
        Column("submitted_at", UTCDateTime()),
        Column("changeset_id", String(DIGEST_LENGTH)),
        Column("received_at", UTCDateTime()),
        UniqueConstraint("node_code", "period", "version"),
        CheckConstraint("kind IN ('monthly', 'tenday')", name="kind"),
    ]


def _line_columns() -> list[Any]:
    """The columns of a report line after its report's id."""
    return [
        Column("section", String(16), primary_key=True),
        Column("level", Integer, primary_key=True),
        Column("code", String(16), primary_key=True),
        Column("budget_fen", Fen, nullable=False),
        Column("period_fen", Fen, nullable=False),
        Column("ytd_fen", Fen, nullable=False),
        Column("month_fen", Fen, nullable=False, server_default="0"),
        Column("last_year_fen", Fen, nullable=False, server_default="0"),
        CheckConstraint("section IN ('revenue', 'expenditure')", name="section"),
        CheckConstraint("level BETWEEN 0 AND 3", name="level"),
    ]


report = Table(
    "report",
    metadata,
    *_report_header(Column("negative_entries", Boolean, nullable=False)),
    CheckConstraint("state IN ('draft', 'submitted', 'received')", name="state"),
    CheckConstraint("version >= 1", name="version"),
    Index(None, "period"),
)
"""Revenue and expenditure reports (旬报, 月报): this node's own and those it received.

Every version is kept: a correction is a new version, and the newest is the current one.
Own reports are ``draft`` until ``submitted`` (``changeset_id``: the copy sent to the
first receiver, the parent, or the central node where there is none; its receipt in the
outbox says when that receiver took it). Reports of other nodes are ``received``, with
``received_at`` this node's time of taking them (by which they are judged on time or
late) and ``submitted_at`` the sender's own creation time of the signed change-set that
brought them (``changeset_id``), for the record. ``negative_entries`` says a negative ledger entry went
into the report, which lifts the check that no year to date is below its period.
"""

report_line = Table(
    "report_line",
    metadata,
    Column("report_id", Integer, ForeignKey("report.id"), primary_key=True),
    *_line_columns(),
)
"""The lines of a report: 0 the section total, 1 类 and 2 款 subtotals, 3 the leaf codes.
``month_fen`` is the month to date (本月累计; a monthly report's is its period),
``last_year_fen`` the year to date of the same period last year (上年同期)."""


region_report = Table(
    "region_report",
    metadata,
    *_report_header(Column("members", Text, nullable=False)),
    CheckConstraint("state IN ('submitted', 'received')", name="state"),
    CheckConstraint("version >= 1", name="version"),
)
"""Consolidated reports sent level by level (逐级全辖): a node with children sends its
parent, beside its own report, the consolidation of its own and its subtree's, and keeps
what it sent (``submitted``); the parent keeps those it took (``received``). ``members``
names what was summed, one ``code:version:scope`` per report, space-separated."""

region_report_line = Table(
    "region_report_line",
    metadata,
    Column("report_id", Integer, ForeignKey("region_report.id"), primary_key=True),
    *_line_columns(),
)
"""The lines of a consolidated report, as :data:`report_line`."""

budget_line = Table(
    "budget_line",
    metadata,
    Column("year", Integer, primary_key=True),
    Column("section", String(16), primary_key=True),
    Column("code", String(16), primary_key=True),
    Column("amount_fen", Fen, nullable=False),
    Column("imported_at", UTCDateTime(), nullable=False),
    Column("imported_by", String(100), nullable=False),
    Column("source", String(300), nullable=False),
    CheckConstraint("section IN ('revenue', 'expenditure')", name="section"),
)
"""This node's own budget (本级预算) of a year by classification code, revenue and
expenditure, as last imported (``budget import``): the budget column of its reports,
beside the appropriations it holds."""

reconciliation = Table(
    "reconciliation",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("dataset", String(16), nullable=False),
    Column("origin", code_column_type(), nullable=False),
    Column("recipient", code_column_type(), nullable=False),
    Column("role", String(16), nullable=False),
    Column("cut", BigInteger),
    Column("state", String(16), nullable=False),
    Column("agree", Boolean),
    Column("discrepancies", Integer, nullable=False, default=0),
    Column("in_transit", Integer, nullable=False, default=0),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("concluded_at", UTCDateTime()),
    Column("summary", Text),
    Column("statement_changeset", String(DIGEST_LENGTH)),
    CheckConstraint("dataset IN ('appropriation', 'report')", name="dataset"),
    CheckConstraint("role IN ('initiator', 'peer')", name="role"),
    CheckConstraint(
        "state IN ('requested', 'answered', 'comparing', 'concluded', 'failed')", name="state"
    ),
    Index(None, "origin", "recipient"),
)
"""Reconciliations (对账) this node started (``initiator``: the origin of the channel) or
answered (``peer``), with their cut (the channel position both sides compare at), where
they stand and what they found. ``summary`` is JSON: the totals per function class of
each side, the certificate fingerprints, what was in transit."""

reconciliation_finding = Table(
    "reconciliation_finding",
    metadata,
    Column("reconciliation_id", String(40), ForeignKey("reconciliation.id"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("field", String(32)),
    Column("ours", Text),
    Column("theirs", Text),
    Column("detail", Text, nullable=False),
    Column("discrepancy", Boolean, nullable=False),
    Column("params", Text),
)
"""What a reconciliation found, one row each, with both sides' values (JSON text): a
discrepancy, or something to know that is not one (in transit, 在途). ``detail`` is in
English; ``params`` (JSON) names its message and the values it names, to show it in the
reader's language."""

year_close = Table(
    "year_close",
    metadata,
    Column("issuer", code_column_type(), primary_key=True),
    Column("recipient", code_column_type(), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("balance_fen", Fen, nullable=False),
    Column("statement_id", String(DIGEST_LENGTH), nullable=False),
    Column("closed_at", UTCDateTime(), nullable=False),
    Column("closed_by", String(100), nullable=False),
    Column("mode", String(16)),
    Column("doc_no", String(100)),
    Column("accepted_at", UTCDateTime()),
    Column("accepted_by", String(100)),
    Column("accepted_id", String(DIGEST_LENGTH)),
    CheckConstraint("state IN ('sent', 'stated', 'accepted')", name="state"),
    CheckConstraint("mode IN ('carry', 'recover')", name="mode"),
)
"""Year-end closes (结转): a recipient's balance statement of one year's appropriations
from one issuer. At the recipient the row is ``sent`` (the year is closed there: no more
spending or breaking down); at the issuer ``stated`` until an operator accepts it, then
``accepted``, with how (``carry`` 结转 into the next year, or ``recover`` 收回) and the
document (文号) of the acceptance, and the change-set that carried it (``accepted_id``:
refused by the recipient, the statement is ``stated`` again). A second close of the same
year breaks the key."""

year_close_line = Table(
    "year_close_line",
    metadata,
    Column("issuer", code_column_type(), primary_key=True),
    Column("recipient", code_column_type(), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("appropriation_id", String(40), primary_key=True),
    Column("balance_fen", Fen, nullable=False),
    Column("carried_to", String(40)),
    ForeignKeyConstraint(
        ["issuer", "recipient", "year"],
        ["year_close.issuer", "year_close.recipient", "year_close.year"],
    ),
)
"""One appropriation's unspent balance in a year-end statement, and (at the issuer, once
carried over) the next year's appropriation (结转) that carries it."""
