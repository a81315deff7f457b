"""The operations of an ``appropriation`` change-set, and the checks every one must pass.

::

    {"op": "issue", "id": "...", "year": 2026, "doc": "豫财教〔2026〕12号", "title": "...",
     "upper_doc": null, "parent_id": null, "func": "2050201", "econ": "50201",
     "fund": "111", "type": "general", "direct": false, "project": null,
     "indicator": "annual", "source": "own", "level": "city",
     "amount": 123456, "actor": "...", "at": "2026-11-23T08:00:00Z", "from": null}
    {"op": "increase" | "decrease" | "recover", "id": "...", "amount": 100,
     "doc": "...", "actor": "...", "at": "..."}

``from`` is, for a breakdown (分解), the id of the received appropriation it was taken
from at the issuer: the recipient ignores it; the issuer needs it to take its own
change-set back after a restore (:mod:`.adopting`). Amounts are integer fen, positive and at most ``MAX_AMOUNT_FEN``; the event's sign
comes from its kind. ``type`` is one of :data:`TRANSFER_TYPES` (``general`` when absent);
``direct`` (直达资金) is true or false (false when absent). ``indicator`` (指标类型) is one
of :data:`INDICATOR_KINDS` (``annual`` when absent), ``source`` (指标来源) ``upper`` exactly
when an ``upper_doc`` is named, else ``own``, and ``level`` (预算级次) one of
:data:`BUDGET_LEVELS` or absent. With the topology's rules (:mod:`nodes.fiscal.documents`),
``doc`` is a document of the issuer of the fiscal year (or the year before for 提前下达),
and ``upper_doc`` one of the Ministry of Finance or of a node above it. Text fields are no longer than their columns. An ``issue`` carries
an id of the origin's own numbering (``<origin>-<year>-<n>``). The rows an operation
becomes are in the column orders :data:`APPROPRIATION_COLUMNS` and :data:`EVENT_COLUMNS`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from nodes.fiscal.codes import Known
from nodes.fiscal.documents import Documents
from nodes.labels import said
from schema.tables import appropriation, appropriation_event
from schema.types import MAX_AMOUNT_FEN, format_yuan, is_year, parse_utc
from sync.errors import InputError
from sync.merkle import leaf_of

if TYPE_CHECKING:
    pass

__all__ = [
    "Issues",
    "APPROPRIATION_COLUMNS",
    "BUDGET_LEVELS",
    "INDICATOR_KINDS",
    "SOURCES",
    "EVENT_COLUMNS",
    "EVENT_SIGN",
    "FIELD_LENGTH",
    "TRANSFER_LABELS",
    "TRANSFER_TYPES",
    "check_operation",
    "operation_at",
    "issued_under",
]

EVENT_SIGN = {"issue": 1, "increase": 1, "decrease": -1, "recover": -1}
TRANSFER_TYPES = ("general", "special", "shared")
TRANSFER_LABELS = {"general": "一般性", "special": "专项", "shared": "共同财政事权"}
"""Transfer-payment types (转移支付类型) and the words a finance officer knows them by."""
TRANSFER_WORDS = {
    **{t: t for t in TRANSFER_TYPES},
    **{label: t for t, label in TRANSFER_LABELS.items()},
    **{f"{label}转移支付": t for t, label in TRANSFER_LABELS.items()},
}
"""What an operator may write for a transfer type: the code, or its Chinese name."""
INDICATOR_KINDS = {
    "annual": "年初预算",
    "additional": "追加",
    "advance": "提前下达",
    "carryover": "结转",
}
"""指标类型: in the budget passed at the start of the year, added during it, allocated
in advance of the next year, or carried over (结转) from the year before at its close
(its 上级文号 the carried appropriation's 文号, which may be the issuer's own)."""
SOURCES = {"upper": "上级补助", "own": "本级安排"}
"""指标来源: money from the level above (with its 上级文号), or this level's own."""
BUDGET_LEVELS = {"central": "中央级", "province": "省级", "city": "市级", "county": "县级"}
"""预算级次: the level of government whose budget the money belongs to."""

