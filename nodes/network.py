"""A whole province on one machine: one node home per topology node, local transport.

Its root CA is in ``DIR/ca``, with the province's backup recovery kit
(``DIR/ca/recovery-kit.pem``) whose certificate every node has installed. This is the 地市级集中管理 model, where a data center hosts many nodes' agents, and
what tests, demos and benchmarks use. ``DIR/topology.toml`` is the topology with every
endpoint pointing at a local folder (``DIR/<code>/mailboxes``), and ``DIR/<code>/`` is
each node's home.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nodes import alerts, keys
from nodes.alerts import Unsettled
from nodes.exchange import Exchange, RoundSummary
from nodes.home import NodeHome, create_home
from nodes.node import Node
from nodes.topology import Endpoint, NodeSpec, Topology, load_topology
from schema.engine import drop_database, ensure_database
from sync import pki
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import HomeError, InputError
from sync.signing import DEFAULT_SUITE, get_suite

__all__ = ["Network", "NetworkSync", "init_network", "sync_network"]

TOPOLOGY_FILE = "topology.toml"


@dataclass(frozen=True)
class Network:
    """A province hosted in one folder."""

    path: Path
    topology: Topology
    homes: dict[str, NodeHome]

    @property
    def ca_dir(self) -> Path:
        return self.path / keys.CA_FOLDER


def database_url_for(template: str | None, code: str) -> str | None:
    """The database URL of one node from a template with ``{code}``; None means SQLite."""
    if template is None:
        return None
    if "{code}" not in template:
        raise InputError(
            f"database URL template {template!r} has no {{code}}",
            hint="e.g. postgresql://127.0.0.1/fs_{code}: each node needs its own database",
        )
    return template.replace("{code}", code.replace("-", "_"))


def init_network(
    path: Path,
    topology_file: Path,
    db_url_template: str | None = None,
    progress: Callable[[NodeSpec], None] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    suite: str = DEFAULT_SUITE,
) -> Network:
    """Create every node of the topology under ``path``; all of it or nothing.

    The province's root CA goes to ``path/ca`` (unencrypted: a province hosted on one
    machine is for demos, tests and a city data center's own nodes), and every node gets
    its key and certificate, all of the network's signature ``suite`` (``ed25519`` or
    ``sm2``).
    """
    get_suite(suite)  # an unknown suite is refused before anything is written
    source = load_topology(topology_file)
    path = path.resolve()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise HomeError(f"{path} is not empty", hint="choose a new or empty folder")
    database_url_for(db_url_template, source.province.code)  # check the template early
    endpoints = {
        n.code: Endpoint("local", str(path / n.code / "mailboxes"))
        for n in source
        if source.children(n.code) or n.role == "center"
    }
    topology = source.with_endpoints(endpoints)
    staging = path.parent / f".{path.name}.partial-{uuid.uuid4().hex[:8]}"
    created: list[str] = []
    try:
        staging.mkdir(parents=True)
        (staging / TOPOLOGY_FILE).write_text(topology.to_toml(), encoding="utf-8")
        ca = pki.init_root(
            staging / keys.CA_FOLDER, topology.province.code, suite=suite, clock=clock
        )
        recovery = keys.create_recovery(ca.ca_dir, ca.ca_dir / keys.RECOVERY_KIT, None, clock)
        for spec in topology:
            url = database_url_for(db_url_template, spec.code)
            if url is not None and ensure_database(url):
                created.append(url)
            home = create_home(staging / spec.code, topology, spec.code, url, suite)
            keys.issue(ca, spec, home, clock)
            keys.install_recovery(home, recovery)
            if progress is not None:
                progress(spec)
        if path.exists():
            path.rmdir()
        os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for url in created:
            drop_database(url)
        raise
    final = load_topology(path / TOPOLOGY_FILE)
    return Network(path, final, {n.code: NodeHome(path / n.code) for n in final})


@dataclass
class NetworkSync:
    """What ``network sync`` did: rounds run, and whether the province went quiet.

    When it did not, ``unsettled`` names everything still in flight, node by node, with
    its channel and why (unacknowledged, damaged, waiting, relaying, retrying, parked).
    """

    rounds: int
    quiet: bool
    totals: RoundSummary
    unacknowledged: int
    unsettled: list[Unsettled] = field(default_factory=list)


def sync_network(
    path: Path,
    *,
    until_quiet: bool = True,
    max_rounds: int = 100,
    clock: Clock = SYSTEM_CLOCK,
    on_round: Callable[[int, RoundSummary], None] | None = None,
) -> NetworkSync:
    """Run sync rounds over every node of a province hosted under ``path``.

    Each round runs every node once, in topology order (so what goes down travels a
    level per node, what goes up a level per round). With ``until_quiet`` rounds go on
    until no file moves and nothing is in flight anywhere; a round that moves nothing
    while something is still in flight retransmits at once rather than waiting for the
    backoff. They stop, not quiet, after ``max_rounds`` or once rounds stall: as many
    rounds as a retransmission needs to travel the tree and come back as a receipt
    (twice its depth, and two more) without any step forward (see
    :attr:`RoundSummary.progress`): what will not settle by itself then needs a person.
    """
    topology = load_topology(path / TOPOLOGY_FILE)
    stall_limit = 2 * max(len(topology.ancestors(n.code)) for n in topology) + 2
    opened: list[Node] = []
    totals = RoundSummary()
    rounds = 0
    idle = 0
    stalled = 0
    unacknowledged = 0
    try:
        exchanges = []
        for spec in topology:
            node = Node.open(path / spec.code)
            opened.append(node)
            exchanges.append(Exchange(node, clock))
        while rounds < max_rounds:
            rounds += 1
            this_round = RoundSummary()
            for exchange in exchanges:
                this_round.add(exchange.run_round(retransmit_now=idle > 0))
            unacknowledged = this_round.pending_receipts
            totals.add(this_round)
            totals.waiting = this_round.waiting
            totals.pending_receipts = unacknowledged
            totals.damaged = this_round.damaged
            if on_round is not None:
                on_round(rounds, this_round)
            if not until_quiet:
                break
            if this_round.moved == 0:
                if not _unsettled(opened):
                    return NetworkSync(rounds, True, totals, 0)
                idle += 1
            else:
                idle = 0
            stalled = 0 if this_round.progress else stalled + 1
            if stalled > stall_limit:
                break
        return NetworkSync(rounds, False, totals, unacknowledged, _unsettled(opened))
    finally:
        for node in opened:
            node.close()


def _unsettled(nodes: list[Node]) -> list[Unsettled]:
    return [
        item for node in nodes for item in alerts.unsettled(node.engine, node.spool, node.spec.code)
    ]
