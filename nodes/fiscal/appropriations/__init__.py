"""Budget appropriations (预算指标): what an upper level issues (下达) to a lower one.

An appropriation is never overwritten: its amount is the sum of its events (issue,
increase, decrease, recover), each with who, when and under which document number. The
operations of an ``appropriation`` change-set::

    {"op": "issue", "id": "...", "year": 2026, "doc": "豫财教〔2026〕12号", "title": "...",
     "upper_doc": null, "parent_id": null, "func": "2050201", "econ": "50201",
     "fund": "111", "type": "general", "project": null, "amount": 123456,
     "actor": "...", "at": "2026-11-23T08:00:00Z"}
    {"op": "increase" | "decrease" | "recover", "id": "...", "amount": 100,
     "doc": "...", "actor": "...", "at": "..."}

Amounts are integer fen, positive and at most ``MAX_AMOUNT_FEN``; the event's sign
comes from its kind. The recipient registers what it received on apply, with the
issuer's document number, and enforces the issuer's authority itself: an ``issue`` only
under an id of the origin's own numbering (``<origin>-<year>-<n>``), an increase,
decrease or recovery only from the appropriation's issuer.

Every check of a balance locks the appropriation rows it reasons about first
(:func:`schema.locks.lock_rows`, in id order), so two operators, or an operator and the
agent, can never both spend the same available balance.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.codes import Known
from nodes.policy import check_send
from nodes.tabular import read_table
from schema.bulk import insert_rows
from schema.channels import changeset_log, outbox
from schema.engine import reading
from schema.locks import lock_rows, take_numbers
from schema.sums import total
from schema.tables import appropriation, appropriation_event, ledger_entry
from schema.types import MAX_AMOUNT_FEN, format_yuan, parse_utc, parse_yuan
from sync.changeset import Verified
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import InputError, NotAuthorized, RowsRefused
from sync.pki import load_signer

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = [
    "EVENT_SIGN",
    "Allocation",
    "Holding",
    "allocate",
    "apply_received",
    "budget_by_func",
    "change",
    "history",
    "read_allocations",
    "refuse",
    "available",
    "balances",
    "holdings",
]

EVENT_SIGN = {"issue": 1, "increase": 1, "decrease": -1, "recover": -1}
TRANSFER_TYPES = ("general", "special")
BATCH = 5_000
MAX_PROBLEMS = 50  # a refusal lists this many problems, then counts the rest
CHUNK = 50_000
_ISSUE_TEXT = ("id", "doc", "func", "econ", "fund", "actor", "at")
_LENGTH = {
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
    limit = _LENGTH.get(key)
    if limit is not None and len(value) > limit:
        raise InputError(f"{where}: {key!r} is longer than {limit} characters")


def issued_under(issuer: str, year: int) -> str:
    """The prefix of every appropriation id ``issuer`` numbers for ``year``."""
    return f"{issuer}-{year}-"


def _own_number(ident: str, prefix: str) -> bool:
    return ident.startswith(prefix) and ident[len(prefix) :].isdigit()


def _batches(items: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(items)
    while batch := list(islice(iterator, BATCH)):
        yield batch


def _checked(
    op: dict[str, Any],
    where: str,
    times: dict[str, datetime],
    issuer: str,
    known: Known | None = None,
) -> datetime:
    """Check one operation completely, in the order the errors are reported; return its time.

    The slow path: :func:`apply_received` takes it only for an operation its inline checks
    did not pass at once (an adjustment, a time not seen before in the batch, or a fault).
    """
    kind = op.get("op")
    if kind not in EVENT_SIGN:
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


def apply_received(conn: Connection, verified: Verified) -> int:
    """Register the appropriations of a verified change-set at its recipient.

    Runs inside the channel's transaction; any bad operation raises :class:`InputError`
    and the whole change-set is refused. Returns the number of events recorded.
    """
    # The cyclic garbage collector would walk the young objects again and again while a
    # million operations make dicts and tuples, none of which form cycles (about 10% of
    # the time of an apply): it is paused until the change-set is applied.
    collecting = gc.isenabled()
    gc.disable()
    try:
        savepoint = conn.begin_nested()
        try:
            events = _apply_streaming(conn, verified)
        except Exception:
            # Whatever went wrong (a bad operation, an id already issued), the batches
            # below find it again and say it exactly as they always did.
            savepoint.rollback()
        else:
            savepoint.commit()
            return events
        return _apply_batches(conn, verified)
    finally:
        if collecting:
            gc.enable()


def _apply_streaming(conn: Connection, verified: Verified) -> int:
    """The fast way: chunks of operations streamed into the database as they are decoded.

    A chunk's appropriation rows go to :func:`insert_rows` as a generator, then its event
    rows: nothing is held but the chunk's event rows, and on PostgreSQL, whose COPY
    streams, the decoding and checking overlap the server's inserts. No ids are looked up
    beforehand: an id issued twice, or already known, breaks the primary key, and the
    caller then takes the change-set again by :func:`_apply_batches`, which names it.
    """
    header = verified.header
    operations = verified.operations()
    known = Known(conn)
    events = 0
    done = 0
    while True:
        chunk = _Chunk(
            islice(operations, CHUNK), done, header.origin, header.recipient, verified.id, known
        )
        insert_rows(conn, appropriation, APPROPRIATION_COLUMNS, chunk.appropriations())
        event_rows = chunk.events
        if chunk.adjusted:
            event_rows = _number_adjustments(conn, event_rows, header.origin, header.recipient)
        insert_rows(conn, appropriation_event, EVENT_COLUMNS, event_rows)
        events += len(event_rows)
        done = chunk.index
        if chunk.taken < CHUNK:
            return events


def _apply_batches(conn: Connection, verified: Verified) -> int:
    """The reference way: batches checked whole (ids too) before anything is inserted."""
    header = verified.header
    known = Known(conn)
    events = 0
    done = 0
    for batch in _batches(verified.operations()):
        chunk = _Chunk(iter(batch), done, header.origin, header.recipient, verified.id, known)
        new_rows = list(chunk.appropriations())
        done = chunk.index
        if new_rows:
            _refuse_known(conn, [r[0] for r in new_rows])
            insert_rows(conn, appropriation, APPROPRIATION_COLUMNS, new_rows)
        event_rows = chunk.events
        if chunk.adjusted:
            event_rows = _number_adjustments(conn, event_rows, header.origin, header.recipient)
        insert_rows(conn, appropriation_event, EVENT_COLUMNS, event_rows)
        events += len(event_rows)
    return events


class _Chunk:
    """Turns operations into rows: appropriation rows yielded, event rows kept in order.

    Once :meth:`appropriations` is exhausted, :attr:`events` holds the event rows of every
    operation taken, and :attr:`adjusted` tells whether some need their seq numbered.
    """

    def __init__(
        self,
        operations: Iterator[dict[str, Any]],
        done: int,
        issuer: str,
        recipient: str,
        changeset_id: str,
        known: Known,
    ) -> None:
        self.operations = operations
        self.index = done  # operations before this chunk, then the number of the last taken
        self.taken = 0
        self.adjusted = False  # holds increases, decreases or recoveries (seq 0 until numbered)
        self.issuer = issuer
        self.recipient = recipient
        self.changeset_id = changeset_id
        self.events: list[tuple[Any, ...]] = []
        self.known = known
        self.by_year: dict[Any, tuple[Any, ...]] = {}

    def appropriations(self) -> Iterator[tuple[Any, ...]]:
        issuer = self.issuer
        recipient = self.recipient
        changeset_id = self.changeset_id
        append = self.events.append
        times: dict[str, datetime] = {}  # 'at' texts already checked in this chunk
        by_year = self.by_year  # each year seen: its func, econ and fund codes, id prefix
        known = self.known
        id_max, doc_max, actor_max, title_max, upper_max, project_max = (
            _LENGTH[k] for k in ("id", "doc", "actor", "title", "upper_doc", "project")
        )
        for op in self.operations:
            self.index += 1
            self.taken += 1
            get: Any = op.get
            kind = get("op")
            ident = get("id")
            doc = get("doc")
            actor = get("actor")
            amount = get("amount")
            text = get("at")
            at = times.get(text) if type(text) is str else None
            if kind == "issue":
                func = get("func")
                econ = get("econ")
                fund = get("fund")
                transfer = get("type", "general")
                year = get("year")
                title = get("title")
                upper_doc = get("upper_doc")
                project = get("project")
                valid = by_year.get(year)
                if valid is None and type(year) is int:
                    valid = by_year[year] = (
                        *(known.codes(c, year) for c in ("func", "econ", "fund")),
                        issued_under(issuer, year),
                    )
                if (
                    at is None
                    or valid is None
                    or type(amount) is not int
                    or amount <= 0
                    or amount > MAX_AMOUNT_FEN
                    or type(ident) is not str
                    or not ident.startswith(valid[3])
                    or not ident[len(valid[3]) :].isdigit()
                    or len(ident) > id_max
                    or type(doc) is not str
                    or not doc
                    or len(doc) > doc_max
                    or type(func) is not str
                    or not func
                    or type(econ) is not str
                    or not econ
                    or type(fund) is not str
                    or not fund
                    or type(actor) is not str
                    or not actor
                    or len(actor) > actor_max
                    or (transfer != "special" and transfer != "general")
                    or func not in valid[0]
                    or econ not in valid[1]
                    or fund not in valid[2]
                    or (title is not None and (type(title) is not str or len(title) > title_max))
                    or (
                        upper_doc is not None
                        and (type(upper_doc) is not str or len(upper_doc) > upper_max)
                    )
                    or (
                        project is not None
                        and (type(project) is not str or len(project) > project_max)
                    )
                ):
                    at = _checked(op, f"operation {self.index}", times, issuer, known)
                append((ident, 1, kind, amount, doc, actor, at, changeset_id))
                yield (
                    ident,
                    year,
                    issuer,
                    recipient,
                    doc,
                    title or "",
                    upper_doc,
                    None,
                    func,
                    econ,
                    fund,
                    transfer,
                    project,
                    at,
                    actor,
                )
            else:
                at = _checked(op, f"operation {self.index}", times, issuer)
                self.adjusted = True
                append((op["id"], 0, kind, EVENT_SIGN[kind] * amount, doc, actor, at, changeset_id))


def _refuse_known(conn: Connection, ids: list[str]) -> None:
    if len(set(ids)) != len(ids):
        raise InputError("the same appropriation id is issued twice in one change-set")
    known = conn.execute(sa.select(appropriation.c.id).where(appropriation.c.id.in_(ids))).first()
    if known is not None:
        raise InputError(f"appropriation {known.id} was already issued")


def _number_adjustments(
    conn: Connection, events: list[tuple[Any, ...]], issuer: str, recipient: str
) -> list[tuple[Any, ...]]:
    """Return ``events`` (rows in EVENT_COLUMNS order) with each adjustment's seq filled in.

    Only the appropriation's issuer may change it, and only what it issued to this node.
    A decrease or recovery may take no more than is still available here (what was
    received, less what was broken down to children and spent): the issuer cannot see
    that, so the recipient checks it, with the rows locked, and refuses the change-set
    otherwise. An increase may not take the appropriation past ``MAX_AMOUNT_FEN``.
    """
    ids = {e[0] for e in events if e[1] == 0}
    held = {r.id: r for r in lock_rows(conn, appropriation.c.id, ids)}
    standing = conn.execute(
        sa.select(
            appropriation_event.c.appropriation_id,
            sa.func.max(appropriation_event.c.seq),
            total(appropriation_event.c.amount_fen),
        )
        .where(appropriation_event.c.appropriation_id.in_(ids))
        .group_by(appropriation_event.c.appropriation_id)
    ).all()
    last = {ident: int(seq) for ident, seq, _amount in standing}
    amount_of = {ident: int(amount) for ident, _seq, amount in standing}
    left = balances(conn, list(held))
    numbered = []
    for event in events:
        ident, seq, kind, amount = event[0], event[1], event[2], event[3]
        if seq:  # issued by this very change-set
            last[ident] = max(last.get(ident, 0), seq)
            amount_of[ident] = amount_of.get(ident, 0) + amount
            left[ident] = left.get(ident, 0) + amount
            numbered.append(event)
            continue
        row = held.get(ident)
        if row is None or row.recipient != recipient:
            raise InputError(f"{kind} of unknown appropriation {ident}")
        if row.issuer != issuer:
            raise InputError(
                f"{kind} of {ident} refused: only its issuer {row.issuer} may change it, "
                f"not {issuer}"
            )
        if amount < 0 and -amount > left.get(ident, 0):
            raise InputError(
                f"{kind} of {format_yuan(-amount)} 元 exceeds what is still available of "
                f"{ident} here: {format_yuan(left.get(ident, 0))} 元"
            )
        if amount_of.get(ident, 0) + amount > MAX_AMOUNT_FEN:
            raise InputError(
                f"{kind} of {format_yuan(amount)} 元 takes {ident} past the largest amount "
                f"of one appropriation, {format_yuan(MAX_AMOUNT_FEN)} 元"
            )
        last[ident] = last.get(ident, 0) + 1
        amount_of[ident] = amount_of.get(ident, 0) + amount
        left[ident] = left.get(ident, 0) + amount
        numbered.append((ident, last[ident], *event[2:]))
    return numbered


# --- the issuing side ----------------------------------------------------------------------


@dataclass(frozen=True)
class Allocation:
    """One line to issue (下达): to a descendant, or broken down (分解) from a received one.

    ``label`` names the line in refusals (``batch.xlsx row 7``); by default ``line N``.
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


