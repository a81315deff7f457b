"""Accepting a year-end statement at the issuer (年终结转, the issuer's side).

A statement that arrives is checked against what was issued and kept (``stated``); an
operator accepts it with the document (文号) of the next year that carries the balances
over. In one transaction, with the edge's close and the appropriations locked first, the
issuer recovers (收回) every stated balance from the old appropriation and, under
``[year] close = "carry"``, issues it again as an appropriation of the next year of
指标类型 结转 (carryover): 上级文号 the old 文号, the same classification, transfer type,
直达资金 flag, project and 预算级次, and (at this issuer) the same appropriation it was
broken down from, whose balance the pair leaves as it was; a code that the next year's
code set changed (科目变动对照) is carried as its new code. Both go to the recipient in
one change-set. Under ``"recover"`` the balances come back to this level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes import rejoin
from nodes.fiscal.appropriations import copies
from nodes.fiscal.appropriations.closed import MARK, closed_ids, lock_edge, lock_year, of_close
from nodes.fiscal.appropriations.operations import (
    APPROPRIATION_COLUMNS,
    EVENT_COLUMNS,
    issued_under,
    operation_at,
)
from nodes.fiscal.code_changes import CHANGED, recoded, renamed
from nodes.fiscal.codes import Known
from nodes.fiscal.documents import Documents
from nodes.fiscal.reconcile import records
from nodes.fiscal.yearend.closing import (
    _record,
    in_flight,
    named,
    standing,
    statement_operations,
)
from nodes.labels import said
from schema.bulk import insert_rows
from schema.locks import lock_rows, take_numbers
from schema.tables import appropriation, appropriation_event, year_close, year_close_line
from schema.types import format_yuan, parse_utc
from sync.changeset import Verified
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import InputError
from sync.merkle import leaf_of
from sync.pki import load_signer

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = ["MODES", "Accepted", "accept", "adopt_acceptance", "apply_statement", "refused"]

MODES = ("carry", "recover")
UNACCEPTED = {"state": "stated"} | dict.fromkeys(
    ("mode", "doc_no", "accepted_at", "accepted_by", "accepted_id")
)
"""A statement's columns when it is to be accepted (again)."""


@dataclass
class Accepted:
    """What accepting one statement did, in fen: ``stated`` = ``carried`` + ``recovered``
    (recovered and not carried over)."""

    recipient: str
    year: int
    mode: str
    doc: str
    stated_fen: int = 0
    carried_fen: int = 0
    recovered_fen: int = 0
    carried: dict[str, str] = field(default_factory=dict)
    """Old appropriation id → the next year's that carries its balance."""
    recoded: list[tuple[str, str, str, str]] = field(default_factory=list)
    """(old appropriation id, code set, old code, new code) for each code that changed."""


def apply_statement(conn: Connection, verified: Verified) -> None:
    """Keep a statement from below: every appropriation named was issued here to its
    sender in that year, and no balance is more than what stands of it."""
    year, operations, at = statement_operations(verified)
    header = verified.header
    me, sender = header.recipient, header.origin
    ids = [op["id"] for op in operations]
    lock_year(conn, me, year)
    lock_edge(conn, me, sender, year)
    rows = {r.id: r for r in lock_rows(conn, appropriation.c.id, ids)}
    stands = standing(conn, ids)
    for number, op in enumerate(operations, 1):
        row = rows.get(op["id"])
        if row is None or row.issuer != me or row.recipient != sender or row.year != year:
            raise InputError(
                said(
                    "accept_not_issued",
                    where=operation_at(number),
                    ident=op["id"],
                    year=year,
                    me=me,
                    sender=sender,
                )
            )
        if op["balance"] > stands.get(op["id"], 0):
            raise InputError(
                said(
                    "accept_over_standing",
                    where=operation_at(number),
                    ident=op["id"],
                    balance=format_yuan(op["balance"]),
                    standing=format_yuan(stands.get(op["id"], 0)),
                )
            )
    _record(conn, me, sender, year, "stated", verified.id, operations, at)


