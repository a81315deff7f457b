"""Issuing (下达) and breaking down (分解): the issuer's side (adjusting is
:mod:`.changing`).

Every line is checked before anything is written, and what the checks reason about is
locked first, in the product's lock order (:mod:`schema.locks`): the parents' rows,
then this issuer's counter of each year, then the channel heads. A second operator
doing the same at once waits, then sees what the first one did.
"""

from __future__ import annotations

import dataclasses
import tempfile
from array import array
from collections import Counter, namedtuple
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from sqlalchemy.engine import Connection

from nodes.fiscal.appropriations import copies, duplicates
from nodes.fiscal.appropriations.closed import require_open
from nodes.fiscal.appropriations.drawing import lock_drawn
from nodes.fiscal.appropriations.operations import (
    APPROPRIATION_COLUMNS,
    BUDGET_LEVELS,
    EVENT_COLUMNS,
    FIELD_LENGTH,
    INDICATOR_KINDS,
    TRANSFER_LABELS,
    TRANSFER_TYPES,
    issued_under,
)
from nodes.fiscal.codes import Known
from nodes.fiscal.documents import EXAMPLE as DOCUMENT_EXAMPLE
from nodes.fiscal.documents import Documents
from nodes.fiscal.fields import field_problems, unusable
from nodes.fiscal.reconcile import records
from nodes.fiscal.reconcile.records import wire_time
from nodes.fiscal.scratch import CodesRead, Problems, Spill, Vanished, chunks, spilled, unspilled
from nodes.labels import named, said
from nodes.policy import check_send
from schema.bulk import insert_rows
from schema.locks import take_numbers
from schema.tables import appropriation, appropriation_event
from schema.types import MAX_AMOUNT_FEN, format_yuan, is_year
from sync import merkle
from sync.changeset import Encoded, encoded_operation
from sync.changeset.codec import encode_line
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import NotAuthorized
from sync.merkle import leaf_of
from sync.pki import load_signer

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = ["Allocation", "Issued", "allocate"]

BATCH = 5_000  # lines checked again at a time (their 文号 looked up together); progress told


@dataclass(frozen=True)
class Allocation:
    """One line to issue (下达): to a descendant, or broken down (分解) from a received one.

    ``label`` names the line in refusals (``batch.xlsx row 7``); by default ``line N``.
    ``direct`` marks 直达资金; None takes it from the appropriation broken down (or not
    直达 for an issue), and a breakdown that gives another value is refused.
    ``indicator`` is the 指标类型; ``level`` the 预算级次 (None: the recipient's role);
    ``upper_doc`` the document received from above that an issue (not a breakdown, whose
    上级文号 is its parent's 文号) is made under, such as the central 财预〔2026〕3号.
    """

    recipient: str
    amount_fen: int
    func: str
    econ: str
    fund: str
    doc: str
    year: int
    title: str = ""
    transfer_type: str = "general"
    project: str | None = None
    parent_id: str | None = None
    label: str | None = None
    direct: bool | None = None
    indicator: str = "annual"
    level: str | None = None
    upper_doc: str | None = None
    problems: tuple[str, ...] = ()
    """What is wrong with the line as written in its file (named with the rest)."""


def _where(line: Allocation, number: int) -> str:
    """How a refusal names the line of that number (counted from 1): its label, if any
    (a line read back from the spill keeps it as spilled: taken back only when named)."""
    return unspilled(line.label) or said("rows_line", number=number)