_ISSUE_TEXT = ("id", "doc", "func", "econ", "fund", "actor", "at")
FIELD_LENGTH = {
    "id": appropriation.c.id.type.length,
    "doc": appropriation.c.doc_no.type.length,
    "title": appropriation.c.title.type.length,
    "upper_doc": appropriation.c.upper_doc_no.type.length,
    "func": appropriation.c.func_code.type.length,
    "econ": appropriation.c.econ_code.type.length,
    "fund": appropriation.c.fund_code.type.length,
    "project": appropriation.c.project_code.type.length,
    "actor": appropriation_event.c.actor.type.length,
}
"""The longest text each field of an operation may carry (what its column holds)."""
_OPTIONAL_TEXT = ("title", "upper_doc", "project")
APPROPRIATION_COLUMNS = (
    "id",
    "year",
    "issuer",
    "recipient",
    "doc_no",
    "title",
    "upper_doc_no",
    "parent_id",
    "func_code",
    "econ_code",
    "fund_code",
    "transfer_type",
    "project_code",
    "created_at",
    "created_by",
    "leaf",
    "direct",
    "indicator_kind",
    "fund_source",
    "budget_level",
)
EVENT_COLUMNS = (
    "appropriation_id",
    "seq",
    "kind",
    "amount_fen",
    "doc_no",
    "actor",
    "at",
    "changeset_id",
)


def operation_at(number: int) -> str:
    """How a refusal names the operation of that number (counted from 1) of a change-set."""
    return said("rows_operation", number=number)


def _when(text: Any, number: int) -> datetime:
    if not isinstance(text, str):
        raise InputError(said("op_at_missing", where=operation_at(number)))
    try:
        return parse_utc(text)
    except ValueError as exc:
        raise InputError(
            said("op_at_bad", where=operation_at(number), text=text, error=str(exc))
        ) from exc


def _amount(value: Any, number: int) -> int:
    if type(value) is not int or value <= 0:
        raise InputError(said("op_amount_bad", where=operation_at(number), value=value))
    if value > MAX_AMOUNT_FEN:
        raise InputError(
            said(
                "op_amount_too_large",
                where=operation_at(number),
                amount=format_yuan(value),
                largest=format_yuan(MAX_AMOUNT_FEN),
            )
        )
    return value


def _text(op: dict[str, Any], key: str, number: int, *, required: bool = True) -> None:
    value = op.get(key)
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value):
        raise InputError(
            said(
                "op_text_missing" if required else "op_not_text",
                where=operation_at(number),
                key=key,
            )
        )
    limit = FIELD_LENGTH.get(key)
    if limit is not None and len(value) > limit:
        raise InputError(said("op_too_long", where=operation_at(number), key=key, limit=limit))


def _listed(values: Iterable[str]) -> str:
    return ", ".join(values)


def issued_under(issuer: str, year: int) -> str:
    """The prefix of every appropriation id ``issuer`` numbers for ``year``."""
    return f"{issuer}-{year}-"


def _own_number(ident: str, prefix: str) -> bool:
    return ident.startswith(prefix) and ident[len(prefix) :].isdigit()


