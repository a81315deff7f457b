"""One sync round of a node: collect, take, relay and send change-sets through the tree.

Children dial their parent; a parent never dials a child. A parent's endpoint (its
``mailboxes/`` folder, locally or over SFTP) holds one folder per child::

    <child>/up/     what the child delivers: for the parent, or for it to relay
    <child>/down/   what the parent leaves for the child to collect

Where a change-set goes next is :mod:`nodes.routes`. A round: collect what children
delivered and fetch what waits upstream, checking at once each file for another node
(relayed only if it verifies and goes on along the tree, else quarantined here, at its
first hop); take every file addressed to this node (in channel order, so early
arrivals catch up in the same round); then send the due outbox, the receipts not yet
sent, and the relays, each after checking this node's own copy (a damaged copy is
named and never sent). An unreachable upstream does not stop the rest of the round;
neither does one file that fails: it is counted, retried in later rounds and parked
after a bound (:mod:`sync.attempts`). Every failure is in the round's summary, by name.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from nodes import (
    appliers,
    backup_mail,
    backups,
    former,
    keeper,
    keys,
    mailboxes,
    membership,
    rejoin,
    rejoin_mail,
    rejoin_request,
)
from nodes.labels import said
from nodes.locks import home_lock, sync_lock
from nodes.node import Node
from nodes.policy import authorizer
from nodes.round_headers import RoundHeaders
from nodes.routes import CENTER, PARENT, Hop, Routes
from nodes.summary import RoundSummary
from nodes.topology import Endpoint
from schema.channels import changeset_log, outbox, relay_log
from schema.engine import reading
from sync import attempts, changeset, channel, held, quarantine, relays
from sync.attempts import Stage
from sync.changeset import Header
from sync.channel import Outcome, Spool
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import (
    CertificateNotYetBegun,
    FiscalsyncError,
    InputError,
    StorageError,
    TransportError,
    VerificationError,
    failure_message,
)
from sync.pki import load_signer
from sync.said import unlabelled
from sync.transports.base import Transport, is_temporary
from sync.transports.local import LocalTransport
from sync.transports.retry import RetryingTransport

__all__ = ["Exchange", "RoundSummary", "open_transport"]

# What every round of every node asks, built once (building a statement costs several
# times what SQLite takes to run it).
_UNACKNOWLEDGED = (
    sa.select(outbox).where(outbox.c.acked_at.is_(None)).order_by(outbox.c.recipient, outbox.c.seq)
)
_DUE = _UNACKNOWLEDGED.where(
    sa.or_(
        outbox.c.next_attempt_at <= sa.bindparam("now"),
        # Due later than any backoff puts it: set by a clock that was ahead then (and
        # has been set right since); otherwise not sent again before that day came.
        outbox.c.next_attempt_at > sa.bindparam("latest"),
    )
)
_SENT = (
    outbox.update()
    .where(outbox.c.id == sa.bindparam("entry"))
    .values(
        attempts=sa.bindparam("sent"),
        sent_at=sa.bindparam("now"),
        next_attempt_at=sa.bindparam("next_at"),
    )
)
_RECEIPTS_UNSENT = (
    sa.select(
        changeset_log.c.id,
        changeset_log.c.origin,
        changeset_log.c.receipt_id,
        changeset_log.c.receipt_file,
    )
    .where(changeset_log.c.receipt_sent_at.is_(None))
    .order_by(changeset_log.c.origin, changeset_log.c.seq)
)
_RECEIPT_SENT = (
    changeset_log.update()
    .where(changeset_log.c.id == sa.bindparam("entry"))
    .values(receipt_sent_at=sa.bindparam("now"))
)
_ADMITTED = sa.select(relay_log.c.id).where(relay_log.c.id.in_(sa.bindparam("ids", expanding=True)))
_COUNT_UNACKNOWLEDGED = (
    sa.select(sa.func.count()).select_from(outbox).where(outbox.c.acked_at.is_(None))
)

MAILBOXES = "mailboxes"
"""The name under which :class:`Exchange` wraps the transport of its own mailboxes."""


def open_transport(endpoint: Endpoint, keys_dir: Path, code: str) -> Transport:
    """The transport by which node ``code`` reaches ``endpoint`` (logging in with its own
    account where the endpoint has one per node), with bounded retries."""
    endpoint = endpoint.for_node(code)
    if endpoint.kind == "local":
        inner: Transport = LocalTransport(endpoint.path)
    else:
        from sync.transports.sftp import SftpTransport

        assert endpoint.host_key is not None
        inner = SftpTransport(endpoint.location, endpoint.host_key, keys_dir / keys.SSH_KEY)
    return RetryingTransport(inner, attempts=3, base_delay=0.5, max_delay=5.0)


class _Link:
    """An upstream endpoint this node dials: its parent, or the center."""

    def __init__(self, name: str, code: str, transport: Transport, me: str) -> None:
        self.name = name
        self.code = code
        self.transport = transport
        self.up = f"{me}/up"
        self.down = f"{me}/down"
        self.error: str | None = None
        self.label: str = name
        """What an operator reads for it: 上级 (parent), 数据中心 (center)…"""


class Exchange:
    """Runs sync rounds for one node."""

    def __init__(
        self,
        node: Node,
        clock: Clock = SYSTEM_CLOCK,
        on_transfer: Callable[[str, int], Callable[[int], None] | None] | None = None,
        wrap: Callable[[str, Transport], Transport] | None = None,
    ) -> None:
        """``on_transfer(name, size)`` may return a callback that gets the bytes of each
        chunk of that download (for a progress bar); None means no progress shown.
        ``wrap(name, transport)`` may put each transport this node uses (its link
        ``parent`` or ``center``, or ``mailboxes``, its own) inside another, as a
        simulation does to inject a bad network; None uses them as they are."""
        self.on_transfer = on_transfer
        self._wrap = wrap
        self._summary = RoundSummary()
        """The round running (its bytes are counted where files move)."""
        self.node = node
        self.engine = node.engine
        self.clock = clock
        self.me = node.spec.code
        self.spool = Spool(node.home.spool).ensure()
        self.signer = load_signer(node.home.keys)
        self.trust = keys.trust_store(node.home, clock)
        self.authorize = self._authorize
        self.applier = appliers.for_node(node, self.trust, clock)
        self.acknowledged = appliers.acknowledged_for(node)
        self.retention = timedelta(days=node.settings.quarantine_retention_days)
        self.held_limit = timedelta(days=node.settings.held_days)
        self._backup_pending = False
        self._rejoining = False
        self._headers = RoundHeaders()
        self.links: dict[str, _Link] = {}
        self.local: Transport | None = None
        membership.follow(node)  # a crash may have left its file ahead of or behind it
        self._connect()
        with contextlib.suppress(Exception):  # else the round says why
            keeper.offer_crl(node, self.trust.crl)  # one taken by a process that died

    def _connect(self) -> None:
        """Make the links and routes of the topology the node follows now."""
        node = self.node
        topology = node.topology
        self._topology = topology
        center = topology.center
        self.links = {}
        parent = node.parent
        if parent is not None:
            self.links[PARENT] = self._link(PARENT, parent.endpoint, parent.code)
        if center is not None and center.code != self.me and center.parent != self.me:
            self.links[CENTER] = self._link(CENTER, center.endpoint, center.code)
        if self.local is None and node.home.mailboxes.is_dir():
            self.local = self._wrapped(MAILBOXES, LocalTransport(node.home.mailboxes))
        self.routes = Routes(
            topology,
            self.me,
            hosts_mailboxes=self.local is not None,
            links={name: link.code for name, link in self.links.items()},
            moving=self._moving(),
        )

    def _moving(self) -> dict[str, str]:
        """Moved nodes that have not acknowledged a topology change-set from this node yet
        (they may not know they moved), each with the former parent to go through."""
        moved = {n.code: n.former_parents[-1] for n in self.node.topology if n.former_parents}
        if not moved:
            return {}
        with reading(self.engine) as conn:
            waiting = conn.execute(
                sa.select(outbox.c.recipient)
                .where(
                    outbox.c.kind == membership.KIND,
                    outbox.c.acked_at.is_(None),
                    outbox.c.recipient.in_(sorted(moved)),
                )
                .distinct()
            ).scalars()
            return {code: moved[code] for code in waiting}

    def _follow_topology(self) -> None:
        """After a ``topology`` change-set was taken: links and routes of the new version
        (a moved node dials its new parent from the next round on)."""
        membership.follow(self.node)
        if self.node.topology is self._topology:
            return
        for link in self.links.values():
            link.transport.close()
        self._connect()

    def _authorize(self, header: Any, signer: Any) -> None:
        authorizer(self.node.topology)(header, signer)

    def _link(self, name: str, endpoint: Endpoint | None, code: str) -> _Link:
        if endpoint is None:
            raise InputError(
                said("no_endpoint", code=code, me=self.me), hint=said("no_endpoint_hint")
            )
        transport = self._wrapped(name, open_transport(endpoint, self.node.home.keys, self.me))
        link = _Link(name, code, transport, self.me)
        link.label = {PARENT: said("link_parent"), CENTER: said("link_center")}.get(
            name, said("link_former_parent", code=code)
        )
        return link

    def _wrapped(self, name: str, transport: Transport) -> Transport:
        return transport if self._wrap is None else self._wrap(name, transport)

    def close(self) -> None:
        for link in self.links.values():
            link.transport.close()
        if self.local is not None:
            self.local.close()

    # --- routing ------------------------------------------------------------------------

    def route(self, recipient: str) -> tuple[Transport, str] | None:
        """Where a change-set for ``recipient`` goes now: (transport, folder); None when
        there is no route, or its link is down this round."""
        hop = self.routes.next_hop(recipient)
        return None if hop is None else self._way(hop)

    def _way(self, hop: Hop) -> tuple[Transport, str] | None:
        if hop.link is None:
            assert self.local is not None
            return self.local, hop.folder
        link = self.links[hop.link]
        return (link.transport, hop.folder) if link.error is None else None

    # --- the round ------------------------------------------------------------------------

    def run_round(self, *, retransmit_now: bool = False) -> RoundSummary:
        """One round, holding the home's sync lock (one round at a time) and, shared, its
        home lock; a round already running elsewhere is waited for, then refused."""
        home = self.node.home.path
        with sync_lock(home), home_lock(home):
            try:
                return self._round(retransmit_now)
            finally:
                self._headers.clear()  # read anew next round: files change in between

    def _round(self, retransmit_now: bool) -> RoundSummary:
        summary = RoundSummary()
        self._summary = summary
        for link in self.links.values():
            link.error = None
        self.routes.moving = self._moving()
        summary.purged = quarantine.purge(self.engine, self.spool, self.retention, self.clock)
        relays.purge(self.engine, self.retention, self.clock)
        failing = attempts.failures(self.engine)
        self._parked = {(f.stage, f.name) for f in failing if f.parked}
        self._failing = {(f.stage, f.name) for f in failing}
        self._failed_now: set[str] = set()  # files of the spool tried once this round
        listed = self._collect_local(summary)
        for link in self.links.values():
            listed |= self._fetch(link, summary)
        listed |= self._collect_former(summary)
        backup_mail.collect(self, summary)
        self._rejoining = rejoin.in_progress(self.node)
        if self._rejoining:
            self._ask_again(summary)
        self._take_incoming(summary)
        backup_mail.offer_crl(self, summary)
        self._backup_pending = backup_mail.ship(self, summary)
        rejoin_mail.send_messages(self, summary)
        rejoin_mail.send_kept(self, summary)
        self._send_outbox(summary, retransmit_now)
        self._send_receipts(summary)
        self._send_relays(summary)
        waiting = [*self.spool.incoming.iterdir(), *self.spool.relay.iterdir()]
        held.forget_absent(self.engine, {p.name for p in waiting})
        self._forget_gone(listed)
        summary.pending_receipts = self._count_unacknowledged()
        for link in self.links.values():
            if link.error:
                summary.errors.append(link.error)
        return summary

    # --- what arrives -----------------------------------------------------------------------

    def _collect_local(self, summary: RoundSummary) -> set[str]:
        """Take what children delivered into ``mailboxes/<child>/up`` (regular files:
        :mod:`nodes.mailboxes`); return the names of the files seen there (as the fetch
        stage knows them)."""
        seen: set[str] = set()
        for child, item in mailboxes.delivered(self.node.home.mailboxes, summary):
            key = f"{child}:{item.name}"
            seen.add(key)
            if (Stage.FETCH, key) in self._parked:
                continue
            target = self.spool.incoming / item.name
            try:
                os.replace(item, target)
            except Exception as exc:  # one file never stops the round
                self._fetch_failed(key, exc, summary)
                continue
            summary.received += 1
            summary.bytes_received += _size(target)
            self._arrived(target, child, summary)
        return seen

    def _fetch(self, link: _Link, summary: RoundSummary) -> set[str]:
        """Fetch what waits for this node upstream; return the names listed there."""
        seen: set[str] = set()
        try:
            listing = link.transport.list(link.down)
        except TransportError as exc:
            link.error = said("link_unreachable", name=link.label, error=exc.message)
            return self._failing_at(link)
        for remote in listing:
            key = f"{link.code}:{remote.name}"
            seen.add(key)
            if (Stage.FETCH, key) in self._parked:
                continue
            target = self.spool.incoming / remote.name
            try:
                progress = self.on_transfer(remote.name, remote.size) if self.on_transfer else None
                link.transport.fetch(link.down, remote.name, target, progress)
                link.transport.remove(link.down, remote.name)
            except TransportError as exc:
                if not self._still_up(link, exc):
                    return seen | self._failing_at(link)
                self._fetch_failed(key, exc, summary)  # the link is up: this file failed
                continue
            except Exception as exc:  # one file never stops the round
                self._fetch_failed(key, exc, summary)
                continue
            summary.received += 1
            summary.bytes_received += remote.size
            self._arrived(target, link.code, summary)
        return seen

    def _collect_former(self, summary: RoundSummary) -> set[str]:
        """A moved node empties its mailbox at a former parent (:mod:`nodes.former`)."""
        seen: set[str] = set()
        for spec in former.to_collect(self.node):
            link = self._link(f"former parent {spec.code}", spec.endpoint, spec.code)
            try:
                found = self._fetch(link, summary)
            finally:
                link.transport.close()
            if link.error is not None:
                former.failed(self.node, spec.code)
            elif not found:
                former.done(self.node, spec.code)
            seen |= found
        return seen

    def _still_up(self, link: _Link, exc: TransportError) -> bool:
        """After one file failed to transfer: is the link still up (the file's failure),
        or down (marked so for the rest of the round)?"""
        try:
            link.transport.list(link.down)
        except TransportError:
            link.error = said("link_unreachable", name=link.label, error=exc.message)
            return False
        return True

    def _failing_at(self, link: _Link) -> set[str]:
        """The files of ``link`` known to fail: still there, as far as this round knows."""
        return {name for _stage, name in self._failing if name.startswith(f"{link.code}:")}

    def _fetch_failed(self, key: str, exc: Exception, summary: RoundSummary) -> None:
        failure = attempts.failed(self.engine, Stage.FETCH, key, failure_message(exc), self.clock)
        where, _, name = key.partition(":")
        summary.fail(f"{name} (from {where})", failure, doing="collected")

    def _arrived(self, path: Path, source: str, summary: RoundSummary) -> None:
        """A file just arrived from neighbour ``source``: one for another node is checked
        now, while it is known where it came from."""
        try:
            header = self._headers.header(path)
        except VerificationError:
            return  # quarantined when taken
        except Exception as exc:  # one file never stops the round
            self._spool_file_failed(path, Stage.TAKE, exc, summary)
            return
        if header.recipient != self.me:
            self._screen(path, header, source, summary)

    def _screen(
        self, path: Path, header: Header, source: str | None, summary: RoundSummary
    ) -> bool:
        """Admit a file for another node to ``relay/`` (True), or quarantine it here."""
        try:
            # Verified first: only what the province signed waits for a topology here;
            # once, for a file that waits (sync.held).
            if not held.verified(self.engine, path, self.trust):
                try:  # routed by the header of the bytes verified, not one read before
                    header = relays.verify_for_relay(path, self.trust).header
                except CertificateNotYetBegun:  # this node's clock runs slow: next round
                    held.hold(self.engine, path, header, held.EARLY, self.trust, self.clock)
                    return False
                except VerificationError as exc:
                    self._quarantine(path, exc.reason, exc.message, summary)
                    return False
            if self._awaits_topology(header, source):
                self._hold(path, header, summary)
                return False  # for a node joining: relayed once its topology comes
            refusal = self.routes.refusal(path.name, header.recipient, source)
            if refusal is not None:
                self._quarantine(path, "route", refusal, summary)
                return False
            hop = self.routes.next_hop(header.recipient, relaying=True)
            assert hop is not None
            admission = relays.admit(self.engine, header, source, hop.neighbor, self.clock)
            if admission.problem is not None:
                self._quarantine(path, "route", admission.problem, summary)
                return False
            if path.parent != self.spool.relay:
                os.replace(path, self.spool.relay / path.name)
        except Exception as exc:  # one file never stops the round
            self._spool_file_failed(path, Stage.RELAY, exc, summary)
            return False
        summary.new_relays += admission.first
        return True

    def _hold(self, path: Path, header: Header, summary: RoundSummary) -> None:
        """Keep a file for a node not known here, until the age limit (by this node's
        clock): then it goes to quarantine, as a retired or never-coming node's would."""
        waiting = held.hold(self.engine, path, header, held.VERIFIED, self.trust, self.clock)
        late = held.overdue(waiting, self.clock, self.held_limit, self.node.topology.version)
        if late is not None:
            self._quarantine(path, held.REASON, late, summary)

    def _awaits_topology(self, header: Header, source: str | None) -> bool:
        """A change-set from the province, come from above, for a node this one does not
        know (one that joins), or a topology this node has no route for (a detour through
        a moved node's former parent): its topology is on its way here too. It waits in ``incoming/`` and is screened
        again once the topology is taken."""
        topology = self.node.topology
        if header.origin != topology.province.code:
            return False
        if source is not None and source not in {link.code for link in self.links.values()}:
            return False
        if header.recipient not in topology:
            return True
        return (
            header.kind == membership.KIND
            and self.routes.refusal("", header.recipient, source) is not None
        )

    def _quarantine(self, path: Path, reason: str, detail: str, summary: RoundSummary) -> None:
        quarantine.quarantine_file(self.engine, self.spool, path, reason, detail, self.clock)
        summary.quarantined += 1

    def _spool_file_failed(
        self, path: Path, stage: Stage, exc: Exception, summary: RoundSummary
    ) -> None:
        self._failed_now.add(path.name)
        failure = attempts.count_failure(
            self.engine, self.spool, path, stage, failure_message(exc), self.clock
        )
        summary.fail(path.name, failure, doing="taken")

    def _take_incoming(self, summary: RoundSummary) -> None:
        self._finish_rejoin(summary)  # every answer may have come in an earlier round
        progress = True
        waiting = 0
        while progress:
            progress = False
            waiting = 0
            for path in self._incoming_in_order():
                if path.name in self._failed_now:
                    continue  # tried once this round is enough
                try:
                    header = self._headers.header(path)
                except VerificationError as exc:
                    self._quarantine(path, exc.reason, exc.message, summary)
                    continue
                except Exception as exc:  # one file never stops the round
                    self._spool_file_failed(path, Stage.TAKE, exc, summary)
                    continue
                if header.recipient != self.me:  # arrived in an earlier round, or released
                    self._screen(path, header, None, summary)
                    continue
                if header.kind == rejoin.KIND:
                    progress = self._take_message(path, summary) or progress
                    continue
                if self._rejoining:
                    waiting += 1
                    continue  # taken once every peer has answered
                result = channel.receive(
                    self.engine,
                    self.spool,
                    path,
                    signer=self.signer,
                    trust=self.trust,
                    authorize=self.authorize,
                    applier=self.applier,
                    clock=self.clock,
                    on_receipt=self.acknowledged,
                )
                if result.outcome is Outcome.EARLY:
                    waiting += 1
                    continue
                if result.failure is not None:
                    self._failed_now.add(path.name)
                    summary.fail(path.name, result.failure, doing="taken")
                    continue
                progress = True
                summary.count(result.outcome)
                if header.kind == membership.KIND:
                    self._follow_topology()
                if result.refusal is not None:
                    problem = rejoin.tell_refused(self, result, header)
                    if problem is not None:  # told with a later copy; the round goes on
                        summary.problems.append(problem)
        summary.waiting = waiting

    def _take_message(self, path: Path, summary: RoundSummary) -> bool:
        """Take a ``rejoin`` change-set (request, answer or notice); True when taken."""
        try:
            note = rejoin.take(self, path)
        except CertificateNotYetBegun:
            return False  # this node's clock runs slow: taken once it has caught up
        except VerificationError as exc:
            self._quarantine(path, exc.reason, exc.message, summary)
            return False
        except InputError as exc:
            self._quarantine(path, "rejoin", exc.message, summary)
            return False
        except Exception as exc:  # one file never stops the round
            self._spool_file_failed(path, Stage.TAKE, exc, summary)
            return False
        summary.notes.append(note)
        summary.messages += 1
        self._finish_rejoin(summary)
        return True

    def _finish_rejoin(self, summary: RoundSummary) -> None:
        """Once every peer has answered, redo what they returned (:func:`rejoin.finish`);
        tried at every round, not only when an answer arrives: the process may have died
        right after taking the last one, or a returned file may not verify yet (its
        signer's certificate not begun by this node's clock)."""
        if not self._rejoining:
            return
        try:
            done = rejoin.finish(self)
        except Exception as exc:  # the node stays rejoining; tried again next round
            summary.problems.append(said("rejoin_failed", error=failure_message(exc)))
            return
        if done is not None:
            self._rejoining = False
            summary.notes.append(done)

    def _ask_again(self, summary: RoundSummary) -> None:
        """Sign the rejoin requests again with this node's certificate when another one
        signed them (a restored node given a new key: its old one may be revoked)."""
        try:
            asked = rejoin_request.ask_again(self)
        except Exception as exc:  # tried again next round
            summary.problems.append(said("rejoin_failed", error=failure_message(exc)))
            return
        if asked:
            summary.notes.append(said("rejoin_asked_again", peers=", ".join(asked)))

    def quarantine_message(self, path: Path, detail: str) -> None:
        """Keep a peer's notice in quarantine, where ``status`` shows it."""
        quarantine.quarantine_file(self.engine, self.spool, path, "restore", detail, self.clock)

    def _incoming_in_order(self) -> list[Path]:
        # origin_recipient_seq_id.fcs: sorted names put each channel in sequence order
        incoming = self.spool.incoming.iterdir()
        return sorted(p for p in incoming if p.is_file() and not is_temporary(p.name))

    # --- what leaves ------------------------------------------------------------------------

    def send(self, hop: Hop | None, source: Path) -> bool:
        """Publish ``source`` one hop on; False when there is no way this round. A link
        that fails is marked down for the rest of the round; other errors propagate."""
        way = None if hop is None else self._way(hop)
        if way is None:
            return False
        transport, folder = way
        size = _size(source)
        try:
            transport.publish(folder, source.name, source)
        except TransportError as exc:
            for link in self.links.values():
                if link.transport is transport:
                    link.error = said("link_unreachable", name=link.label, error=exc.message)
            return False
        self._summary.bytes_sent += size
        return True

    def _send_own(
        self,
        stage: Stage,
        path: Path,
        expect_id: str,
        recipient: str,
        what: str,
        summary: RoundSummary,
    ) -> bool:
        """Send a copy of this node's own (``what``) one hop toward ``recipient``, after
        checking it; True when sent. A damaged copy, or one that cannot be sent, is
        parked at once and named; it is checked again every round (a copy repaired or
        restored goes out again) but never sent damaged."""
        hop = self.routes.next_hop(recipient)
        if hop is None or self._way(hop) is None:
            return False
        try:
            changeset.check_stored(path, expect_id)
            sent = self.send(hop, path)
        except (VerificationError, StorageError) as exc:
            why = unlabelled(exc.message, path, path.name)
            self._unsendable(stage, path.name, said("copy_damaged", what=what, why=why), summary)
            return False
        except Exception as exc:  # one file never stops the round
            error = exc.message if isinstance(exc, FiscalsyncError) else failure_message(exc)
            self._unsendable(
                stage, path.name, said("copy_unsendable", what=what, error=error), summary
            )
            return False
        if sent and (stage, path.name) in self._failing:
            with self.engine.begin() as conn:
                attempts.forget(conn, stage, path.name)
        return sent

    def _unsendable(self, stage: Stage, name: str, error: str, summary: RoundSummary) -> None:
        attempts.failed(self.engine, stage, name, error, self.clock, park=True)
        summary.damaged += 1
        summary.problems.append(said("unsendable", name=name, error=error))

    def backup_way(self) -> tuple[Transport, str] | None:
        """Where this node's backup objects go (:func:`nodes.backup_mail.way`)."""
        return backup_mail.way(self)

    def count_sent(self, size: int) -> None:
        """Count ``size`` bytes sent this round (an upload of backup objects)."""
        self._summary.bytes_sent += size

    def _send_outbox(self, summary: RoundSummary, retransmit_now: bool) -> None:
        now = self.clock.now()
        with reading(self.engine) as conn:
            if retransmit_now:
                due = conn.execute(_UNACKNOWLEDGED).all()
            else:
                latest = now + channel.BACKOFF_CEILING
                due = conn.execute(_DUE, {"now": now, "latest": latest}).all()
        for entry in due:
            if entry.kind == backups.KIND and self._backup_pending:
                continue  # nothing half-written is listed: its objects go first
            path = self.spool.outbox / entry.filename
            if not self._send_own(
                Stage.SEND, path, entry.id, entry.recipient, said("own_copy"), summary
            ):
                continue
            detour = self.routes.detour(entry.recipient) if entry.kind == membership.KIND else None
            if detour is not None:
                self.send(detour, path)  # a moved node may still dial its former parent
            sent = entry.attempts + 1
            with self.engine.begin() as conn:
                conn.execute(
                    _SENT,
                    {
                        "entry": entry.id,
                        "sent": sent,
                        "now": now,
                        "next_at": now + channel.backoff(sent),
                    },
                )
            summary.sent += 1
            summary.resent += entry.attempts > 0

    def _send_receipts(self, summary: RoundSummary) -> None:
        with reading(self.engine) as conn:
            pending = conn.execute(_RECEIPTS_UNSENT).all()
        for entry in pending:
            path = self.spool.receipts / entry.receipt_file
            if not self._send_own(
                Stage.RECEIPT, path, entry.receipt_id, entry.origin, said("signed_receipt"), summary
            ):
                continue
            with self.engine.begin() as conn:
                conn.execute(_RECEIPT_SENT, {"entry": entry.id, "now": self.clock.now()})
            summary.receipts_sent += 1

    def _send_relays(self, summary: RoundSummary) -> None:
        files = sorted(
            p for p in self.spool.relay.iterdir() if p.is_file() and not is_temporary(p.name)
        )
        if not files:
            return
        ids = []
        for path in files:
            with contextlib.suppress(VerificationError):
                ids.append(changeset.parse_filename(path.name).id)
        with reading(self.engine) as conn:
            admitted = set(conn.execute(_ADMITTED, {"ids": ids}).scalars())
        for path in files:
            try:
                name = changeset.parse_filename(path.name)
                if name.id not in admitted:  # left by an earlier version: check it first
                    header = self._headers.header(path)
                    if not self._screen(path, header, None, summary):
                        continue
                if self.send(self.routes.next_hop(name.recipient, relaying=True), path):
                    path.unlink()
                    summary.relayed += 1
            except VerificationError as exc:
                self._quarantine(path, exc.reason, exc.message, summary)
            except Exception as exc:  # one file never stops the round
                self._spool_file_failed(path, Stage.RELAY, exc, summary)

    def _forget_gone(self, listed: set[str]) -> None:
        """Forget the failures of files no longer there (taken, quarantined, removed) or
        no longer to be sent (acknowledged after all)."""
        stages = {stage for stage, _name in self._failing}
        if not stages:
            return
        incoming = {p.name for p in self.spool.incoming.iterdir()}
        with reading(self.engine) as conn:
            unacknowledged = conn.execute(
                sa.select(outbox.c.filename).where(outbox.c.acked_at.is_(None))
            ).scalars()
            unsent = conn.execute(
                sa.select(changeset_log.c.receipt_file).where(
                    changeset_log.c.receipt_sent_at.is_(None)
                )
            ).scalars()
            present = {
                Stage.TAKE: incoming,
                Stage.RELAY: incoming | {p.name for p in self.spool.relay.iterdir()},
                Stage.FETCH: listed,
                Stage.SEND: set(unacknowledged),
                Stage.RECEIPT: set(unsent),
            }
        for stage in stages:
            attempts.forget_absent(self.engine, stage, present[stage])

    def _count_unacknowledged(self) -> int:
        with reading(self.engine) as conn:
            return int(conn.execute(_COUNT_UNACKNOWLEDGED).scalar_one())


def _size(path: Path) -> int:
    """The size of a file, 0 if it is already gone (counted for the metrics only)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0
