"""The reconciliation protocol: signed change-sets of kind ``reconcile`` on the channels
both sides already share, so that it works over the same network, relays and receipts.

The issuer (the origin of the channel, the *initiator*) and its recipient (the *peer*)
compare the appropriations between them at a cut: the highest sequence number up to
which the issuer holds every receipt, which the recipient has therefore applied. Steps,
one change-set each, every one signed by its sender::

    request    issuer → recipient   the cut, the issuer's root and level-1 digests
    answer     recipient → issuer   agreement, or its leaves under the differing buckets;
                                    also its totals and what it noticed (late breakdowns)
    leaves     issuer → recipient   the issuer's record digests in the differing leaves
    records    recipient → issuer   the recipient's records that differ, and those it lacks
    statement  issuer → recipient   the conclusion: agreement, or every difference found

Identical sides exchange a request, an answer and a statement of a few kilobytes
whatever their size; with differences, the bytes and the work grow with them. Both
sides keep the statement (对账单): the recipient's answers and the issuer's conclusion
are change-sets signed by each, so either can show the other's signed word. Nothing is
ever corrected automatically: each finding says what would correct it.

A recipient restored from an older copy is never compared behind the cut: it takes the
request in channel order, so only once it has rejoined and holds the channel again up
to the request. The first statement after such a restore says so (``behind``, not a
discrepancy), from what the issuer learned answering its rejoin request; the
comparison then shows whether anything was lost. An issuer behind its recipient is
reported too (``ahead``).
A step that does not fit (a session unknown, or not waiting for that step, a peer other
than the session's, a malformed step) is refused with a negative receipt and changes
nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.capabilities import Context, Handler
from nodes.fiscal.reconcile import findings as found_in
from nodes.fiscal.reconcile import records, reported, wire
from nodes.fiscal.reconcile.cut import Edge, acknowledged_prefix, channel_head_seq
from nodes.fiscal.reconcile.findings import Finding
from nodes.fiscal.reconcile.records import ISSUER, RECIPIENT
from nodes.labels import said
from nodes.node import Node
from nodes.policy import check_send
from schema.locks import lock_scope, take_numbers
from schema.tables import counter, reconciliation, reconciliation_finding
from sync import merkle
from sync.changeset import Verified
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import InputError, NotAuthorized
from sync.pki import load_signer

__all__ = ["KIND", "apply_step", "forget_own_step", "handler", "refused", "start"]

KIND = "reconcile"
DATASET = "appropriation"
REPORTS = "report"
_HEX64 = 64


@dataclass(frozen=True)
class _Sender:
    """What a step needs to answer: the node, its clock, and a transaction to write in."""

    node: Node
    clock: Clock

    def send(self, conn: Connection, recipient: str, op: dict[str, Any]) -> str:
        signer = load_signer(self.node.home.keys)
        written = enqueue(conn, self.node.spool, signer, recipient, KIND, [op], self.clock)
        return written.id


def start(
    node: Node,
    peer: str,
    *,
    full: bool = False,
    clock: Clock = SYSTEM_CLOCK,
    cut: int | None = None,
) -> str:
    """Start reconciling the appropriations this node issued ``peer``; return the
    session's id. The request travels at the next sync; the rounds do the rest.

    With ``full``, each side first recomputes its digests from its records (reading them
    all), so that a record changed behind the product's back (a hand edit, a restored
    table) is compared as it is, not as it was written."""
    me = node.spec.code
    sender = _Sender(node, clock)
    if peer in node.topology and _reports_to(node, peer):
        with node.engine.begin() as conn:
            return _request_reports(conn, sender, peer)
    try:
        check_send(node.topology, me, peer, "appropriation")
    except NotAuthorized as exc:
        raise InputError(
            said("rc_no_peer", me=me, peer=peer, why=exc.message),
            hint=said("rc_no_peer_hint"),
        ) from exc
    with node.engine.begin() as conn:
        return _request(conn, sender, peer, cut, full)


def _reports_to(node: Node, peer: str) -> bool:
    """Whether ``peer`` is where this node sends its reports (its parent, the center)."""
    center = node.topology.center
    return node.spec.role != "center" and (
        peer == node.spec.parent or (center is not None and peer == center.code)
    )


def forget_own_step(conn: Connection, verified: Verified) -> None:
    """One of this node's own steps, returned after it was restored from a backup that
    predates it: the session is forgotten here (reconciliation is run again, never
    redone), but the node's numbering goes past it, so that its next session does not take
    a name its peer already knows."""
    me = verified.header.origin
    prefix = f"{me}-R"
    for op in verified.operations():
        session = op.get("session") if isinstance(op, dict) else None
        if not (isinstance(session, str) and session.startswith(prefix)):
            continue
        digits = session.removeprefix(prefix)
        if digits.isdigit() and lock_scope(conn, "reconciliation", me) < int(digits):
            conn.execute(
                counter.update()
                .where(counter.c.name == "reconciliation", counter.c.scope == me)
                .values(last=int(digits))
            )


def _new_session(
    conn: Connection,
    sender: _Sender,
    dataset: str,
    peer: str,
    cut: int | None,
    summary: dict[str, Any],
) -> str:
    me = sender.node.spec.code
    (number,) = take_numbers(conn, "reconciliation", me, 1)
    session = f"{me}-R{number:06d}"
    now = sender.clock.now()
    summary.setdefault("fingerprints", {})[me] = load_signer(sender.node.home.keys).fingerprint
    conn.execute(
        reconciliation.insert().values(
            id=session,
            dataset=dataset,
            origin=me,
            recipient=peer,
            role="initiator",
            cut=cut,
            state="requested",
            discrepancies=0,
            in_transit=0,
            started_at=now,
            updated_at=now,
            summary=json.dumps(summary),
        )
    )
    return session


def _request_reports(conn: Connection, sender: _Sender, peer: str) -> str:
    me = sender.node.spec.code
    region = peer == sender.node.spec.parent  # its 全辖 goes to its parent only
    ours = reported.held(conn, me, own=True, region=region)
    topology = sender.node.topology
    if topology.center and peer == topology.center.code:
        ours.update(reported.region_wide(conn, topology, me, at_center=False))
    session = _new_session(conn, sender, REPORTS, peer, None, {"reports": ours})
    sender.send(conn, peer, {"step": "request", "session": session, "dataset": REPORTS})
    return session


def _request(
    conn: Connection, sender: _Sender, peer: str, cut: int | None, full: bool = False
) -> str:
    me = sender.node.spec.code
    if full:
        records.rebuild_edge(conn, ISSUER, me, peer)
    acknowledged = acknowledged_prefix(conn, peer)
    at = acknowledged if cut is None else min(cut, acknowledged)
    sent = channel_head_seq(conn, me, peer)
    edge = Edge(conn, ISSUER, me, peer, at)
    summary: dict[str, Any] = {"sent": sent, "full": full}
    if full:  # totals read every record: only where every record is read anyway
        summary["issuer_totals"] = edge.totals()
    session = _new_session(conn, sender, DATASET, peer, at, summary)
    sender.send(
        conn,
        peer,
        {
            "step": "request",
            "session": session,
            "dataset": DATASET,
            "cut": at,
            "sent": sent,
            "full": full,
            "root": _hex(edge.level(0).get(0, 0)),
            "level1": merkle.encode_level(edge.level(1)),
        },
    )
    return session


def handler(context: Context) -> Handler:
    """The applier of ``reconcile`` change-sets at a node (registered by the domain)."""

    def apply(conn: Connection, verified: Verified) -> None:
        apply_step(conn, verified, _Sender(context.node, context.clock))

    return apply


def apply_step(conn: Connection, verified: Verified, sender: _Sender) -> None:
    """Take one step of a reconciliation, in the channel's transaction; InputError refuses
    it (negative receipt) and nothing of it is kept."""
    operations = list(verified.operations())
    if len(operations) != 1 or not isinstance(operations[0], dict):
        raise InputError(said("rc_one_step"))
    op = operations[0]
    step = op.get("step")
    session = op.get("session")
    if not isinstance(session, str) or not 1 <= len(session) <= 40:
        raise InputError(said("rc_no_session"))
    origin = verified.header.origin
    steps = {
        "request": _on_request,
        "answer": _on_answer,
        "leaves": _on_leaves,
        "records": _on_records,
        "statement": _on_statement,
    }
    take = steps.get(step) if isinstance(step, str) else None
    if take is None:
        raise InputError(said("rc_step_unknown", step=step))
    take(conn, sender, origin, session, op, verified.header.signer)


# --- the peer (the recipient of the appropriations) -----------------------------------------


def _on_request(
    conn: Connection, sender: _Sender, origin: str, session: str, op: Any, signer: str
) -> None:
    me = sender.node.spec.code
    if op.get("dataset") == REPORTS:
        _on_report_request(conn, sender, origin, session)
        return
    if op.get("dataset") != DATASET:
        raise InputError(said("rc_dataset_unknown", dataset=op.get("dataset")))
    cut, sent = _count(op, "cut"), _count(op, "sent")
    root = _digest(op.get("root"))
    try:
        theirs = merkle.decode_level(op.get("level1"), merkle.LEVEL1)
    except ValueError as exc:
        raise InputError(said("rc_request_bad", session=session, error=str(exc))) from exc
    if conn.execute(sa.select(reconciliation.c.id).where(reconciliation.c.id == session)).first():
        raise InputError(said("rc_requested_already", session=session))
    if op.get("full") is True:
        records.rebuild_edge(conn, RECIPIENT, origin, me)
    head = channel_head_seq(conn, origin, me)
    now = sender.clock.now()
    answer: dict[str, Any] = {"step": "answer", "session": session, "head": head}
    if head < cut:  # the request is taken in channel order: after everything up to the cut
        raise InputError(said("rc_cut_ahead", session=session, cut=cut, head=head))
    edge = Edge(conn, RECIPIENT, origin, me, cut)
    if op.get("full") is True:
        answer["totals"] = edge.totals()
    days = dict(sender.node.settings.reconcile_days)["breakdown_days"]
    late = found_in.late_breakdowns(conn, origin, me, timedelta(days=days))
    answer["noticed"] = [f.as_op() for f in late]
    if head > sent:
        answer["ahead"] = True
    mine = edge.level(0).get(0, 0)
    if mine == root:
        answer["agree"] = True
    else:
        differing = merkle.differing(edge.level(1), theirs)
        answer["leaves"] = merkle.encode_level(edge.level(2, differing))
        answer["buckets"] = differing
    conn.execute(
        reconciliation.insert().values(
            id=session,
            dataset=DATASET,
            origin=origin,
            recipient=me,
            role="peer",
            cut=cut,
            state="answered",
            discrepancies=0,
            in_transit=0,
            started_at=now,
            updated_at=now,
        )
    )
    sender.send(conn, origin, answer)


def _on_report_request(conn: Connection, sender: _Sender, origin: str, session: str) -> None:
    if conn.execute(sa.select(reconciliation.c.id).where(reconciliation.c.id == session)).first():
        raise InputError(said("rc_requested_already", session=session))
    now = sender.clock.now()
    conn.execute(
        reconciliation.insert().values(
            id=session,
            dataset=REPORTS,
            origin=origin,
            recipient=sender.node.spec.code,
            role="peer",
            state="answered",
            discrepancies=0,
            in_transit=0,
            started_at=now,
            updated_at=now,
        )
    )
    topology = sender.node.topology
    region = origin in topology and topology.node(origin).parent == sender.node.spec.code
    theirs = reported.held(conn, origin, own=False, region=region)
    if sender.node.spec.role == "center" and origin in topology:
        theirs.update(reported.region_wide(conn, topology, origin, at_center=True))
    sender.send(conn, origin, {"step": "answer", "session": session, "reports": theirs})


def _on_leaves(
    conn: Connection, sender: _Sender, origin: str, session: str, op: Any, signer: str
) -> None:
    me = sender.node.spec.code
    row = _session(conn, session, "peer", "answered", origin)
    listed = op.get("records")
    if not isinstance(listed, dict):
        raise InputError(said("rc_leaves_not_object", session=session))
    theirs: dict[str, int] = {}
    leaves = []
    for leaf, by_id in listed.items():
        leaves.append(wire.leaf(leaf, session))
        try:
            theirs.update(merkle.decode_level_ids(by_id))
        except ValueError as exc:
            raise InputError(said("rc_leaves_bad", session=session, error=str(exc))) from exc
    edge = Edge(conn, RECIPIENT, origin, me, int(row.cut))
    mine = edge.records(leaves)
    differ = sorted(
        ident
        for ident in set(mine) | set(theirs)
        if ident not in theirs
        or ident not in mine
        or merkle.short(mine[ident].digest) != theirs[ident]
    )
    records = [mine[i].content for i in differ if i in mine]
    absent = [i for i in differ if i not in mine]
    _touch(conn, session, "comparing", sender.clock)
    sender.send(
        conn, origin, {"step": "records", "session": session, "records": records, "absent": absent}
    )


def _on_statement(
    conn: Connection, sender: _Sender, origin: str, session: str, op: Any, signer: str
) -> None:
    _session(conn, session, "peer", ("answered", "comparing"), origin)
    listed = op.get("findings")
    if not isinstance(listed, list):
        raise InputError(said("rc_statement_no_findings", session=session))
    try:
        kept = [Finding.from_op(f) for f in listed]
    except (ValueError, AttributeError) as exc:
        raise InputError(said("rc_statement_bad", session=session, error=str(exc))) from exc
    summary = wire.summary(op.get("summary"), session)
    _conclude(conn, session, bool(op.get("agree")), kept, summary, sender.clock, None)


# --- the initiator (the issuer) -------------------------------------------------------------


def _on_answer(
    conn: Connection, sender: _Sender, origin: str, session: str, op: Any, signer: str
) -> None:
    me = sender.node.spec.code
    row = _session(conn, session, "initiator", "requested", origin)
    summary = json.loads(row.summary or "{}")
    if row.dataset == REPORTS:
        summary.setdefault("fingerprints", {})[origin] = signer
        theirs = wire.reported(op.get("reports"), session)
        ours = summary.pop("reports", {})
        found = reported.compare(ours, theirs, origin)
        waiting = reported.in_flight(conn, origin)
        if waiting:
            found.append(
                Finding(
                    "in_transit",
                    origin,
                    f"{waiting} report change-set(s) to {origin} wait for their receipt",
                    discrepancy=False,
                    params={"m": "reports_in_transit", "count": waiting, "origin": origin},
                )
            )
        _finish(conn, sender, session, origin, 0, found, summary, local_checks=False)
        return
    cut = int(row.cut)
    head = _count(op, "head")
    summary.setdefault("fingerprints", {})[origin] = signer
    summary["recipient_head"] = head
    summary["recipient_totals"] = wire.totals(op.get("totals"), session, "totals")
    noticed = _noticed(op, session)
    if op.get("ahead"):
        noticed.append(
            Finding(
                "ahead",
                me,
                f"the recipient applied the channel up to seq {head}, beyond the {summary.get('sent')} "
                "this node sent: this node was restored from an older copy; restore it properly",
                ours=summary.get("sent"),
                theirs=head,
                params={"m": "ahead", "head": head, "sent": summary.get("sent")},
            )
        )
    summary["noticed"] = [f.as_op() for f in noticed]
    if op.get("agree"):
        _finish(conn, sender, session, origin, cut, noticed, summary)
        return
    try:
        theirs = merkle.decode_level(op.get("leaves"), merkle.LEAVES)
    except ValueError as exc:
        raise InputError(said("rc_answer_bad", session=session, error=str(exc))) from exc
    buckets = wire.buckets(op.get("buckets"), session)
    edge = Edge(conn, ISSUER, me, origin, cut)
    leaves = merkle.differing(edge.level(2, buckets), theirs)
    if not leaves:
        _finish(conn, sender, session, origin, cut, noticed, summary)
        return
    mine = edge.records(leaves)
    by_leaf: dict[str, dict[str, str]] = {str(leaf): {} for leaf in leaves}
    for ident, record in mine.items():
        by_leaf[str(merkle.leaf_of(ident))][ident] = f"{merkle.short(record.digest):016x}"
    summary["leaves"] = leaves
    conn.execute(
        reconciliation.update()
        .where(reconciliation.c.id == session)
        .values(state="comparing", summary=json.dumps(summary), updated_at=sender.clock.now())
    )
    sender.send(conn, origin, {"step": "leaves", "session": session, "records": by_leaf})


def _on_records(
    conn: Connection, sender: _Sender, origin: str, session: str, op: Any, signer: str
) -> None:
    me = sender.node.spec.code
    row = _session(conn, session, "initiator", "comparing", origin)
    cut = int(row.cut)
    summary = json.loads(row.summary or "{}")
    listed, absent = op.get("records"), op.get("absent")
    if not isinstance(listed, list) or not isinstance(absent, list):
        raise InputError(said("rc_records_not_lists", session=session))
    theirs = {}
    for content in listed:
        record = wire.record(content, session)
        theirs[record[0]] = record
    edge = Edge(conn, ISSUER, me, origin, cut)
    mine = edge.records(summary.get("leaves", []))
    asked = set(theirs) | {i for i in absent if isinstance(i, str)}
    ours = {i: r.content for i, r in mine.items() if i in asked}
    found = found_in.compare(ours, theirs)
    noticed = [Finding.from_op(f) for f in summary.get("noticed", [])]
    _finish(conn, sender, session, origin, cut, found + noticed, summary)


def _finish(
    conn: Connection,
    sender: _Sender,
    session: str,
    peer: str,
    cut: int,
    found: list[Finding],
    summary: dict[str, Any],
    *,
    local_checks: bool = True,
) -> None:
    """Conclude at the initiator: add what the issuer notices itself and what is in
    transit, keep the statement, and send it to the peer."""
    me = sender.node.spec.code
    days = dict(sender.node.settings.reconcile_days)
    now = sender.clock.now()
    everything = list(found)
    if local_checks:
        if summary.get("full"):  # a scan of every issue: with the full comparison only
            everything += found_in.duplicates(conn, me, peer)
        everything += [
            *found_in.receipts(
                conn,
                peer,
                now,
                timedelta(days=days["unacknowledged_days"]),
                timedelta(days=days["late_receipt_days"]),
            ),
            *found_in.in_transit(conn, peer, cut),
            *found_in.restored_behind(conn, me, peer, cut),
        ]
    agree = not any(f.discrepancy for f in everything)
    summary.pop("noticed", None)
    summary.pop("leaves", None)
    statement = sender.send(
        conn,
        peer,
        {
            "step": "statement",
            "session": session,
            "agree": agree,
            "findings": [f.as_op() for f in everything],
            "summary": summary,
        },
    )
    _conclude(conn, session, agree, everything, summary, sender.clock, statement)


def refused(conn: Connection, entry: Any) -> None:
    """A step this node sent was refused by its peer (negative receipt): the sessions
    waiting on that peer's next step have failed."""
    peer = entry.recipient
    waiting = sa.or_(
        (reconciliation.c.role == "initiator")
        & (reconciliation.c.recipient == peer)
        & reconciliation.c.state.in_(("requested", "comparing")),
        (reconciliation.c.role == "peer")
        & (reconciliation.c.origin == peer)
        & reconciliation.c.state.in_(("answered", "comparing")),
    )
    conn.execute(
        reconciliation.update()
        .where(waiting)
        .values(state="failed", summary=json.dumps({"refused": f"{peer} refused a step"}))
    )


