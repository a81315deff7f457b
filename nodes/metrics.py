"""A node's metrics in the Prometheus text format (the only import of prometheus_client).

:class:`NodeCollector` reads them from the node's database at every scrape: change-sets
sent, acknowledged and taken, the lag of every outbound channel (change-sets waiting for
their receipt and the oldest one's age), quarantine entries open by reason, the last
contact with another node, the latest backup, the delay between a change-set's creation
(by its origin's clock) and its apply here (by this node's), and the spool's size.

The agent adds what only the running process knows (:func:`record_round`): sync rounds
and the files they moved (change-sets sent, applied, rejected, receipts, failures). ``fiscalsync serve`` exposes the first on ``/metrics``; ``agent --metrics-port``
both.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client import start_http_server as _start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector

from nodes.retention import spool_bytes
from nodes.summary import RoundSummary
from schema.channels import changeset_log, outbox, quarantine
from schema.engine import reading
from sync.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = [
    "CONTENT_TYPE",
    "NodeCollector",
    "agent_registry",
    "exposition",
    "exposition_of",
    "record_round",
    "start_server",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST
log = logging.getLogger("fiscalsync.metrics")
LATENCY_SAMPLE = 1000
"""The apply delay is summed over this many of the latest change-sets taken."""


class NodeCollector(Collector):
    """The node's figures, read from its database at every scrape."""

    def __init__(self, node: Node, clock: Clock = SYSTEM_CLOCK) -> None:
        self.node = node
        self.clock = clock

    def collect(self) -> Iterator[Any]:
        node = self.node
        me = node.spec.code
        now = self.clock.now()
        labels = ["node"]
        with reading(node.engine) as conn:
            sent = conn.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.count(outbox.c.acked_at),
                    sa.func.max(outbox.c.acked_at),
                )
            ).one()
            taken = conn.execute(
                sa.select(changeset_log.c.verdict, sa.func.count()).group_by(
                    changeset_log.c.verdict
                )
            ).all()
            last_taken = conn.execute(
                sa.select(sa.func.max(changeset_log.c.applied_at)).where(
                    changeset_log.c.recipient == me
                )
            ).scalar()
            lag = conn.execute(
                sa.select(outbox.c.recipient, sa.func.count(), sa.func.min(outbox.c.created_at))
                .where(outbox.c.acked_at.is_(None))
                .group_by(outbox.c.recipient)
            ).all()
            held = conn.execute(
                sa.select(quarantine.c.reason, sa.func.count())
                .where(quarantine.c.released_at.is_(None), quarantine.c.dropped_at.is_(None))
                .group_by(quarantine.c.reason)
            ).all()
            backup = conn.execute(
                sa.select(sa.func.max(outbox.c.created_at)).where(
                    outbox.c.kind == "backup", outbox.c.receipt_verdict == "applied"
                )
            ).scalar()
            recent = conn.execute(
                sa.select(changeset_log.c.created, changeset_log.c.applied_at)
                .where(changeset_log.c.recipient == me)
                .order_by(changeset_log.c.applied_at.desc())
                .limit(LATENCY_SAMPLE)
            ).all()
        family = CounterMetricFamily(
            "fiscalsync_changesets_sent", "Change-sets this node originated.", labels=labels
        )
        family.add_metric([me], sent[0])
        yield family
        family = CounterMetricFamily(
            "fiscalsync_changesets_acknowledged",
            "Change-sets this node originated whose signed receipt came back.",
            labels=labels,
        )
        family.add_metric([me], sent[1])
        yield family
        family = CounterMetricFamily(
            "fiscalsync_changesets_taken",
            "Change-sets taken here, by verdict.",
            labels=[*labels, "verdict"],
        )
        for verdict, count in taken:
            family.add_metric([me, verdict], count)
        yield family
        gauge = GaugeMetricFamily(
            "fiscalsync_channel_lag_changesets",
            "Change-sets sent on a channel and not yet acknowledged.",
            labels=[*labels, "recipient"],
        )
        age = GaugeMetricFamily(
            "fiscalsync_channel_lag_oldest_seconds",
            "Age of the oldest change-set of a channel waiting for its receipt.",
            labels=[*labels, "recipient"],
        )
        for recipient, count, oldest in lag:
            gauge.add_metric([me, recipient], count)
            age.add_metric([me, recipient], (now - oldest).total_seconds())
        yield gauge
        yield age
        gauge = GaugeMetricFamily(
            "fiscalsync_quarantine_entries",
            "Quarantine entries open (not released nor dropped), by reason.",
            labels=[*labels, "reason"],
        )
        for reason, count in held:
            gauge.add_metric([me, reason], count)
        yield gauge
        last = max((t for t in (sent[2], last_taken) if t is not None), default=None)
        for name, text, moment in (
            (
                "fiscalsync_last_sync_timestamp_seconds",
                "When this node last took a change-set or a receipt (Unix time).",
                last,
            ),
            (
                "fiscalsync_last_backup_timestamp_seconds",
                "When this node's latest backup accepted by its keeper was taken (Unix time).",
                backup,
            ),
        ):
            gauge = GaugeMetricFamily(name, text, labels=labels)
            if moment is not None:
                gauge.add_metric([me], moment.timestamp())
            yield gauge
        summary = SummaryMetricFamily(
            "fiscalsync_apply_delay_seconds",
            "From a change-set's creation (origin's clock) to its apply here (this node's "
            f"clock), over the latest {LATENCY_SAMPLE} taken.",
            labels=labels,
        )
        delays = [(r.applied_at - r.created).total_seconds() for r in recent]
        summary.add_metric([me], count_value=len(delays), sum_value=sum(delays))
        yield summary
        gauge = GaugeMetricFamily(
            "fiscalsync_spool_bytes", "Bytes of the files in the spool.", labels=labels
        )
        gauge.add_metric([me], spool_bytes(node.home.spool))
        yield gauge