def accept(
    node: Node,
    year: int,
    recipient: str,
    doc: str,
    *,
    actor: str,
    mode: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Accepted:
    """Accept ``recipient``'s statement of ``year``: recover every balance, and carry it
    over into ``year + 1`` under ``doc`` (a 文号 of that year) unless ``mode`` (by
    default the node's ``[year] close``) is ``recover``. One transaction.

    Refused when there is no statement from ``recipient``, when it was accepted already
    (two operators at once: the second waits for the first, then sees its acceptance),
    while something issued to ``recipient`` that year is in flight, and when a code of
    a carried appropriation is not in the next year's code set.
    """
    me = node.spec.code
    mode = mode or node.settings.year_close
    if mode not in MODES:
        raise InputError(said("close_mode_bad", mode=mode))
    following = year + 1
    if problem := Documents(node.topology).problem(doc, me, following):
        raise InputError(problem, hint=said("carry_doc_hint", year=following))
    now = clock.now()
    at = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    done = Accepted(recipient, year, mode, doc)
    with node.engine.begin() as conn:
        rejoin.require_joined(conn, me)
        # Never while this node closes the year itself; and, when only recovering, nor
        # while it closes a year a balance would go back to (carry-overs keep their old
        # year's parent): the earlier year first, as every holder of two years does.
        before = _parent_years(conn, me, recipient, year) if mode == "recover" else set()
        for held_year in sorted(before | {year}):
            lock_year(conn, me, held_year)
        lock_edge(conn, me, recipient, year)
        held = conn.execute(
            sa.select(year_close).where(
                year_close.c.issuer == me,
                year_close.c.recipient == recipient,
                year_close.c.year == year,
            )
        ).first()
        if held is None:
            raise InputError(
                said("no_statement", year=year, code=recipient),
                hint=said("no_statement_hint", year=year, code=recipient),
            )
        if held.state == "accepted":
            raise InputError(
                said(
                    "accepted_already",
                    code=recipient,
                    year=year,
                    by=held.accepted_by,
                    doc=held.doc_no,
                ),
                hint=said("accepted_already_hint"),
            )
        pending = in_flight(conn, me, year, recipient)
        if pending:
            raise InputError(
                said(
                    "accept_in_flight",
                    count=len(pending),
                    year=year,
                    code=recipient,
                    ids=named(pending),
                ),
                hint=said("accept_in_flight_hint"),
            )
        lines = {
            r.appropriation_id: int(r.balance_fen)
            for r in conn.execute(
                sa.select(year_close_line).where(
                    year_close_line.c.issuer == me,
                    year_close_line.c.recipient == recipient,
                    year_close_line.c.year == year,
                )
            )
        }
        issued = set(
            conn.execute(
                sa.select(appropriation.c.id).where(
                    appropriation.c.issuer == me,
                    appropriation.c.recipient == recipient,
                    appropriation.c.year == year,
                )
            ).scalars()
        )
        rows = {r.id: r for r in lock_rows(conn, appropriation.c.id, issued | set(lines))}
        stands = standing(conn, issued)
        left_out = sorted(i for i in issued if stands.get(i, 0) and i not in lines)
        if left_out:
            raise InputError(
                said("statement_leaves_out", year=year, code=recipient, ids=named(left_out)),
                hint=said("statement_leaves_out_hint"),
            )
        over = sorted(i for i, fen in lines.items() if fen > stands.get(i, 0))
        if over:
            raise InputError(said("statement_over", year=year, code=recipient, ids=named(over)))
        carrying = sorted(i for i, fen in lines.items() if fen > 0)
        if mode == "recover":
            _require_open_parents(conn, rows, carrying, year, recipient)
        renames = renamed(conn, following) if mode == "carry" else {}
        carried_rows = {i: recoded(rows[i], renames) for i in carrying}
        if mode == "carry":
            _check_codes(conn, list(carried_rows.values()), following)
        done.stated_fen = sum(lines.values())
        operations: list[dict[str, Any]] = []
        new_rows: list[tuple[Any, ...]] = []
        numbers = iter(
            take_numbers(
                conn,
                "appropriation",
                issued_under(me, following)[:-1],
                len(carrying) if mode == "carry" else 0,
            )
        )
        for ident in carrying:
            fen = lines[ident]
            operations.append(
                {
                    "op": "recover",
                    "id": ident,
                    "amount": fen,
                    "doc": doc,
                    "actor": actor,
                    "at": at,
                    MARK: year,
                }
            )
            if mode == "recover":
                done.recovered_fen += fen
                continue
            old = carried_rows[ident]
            done.recoded += [
                (ident, codeset, getattr(rows[ident], column), getattr(old, column))
                for codeset, column in CHANGED.items()
                if getattr(old, column) != getattr(rows[ident], column)
            ]
            new = f"{issued_under(me, following)}{next(numbers):06d}"
            done.carried[ident] = new
            done.carried_fen += fen
            new_rows.append(_carried_row(old, new, following, doc, now, actor))
            operations.append(_carried_operation(old, new, following, doc, fen, actor, at))
        before = records.view(conn, records.ISSUER, carrying)
        written_id = None
        if operations:
            signer = load_signer(node.home.keys)
            for to, kind, whose in copies.sends(node.topology, me, [recipient]):
                sent = operations if kind != copies.KIND else list(copies.copied(operations, whose))
                written = enqueue(conn, node.spool, signer, to, kind, sent, clock)
                if kind != copies.KIND:
                    written_id = written.id
            insert_rows(conn, appropriation, APPROPRIATION_COLUMNS, new_rows)
            _record_events(conn, operations, written_id, doc, actor, now)
            after = records.view(conn, records.ISSUER, [*carrying, *done.carried.values()])
            records.refresh(conn, records.scope(me, recipient), before, after)
        _accepted(conn, me, recipient, year, mode, doc, now, actor, written_id, done.carried)
    return done


def _parent_years(conn: Connection, me: str, recipient: str, year: int) -> set[int]:
    """The years before ``year`` of the appropriations that what this node issued to
    ``recipient`` in ``year`` was broken down from (carry-overs keep their old year's
    parent; a parent never changes, so it is read before anything is locked)."""
    child, parent = appropriation.alias("child"), appropriation.alias("parent")
    query = (
        sa.select(parent.c.year)
        .distinct()
        .select_from(child.join(parent, parent.c.id == child.c.parent_id))
        .where(
            child.c.issuer == me,
            child.c.recipient == recipient,
            child.c.year == year,
            parent.c.year != year,
        )
    )
    return {int(found) for found in conn.execute(query).scalars()}


def _require_open_parents(
    conn: Connection, rows: dict[str, Any], carrying: list[str], year: int, recipient: str
) -> None:
    """Recovered, a balance goes back to the appropriation it was broken down from: not
    into one of a year closed here (a carry-over keeps its old year's parent), where it
    would stay for good, nothing spending, breaking down, stating or recovering it. The
    parents' years are locked (:func:`_parent_years`): no close of them comes between."""
    parents = {rows[i].parent_id for i in carrying if rows[i].parent_id is not None}
    shut = closed_ids(conn, parents)
    stranded = [i for i in carrying if rows[i].parent_id in shut]
    if stranded:
        first = stranded[0]
        raise InputError(
            said(
                "accept_into_closed",
                year=year,
                code=recipient,
                ident=first,
                parent_id=rows[first].parent_id,
                count=len(stranded),
            ),
            hint=said("accept_into_closed_hint"),
        )


def _accepted(
    conn: Connection,
    issuer: str,
    recipient: str,
    year: int,
    mode: str,
    doc: str,
    at: Any,
    actor: str,
    changeset_id: str | None,
    carried: dict[str, str],
) -> None:
    """The statement of ``year`` from ``recipient`` accepted, by ``changeset_id``."""
    conn.execute(
        year_close.update()
        .where(of_close(year_close, issuer, recipient, year))
        .values(
            state="accepted",
            mode=mode,
            doc_no=doc,
            accepted_at=at,
            accepted_by=actor,
            accepted_id=changeset_id,
        )
    )
    for old_id, new_id in carried.items():
        conn.execute(
            year_close_line.update()
            .where(
                of_close(year_close_line, issuer, recipient, year),
                year_close_line.c.appropriation_id == old_id,
            )
            .values(carried_to=new_id)
        )


def refused(node: Node, conn: Connection, entry: Any, clock: Clock = SYSTEM_CLOCK) -> None:
    """The recipient refused the acceptance carried by outbox ``entry`` (negative
    receipt): its recoveries and carry-overs never count (as any refused change-set's
    events), and the statement is ``stated`` again, to be accepted once its cause is
    fixed (the next year's codes imported there, say). The nodes in between, which took
    the acceptance's copies (抄送), get copies that take them back, in this transaction."""
    found = conn.execute(
        sa.select(year_close).where(
            year_close.c.accepted_id == entry.id, year_close.c.state == "accepted"
        )
    ).all()
    for row in found:
        lock_year(conn, row.issuer, row.year)
        lock_edge(conn, row.issuer, row.recipient, row.year)
        conn.execute(
            year_close.update()
            .where(of_close(year_close, row.issuer, row.recipient, row.year))
            .values(UNACCEPTED)
        )
        conn.execute(
            year_close_line.update()
            .where(of_close(year_close_line, row.issuer, row.recipient, row.year))
            .values(carried_to=None)
        )
    if found:
        _take_back_copies(node, conn, entry, clock)


def _take_back_copies(node: Node, conn: Connection, entry: Any, clock: Clock) -> None:
    """Send each node between here and ``entry``'s recipient copies that undo the refused
    acceptance's: each recovery increased back, each carry-over decreased to nothing."""
    sent = copies.sends(node.topology, node.spec.code, [entry.recipient])
    between = [to for to, kind, _whose in sent if kind == copies.KIND]
    if not between:
        return
    at = clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    e = appropriation_event.c
    undone = [
        {
            "op": "increase" if r.kind == "recover" else "decrease",
            "id": r.appropriation_id,
            "amount": abs(int(r.amount_fen)),
            "doc": r.doc_no,
            "actor": r.actor,
            "at": at,
        }
        for r in conn.execute(
            sa.select(e.appropriation_id, e.kind, e.amount_fen, e.doc_no, e.actor)
            .where(e.changeset_id == entry.id, e.amount_fen != 0)
            .order_by(e.appropriation_id, e.seq)
        )
    ]
    if not undone:
        return
    signer = load_signer(node.home.keys)
    for to in between:
        enqueue(
            conn, node.spool, signer, to, copies.KIND, copies.copied(undone, entry.recipient), clock
        )


def adopt_acceptance(conn: Connection, verified: Verified) -> None:
    """An acceptance this node sent before it was restored (its own ``appropriation``
    change-set, taken back at the rejoin after :func:`adopt_issued` redid its events):
    the statement it accepted is ``accepted`` again, as it was."""
    operations = list(verified.operations())
    recovered = [op for op in operations if op.get("op") == "recover" and MARK in op]
    if not recovered:
        return
    first = recovered[0]
    carried = {
        str(op["carried_from"]): str(op["id"])
        for op in operations
        if op.get("op") == "issue" and op.get("carried_from")
    }
    header = verified.header
    _accepted(
        conn,
        header.origin,
        header.recipient,
        int(first[MARK]),
        "carry" if carried else "recover",
        str(first["doc"]),
        parse_utc(str(first["at"])),
        str(first["actor"]),
        verified.id,
        carried,
    )


def _check_codes(conn: Connection, rows: list[Any], year: int) -> None:
    """Every code carried over is in ``year``'s code set (imported, or the national one)."""
    known = Known(conn)
    problems = sorted(
        {
            problem
            for r in rows
            for codeset, code in (
                ("func", r.func_code),
                ("econ", r.econ_code),
                ("fund", r.fund_code),
            )
            if (problem := known.problem(codeset, year, code))
        }
    )
    if problems:
        raise InputError(
            said("cannot_carry", year=year, problems="; ".join(problems[:5])),
            hint=said("cannot_carry_hint", year=year),
        )


def _carried_row(old: Any, new: str, year: int, doc: str, now: Any, actor: str) -> tuple[Any, ...]:
    """The row of the next year's appropriation that carries ``old``'s balance over."""
    return (
        new,
        year,
        old.issuer,
        old.recipient,
        doc,
        old.title,
        old.doc_no,
        old.parent_id,
        old.func_code,
        old.econ_code,
        old.fund_code,
        old.transfer_type,
        old.project_code,
        now,
        actor,
        leaf_of(new),
        old.direct,
        "carryover",
        old.fund_source,
        old.budget_level,
    )


def _carried_operation(
    old: Any, new: str, year: int, doc: str, fen: int, actor: str, at: str
) -> dict[str, Any]:
    return {
        "op": "issue",
        "id": new,
        "year": year,
        "doc": doc,
        "title": old.title,
        "upper_doc": old.doc_no,
        "parent_id": None,
        "from": old.parent_id,
        "carried_from": old.id,
        "func": old.func_code,
        "econ": old.econ_code,
        "fund": old.fund_code,
        "type": old.transfer_type,
        "direct": bool(old.direct),
        "indicator": "carryover",
        "source": old.fund_source,
        "level": old.budget_level,
        "project": old.project_code,
        "amount": fen,
        "actor": actor,
        "at": at,
    }


def _record_events(
    conn: Connection,
    operations: list[dict[str, Any]],
    changeset_id: str | None,
    doc: str,
    actor: str,
    now: Any,
) -> None:
    """The events of the recoveries (numbered after each old appropriation's last) and
    of the carry-overs' issues, all carried by ``changeset_id``."""
    recovered = [op["id"] for op in operations if op["op"] == "recover"]
    last = dict(
        conn.execute(
            sa.select(
                appropriation_event.c.appropriation_id, sa.func.max(appropriation_event.c.seq)
            )
            .where(appropriation_event.c.appropriation_id.in_(recovered))
            .group_by(appropriation_event.c.appropriation_id)
        ).all()
    )
    rows = []
    for op in operations:
        if op["op"] == "recover":
            seq, amount = int(last[op["id"]]) + 1, -op["amount"]
        else:
            seq, amount = 1, op["amount"]
        rows.append((op["id"], seq, op["op"], amount, doc, actor, now, changeset_id))
    insert_rows(conn, appropriation_event, EVENT_COLUMNS, rows)