class _Rules:
    """Who may receive and which 文号 are good, for one batch: each answer found once and
    kept (a batch names few recipients, and its lines share their 文号), so that memory
    stays bounded whatever the batch: only the answers for codes of the topology (an
    unknown code is asked again each time), at most ``KEPT`` 文号 at a time, and no 文号
    longer than a 文号 may be (refused anyway)."""

    KEPT = 10_000

    def __init__(self, node: Node, documents: Documents) -> None:
        self.node = node
        self.documents = documents
        self._recipients: dict[str, str | None] = {}
        self._documents: dict[tuple[str, int, bool], str | None] = {}

    def recipient_problem(self, code: str) -> str | None:
        """Why this node may not issue to ``code``, or None."""
        if code in self._recipients:
            return self._recipients[code]
        me = self.node.spec.code
        try:
            check_send(self.node.topology, me, code, "appropriation")
            if not self.node.topology.is_ancestor(me, code):
                raise NotAuthorized(said("rows_moved_away", code=code, issuer=me))
        except NotAuthorized as exc:
            found: str | None = exc.message
        else:
            found = None
        if code in self.node.topology:
            self._recipients[code] = found
        return found

    def document_problem(self, doc: str, year: int, advance: bool) -> str | None:
        """:meth:`Documents.problem` of ``doc`` as this node's document of ``year``."""
        key = (doc, year, advance)
        if key in self._documents:
            return self._documents[key]
        found = self.documents.problem(doc, self.node.spec.code, year, advance=advance)
        if len(doc) <= FIELD_LENGTH["doc"]:
            if len(self._documents) >= self.KEPT:
                self._documents.clear()
            self._documents[key] = found
        return found


def _static_problems(
    number: int, line: Allocation, node: Node, known: Known, rules: _Rules
) -> list[str]:
    def at(what: str) -> str:  # the line named only when it has a problem
        return said("rows_at", where=_where(line, number), what=what)

    problems = [at(p) for p in line.problems]

    if line.problems:  # what its file left empty or unreadable is named already
        if not (line.recipient and line.func and line.econ and line.fund and line.doc):
            return problems
        if line.amount_fen <= 0:
            line = dataclasses.replace(line, amount_fen=1)
    if not is_year(line.year):  # what every other check reads the codes by
        return [*problems, at(said("rows_year_bad", value=line.year))]
    not_text = [  # given through the API: what the checks below read as text
        at(said("rows_not_text", what=named("field", what), kind=type(text).__name__))
        for what, text in (
            ("func", line.func),
            ("econ", line.econ),
            ("fund", line.fund),
            ("document number (文号)", line.doc),
        )
        if type(text) is not str
    ]
    if not_text:
        return [*problems, *not_text]
    if line.direct is not None and type(line.direct) is not bool:  # bool("no") is True
        what = named("field", "direct (直达资金)")
        problems.append(at(said("rows_not_yes_no", what=what, value=line.direct)))
    if (refused := rules.recipient_problem(line.recipient)) is not None:
        problems.append(at(said("rows_recipient", code=line.recipient, problem=refused)))
    if type(line.amount_fen) is not int:  # a float, a Decimal, True: not fen
        problems.append(at(said("rows_amount_not_fen", value=line.amount_fen)))
    elif line.amount_fen <= 0:
        problems.append(at(said("rows_amount_not_positive")))
    elif line.amount_fen > MAX_AMOUNT_FEN:
        amount, largest = format_yuan(line.amount_fen), format_yuan(MAX_AMOUNT_FEN)
        problems.append(at(said("rows_amount_too_large_line", amount=amount, largest=largest)))
    if not (line.func.isdigit() and len(line.func) == 7):
        problems.append(at(said("rows_func_not_7", value=line.func)))
    elif problem := known.problem("func", line.year, line.func):
        problems.append(at(problem))
    if not (line.econ.isdigit() and len(line.econ) == 5):
        problems.append(at(said("rows_econ_not_5", value=line.econ)))
    elif problem := known.problem("econ", line.year, line.econ):
        problems.append(at(problem))
    if not line.fund.strip():
        problems.append(at(said("rows_fund_missing")))
    elif problem := known.problem("fund", line.year, line.fund):
        problems.append(at(problem))
    if not line.doc.strip():
        problems.append(at(said("rows_doc_missing")))
    for what, text, key in (
        ("document number (文号)", line.doc, "doc"),
        ("title", line.title, "title"),
        ("project", line.project, "project"),
        ("upper document number (上级文号)", line.upper_doc, "upper_doc"),
        ("appropriation broken down (from)", line.parent_id, "id"),
    ):
        if text is None and key not in ("doc", "title"):  # not given
            continue
        problems.extend(at(p) for p in field_problems(what, text, FIELD_LENGTH[key]))
    if line.parent_id == "":  # given, and empty: not a breakdown, nor an issue
        problems.append(
            at(said("rows_empty", key=named("field", "appropriation broken down (from)")))
        )
    if line.transfer_type not in TRANSFER_TYPES:
        problems.append(at(said("rows_type_must", choices=", ".join(TRANSFER_TYPES))))
    if line.indicator not in INDICATOR_KINDS:
        problems.append(at(said("rows_indicator_must", choices=", ".join(INDICATOR_KINDS))))
    elif line.indicator == "carryover":
        problems.append(at(said("rows_carryover", year=line.year - 1)))
    elif line.doc.strip() and (
        problem := rules.document_problem(line.doc, line.year, line.indicator == "advance")
    ):
        problems.append(at(problem))
    if line.level is not None and line.level not in BUDGET_LEVELS:
        problems.append(at(said("rows_level_must", choices=", ".join(BUDGET_LEVELS))))
    if line.upper_doc is not None:
        if line.parent_id is not None:
            problems.append(at(said("rows_breakdown_upper", ident=line.parent_id)))
        elif problem := rules.documents.upper_problem(line.upper_doc, node.spec.code):
            problems.append(at(problem))
    return problems


