"""What needs an operator at a node, and what keeps it from being quiet.

:func:`alerts` is what ``status`` shows: files parked after failing too many rounds,
this node's own copies found damaged (never sent), files failing now (retried every
round), refused files waiting in quarantine, and the problems the last ``check`` of the
home left (:func:`nodes.check.last_problems`). :func:`unsettled` is everything still in
flight, each named with its channel and why: what ``network sync --until-quiet`` reports
when a province does not go quiet.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, tzinfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nodes.check import last_problems
from nodes.labels import Said, named, recalled, said
from nodes.settings import LOCAL_TIME
from schema.backups import rejoin_peer
from schema.channels import changeset_log, outbox, quarantine
from schema.engine import reading
from sync import attempts, changeset, held, waiting
from sync.attempts import MAX_ATTEMPTS, Failure, Stage
from sync.channel import Spool
from sync.errors import VerificationError
from sync.quarantine import original_name
from sync.transports.base import is_temporary

__all__ = ["Alert", "Unsettled", "alerts", "unsettled"]


@dataclass(frozen=True)
class Alert:
    """One thing at a node that an operator should look at."""

    kind: str
    """``parked``, ``damaged``, ``retrying``, ``quarantined``, ``held-early``,
    ``held-verified`` or ``check``."""
    subject: str
    detail: str | Said
    """For people in their language (:func:`nodes.labels.shown`); ``str()`` is English."""

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "subject": self.subject, "detail": str(self.detail)}


@dataclass(frozen=True)
class Unsettled:
    """One thing still in flight at a node, and why."""

    node: str
    channel: str
    """``origin -> recipient``, or ``-`` when the file says nothing that can be trusted."""
    state: str
    """``unacknowledged``, ``damaged``, ``waiting``, ``relaying``, ``receipt unsent``,
    ``retrying``, ``parked`` or ``rejoining`` (labels ``flight.<state>``)."""
    detail: str | Said
    """For people in their language (:func:`nodes.labels.shown`); ``str()`` is English."""

    def as_dict(self) -> dict[str, str]:
        return {**asdict(self), "detail": str(self.detail)}


_WHAT = {
    Stage.TAKE: said("stage_take"),
    Stage.RELAY: said("stage_relay"),
    Stage.SEND: said("stage_send"),
    Stage.RECEIPT: said("stage_receipt"),
    Stage.FETCH: said("stage_fetch"),
}


def _error(failure: Failure) -> str:
    """The last error of ``failure``, by key when it was kept so (see :func:`recalled`)."""
    return recalled(failure.error, failure.error_said)


def _failure_alert(failure: Failure) -> Alert:
    name = failure.name.partition(":")[2] if failure.stage is Stage.FETCH else failure.name
    subject = name
    if failure.stage is Stage.FETCH:
        subject = said("subject_in_mailbox", name=name, mailbox=failure.name.partition(":")[0])
    if failure.damaged:
        return Alert(
            "damaged",
            name,
            said("alert_damaged", error=_error(failure), attempts=failure.attempts),
        )
    what = _WHAT[failure.stage]
    if failure.parked:
        return Alert(
            "parked",
            subject,
            said("alert_parked", what=what, attempts=failure.attempts, error=_error(failure)),
        )
    return Alert(
        "retrying",
        subject,
        said(
            "alert_retrying",
            what=what,
            attempts=failure.attempts,
            max=MAX_ATTEMPTS,
            error=_error(failure),
        ),
    )


def alerts(engine: Engine, zone: tzinfo = LOCAL_TIME) -> list[Alert]:
    """What needs an operator at the node of ``engine`` (its schema must be current);
    times in ``zone``, the node's [node] time_zone."""
    found = [_failure_alert(f) for f in attempts.failures(engine)]
    with reading(engine) as conn:
        held = conn.execute(
            sa.select(quarantine)
            .where(quarantine.c.released_at.is_(None), quarantine.c.dropped_at.is_(None))
            .order_by(quarantine.c.id)
        ).all()
    for entry in held:
        kind = "parked" if entry.reason == "parked" else "quarantined"
        why = recalled(entry.detail, entry.detail_said)
        reason = named("reason", entry.reason)
        detail = (
            said(
                "alert_quarantined_again",
                id=entry.id,
                reason=reason,
                count=entry.seen_count,
                detail=why,
            )
            if entry.seen_count > 1
            else said("alert_quarantined", id=entry.id, reason=reason, detail=why)
        )
        found.append(Alert(kind, original_name(entry.filename), detail))
    return found + _held_alerts(engine, zone) + _check_alerts(engine, zone)


def _held_alerts(engine: Engine, zone: tzinfo) -> list[Alert]:
    """The files for other nodes waiting here: those whose signer's certificate begins
    after this node's clock (it runs slow), and those for a node not known here yet."""
    waiting = held.held(engine)
    found = []
    for verdict, key in ((held.EARLY, "alert_held_early"), (held.VERIFIED, "alert_held")):
        files = [h for h in waiting if h.verdict == verdict]
        if files:
            since = shown_time(files[0].first_seen_at, zone)
            recipients = ", ".join(sorted({h.recipient for h in files}))
            detail = said(key, count=len(files), since=since, recipients=recipients)
            found.append(Alert(f"held-{verdict}", "incoming", detail))
    return found