# --- shared --------------------------------------------------------------------------------


_SESSION = (
    sa.select(reconciliation)
    .where(reconciliation.c.id == sa.bindparam("session"))
    .with_for_update()
)
_FORGET_FINDINGS = reconciliation_finding.delete().where(
    reconciliation_finding.c.reconciliation_id == sa.bindparam("session")
)
"""Statements every step of a reconciliation runs, built once."""


def _conclude(
    conn: Connection,
    session: str,
    agree: bool,
    found: list[Finding],
    summary: dict[str, Any],
    clock: Clock,
    statement: str | None,
) -> None:
    now = clock.now()
    conn.execute(_FORGET_FINDINGS, {"session": session})
    if found:
        conn.execute(
            reconciliation_finding.insert(),
            [f.row(session, number) for number, f in enumerate(found, 1)],
        )
    values: dict[str, Any] = {
        "state": "concluded",
        "agree": agree,
        "discrepancies": sum(f.discrepancy for f in found),
        "in_transit": sum(f.kind == "in_transit" for f in found),
        "updated_at": now,
        "concluded_at": now,
        "summary": json.dumps(summary, ensure_ascii=False),
    }
    if statement is not None:
        values["statement_changeset"] = statement
    conn.execute(reconciliation.update().where(reconciliation.c.id == session).values(**values))