def _unstorable(line: Allocation, number: int, error: str) -> str:
    """Why a line that passed its checks cannot be kept: text that is not Unicode, or a
    value of a type no field has (given through the API)."""
    what = said("rows_not_unicode") if "UTF-8" in error else said("rows_not_storable", error=error)
    return said("rows_at", where=_where(line, number), what=what)


def _keepable(value: Any) -> Any:
    """``value`` of a refused line as the spill can keep it (text made Unicode, a value no
    JSON holds by its ``repr``), so that the lines after it keep their numbers."""
    try:
        if isinstance(value, str):
            return value.encode("utf-8", "replace").decode("utf-8")
        encode_line([value])
    except TypeError:
        try:
            return repr(value).encode("utf-8", "replace").decode("utf-8")
        except Exception:  # a repr that fails, or nests too deep: the place is what counts
            return "?"
    except RecursionError:
        return "?"
    return value


def _vanished(line: Allocation, number: int, vanished: Vanished) -> list[str]:
    """The codes of ``line`` that were valid when it was read and are no longer."""
    codes = [("func", line.func), ("econ", line.econ), ("fund", line.fund)]
    return [
        said("rows_at", where=_where(line, number), what=p)
        for p in vanished.problems(line.year, codes)
    ]


def _parent_problems(
    line: Allocation,
    number: int,
    parents: dict[str, Any],
    balance: dict[str, int],
    drawn: dict[str, int],
    closed: dict[str, int],
) -> list[str]:
    """A breakdown checked against its parent's balance (指标控制, counting what the lines
    before it drew) and classification (a breakdown keeps its fund type and transfer
    type, and its function is the parent's or one below it)."""
    assert line.parent_id is not None

    def at(what: str) -> str:
        return said("rows_at", where=_where(line, number), what=what)

    parent = parents.get(line.parent_id)
    if parent is None:
        return [at(said("rows_not_received", ident=line.parent_id))]
    if line.parent_id in closed:
        closing = said("rows_closed_parent", ident=line.parent_id, year=closed[line.parent_id])
        return [at(closing)]
    problems = [at(p) for p in _breakdown_problems(line, parent)]
    drawn[line.parent_id] = drawn.get(line.parent_id, 0) + max(line.amount_fen, 0)
    left = balance.get(line.parent_id, 0)
    if drawn[line.parent_id] > left:
        beyond = said(
            "rows_breakdown_exceeds",
            amount=format_yuan(drawn[line.parent_id]),
            ident=line.parent_id,
            left=format_yuan(left),
        )
        problems.append(at(beyond))
    return problems


