"""Issuing (下达), breaking down (分解) and adjusting (调增, 调减, 收回): the issuer's side.

Every line is checked before anything is written, and what the checks reason about is
locked first, in the product's lock order (:mod:`schema.locks`): the parents' rows,
then this issuer's counter of each year, then the channel heads. A second operator
doing the same at once waits, then sees what the first one did.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal.appropriations import copies
from nodes.fiscal.appropriations.balances import available, balances, issued_events
from nodes.fiscal.appropriations.operations import (
    APPROPRIATION_COLUMNS,
    BUDGET_LEVELS,
    EVENT_COLUMNS,
    EVENT_SIGN,
    FIELD_LENGTH,
    INDICATOR_KINDS,
    TRANSFER_LABELS,
    TRANSFER_TYPES,
    issued_under,
)
from nodes.fiscal.codes import Known
from nodes.fiscal.documents import EXAMPLE as DOCUMENT_EXAMPLE
from nodes.fiscal.documents import Documents
from nodes.fiscal.reconcile import records
from nodes.fiscal.reconcile.records import wire_time
from nodes.fiscal.tabular import refuse
from nodes.policy import check_send
from schema.bulk import insert_rows
from schema.channels import outbox
from schema.locks import lock_rows, take_numbers
from schema.sums import total
from schema.tables import appropriation, appropriation_event
from schema.types import MAX_AMOUNT_FEN, format_yuan
from sync import merkle
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import InputError, NotAuthorized
from sync.merkle import leaf_of
from sync.pki import load_signer

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = ["Allocation", "allocate", "change"]

BATCH = 5_000  # ids or document numbers per query


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


def _static_problems(where: str, line: Allocation, node: Node, known: Known) -> list[str]:
    problems = [f"{where}: {p}" for p in line.problems]
    if line.problems:  # what its file left empty or unreadable is named already
        if not (line.recipient and line.func and line.econ and line.fund and line.doc):
            return problems
        if line.amount_fen <= 0:
            line = dataclasses.replace(line, amount_fen=1)
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
        if len(text) > FIELD_LENGTH[key]:
            problems.append(f"{where}: {what} is longer than {FIELD_LENGTH[key]} characters")
    if line.transfer_type not in TRANSFER_TYPES:
        problems.append(f"{where}: type must be one of {', '.join(TRANSFER_TYPES)}")
    documents = Documents(node.topology)
    if line.indicator not in INDICATOR_KINDS:
        problems.append(f"{where}: 指标类型 must be one of {', '.join(INDICATOR_KINDS)}")
    elif line.doc.strip() and (
        problem := documents.problem(
            line.doc, node.spec.code, line.year, advance=line.indicator == "advance"
        )
    ):
        problems.append(f"{where}: {problem}")
    if line.level is not None and line.level not in BUDGET_LEVELS:
        problems.append(f"{where}: 预算级次 must be one of {', '.join(BUDGET_LEVELS)}")
    if line.upper_doc is not None:
        if line.parent_id is not None:
            problems.append(
                f"{where}: a breakdown's upper document (上级文号) is the 文号 of "
                f"{line.parent_id}: give no other"
            )
        elif problem := documents.upper_problem(line.upper_doc, node.spec.code):
            problems.append(f"{where}: {problem}")
    return problems


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
            f"a breakdown keeps the transfer type of {ident}, {parent.transfer_type} "
            f"({TRANSFER_LABELS.get(parent.transfer_type, '')}), not {line.transfer_type}"
        )
    if line.direct is not None and line.direct != parent.direct:
        found.append(
            f"a breakdown keeps the 直达资金 flag of {ident}: it is "
            f"{'直达' if parent.direct else 'not 直达'}, so must its breakdowns be"
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
            .select_from(issued_events())
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
        before = len(problems)
        parents = _parents(conn, lines, me, problems)
        parents_checked = problems[before:]
        numbers = {
            year: iter(take_numbers(conn, "appropriation", issued_under(me, year)[:-1], count))
            for year, count in sorted(Counter(line.year for line in lines).items())
        }
        duplicates = [] if allow_duplicate else _duplicates(conn, me, lines)
        problems.extend(duplicates)
        refuse(problems, "issued", _hint(problems, duplicates, parents_checked))
        ids = [f"{issued_under(me, line.year)}{next(numbers[line.year]):06d}" for line in lines]
        rows = []
        by_recipient: dict[str, list[dict[str, Any]]] = {}
        for done, (ident, line) in enumerate(zip(ids, lines, strict=True), 1):
            parent = parents.get(line.parent_id) if line.parent_id else None
            upper_doc = parent.doc_no if parent is not None else line.upper_doc
            direct = bool(parent.direct) if parent is not None else bool(line.direct)
            source = "own" if upper_doc is None else "upper"
            level = line.level or _level(node, line.recipient)
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
                    leaf_of(ident),
                    direct,
                    line.indicator,
                    source,
                    level,
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
            )
            if progress is not None and done % 1000 == 0:
                progress(done)
        insert_rows(conn, appropriation, APPROPRIATION_COLUMNS, rows)
        events = []
        seq_of: dict[str, int] = {}
        for recipient, kind, operations in _sends(node, by_recipient):  # heads in lock order
            written = enqueue(conn, node.spool, signer, recipient, kind, operations, clock)
            if kind != copies.KIND:
                seq_of[recipient] = written.header.seq
                events.extend(
                    (op["id"], 1, "issue", op["amount"], op["doc"], actor, now, written.id)
                    for op in operations
                )
        insert_rows(conn, appropriation_event, EVENT_COLUMNS, events)
        _keep_digests(conn, me, rows, lines, seq_of, wire_time(now))
    if progress is not None:
        progress(len(lines))
    return ids


def _hint(problems: list[str], duplicates: list[str], breakdowns: list[str]) -> str:
    """The hint that applies to what was found."""
    if problems and problems == duplicates:
        return "add --allow-duplicate to issue the same line again on purpose"
    if breakdowns:
        return (
            "指标控制: a breakdown may not exceed what is still available, and keeps the "
            "classification of what it is taken from"
        )
    return f"fix the lines named; nothing was issued (文号 like {DOCUMENT_EXAMPLE})"


def _level(node: Node, recipient: str) -> str | None:
    """The 预算级次 of what ``recipient`` receives: its role's level."""
    role = node.topology.nodes[recipient].role if recipient in node.topology else None
    return role if role in BUDGET_LEVELS else None


