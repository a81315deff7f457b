"""Reconciling every edge: of one node (the agent's monthly job), or of a whole province
hosted in one folder (``fiscalsync network reconcile``)."""

from __future__ import annotations

import logging
from pathlib import Path

from nodes.capabilities import Job, Schedule
from nodes.fiscal.reconcile import protocol, records
from nodes.fiscal.reconcile.statement import Statement, load
from nodes.labels import said
from nodes.locks import home_lock
from nodes.network import NetworkSync, sync_network
from nodes.node import Node
from nodes.topology import load_topology
from schema.engine import reading
from sync.clock import SYSTEM_CLOCK, Clock

__all__ = ["RECONCILE_JOB", "reconcile_job", "reconcile_network", "start_everywhere"]

log = logging.getLogger("fiscalsync.agent")
RECONCILE_SCHEDULE = {"day": "1", "hour": 2, "minute": 0}
"""When the agent reconciles every edge it issues on (cron fields, Beijing time)."""


def recipients(node: Node) -> list[str]:
    """The nodes this one has issued appropriations to."""
    me = node.spec.code
    with reading(node.engine) as conn:
        return [recipient for issuer, recipient in records.edges(conn) if issuer == me]


def report_peers(node: Node) -> list[str]:
    """Where this node sends its reports: its parent and the center (none at the center)."""
    if node.spec.role == "center":
        return []
    center = node.topology.center
    peers = [node.spec.parent] if node.spec.parent else []
    if center is not None and center.code not in peers:
        peers.append(center.code)
    return [p for p in peers if p is not None]


def start_everywhere(node: Node, *, full: bool = False, clock: Clock = SYSTEM_CLOCK) -> list[str]:
    """Start a reconciliation with every node this one issued appropriations to, and of
    its reports with every node it reports to."""
    peers = recipients(node) + report_peers(node)
    return [protocol.start(node, peer, full=full, clock=clock) for peer in peers]


def reconcile_job(home: str) -> list[str]:
    """The agent's ``reconcile`` job: every edge this node issues on, after each month end."""
    with home_lock(Path(home)), Node.open(Path(home)) as node:
        started = start_everywhere(node)
    for session in started:
        log.info("reconcile: %s requested", session)
    return started


RECONCILE_JOB = Job(
    id="reconcile",
    name="reconcile every edge this node issues on",
    run=reconcile_job,
    schedule=lambda node: None if node.spec.role == "center" else Schedule(cron=RECONCILE_SCHEDULE),
    describe=lambda _node: said("agent_reconcile", day=1, time="02:00", zone="Asia/Shanghai"),
)


def reconcile_network(
    path: Path, *, full: bool = False, clock: Clock = SYSTEM_CLOCK, max_rounds: int = 100
) -> tuple[list[Statement], NetworkSync]:
    """Reconcile every edge of a province hosted under ``path``: start everywhere, sync
    until quiet, and return each issuer's statement."""
    topology = load_topology(path / "topology.toml")
    started: dict[str, list[str]] = {}
    for spec in topology:
        with home_lock(path / spec.code), Node.open(path / spec.code) as node:
            started[spec.code] = start_everywhere(node, full=full, clock=clock)
    result = sync_network(path, until_quiet=True, max_rounds=max_rounds, clock=clock)
    statements = []
    for code, sessions in started.items():
        with Node.open(path / code) as node:
            statements.extend(load(node, session) for session in sessions)
    return statements, result