def exposition(node: Node, clock: Clock = SYSTEM_CLOCK) -> bytes:
    """The node's metrics in the Prometheus text format, read now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(node, clock))
    return bytes(generate_latest(registry))


def exposition_of(nodes: Iterable[Node]) -> bytes:
    """Several nodes' metrics in one Prometheus text, each series labelled by node."""
    chosen = list(nodes)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Nodes(lambda: chosen))
    return bytes(generate_latest(registry))


_ROUND_COUNTS = ("sent", "applied", "rejected", "receipts_received", "receipts_sent", "failed")
_REGISTRY = CollectorRegistry(auto_describe=False)
_ROUNDS = Counter(
    "fiscalsync_sync_rounds", "Sync rounds run by the agent.", ["node"], registry=_REGISTRY
)
_MOVED = Counter(
    "fiscalsync_round_files",
    "Files moved by the agent's sync rounds, by what was done with them.",
    ["node", "what"],
    registry=_REGISTRY,
)


_BYTES = Counter(
    "fiscalsync_round_bytes",
    "Bytes moved by the agent's sync rounds: sent (change-sets, receipts, relayed files, "
    "backup objects) and received.",
    ["node", "direction"],
    registry=_REGISTRY,
)


def record_round(code: str, summary: RoundSummary) -> None:
    """Count one sync round of the agent at node ``code``."""
    _ROUNDS.labels(code).inc()
    for name in _ROUND_COUNTS:
        _MOVED.labels(code, name).inc(getattr(summary, name))
    _BYTES.labels(code, "sent").inc(summary.bytes_sent)
    _BYTES.labels(code, "received").inc(summary.bytes_received)


def forget_node(code: str) -> None:
    """Let go of the agent's counts of node ``code`` (a hosted home that stopped)."""
    with contextlib.suppress(KeyError):
        _ROUNDS.remove(code)
    for name in _ROUND_COUNTS:
        with contextlib.suppress(KeyError):
            _MOVED.remove(code, name)
    for direction in ("sent", "received"):
        with contextlib.suppress(KeyError):
            _BYTES.remove(code, direction)


class _Nodes(Collector):
    """Several nodes' collectors as one: each metric family once, with every node's
    samples (a family named twice would be refused by whoever scrapes it)."""

    def __init__(self, nodes: Callable[[], Iterable[Node]]) -> None:
        self.nodes = nodes

    def collect(self) -> Iterator[Any]:
        families: dict[str, Any] = {}
        for node in self.nodes():
            try:
                found = list(NodeCollector(node).collect())
            except Exception:  # one home's database down never hides the others' figures
                log.exception("metrics of %s", node.spec.code)
                continue
            for family in found:
                if family.name in families:
                    families[family.name].samples.extend(family.samples)
                else:
                    families[family.name] = family
        yield from families.values()


def agent_registry(nodes: Node | Callable[[], Iterable[Node]]) -> CollectorRegistry:
    """The agent's registry: its rounds, and the figures of its node (or of the nodes it
    runs, as they are at each scrape) read at each scrape."""
    if not callable(nodes):
        one = nodes
        nodes = lambda: (one,)  # noqa: E731
    _REGISTRY.register(_Nodes(nodes))
    return _REGISTRY


def start_server(registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> None:
    """Serve ``registry`` on ``host:port`` ``/metrics`` from a background thread."""
    _start_http_server(port, addr=host, registry=registry)