def _breakdown_problems(line: Allocation, parent: Any) -> list[str]:
    """How a breakdown (分解) strays from the appropriation it is taken from."""
    ident = parent.id
    found = []
    if parent.year != line.year:
        found.append(said("rows_bd_year", year=line.year, ident=ident, parent_year=parent.year))
    if line.fund != parent.fund_code:
        found.append(said("rows_bd_fund", ident=ident, fund=parent.fund_code, given=line.fund))
    if line.transfer_type != parent.transfer_type:
        label = TRANSFER_LABELS.get(parent.transfer_type, "")
        found.append(
            said(
                "rows_bd_type",
                ident=ident,
                type=parent.transfer_type,
                label=label,
                given=line.transfer_type,
            )
        )
    if line.direct is not None and line.direct != parent.direct:
        found.append(said("rows_bd_direct" if parent.direct else "rows_bd_not_direct", ident=ident))
    if not line.func.startswith(parent.func_code):
        found.append(
            said("rows_bd_func", ident=ident, func=line.func, parent_func=parent.func_code)
        )
    return found


class _Found(Problems):
    """Problems of a batch by kind, in the order found (:class:`~nodes.fiscal.scratch.Problems`)."""

    KINDS = ("static", "codes", "parent", "repeat", "earlier")

    def __init__(self) -> None:
        super().__init__(self.KINDS)

    def refuse_batch(self) -> None:
        """Refuse the batch, naming the problems found, with the hint that applies."""
        duplicates = self.counts["repeat"] + self.counts["earlier"]
        if duplicates and duplicates == self.count:
            hint = said("rows_duplicate_hint")
        elif self.counts["parent"]:
            hint = said("rows_breakdown_hint")
        else:
            hint = said("rows_issue_hint", example=DOCUMENT_EXAMPLE)
        self.refuse("issued", hint)


class _Spill(Spill):
    """The scratch files of one batch: its lines as checked, and the operations for each
    recipient."""

    def lines(self) -> Iterator[Allocation]:
        """The lines as spilled, each label as :func:`spilled` kept it (:func:`_where`
        takes it back for the few lines a refusal names): each a :data:`_Line`, which
        reads as an :class:`Allocation` without problems (they are not spilled:
        :func:`_fields`) and is made in a tenth of the time (a batch is read twice)."""
        return map(_Line._make, self.read(_LINES))


_LINES = "\0lines"  # the spill of the batch's lines (never a node code)
_SPILLED = tuple(f.name for f in dataclasses.fields(Allocation) if f.name != "problems")
"""The fields of a line as :func:`_fields` spills them, in that order."""

if TYPE_CHECKING:
    _Line = Allocation
else:

    class _Line(namedtuple("_Line", _SPILLED)):
        """A line read back from the spill: the fields of an :class:`Allocation` in a
        tuple, named alike, and no problems."""

        __slots__ = ()
        problems = ()


def _fields(line: Allocation) -> list[Any]:
    """A line as it is spilled: every field but its problems. A line without a label of
    its own keeps none: whoever names it names it by its number again."""
    return [
        line.recipient,
        line.amount_fen,
        line.func,
        line.econ,
        line.fund,
        line.doc,
        line.year,
        line.title,
        line.transfer_type,
        line.project,
        line.parent_id,
        spilled(line.label),
        line.direct,
        line.indicator,
        line.level,
        line.upper_doc,
    ]