def shown_time(moment: datetime, zone: tzinfo) -> str:
    """A time in an alert, for people: in ``zone``, to the minute, with the zone's name
    (2026-11-05 09:30 CST)."""
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


CHECK_ALERTS = 10
"""At most this many problems of the last check are shown one by one; the rest counted."""


def _check_alerts(engine: Engine, zone: tzinfo) -> list[Alert]:
    problems = last_problems(engine)
    found = [
        Alert(
            "check",
            p.subject,
            said(
                "alert_check",
                kind=p.kind,
                time=shown_time(when, zone),
                problem=p.problem,
                action=p.action,
            ),
        )
        for when, p in problems[:CHECK_ALERTS]
    ]
    if len(problems) > CHECK_ALERTS:
        found.append(
            Alert(
                "check",
                f"{len(problems) - CHECK_ALERTS} more",
                said("alert_check_more"),
            )
        )
    return found


_WAITING_RECEIPT = (
    sa.select(outbox).where(outbox.c.acked_at.is_(None)).order_by(outbox.c.recipient, outbox.c.seq)
)
_RECEIPT_UNSENT = (
    sa.select(changeset_log)
    .where(changeset_log.c.receipt_sent_at.is_(None))
    .order_by(changeset_log.c.origin, changeset_log.c.seq)
)
_PARKED = sa.select(quarantine).where(
    quarantine.c.reason == "parked",
    quarantine.c.released_at.is_(None),
    quarantine.c.dropped_at.is_(None),
)
_ASKING = (
    sa.select(rejoin_peer.c.peer)
    .where(rejoin_peer.c.answered_at.is_(None))
    .order_by(rejoin_peer.c.peer)
)
"""What :func:`unsettled` asks (built once: the agent's health check and every settling
round of the simulation ask it of every node)."""


def unsettled(engine: Engine, spool: Spool, me: str) -> list[Unsettled]:
    """Everything still in flight at node ``me``: empty when it is quiet."""
    failing = {(f.stage, f.name): f for f in attempts.failures(engine)}
    found: list[Unsettled] = []
    with reading(engine) as conn:
        waiting_receipt = conn.execute(_WAITING_RECEIPT).all()
        unsent = conn.execute(_RECEIPT_UNSENT).all()
        parked = conn.execute(_PARKED).all()
    for entry in waiting_receipt:
        failure = failing.get((Stage.SEND, entry.filename))
        kind = named("kind", entry.kind)
        state, why = (
            "unacknowledged",
            said("flight_sent", kind=kind, seq=entry.seq, attempts=entry.attempts),
        )
        if failure is not None:
            state = "damaged" if failure.damaged else "retrying"
            why = said("flight_failing", kind=kind, seq=entry.seq, error=_error(failure))
        found.append(Unsettled(me, f"{me} -> {entry.recipient}", state, why))
    for entry in unsent:
        failure = failing.get((Stage.RECEIPT, entry.receipt_file))
        state = (
            "receipt unsent" if failure is None else ("damaged" if failure.damaged else "retrying")
        )
        why = (
            said("flight_receipt_unsent", seq=entry.seq)
            if failure is None
            else said("flight_receipt_failing", seq=entry.seq, error=_error(failure))
        )
        found.append(Unsettled(me, f"{me} -> {entry.origin}", state, why))
    found.extend(_spooled(engine, spool, me, failing))
    with reading(engine) as conn:
        asking = conn.execute(_ASKING).scalars()
        for peer in asking:
            found.append(Unsettled(me, f"{me} -> {peer}", "rejoining", said("flight_rejoining")))
    for entry in parked:
        channel = f"{entry.origin} -> {entry.recipient}" if entry.origin else "-"
        why = said("flight_parked", id=entry.id, detail=recalled(entry.detail, entry.detail_said))
        found.append(Unsettled(me, channel, "parked", why))
    return found


def _spooled(
    engine: Engine, spool: Spool, me: str, failing: dict[tuple[Stage, str], Failure]
) -> list[Unsettled]:
    """Files waiting in ``incoming/`` (early, for another node, or failing) and ``relay/``."""
    found = []
    for item in waiting.waiting(engine, spool, me):
        route = f"{item.origin} -> {item.recipient}"
        if (Stage.TAKE, item.filename) in failing or (Stage.RELAY, item.filename) in failing:
            continue  # named below, with its failure
        if item.recipient != me:
            found.append(
                Unsettled(me, route, "relaying", said("flight_to_check", name=item.filename))
            )
        else:
            detail = said(
                "flight_waiting",
                kind=named("kind", item.kind),
                seq=item.seq,
                expected=item.expected,
            )
            found.append(Unsettled(me, route, "waiting", detail))
    for path in sorted(spool.relay.iterdir()):
        if path.is_file() and not is_temporary(path.name):
            try:
                name = changeset.parse_filename(path.name)
                route = f"{name.origin} -> {name.recipient}"
            except VerificationError:
                route = "-"
            found.append(Unsettled(me, route, "relaying", said("flight_next_hop", name=path.name)))
    for (stage, name), failure in failing.items():
        if stage in (Stage.TAKE, Stage.RELAY, Stage.FETCH):
            state = "parked" if failure.parked else "retrying"
            found.append(
                Unsettled(
                    me, "-", state, said("flight_file_failing", name=name, error=_error(failure))
                )
            )
    return found