@dataclass(frozen=True)
class Holding:
    """An appropriation as this node sees it.

    Issued here: ``amount_fen`` is what stands (refused change-sets left out),
    ``acknowledged_fen`` what the recipient's signed receipts confirm. Received here:
    both are the amount received, and ``available_fen`` is what is still available of it.
    """

    id: str
    year: int
    issuer: str
    recipient: str
    doc_no: str
    title: str
    func_code: str
    econ_code: str
    fund_code: str
    transfer_type: str
    parent_id: str | None
    amount_fen: int
    acknowledged_fen: int
    available_fen: int


FILE_COLUMNS = {
    "recipient": ("recipient", "to", "下达对象", "接收单位", "地区编码"),
    "amount": ("amount", "金额", "金额（元）", "金额(元)"),
    "func": ("func", "功能分类", "功能科目"),
    "econ": ("econ", "经济分类", "经济科目"),
    "fund": ("fund", "资金性质"),
    "doc": ("doc", "文号", "本级文号"),
    "title": ("title", "标题", "指标名称"),
    "year": ("year", "年度"),
    "type": ("type", "转移支付类型", "类型"),
    "project": ("project", "项目", "项目编码"),
    "from": ("from", "parent", "来源指标"),
}
FILE_REQUIRED = ("recipient", "amount", "func", "econ", "fund", "doc")
FILE_HEADER = "recipient,amount,func,econ,fund,doc,title,year,type,project,from"
TYPE_WORDS = {"general": "general", "一般性": "general", "special": "special", "专项": "special"}