def check_operation(
    op: dict[str, Any],
    number: int,
    times: dict[str, datetime],
    issuer: str,
    known: Known | None = None,
    documents: Documents | None = None,
) -> datetime:
    """Check one operation completely, in the order the errors are reported; return its time.

    ``number`` is the operation's place in its change-set (from 1), which a refusal names
    (:func:`operation_at`, said only then). ``times`` caches the 'at' texts already
    parsed. The exact path: every adjustment goes
    through it, and an issue whenever :meth:`Issues.take`'s quick test does not pass.
    """
    kind = op.get("op")
    if type(kind) is not str or kind not in EVENT_SIGN:
        raise InputError(said("op_unknown", where=operation_at(number), kind=kind))
    _amount(op.get("amount"), number)
    text: Any = op.get("at")
    at = _when(text, number)
    for key in ("id", "doc", "actor"):
        _text(op, key, number)
    if kind != "issue" and documents is not None:
        if problem := documents.problem(op["doc"], issuer):
            raise InputError(said("rows_at", where=operation_at(number), what=problem))
    if kind == "issue":
        for key in _ISSUE_TEXT:
            _text(op, key, number)
        for key in _OPTIONAL_TEXT:
            _text(op, key, number, required=False)
        if op.get("type", "general") not in TRANSFER_TYPES:
            raise InputError(
                said(
                    "rows_at",
                    where=operation_at(number),
                    what=said("rows_type_must", choices=_listed(TRANSFER_TYPES)),
                )
            )
        if type(op.get("direct", False)) is not bool:
            raise InputError(said("op_direct_bad", where=operation_at(number)))
        if not is_year(op.get("year")):
            raise InputError(said("op_year_bad", where=operation_at(number)))
        if not _own_number(op["id"], issued_under(issuer, op["year"])):
            raise InputError(
                said(
                    "op_not_own_number",
                    where=operation_at(number),
                    issuer=issuer,
                    prefix=issued_under(issuer, op["year"]),
                    ident=op["id"],
                )
            )
        if known is not None:
            for codeset, key in (("func", "func"), ("econ", "econ"), ("fund", "fund")):
                problem = known.problem(codeset, op["year"], op[key])
                if problem:
                    raise InputError(said("rows_at", where=operation_at(number), what=problem))
        if problem := _fields_problem(op, issuer, documents):
            raise InputError(said("rows_at", where=operation_at(number), what=problem))
    times[text] = at
    return at


def _fields_problem(op: dict[str, Any], issuer: str, documents: Documents | None) -> str | None:
    """What is wrong with an issue's 指标类型, 指标来源, 预算级次 and 文号, or None."""
    indicator = op.get("indicator", "annual")
    if type(indicator) is not str or indicator not in INDICATOR_KINDS:
        return said("op_indicator_bad", choices=_listed(INDICATOR_KINDS))
    upper_doc = op.get("upper_doc")
    source = op.get("source", "own" if upper_doc is None else "upper")
    if type(source) is not str or source not in SOURCES:
        return said("op_source_bad", choices=_listed(SOURCES))
    carried = indicator == "carryover"
    if carried and upper_doc is None:
        return said("op_carryover_upper")
    if not carried and (source == "upper") != (upper_doc is not None):
        return said("op_source_upper")
    level = op.get("level")
    if level is not None and (type(level) is not str or level not in BUDGET_LEVELS):
        return said("op_level_bad", choices=_listed(BUDGET_LEVELS))
    if documents is not None:
        problem = documents.problem(op["doc"], issuer, op["year"], advance=indicator == "advance")
        if problem is None and upper_doc is not None:
            problem = documents.upper_problem(upper_doc, issuer, carried=carried)
        return problem
    return None


FIELDS_SEEN = 4_096
"""文号-and-fields combinations an :class:`Issues` remembers as checked: a change-set of a
million lines under 140,000 文号 kept them all (230 MB), where a batch's lines under one
文号 mostly follow each other; past this many, they are forgotten and checked again."""


