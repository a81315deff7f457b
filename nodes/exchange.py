"""One sync round of a node: collect, take, relay and send change-sets through the tree.

Children dial their parent; a parent never dials a child. A parent's endpoint (its
``mailboxes/`` folder, locally or over SFTP) holds one folder per child::

    <child>/up/     what the child delivers: for the parent, or for it to relay
    <child>/down/   what the parent leaves for the child to collect

The central node (数据中心) is a hub every other node dials the same way (its parent,
the province, excepted: the center collects from the province as its child). A
change-set for node R leaves node N by the first route that fits:

1. R is below N: into N's own ``mailboxes/<child on the way>/down/``;
2. N is the center: into its own ``mailboxes/R/down/``, or up to its parent;
3. R is the center: to the center's endpoint;
4. otherwise: up to N's parent, which relays it onward byte for byte.

A round: collect what children delivered and fetch what waits upstream; take every
file addressed to this node (in channel order, so early arrivals catch up in the same
round) and set aside those for others; then send the due outbox, the receipts not yet
sent, and the relays. An unreachable upstream does not stop the rest of the round;
it is reported at the end, and nothing is lost: the next round resumes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from nodes import appliers, keys
from nodes.locks import home_lock, sync_lock
from nodes.node import Node
from nodes.policy import authorizer
from nodes.topology import Endpoint
from schema.channels import changeset_log, outbox
from schema.engine import reading
from sync import changeset, channel
from sync.channel import Outcome, Spool
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import InputError, TransportError, VerificationError
from sync.pki import load_signer
from sync.transports.base import Transport, is_temporary
from sync.transports.local import LocalTransport
from sync.transports.retry import RetryingTransport

__all__ = ["Exchange", "RoundSummary", "open_transport"]


@dataclass
class RoundSummary:
    """What one round did, for the operator."""

    sent: int = 0
    received: int = 0
    applied: int = 0
    rejected: int = 0
    duplicates: int = 0
    waiting: int = 0
    quarantined: int = 0
    receipts_received: int = 0
    receipts_sent: int = 0
    relayed: int = 0
    pending_receipts: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def moved(self) -> int:
        """Files that crossed a boundary this round (zero means the node is quiet)."""
        return self.sent + self.received + self.receipts_sent + self.relayed

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)

    def add(self, other: RoundSummary) -> None:
        """Add another summary's counts to these, e.g. every node's of one round.

        ``waiting`` and ``pending_receipts`` are states, not counts: summed over nodes
        they say how many wait in the province now, but summed over rounds they mean
        nothing, so totals over rounds take them from the last round instead.
        """
        for name, value in other.__dict__.items():
            if isinstance(value, int):
                setattr(self, name, getattr(self, name) + value)
        self.errors.extend(other.errors)


def open_transport(endpoint: Endpoint, keys_dir: Path) -> Transport:
    """The transport that reaches ``endpoint``, with bounded retries."""
    if endpoint.kind == "local":
        inner: Transport = LocalTransport(endpoint.path)
    else:
        from sync.transports.sftp import SftpTransport

        assert endpoint.host_key is not None
        inner = SftpTransport(endpoint.location, endpoint.host_key, keys_dir / keys.SSH_KEY)
    return RetryingTransport(inner, attempts=3, base_delay=0.5, max_delay=5.0)


class _Link:
    """An upstream endpoint this node dials: its parent, or the center."""

    def __init__(self, name: str, transport: Transport, me: str) -> None:
        self.name = name
        self.transport = transport
        self.up = f"{me}/up"
        self.down = f"{me}/down"
        self.error: str | None = None


class Exchange:
    """Runs sync rounds for one node."""

    def __init__(
        self,
        node: Node,
        clock: Clock = SYSTEM_CLOCK,
        on_transfer: Callable[[str, int], Callable[[int], None] | None] | None = None,
    ) -> None:
        """``on_transfer(name, size)`` may return a callback that gets the bytes of each
        chunk of that download (for a progress bar); None means no progress shown."""
        self.on_transfer = on_transfer
        self.node = node
        self.clock = clock
        self.me = node.spec.code
        self.spool = Spool(node.home.spool).ensure()
        self.signer = load_signer(node.home.keys)
        self.trust = keys.trust_store(node.home, clock)
        self.authorize = authorizer(node.topology)
        self.applier = appliers.for_node(node, self.trust, clock)
        topology = node.topology
        self.center = topology.center
        self.links: dict[str, _Link] = {}
        parent = node.parent
        if parent is not None:
            self.links["parent"] = self._link("parent", parent.endpoint, parent.code)
        if (
            self.center is not None
            and self.center.code != self.me
            and self.center.parent != self.me
        ):
            self.links["center"] = self._link("center", self.center.endpoint, self.center.code)
        self.local: Transport | None = None
        if node.home.mailboxes.is_dir():
            self.local = LocalTransport(node.home.mailboxes)

    def _link(self, name: str, endpoint: Endpoint | None, code: str) -> _Link:
        if endpoint is None:
            raise InputError(
                f"{code} has no endpoint in the topology: {self.me} cannot reach it",
                hint="add endpoint (and host_key for sftp) to that node in the topology",
            )
        return _Link(name, open_transport(endpoint, self.node.home.keys), self.me)

    def close(self) -> None:
        for link in self.links.values():
            link.transport.close()
        if self.local is not None:
            self.local.close()

    # --- routing ------------------------------------------------------------------------

    def route(self, recipient: str) -> tuple[Transport, str] | None:
        """Where a change-set for ``recipient`` goes next: (transport, folder)."""
        topology = self.node.topology
        if recipient not in topology:
            return None
        if self.local is not None and topology.is_ancestor(self.me, recipient):
            path = [recipient, *topology.ancestors(recipient)]
            child = path[path.index(self.me) - 1]
            return self.local, f"{child}/down"
        if self.center is not None and self.me == self.center.code:
            if recipient != self.node.spec.parent and self.local is not None:
                return self.local, f"{recipient}/down"
        elif self.center is not None and recipient == self.center.code and "center" in self.links:
            link = self.links["center"]
            return (link.transport, link.up) if link.error is None else None
        if "parent" in self.links:
            link = self.links["parent"]
            return (link.transport, link.up) if link.error is None else None
        return None

    # --- the round ------------------------------------------------------------------------

    def run_round(self, *, retransmit_now: bool = False) -> RoundSummary:
        """One round, holding the home's sync lock (one round at a time) and, shared, its
        home lock; a round already running elsewhere is waited for, then refused."""
        home = self.node.home.path
        with sync_lock(home), home_lock(home):
            return self._round(retransmit_now)

    def _round(self, retransmit_now: bool) -> RoundSummary:
        summary = RoundSummary()
        for link in self.links.values():
            link.error = None
        self._collect_local(summary)
        for link in self.links.values():
            self._fetch(link, summary)
        self._take_incoming(summary)
        self._send_outbox(summary, retransmit_now)
        self._send_receipts(summary)
        self._send_relays(summary)
        summary.pending_receipts = self._count_unacknowledged()
        for link in self.links.values():
            if link.error:
                summary.errors.append(link.error)
        return summary

    def _collect_local(self, summary: RoundSummary) -> None:
        mailboxes = self.node.home.mailboxes
        if not mailboxes.is_dir():
            return
        for child in sorted(mailboxes.iterdir()):
            up = child / "up"
            if not up.is_dir():
                continue
            for item in sorted(up.iterdir()):
                if is_temporary(item.name) or not item.is_file():
                    continue
                os.replace(item, self.spool.incoming / item.name)
                summary.received += 1

    def _fetch(self, link: _Link, summary: RoundSummary) -> None:
        try:
            for remote in link.transport.list(link.down):
                target = self.spool.incoming / remote.name
                progress = self.on_transfer(remote.name, remote.size) if self.on_transfer else None
                link.transport.fetch(link.down, remote.name, target, progress)
                link.transport.remove(link.down, remote.name)
                summary.received += 1
        except TransportError as exc:
            link.error = f"{link.name} unreachable: {exc.message}"

    def _take_incoming(self, summary: RoundSummary) -> None:
        progress = True
        waiting = 0
        while progress:
            progress = False
            waiting = 0
            for path in self._incoming_in_order():
                try:
                    header, _seal = changeset.read_header(path)
                except VerificationError as exc:
                    channel.quarantine_file(
                        self.node.engine, self.spool, path, exc.reason, exc.message, self.clock
                    )
                    summary.quarantined += 1
                    continue
                if header.recipient != self.me:
                    os.replace(path, self.spool.relay / path.name)
                    continue
                result = channel.receive(
                    self.node.engine,
                    self.spool,
                    path,
                    signer=self.signer,
                    trust=self.trust,
                    authorize=self.authorize,
                    applier=self.applier,
                    clock=self.clock,
                )
                if result.outcome is Outcome.EARLY:
                    waiting += 1
                    continue
                progress = True
                _count(summary, result.outcome)
        summary.waiting = waiting

    def _incoming_in_order(self) -> list[Path]:
        # origin_recipient_seq_id.fcs: sorted names put each channel in sequence order
        incoming = self.spool.incoming.iterdir()
        return sorted(p for p in incoming if p.is_file() and not is_temporary(p.name))

    def _send(self, recipient: str, source: Path) -> bool:
        route = self.route(recipient)
        if route is None:
            return False
        transport, folder = route
        try:
            transport.publish(folder, source.name, source)
        except TransportError as exc:
            for link in self.links.values():
                if link.transport is transport:
                    link.error = f"{link.name} unreachable: {exc.message}"
            return False
        return True

    def _send_outbox(self, summary: RoundSummary, retransmit_now: bool) -> None:
        now = self.clock.now()
        query = (
            sa.select(outbox)
            .where(outbox.c.acked_at.is_(None))
            .order_by(outbox.c.recipient, outbox.c.seq)
        )
        if not retransmit_now:
            query = query.where(outbox.c.next_attempt_at <= now)
        with reading(self.node.engine) as conn:
            due = conn.execute(query).all()
        for entry in due:
            if not self._send(entry.recipient, self.spool.outbox / entry.filename):
                continue
            attempts = entry.attempts + 1
            with self.node.engine.begin() as conn:
                conn.execute(
                    outbox.update()
                    .where(outbox.c.id == entry.id)
                    .values(
                        attempts=attempts,
                        sent_at=now,
                        next_attempt_at=now + channel.backoff(attempts),
                    )
                )
            summary.sent += 1

    def _send_receipts(self, summary: RoundSummary) -> None:
        with reading(self.node.engine) as conn:
            pending = conn.execute(
                sa.select(changeset_log.c.id, changeset_log.c.origin, changeset_log.c.receipt_file)
                .where(changeset_log.c.receipt_sent_at.is_(None))
                .order_by(changeset_log.c.origin, changeset_log.c.seq)
            ).all()
        for entry in pending:
            if not self._send(entry.origin, self.spool.receipts / entry.receipt_file):
                continue
            with self.node.engine.begin() as conn:
                conn.execute(
                    changeset_log.update()
                    .where(changeset_log.c.id == entry.id)
                    .values(receipt_sent_at=self.clock.now())
                )
            summary.receipts_sent += 1

    def _send_relays(self, summary: RoundSummary) -> None:
        for path in sorted(self.spool.relay.iterdir()):
            if not path.is_file() or is_temporary(path.name):
                continue
            try:
                name = changeset.parse_filename(path.name)
            except VerificationError as exc:
                channel.quarantine_file(
                    self.node.engine, self.spool, path, exc.reason, exc.message, self.clock
                )
                summary.quarantined += 1
                continue
            if name.recipient not in self.node.topology:
                channel.quarantine_file(
                    self.node.engine,
                    self.spool,
                    path,
                    "route",
                    f"{path.name}: recipient {name.recipient} is not in the topology",
                    self.clock,
                )
                summary.quarantined += 1
                continue
            if self._send(name.recipient, path):
                path.unlink()
                summary.relayed += 1

    def _count_unacknowledged(self) -> int:
        with reading(self.node.engine) as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(outbox)
                    .where(outbox.c.acked_at.is_(None))
                ).scalar_one()
            )


def _count(summary: RoundSummary, outcome: Outcome) -> None:
    if outcome is Outcome.APPLIED:
        summary.applied += 1
    elif outcome is Outcome.REJECTED:
        summary.rejected += 1
    elif outcome is Outcome.DUPLICATE:
        summary.duplicates += 1
    elif outcome is Outcome.QUARANTINED:
        summary.quarantined += 1
    elif outcome is Outcome.RECEIPT:
        summary.receipts_received += 1