def read_allocations(path: Path, default_year: int) -> list[Allocation]:
    """Read a batch of lines from a CSV or XLSX file; every bad row and field at once.

    Amounts are in 元 (at most two decimals); ``from`` names a received appropriation to
    break down. What the file cannot know (codes, balances) :func:`allocate` checks.
    """
    sheet = read_table(path, FILE_COLUMNS, FILE_REQUIRED)
    if not sheet.rows:
        raise InputError(f"{path.name} has no lines", hint=f"the header line is: {FILE_HEADER}")
    lines, problems = [], []
    for row in sheet.rows:
        where = f"{path.name} row {row.number}"
        v = row.values
        found = [f"{key} is empty" for key in FILE_REQUIRED if not v.get(key)]
        amount = 0
        if v.get("amount"):
            try:
                amount = parse_yuan(v["amount"])
            except ValueError as exc:
                found.append(f"amount: {exc}")
        year = default_year
        if v.get("year"):
            if not v["year"].isdigit():
                found.append(f"year {v['year']!r} is not a year")
            else:
                year = int(v["year"])
        transfer = TYPE_WORDS.get((v.get("type") or "general").lower())
        if transfer is None:
            found.append(f"type {v['type']!r} is not general or special")
        if found:
            problems.extend(f"{where}: {p}" for p in found)
            continue
        lines.append(
            Allocation(
                recipient=v["recipient"],
                amount_fen=amount,
                func=v["func"],
                econ=v["econ"],
                fund=v["fund"],
                doc=v["doc"],
                year=year,
                title=v.get("title", ""),
                transfer_type=transfer or "general",
                project=v.get("project") or None,
                parent_id=v.get("from") or None,
                label=where,
            )
        )
    refuse(problems, "issued", f"the header line is: {FILE_HEADER}")
    return lines