class Issued(Sequence[str]):
    """The ids of the appropriations a batch issued, in the order of its lines, kept
    compactly (a million ids take a few megabytes), with the batch's total and recipients.
    """

    __hash__ = None  # type: ignore[assignment]

    def __init__(self) -> None:
        self._prefixes: list[str] = []
        self._prefix_index: dict[str, int] = {}
        self._which = array("H")
        self._numbers = array("Q")
        self.total_fen = 0
        self.recipients: set[str] = set()

    def _append(self, prefix: str, number: int) -> None:
        index = self._prefix_index.get(prefix)
        if index is None:
            index = self._prefix_index[prefix] = len(self._prefixes)
            self._prefixes.append(prefix)
        self._which.append(index)
        self._numbers.append(number)

    def __len__(self) -> int:
        return len(self._numbers)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return f"{self._prefixes[self._which[index]]}{self._numbers[index]:06d}"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __repr__(self) -> str:
        return f"Issued({list(self) if len(self) <= 10 else f'{len(self)} ids'})"


def allocate(
    node: Node,
    lines: Iterable[Allocation],
    *,
    actor: str,
    allow_duplicate: bool = False,
    clock: Clock = SYSTEM_CLOCK,
    progress: Callable[[int, int], None] | None = None,
) -> Issued:
    """Issue every line, all or nothing; return the new appropriation ids.

    Every line is checked first (recipient, amount, codes valid for its year; for a
    breakdown (``parent_id``) the balance of the received appropriation, 指标控制, and its
    classification; unless ``allow_duplicate``, that the same 文号, recipient, function
    and amount was not issued already); any problem refuses the whole batch and names
    every bad line. Then each line is recorded here and sent to its recipient as a
    signed change-set (one per recipient), in one transaction. ``progress`` is told how
    many lines were written so far, and of how many.

    ``lines`` is read once, one line at a time (a generator will do): what is kept of
    them goes to scratch files, so that memory stays bounded whatever their number. The
    lines as written are checked in a first pass, before the write transaction begins (no
    lock is held while a large file is read); the balances, the ids, the duplicates of
    earlier batches and the codes again (one gone since the first pass refuses its line)
    in a second one, in the transaction, before anything is written: an earlier batch's
    lines are looked up by their 文号 among what was there before this one, never among
    this batch's own rows, so each few thousand lines cost the same however many came
    before them (a refused batch writes nothing). That second pass is skipped when
    nothing needs the lines: no breakdown, no code gone, and none of the batch's 文号
    (looked up at once, when they are at most ``duplicates.DOCS_KEPT``) carries an appropriation
    whose key the batch may hold. A third pass writes the rows as one stream; the
    change-sets and the events are written from the scratch files last.

    What the checks reason about is locked first, in the product's lock order: the
    year-end close of each year here (refused when one is closed), the parents' rows, then this issuer's counter of each year (ids are taken from it), then
    the channel heads. A second operator doing the same at once waits, then sees what the
    first one did.
    """
    me = node.spec.code
    now = clock.now()
    at = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    signer = load_signer(node.home.keys)
    rules = _Rules(node, Documents(node.topology))
    found = _Found()
    issued = Issued()
    with tempfile.TemporaryDirectory(prefix="fiscalsync-allocate-") as scratch:
        spill = _Spill(Path(scratch))
        try:
            # 1. every line as written, in the spill: no transaction is open meanwhile
            known = CodesRead(node.engine)
            years: Counter[int] = Counter()
            wanted: set[str] = set()
            seen = duplicates.Seen()
            again: list[tuple[int, int]] = []
            count = 0
            unsearchable = False
            docs: set[str] | None = set()  # the 文号 of the batch, while they are few
            for count, line in enumerate(lines, 1):
                years[line.year] += 1
                if line.parent_id:
                    wanted.add(line.parent_id)
                if not allow_duplicate:
                    key = duplicates.key(line)
                    if seen.add(digest := hash(key)):
                        again.append((count, digest))
                    if docs is not None and len(key[1]) <= FIELD_LENGTH["doc"]:  # else refused
                        docs.add(key[1])
                        docs = docs if len(docs) <= duplicates.DOCS_KEPT else None
                problems = _static_problems(count, line, node, known, rules)
                try:
                    spill.write(_LINES, _fields(line))
                except TypeError as exc:  # a value no JSON holds (its problem said first)
                    problems = problems or [_unstorable(line, count, str(exc))]
                    spill.write(_LINES, [_keepable(v) for v in _fields(line)])  # its place
                    unsearchable = True  # nor can its values be looked up, or counted on
                found.add("static", problems)
                unsearchable = unsearchable or (
                    bool(problems)
                    and (not is_year(line.year) or unusable(line.doc, line.parent_id))
                )
            if count == 0:
                return issued
            if again:  # needs no look-up: named even when nothing can be looked up
                found.add("repeat", duplicates.repeats(spill.lines(), again, _where))
            if unsearchable:  # what the checks in the transaction look up by is not usable
                found.refuse_batch()
            with node.engine.begin() as conn:
                # 2. locked in the product's order: each year's close here (a close of the
                # year waits, then sees what is issued), the parents, each year's counter
                require_open(conn, me, years)
                drawn = lock_drawn(conn, me, wanted)
                parents, balance, closed = drawn.rows, drawn.left, drawn.closed
                numbers = {
                    year: iter(take_numbers(conn, "appropriation", issued_under(me, year)[:-1], n))
                    for year, n in sorted(years.items())
                }
                vanished = Vanished(known, conn)  # codes gone since the first pass
                taken: dict[str, int] = {}
                done = 0
                # read again only for what needs the lines: breakdowns (their parents'
                # balances), codes gone since the first pass, an earlier issue repeated
                again_read = (
                    bool(wanted)
                    or bool(vanished)
                    or not allow_duplicate
                    and (docs is None or not duplicates.none_earlier(conn, me, years, docs, seen))
                )
                del docs, seen
                for chunk in chunks(spill.lines() if again_read else (), BATCH):
                    for number, line in enumerate(chunk, done + 1):
                        if vanished:
                            found.add("codes", _vanished(line, number, vanished))
                        if line.parent_id:
                            found.add(
                                "parent",
                                _parent_problems(line, number, parents, balance, taken, closed),
                            )
                    if not allow_duplicate:
                        found.add("earlier", _issued_before(conn, me, chunk, done))
                    done += len(chunk)
                if found.count:
                    found.refuse_batch()
                rows = _rows(node, spill, parents, numbers, issued, now, at, actor)
                if progress is not None:
                    rows = _told(rows, progress, count)
                insert_rows(conn, appropriation, APPROPRIATION_COLUMNS, rows)
                # 3. the change-sets, then the events that name them and the edges' digests
                seq_of: dict[str, int] = {}
                id_of: dict[str, str] = {}
                for recipient, kind, to in copies.sends(
                    node.topology, node.spec.code, sorted(issued.recipients)
                ):
                    operations: Iterable[dict[str, Any]] | Encoded = Encoded(spill.read_lines(to))
                    if kind == copies.KIND:
                        operations = copies.copied(spill.read(to), to)
                    written = enqueue(conn, node.spool, signer, recipient, kind, operations, clock)
                    if kind != copies.KIND:
                        seq_of[recipient], id_of[recipient] = written.header.seq, written.id
                for recipient in sorted(issued.recipients):
                    _record_events(
                        conn, me, recipient, spill, seq_of[recipient], id_of[recipient], now, actor
                    )
        finally:
            spill.close()
    return issued