class Issues:
    """Turns the ``issue`` operations of one change-set into rows, each checked exactly as
    :func:`check_operation` checks it.

    The common case (every field as it must be, its time already parsed) is recognised by
    one quick test; anything else goes through :func:`check_operation`, which names the
    problem or finds none. The quick test is an exact summary of the full checks: it
    passes only operations they pass (``tests/test_appropriation_checks.py`` holds the two
    together on random operations).
    """

    def __init__(
        self,
        issuer: str,
        recipient: str,
        changeset_id: str,
        known: Known,
        documents: Documents | None = None,
    ) -> None:
        self.issuer = issuer
        self.recipient = recipient
        self.changeset_id = changeset_id
        self.known = known
        self.documents = documents
        self.by_year: dict[Any, tuple[Any, ...]] = {}  # codes of each year seen, id prefix
        self.fields_seen: set[tuple[Any, ...]] = set()  # 文号 and fields found good, the
        # last :data:`FIELDS_SEEN` sets at most (each holds strings of its operation)

    def valid(self, year: Any) -> tuple[Any, ...] | None:
        """The func, econ and fund codes of ``year`` and this issuer's id prefix for it."""
        if not is_year(year):
            return None
        found = self.by_year.get(year)
        if found is None:
            known = self.known
            found = self.by_year[year] = (
                *(known.codes(c, year) for c in ("func", "econ", "fund")),
                issued_under(self.issuer, year),
            )
        return found

    def quick(self, op: dict[str, Any], times: dict[str, datetime]) -> datetime | None:
        """The operation's time if it passes every check at a glance, else None."""
        get: Any = op.get
        text = get("at")
        at = times.get(text) if type(text) is str else None
        if at is None or get("op") != "issue":
            return None
        valid = self.valid(get("year"))
        if valid is None:
            return None
        ident, doc, actor, amount = get("id"), get("doc"), get("actor"), get("amount")
        func, econ, fund = get("func"), get("econ"), get("fund")
        transfer = get("type", "general")
        direct = get("direct", False)
        fields = (doc, get("year"), get("indicator"), get("source"), get("level"), get("upper_doc"))
        title, upper_doc, project = get("title"), get("upper_doc"), get("project")
        limit = FIELD_LENGTH
        prefix = valid[3]
        if (
            type(amount) is not int
            or amount <= 0
            or amount > MAX_AMOUNT_FEN
            or type(ident) is not str
            or not ident.startswith(prefix)
            or not ident[len(prefix) :].isdigit()
            or len(ident) > limit["id"]
            or type(doc) is not str
            or not doc
            or len(doc) > limit["doc"]
            or type(actor) is not str
            or not actor
            or len(actor) > limit["actor"]
            or type(func) is not str
            or type(econ) is not str
            or type(fund) is not str
            or func not in valid[0]
            or econ not in valid[1]
            or fund not in valid[2]
            or (transfer != "special" and transfer != "general" and transfer != "shared")
            or (direct is not True and direct is not False)
            or (title is not None and (type(title) is not str or len(title) > limit["title"]))
            or (
                upper_doc is not None
                and (type(upper_doc) is not str or len(upper_doc) > limit["upper_doc"])
            )
            or (
                project is not None
                and (type(project) is not str or len(project) > limit["project"])
            )
        ):
            return None
        if not all(v is None or type(v) is str for v in fields[2:5]):
            return None
        if fields not in self.fields_seen:
            if _fields_problem(op, self.issuer, self.documents) is not None:
                return None
            if len(self.fields_seen) >= FIELDS_SEEN:
                self.fields_seen.clear()
            self.fields_seen.add(fields)
        return at

    def take(
        self, op: dict[str, Any], index: int, times: dict[str, datetime]
    ) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """The appropriation row and the event row of an ``issue``; InputError if it is bad."""
        at = self.quick(op, times)
        if at is None:
            at = check_operation(
                op,
                index,
                times,
                self.issuer,
                self.known,
                self.documents,
            )
        get = op.get
        ident, doc, actor, title = get("id"), get("doc"), get("actor"), get("title")
        row = (
            ident,
            get("year"),
            self.issuer,
            self.recipient,
            doc,
            title or "",
            get("upper_doc"),
            None,
            get("func"),
            get("econ"),
            get("fund"),
            get("type", "general"),
            get("project"),
            at,
            actor,
            leaf_of(ident),
            get("direct", False),
            get("indicator", "annual"),
            get("source", "own" if get("upper_doc") is None else "upper"),
            get("level"),
        )
        return row, (ident, 1, "issue", get("amount"), doc, actor, at, self.changeset_id)