def _issued_events() -> sa.Join:
    """Appropriations joined to their events and to the outbox entry that carried each."""
    return appropriation.join(appropriation_event).outerjoin(
        outbox, outbox.c.id == appropriation_event.c.changeset_id
    )


def counted() -> sa.ColumnElement[bool]:
    """Which events count, over :func:`_issued_events` (指标控制 errs on the safe side).

    An event sent in a change-set its recipient refused (negative receipt) never took
    effect. An issue or increase counts from the moment it is sent; a decrease or
    recovery only once the recipient's receipt accepts it, since the recipient may
    refuse it when the money is no longer available there. Events received from above
    have no outbox entry here and always count.
    """
    return sa.or_(
        outbox.c.id.is_(None),
        outbox.c.receipt_verdict == "applied",
        sa.and_(outbox.c.receipt_verdict.is_(None), appropriation_event.c.amount_fen > 0),
    )


def balances(conn: Connection, ids: Collection[str] | sa.Select[Any]) -> dict[str, int]:
    """What is still available of each appropriation in ``ids`` (指标余额), in fen:
    received, minus what was broken down from it (net of recoveries), minus spending.

    ``ids`` may be a list or a query selecting the ids; three grouped queries in all. A
    caller about to write what it decides from a balance holds the rows locked.
    """
    amount = total(appropriation_event.c.amount_fen)
    received = conn.execute(
        sa.select(appropriation_event.c.appropriation_id, amount)
        .where(appropriation_event.c.appropriation_id.in_(ids))
        .group_by(appropriation_event.c.appropriation_id)
    ).all()
    broken_down = conn.execute(
        sa.select(appropriation.c.parent_id, amount)
        .select_from(_issued_events())
        .where(appropriation.c.parent_id.in_(ids), counted())
        .group_by(appropriation.c.parent_id)
    ).all()
    spent = conn.execute(
        sa.select(ledger_entry.c.appropriation_id, total(ledger_entry.c.amount_fen))
        .where(ledger_entry.c.appropriation_id.in_(ids), ledger_entry.c.direction == "expenditure")
        .group_by(ledger_entry.c.appropriation_id)
    ).all()
    result: dict[str, int] = dict(received)
    for rows in (broken_down, spent):
        for ident, fen in rows:
            result[ident] = result.get(ident, 0) - fen
    return result


def available(conn: Connection, appropriation_id: str) -> int:
    """What is still available of one appropriation received here, in fen."""
    return balances(conn, [appropriation_id]).get(appropriation_id, 0)