def _issued_before(conn: Connection, me: str, chunk: list[Allocation], done: int) -> list[str]:
    """The lines of ``chunk`` (after ``done`` lines) that repeat an issue made here before,
    each named with the id that has it."""
    found = duplicates.earlier(conn, me, chunk)
    named = []
    for number, line in enumerate(chunk, done + 1):
        if (ident := found.get(duplicates.key(line))) is not None:
            where = _where(line, number)
            named.append(
                said("rows_at", where=where, what=said("rows_already_issued", ident=ident))
            )
    return named


def _rows(
    node: Node,
    spill: _Spill,
    parents: dict[str, Any],
    numbers: dict[int, Iterator[int]],
    issued: Issued,
    now: Any,
    at: str,
    actor: str,
) -> Iterator[tuple[Any, ...]]:
    """The rows of the checked lines, made as they are inserted (on PostgreSQL the
    server stores each slice while the next is made), and their operations spilled by
    recipient as they go."""
    me = node.spec.code
    sent: Counter[str] = Counter()  # each recipient's operations so far
    for line in spill.lines():
        prefix = issued_under(me, line.year)
        number = next(numbers[line.year])
        ident = f"{prefix}{number:06d}"
        issued._append(prefix, number)
        issued.total_fen += line.amount_fen
        issued.recipients.add(line.recipient)
        parent = parents.get(line.parent_id) if line.parent_id else None
        upper_doc = parent.doc_no if parent is not None else line.upper_doc
        direct = bool(parent.direct) if parent is not None else bool(line.direct)
        source = "own" if upper_doc is None else "upper"
        level = line.level or _level(node, line.recipient)
        row = (
            ident,
            line.year,
            me,
            line.recipient,
            line.doc,
            line.title,
            upper_doc,
            line.parent_id,
            line.func,
            line.econ,
            line.fund,
            line.transfer_type,
            line.project,
            now,
            actor,
            leaf_of(ident),
            direct,
            line.indicator,
            source,
            level,
        )
        op = {
            "op": "issue",
            "id": ident,
            "year": line.year,
            "doc": line.doc,
            "title": line.title,
            "upper_doc": upper_doc,
            "parent_id": None,
            "from": line.parent_id,
            "func": line.func,
            "econ": line.econ,
            "fund": line.fund,
            "type": line.transfer_type,
            "direct": direct,
            "indicator": line.indicator,
            "source": source,
            "level": level,
            "project": line.project,
            "amount": line.amount_fen,
            "actor": actor,
            "at": at,
        }
        sent[line.recipient] += 1  # the operation's number in its change-set
        spill.write_line(line.recipient, encoded_operation(op, sent[line.recipient]))
        yield row