def _session(
    conn: Connection, session: str, role: str, states: str | Iterable[str], peer: str
) -> Any:
    wanted = (states,) if isinstance(states, str) else tuple(states)
    row = conn.execute(_SESSION, {"session": session}).one_or_none()
    other = None if row is None else (row.recipient if role == "initiator" else row.origin)
    if row is None or row.role != role or other != peer or row.state not in wanted:
        raise InputError(said("rc_not_waiting", session=session, peer=peer))
    return row


def _touch(conn: Connection, session: str, state: str, clock: Clock) -> None:
    conn.execute(
        reconciliation.update()
        .where(reconciliation.c.id == session)
        .values(state=state, updated_at=clock.now())
    )


def _noticed(op: Any, session: str) -> list[Finding]:
    listed = op.get("noticed", [])
    if not isinstance(listed, list):
        raise InputError(said("rc_noticed_not_list", session=session))
    try:
        return [Finding.from_op(f) for f in listed]
    except (ValueError, AttributeError) as exc:
        raise InputError(said("rc_answer_bad", session=session, error=str(exc))) from exc


def _count(op: Any, key: str) -> int:
    value = op.get(key)
    if type(value) is not int or value < 0:
        raise InputError(said("rc_count_bad", key=key, value=value))
    return value


def _digest(value: Any) -> int:
    if not (isinstance(value, str) and len(value) == _HEX64):
        raise InputError(said("rc_root_bad"))
    try:
        return int(value, 16)
    except ValueError as exc:
        raise InputError(said("rc_root_bad")) from exc


def _hex(digest: int) -> str:
    return f"{digest:064x}"