def budget_by_func(conn: Connection, node_code: str, year: int) -> dict[str, int]:
    """This node's own budget by functional classification for ``year``, in fen:
    what it received, less what it broke down to its children (the reports' budget)."""
    amount = total(appropriation_event.c.amount_fen)
    received = conn.execute(
        sa.select(appropriation.c.func_code, amount)
        .select_from(appropriation.join(appropriation_event))
        .where(appropriation.c.recipient == node_code, appropriation.c.year == year)
        .group_by(appropriation.c.func_code)
    ).all()
    parent = appropriation.alias("parent")
    broken_down = conn.execute(
        sa.select(parent.c.func_code, amount)
        .select_from(_issued_events().join(parent, parent.c.id == appropriation.c.parent_id))
        .where(parent.c.recipient == node_code, parent.c.year == year, counted())
        .group_by(parent.c.func_code)
    ).all()
    result: dict[str, int] = dict(received)
    for code, fen in broken_down:
        result[code] = result.get(code, 0) - fen
    return result


def _static_problems(where: str, line: Allocation, node: Node, known: Known) -> list[str]:
    problems = []
    try:
        check_send(node.topology, node.spec.code, line.recipient, "appropriation")
    except NotAuthorized as exc:
        problems.append(f"{where}: recipient {line.recipient}: {exc.message}")
    if line.amount_fen <= 0:
        problems.append(f"{where}: amount must be more than zero")
    elif line.amount_fen > MAX_AMOUNT_FEN:
        problems.append(
            f"{where}: amount {format_yuan(line.amount_fen)} 元 is more than the largest "
            f"amount of one line, {format_yuan(MAX_AMOUNT_FEN)} 元"
        )
    if not (line.func.isdigit() and len(line.func) == 7):
        problems.append(f"{where}: functional classification {line.func!r} is not 7 digits")
    elif problem := known.problem("func", line.year, line.func):
        problems.append(f"{where}: {problem}")
    if not (line.econ.isdigit() and len(line.econ) == 5):
        problems.append(f"{where}: economic classification {line.econ!r} is not 5 digits")
    elif problem := known.problem("econ", line.year, line.econ):
        problems.append(f"{where}: {problem}")
    if not line.fund.strip():
        problems.append(f"{where}: fund type is missing")
    elif problem := known.problem("fund", line.year, line.fund):
        problems.append(f"{where}: {problem}")
    if not line.doc.strip():
        problems.append(f"{where}: document number (文号) is missing")
    for what, text, key in (
        ("document number (文号)", line.doc, "doc"),
        ("title", line.title, "title"),
        ("project", line.project or "", "project"),
    ):
        if len(text) > _LENGTH[key]:
            problems.append(f"{where}: {what} is longer than {_LENGTH[key]} characters")
    if line.transfer_type not in TRANSFER_TYPES:
        problems.append(f"{where}: type must be general or special")
    return problems


def refuse(problems: list[str], what: str, hint: str | None = None) -> None:
    """Refuse a whole batch for its ``problems`` (the first MAX_PROBLEMS are listed)."""
    if problems:
        shown = problems[:MAX_PROBLEMS]
        if len(problems) > len(shown):
            shown.append(f"... and {len(problems) - len(shown)} more")
        raise RowsRefused(f"{len(problems)} problem(s), nothing {what}", shown, hint=hint)


def _parents(
    conn: Connection, lines: list[Allocation], me: str, problems: list[str]
) -> dict[str, Any]:
    """The received appropriations the lines break down, locked, then checked: each line
    against its parent's balance (指标控制) and classification (a breakdown keeps its fund
    type and transfer type, and its function is the parent's or one below it)."""
    wanted = {line.parent_id for line in lines if line.parent_id}
    parents = {r.id: r for r in lock_rows(conn, appropriation.c.id, wanted) if r.recipient == me}
    balance = balances(conn, list(parents))
    drawn: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        if line.parent_id is None:
            continue
        where = line.label or f"line {number}"
        parent = parents.get(line.parent_id)
        if parent is None:
            problems.append(f"{where}: {line.parent_id} is not an appropriation received here")
            continue
        problems.extend(f"{where}: {p}" for p in _breakdown_problems(line, parent))
        drawn[line.parent_id] = drawn.get(line.parent_id, 0) + max(line.amount_fen, 0)
        left = balance.get(line.parent_id, 0)
        if drawn[line.parent_id] > left:
            problems.append(
                f"{where}: breaking down {format_yuan(drawn[line.parent_id])} 元 from "
                f"{line.parent_id} exceeds its available balance of {format_yuan(left)} 元"
            )
    return parents