def _told(
    rows: Iterator[tuple[Any, ...]], progress: Callable[[int, int], None], count: int
) -> Iterator[tuple[Any, ...]]:
    """``rows``, ``progress`` told how many went by, of ``count``, every :data:`BATCH`."""
    done = 0
    for done, row in enumerate(rows, 1):
        yield row
        if done % BATCH == 0:
            progress(done, count)
    if done % BATCH:
        progress(done, count)


def _record_events(
    conn: Connection,
    me: str,
    recipient: str,
    spill: _Spill,
    seq: int,
    changeset_id: str,
    now: Any,
    actor: str,
) -> None:
    """The issue events of what went to ``recipient`` in change-set ``changeset_id``, and
    the appropriations added to the digests of the edge (read back from the spill)."""
    edge = merkle.Changes(records.scope(me, recipient))
    digest = records.digester(conn)
    at = wire_time(now)

    def events() -> Iterator[tuple[Any, ...]]:
        for op in spill.read(recipient):
            row = (
                op["id"], op["year"], me, recipient, op["doc"], op["title"], op["upper_doc"],
                op["from"], op["func"], op["econ"], op["fund"], op["type"], op["project"],
            )  # fmt: skip
            edge.add(op["id"], records.new_digest(row, seq, op["amount"], at, digest))
            yield (op["id"], 1, "issue", op["amount"], op["doc"], actor, now, changeset_id)

    insert_rows(conn, appropriation_event, EVENT_COLUMNS, events())
    merkle.apply(conn, edge)


def _level(node: Node, recipient: str) -> str | None:
    """The 预算级次 of what ``recipient`` receives: its role's level."""
    role = node.topology.nodes[recipient].role if recipient in node.topology else None
    return role if role in BUDGET_LEVELS else None