def _sends(
    node: Node, by_recipient: dict[str, list[dict[str, Any]]]
) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """The change-sets to write, in the lock order of their channel heads: each
    recipient's appropriations, and the information copies (抄送) for every node between
    this one and a recipient below its child."""
    sends = [(to, "appropriation", ops) for to, ops in by_recipient.items()]
    for to, ops in by_recipient.items():
        for between in copies.in_between(node.topology, node.spec.code, to):
            sends.append((between, copies.KIND, copies.copied(ops, to)))
    return sorted(sends, key=lambda send: (send[0], send[1] == copies.KIND))


def _keep_digests(
    conn: Connection,
    me: str,
    rows: list[tuple[Any, ...]],
    lines: list[Allocation],
    seq_of: dict[str, int],
    at: str,
) -> None:
    """Add the appropriations just issued to the digests of their edges."""
    changes: dict[str, merkle.Changes] = {}
    for row, line in zip(rows, lines, strict=True):
        edge = changes.get(line.recipient)
        if edge is None:
            edge = changes[line.recipient] = merkle.Changes(records.scope(me, line.recipient))
        edge.add(
            row[0], records.new_record(row, seq_of[line.recipient], line.amount_fen, at).digest
        )
    for edge in changes.values():
        merkle.apply(conn, edge)


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
    if len(doc) > FIELD_LENGTH["doc"]:
        raise InputError(
            f"the document number (文号) is longer than {FIELD_LENGTH['doc']} characters"
        )
    me = node.spec.code
    if problem := Documents(node.topology).problem(doc, me):
        raise InputError(problem, hint=f"e.g. --doc '{DOCUMENT_EXAMPLE}'")
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
            .select_from(issued_events())
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
        written = None
        for recipient, sent, operations in _sends(node, {row.recipient: [operation]}):
            done = enqueue(conn, node.spool, signer, recipient, sent, operations, clock)
            written = done if sent != copies.KIND else written
        assert written is not None
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
        before = records.view(conn, records.ISSUER, [ident])
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
        after = records.view(conn, records.ISSUER, [ident])
        records.refresh(conn, records.scope(me, row.recipient), before, after)
    return seq
