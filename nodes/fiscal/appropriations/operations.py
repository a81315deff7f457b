"""The operations of an ``appropriation`` change-set, and the checks every one must pass.

::

    {"op": "issue", "id": "...", "year": 2026, "doc": "豫财教〔2026〕12号", "title": "...",
     "upper_doc": null, "parent_id": null, "func": "2050201", "econ": "50201",
     "fund": "111", "type": "general", "project": null, "amount": 123456,
     "actor": "...", "at": "2026-11-23T08:00:00Z", "from": null}
    {"op": "increase" | "decrease" | "recover", "id": "...", "amount": 100,
     "doc": "...", "actor": "...", "at": "..."}

``from`` is, for a breakdown (分解), the id of the received appropriation it was taken
from at the issuer: the recipient ignores it; the issuer needs it to take its own
change-set back after a restore (:mod:`.adopting`). Amounts are integer fen, positive and at most ``MAX_AMOUNT_FEN``; the event's sign
comes from its kind. Text fields are no longer than their columns. An ``issue`` carries
an id of the origin's own numbering (``<origin>-<year>-<n>``). The rows an operation
becomes are in the column orders :data:`APPROPRIATION_COLUMNS` and :data:`EVENT_COLUMNS`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from nodes.fiscal.codes import Known
from schema.tables import appropriation, appropriation_event
from schema.types import MAX_AMOUNT_FEN, format_yuan, parse_utc
from sync.errors import InputError
from sync.merkle import leaf_of

if TYPE_CHECKING:
    pass

__all__ = [
    "Issues",
    "APPROPRIATION_COLUMNS",
    "EVENT_COLUMNS",
    "EVENT_SIGN",
    "FIELD_LENGTH",
    "TRANSFER_TYPES",
    "check_operation",
    "issued_under",
]

EVENT_SIGN = {"issue": 1, "increase": 1, "decrease": -1, "recover": -1}
TRANSFER_TYPES = ("general", "special")

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


def _when(text: Any, where: str) -> datetime:
    if not isinstance(text, str):
        raise InputError(f"{where}: 'at' must be a UTC time")
    try:
        return parse_utc(text)
    except ValueError as exc:
        raise InputError(f"{where}: 'at' {text!r} is not a UTC time: {exc}") from exc


def _amount(value: Any, where: str) -> int:
    if type(value) is not int or value <= 0:
        raise InputError(f"{where}: amount must be a positive whole number of fen, not {value!r}")
    if value > MAX_AMOUNT_FEN:
        raise InputError(
            f"{where}: amount {format_yuan(value)} 元 is more than the largest amount of one "
            f"line, {format_yuan(MAX_AMOUNT_FEN)} 元"
        )
    return value


def _text(op: dict[str, Any], key: str, where: str, *, required: bool = True) -> None:
    value = op.get(key)
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value):
        raise InputError(
            f"{where}: {key!r} is missing" if required else f"{where}: {key!r} is not text"
        )
    limit = FIELD_LENGTH.get(key)
    if limit is not None and len(value) > limit:
        raise InputError(f"{where}: {key!r} is longer than {limit} characters")


def issued_under(issuer: str, year: int) -> str:
    """The prefix of every appropriation id ``issuer`` numbers for ``year``."""
    return f"{issuer}-{year}-"


def _own_number(ident: str, prefix: str) -> bool:
    return ident.startswith(prefix) and ident[len(prefix) :].isdigit()


def check_operation(
    op: dict[str, Any],
    where: str,
    times: dict[str, datetime],
    issuer: str,
    known: Known | None = None,
) -> datetime:
    """Check one operation completely, in the order the errors are reported; return its time.

    ``times`` caches the 'at' texts already parsed. The exact path: every adjustment goes
    through it, and an issue whenever :meth:`Issues.take`'s quick test does not pass.
    """
    kind = op.get("op")
    if type(kind) is not str or kind not in EVENT_SIGN:
        raise InputError(f"{where}: unknown appropriation operation {kind!r}")
    _amount(op.get("amount"), where)
    text: Any = op.get("at")
    at = _when(text, where)
    for key in ("id", "doc", "actor"):
        _text(op, key, where)
    if kind == "issue":
        for key in _ISSUE_TEXT:
            _text(op, key, where)
        for key in _OPTIONAL_TEXT:
            _text(op, key, where, required=False)
        if op.get("type", "general") not in TRANSFER_TYPES:
            raise InputError(f"{where}: type must be general or special")
        if type(op.get("year")) is not int:
            raise InputError(f"{where}: year must be a whole number")
        if not _own_number(op["id"], issued_under(issuer, op["year"])):
            raise InputError(
                f"{where}: {issuer} may issue only ids it numbers itself "
                f"({issued_under(issuer, op['year'])}N), not {op['id']}"
            )
        if known is not None:
            for codeset, key in (("func", "func"), ("econ", "econ"), ("fund", "fund")):
                problem = known.problem(codeset, op["year"], op[key])
                if problem:
                    raise InputError(f"{where}: {problem}")
    times[text] = at
    return at


class Issues:
    """Turns the ``issue`` operations of one change-set into rows, each checked exactly as
    :func:`check_operation` checks it.

    The common case (every field as it must be, its time already parsed) is recognised by
    one quick test; anything else goes through :func:`check_operation`, which names the
    problem or finds none. The quick test is an exact summary of the full checks: it
    passes only operations they pass (``tests/test_appropriation_checks.py`` holds the two
    together on random operations).
    """

    def __init__(self, issuer: str, recipient: str, changeset_id: str, known: Known) -> None:
        self.issuer = issuer
        self.recipient = recipient
        self.changeset_id = changeset_id
        self.known = known
        self.by_year: dict[Any, tuple[Any, ...]] = {}  # codes of each year seen, id prefix

    def valid(self, year: Any) -> tuple[Any, ...] | None:
        """The func, econ and fund codes of ``year`` and this issuer's id prefix for it."""
        if type(year) is not int:
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
            or (transfer != "special" and transfer != "general")
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
        return at

    def take(
        self, op: dict[str, Any], index: int, times: dict[str, datetime]
    ) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """The appropriation row and the event row of an ``issue``; InputError if it is bad."""
        at = self.quick(op, times)
        if at is None:
            at = check_operation(op, f"operation {index}", times, self.issuer, self.known)
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
        )
        return row, (ident, 1, "issue", get("amount"), doc, actor, at, self.changeset_id)