def _breakdown_problems(line: Allocation, parent: Any) -> list[str]:
    """How a breakdown (分解) strays from the appropriation it is taken from."""
    ident = parent.id
    found = []
    if parent.year != line.year:
        found.append(f"year {line.year} differs from {ident}'s year {parent.year}")
    if line.fund != parent.fund_code:
        found.append(
            f"a breakdown keeps the fund type (资金性质) of {ident}, {parent.fund_code}, "
            f"not {line.fund}"
        )
    if line.transfer_type != parent.transfer_type:
        found.append(
            f"a breakdown keeps the transfer type of {ident}, {parent.transfer_type}, "
            f"not {line.transfer_type}"
        )
    if not line.func.startswith(parent.func_code):
        found.append(
            f"a breakdown's functional classification is that of {ident} or one below it: "
            f"{line.func} is not {parent.func_code} or under it"
        )
    return found


def _duplicates(conn: Connection, me: str, lines: list[Allocation]) -> list[str]:
    """Lines issued twice: the same 文号, recipient, function and amount in one year, within
    the batch or already issued here (and not refused by the recipient).

    The caller holds the issuer's counter for every year of the batch, so two batches
    checked at once cannot both miss each other.
    """

    def key(year: int, doc: str, recipient: str, func: str, amount: int) -> tuple[Any, ...]:
        return (year, doc.strip(), recipient, func, amount)

    problems = []
    seen: dict[tuple[Any, ...], str] = {}
    for number, line in enumerate(lines, 1):
        where = line.label or f"line {number}"
        k = key(line.year, line.doc, line.recipient, line.func, line.amount_fen)
        if k in seen:
            problems.append(
                f"{where}: repeats {seen[k]} (the same 文号, recipient, function and amount)"
            )
        else:
            seen[k] = where
    docs = sorted({line.doc.strip() for line in lines})
    years = sorted({line.year for line in lines})
    earlier: dict[tuple[Any, ...], str] = {}
    for start in range(0, len(docs), BATCH):
        query = (
            sa.select(
                appropriation.c.id,
                appropriation.c.year,
                appropriation.c.doc_no,
                appropriation.c.recipient,
                appropriation.c.func_code,
                appropriation_event.c.amount_fen,
            )
            .select_from(_issued_events())
            .where(
                appropriation.c.issuer == me,
                appropriation.c.year.in_(years),
                appropriation.c.doc_no.in_(docs[start : start + BATCH]),
                appropriation_event.c.kind == "issue",
                sa.or_(outbox.c.receipt_verdict.is_(None), outbox.c.receipt_verdict != "rejected"),
            )
        )
        for row in conn.execute(query):
            earlier.setdefault(
                key(row.year, row.doc_no, row.recipient, row.func_code, row.amount_fen), row.id
            )
    for number, line in enumerate(lines, 1):
        k = key(line.year, line.doc, line.recipient, line.func, line.amount_fen)
        if k in earlier:
            where = line.label or f"line {number}"
            problems.append(
                f"{where}: already issued as {earlier[k]} (the same 文号, recipient, function "
                "and amount)"
            )
    return problems


def allocate(
    node: Node,
    lines: list[Allocation],
    *,
    actor: str,
    allow_duplicate: bool = False,
    clock: Clock = SYSTEM_CLOCK,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Issue every line, all or nothing; return the new appropriation ids.

    Every line is checked first (recipient, amount, codes valid for its year; for a
    breakdown (``parent_id``) the balance of the received appropriation, 指标控制, and its
    classification; unless ``allow_duplicate``, that the same 文号, recipient, function
    and amount was not issued already); any problem refuses the whole batch and names
    every bad line. Then each line is recorded here and sent to its recipient as a
    signed change-set (one per recipient), in one transaction. ``progress`` is told how
    many lines were written so far.

    What the checks reason about is locked first, in the product's lock order: the
    parents' rows, then this issuer's counter of each year (ids are taken from it), then
    the channel heads. A second operator doing the same at once waits, then sees what the
    first one did.
    """
    me = node.spec.code
    now = clock.now()
    at = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    signer = load_signer(node.home.keys)
    with node.engine.begin() as conn:
        known = Known(conn)
        problems = [
            p
            for number, line in enumerate(lines, 1)
            for p in _static_problems(line.label or f"line {number}", line, node, known)
        ]
        parents = _parents(conn, lines, me, problems)
        numbers = {
            year: iter(take_numbers(conn, "appropriation", issued_under(me, year)[:-1], count))
            for year, count in sorted(Counter(line.year for line in lines).items())
        }
        duplicates = [] if allow_duplicate else _duplicates(conn, me, lines)
        problems.extend(duplicates)
        refuse(
            problems,
            "issued",
            "add --allow-duplicate to issue the same line again on purpose"
            if problems and problems == duplicates
            else "指标控制: a breakdown may not exceed what is still available, and keeps the "
            "classification of what it is taken from",
        )
        ids = [f"{issued_under(me, line.year)}{next(numbers[line.year]):06d}" for line in lines]
        rows = []
        by_recipient: dict[str, list[dict[str, Any]]] = {}
        for done, (ident, line) in enumerate(zip(ids, lines, strict=True), 1):
            parent = parents.get(line.parent_id) if line.parent_id else None
            upper_doc = parent.doc_no if parent is not None else None
            rows.append(
                (
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
                )
            )
            by_recipient.setdefault(line.recipient, []).append(
                {
                    "op": "issue",
                    "id": ident,
                    "year": line.year,
                    "doc": line.doc,
                    "title": line.title,
                    "upper_doc": upper_doc,
                    "parent_id": None,
                    "func": line.func,
                    "econ": line.econ,
                    "fund": line.fund,
                    "type": line.transfer_type,
                    "project": line.project,
                    "amount": line.amount_fen,
                    "actor": actor,
                    "at": at,
                }
            )
            if progress is not None and done % 1000 == 0:
                progress(done)
        insert_rows(conn, appropriation, APPROPRIATION_COLUMNS, rows)
        events = []
        for recipient, operations in sorted(by_recipient.items()):  # heads in lock order
            written = enqueue(
                conn, node.spool, signer, recipient, "appropriation", operations, clock
            )
            events.extend(
                (op["id"], 1, "issue", op["amount"], op["doc"], actor, now, written.id)
                for op in operations
            )
        insert_rows(conn, appropriation_event, EVENT_COLUMNS, events)
    if progress is not None:
        progress(len(lines))
    return ids


def change(
    node: Node,
    ident: str,
    kind: str,
    amount_fen: int,
    doc: str,
    *,
    actor: str,
    clock: Clock = SYSTEM_CLOCK,
) -> int:
    """Increase (调增), decrease (调减) or recover (收回) an appropriation issued here.

    Recorded as a new event and sent to the recipient as a signed change-set, in one
    transaction; returns the event's number. An increase of a breakdown takes from the
    received appropriation's balance; a decrease or recovery may not exceed what was
    issued, and the recipient refuses it (negative receipt, and the event never counts)
    when less than that is still available down there. The appropriation (and, for an
    increase of a breakdown, the one it was taken from) is locked before it is checked.
    """
    if kind not in ("increase", "decrease", "recover"):
        raise InputError(f"unknown change {kind!r}")
    if amount_fen <= 0:
        raise InputError("the amount must be more than zero", hint="an amount in 元, e.g. 100.00")
    if amount_fen > MAX_AMOUNT_FEN:
        raise InputError(
            f"{format_yuan(amount_fen)} 元 is more than the largest amount of one line, "
            f"{format_yuan(MAX_AMOUNT_FEN)} 元"
        )
    if not doc.strip():
        raise InputError("the document number (文号) is missing", hint="pass --doc")
    if len(doc) > _LENGTH["doc"]:
        raise InputError(f"the document number (文号) is longer than {_LENGTH['doc']} characters")
    me = node.spec.code
    signer = load_signer(node.home.keys)
    with node.engine.begin() as conn:
        row = conn.execute(sa.select(appropriation).where(appropriation.c.id == ident)).first()
        if row is not None:  # its parent never changes: lock both, in id order
            locked = [ident] if row.parent_id is None else [ident, row.parent_id]
            row = next(r for r in lock_rows(conn, appropriation.c.id, locked) if r.id == ident)
        if row is None:
            raise InputError(
                f"no appropriation {ident} here",
                hint="list them with 'fiscalsync appropriations --issued'",
            )
        if row.issuer != me:
            raise InputError(
                f"{ident} was issued by {row.issuer}; only its issuer can {kind} it",
                hint="list those issued here with 'fiscalsync appropriations --issued'",
            )
        standing = conn.execute(
            sa.select(total(appropriation_event.c.amount_fen))
            .select_from(_issued_events())
            .where(
                appropriation.c.id == ident,
                sa.or_(outbox.c.receipt_verdict.is_(None), outbox.c.receipt_verdict != "rejected"),
            )
        ).scalar_one()
        if kind == "increase" and standing + amount_fen > MAX_AMOUNT_FEN:
            raise InputError(
                f"increasing {ident} by {format_yuan(amount_fen)} 元 takes it past the largest "
                f"amount of one appropriation, {format_yuan(MAX_AMOUNT_FEN)} 元"
            )
        if kind == "increase" and row.parent_id is not None:
            left = available(conn, row.parent_id)
            if amount_fen > left:
                raise InputError(
                    f"increasing {ident} by {format_yuan(amount_fen)} 元 exceeds the available "
                    f"balance of {row.parent_id}: {format_yuan(left)} 元",
                    hint="指标控制: a breakdown may not exceed what is still available",
                )
        if kind != "increase" and amount_fen > standing:
            raise InputError(
                f"a {kind} of {format_yuan(amount_fen)} 元 exceeds what stands of {ident}: "
                f"{format_yuan(standing)} 元",
                hint="指标控制: no more than was issued can come back",
            )
        now = clock.now()
        operation = {
            "op": kind,
            "id": ident,
            "amount": amount_fen,
            "doc": doc,
            "actor": actor,
            "at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        written = enqueue(
            conn, node.spool, signer, row.recipient, "appropriation", [operation], clock
        )
        seq = (
            int(
                conn.execute(
                    sa.select(sa.func.max(appropriation_event.c.seq)).where(
                        appropriation_event.c.appropriation_id == ident
                    )
                ).scalar_one()
            )
            + 1
        )
        conn.execute(
            appropriation_event.insert().values(
                appropriation_id=ident,
                seq=seq,
                kind=kind,
                amount_fen=EVENT_SIGN[kind] * amount_fen,
                doc_no=doc,
                actor=actor,
                at=now,
                changeset_id=written.id,
            )
        )
    return seq


def holdings(node: Node, *, issued: bool, year: int | None = None) -> list[Holding]:
    """Appropriations issued by this node (``issued``) or received by it, with amounts."""
    me = node.spec.code
    mine = (appropriation.c.issuer if issued else appropriation.c.recipient) == me
    if year is not None:
        mine = mine & (appropriation.c.year == year)
    amount = appropriation_event.c.amount_fen
    if issued:
        standing = sa.or_(
            outbox.c.receipt_verdict.is_(None), outbox.c.receipt_verdict != "rejected"
        )
        sums = [
            total(sa.case((standing, amount), else_=0)),
            total(sa.case((outbox.c.receipt_verdict == "applied", amount), else_=0)),
        ]
        source: Any = _issued_events()
    else:
        sums = [total(amount)] * 2
        source = appropriation.join(appropriation_event)
    query = (
        sa.select(appropriation, sums[0].label("amount"), sums[1].label("acknowledged"))
        .select_from(source)
        .where(mine)
        .group_by(*appropriation.c)
        .order_by(appropriation.c.id)
    )
    with reading(node.engine) as conn:
        rows = conn.execute(query).all()
        left = {} if issued else balances(conn, sa.select(appropriation.c.id).where(mine))
    return [
        Holding(
            id=r.id,
            year=r.year,
            issuer=r.issuer,
            recipient=r.recipient,
            doc_no=r.doc_no,
            title=r.title,
            func_code=r.func_code,
            econ_code=r.econ_code,
            fund_code=r.fund_code,
            transfer_type=r.transfer_type,
            parent_id=r.parent_id,
            amount_fen=int(r.amount),
            acknowledged_fen=int(r.acknowledged),
            available_fen=int(r.amount) if issued else left.get(r.id, 0),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class Event:
    """One event of an appropriation's history, with the change-set that carried it."""

    seq: int
    kind: str
    amount_fen: int
    doc_no: str
    actor: str
    at: datetime
    changeset_id: str | None
    receipt_id: str | None
    verdict: str | None  # applied / rejected; None while no receipt is back
    reason: str | None


@dataclass(frozen=True)
class History:
    """An appropriation, every event of it, and what was broken down from it."""

    appropriation: Holding
    events: list[Event]
    breakdowns: list[Holding]
    issued_here: bool


def history(node: Node, ident: str) -> History:
    """``appropriations show``: the full history of one appropriation known here."""
    me = node.spec.code
    with reading(node.engine) as conn:
        row = conn.execute(sa.select(appropriation).where(appropriation.c.id == ident)).first()
        if row is None:
            raise InputError(
                f"no appropriation {ident} here",
                hint="list them with 'fiscalsync appropriations --issued' or '--received'",
            )
        issued_here = row.issuer == me
        if issued_here:
            log_query = sa.select(
                appropriation_event,
                outbox.c.receipt_id,
                outbox.c.receipt_verdict.label("verdict"),
                outbox.c.receipt_reason.label("reason"),
            ).select_from(
                appropriation_event.outerjoin(
                    outbox, outbox.c.id == appropriation_event.c.changeset_id
                )
            )
        else:
            log_query = sa.select(
                appropriation_event,
                changeset_log.c.receipt_id,
                changeset_log.c.verdict,
                changeset_log.c.reason,
            ).select_from(
                appropriation_event.outerjoin(
                    changeset_log, changeset_log.c.id == appropriation_event.c.changeset_id
                )
            )
        events = [
            Event(
                seq=e.seq,
                kind=e.kind,
                amount_fen=int(e.amount_fen),
                doc_no=e.doc_no,
                actor=e.actor,
                at=e.at,
                changeset_id=e.changeset_id,
                receipt_id=e.receipt_id,
                verdict=e.verdict,
                reason=e.reason,
            )
            for e in conn.execute(
                log_query.where(appropriation_event.c.appropriation_id == ident).order_by(
                    appropriation_event.c.seq
                )
            )
        ]
    listing = holdings(node, issued=issued_here, year=row.year)
    own = next(h for h in listing if h.id == ident)
    children = [h for h in holdings(node, issued=True, year=row.year) if h.parent_id == ident]
    return History(own, events, children, issued_here)
