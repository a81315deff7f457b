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

from nodes import alerts, keys, membership
from nodes.alerts import Unsettled
from nodes.exchange import Exchange, RoundSummary
from nodes.home import NodeHome, create_home
from nodes.labels import said
from nodes.node import Node
from nodes.topology import Endpoint, NodeSpec, Topology, load_topology
from schema.deferred import flushing_deferred
from schema.engine import drop_database, ensure_database, release_memory
from sync import pki
from sync.backup.keys import RECOVERY_CERT
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import HomeError, InputError
from sync.files import fsync_directory, fsync_tree
from sync.signing import DEFAULT_SUITE, get_suite

__all__ = [
    "Network",
    "NetworkSync",
    "add_node",
    "init_network",
    "move_node",
    "retire_node",
    "sync_network",
]

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
            said("url_template_no_code", template=template),
            hint=said("url_template_no_code_hint"),
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
        raise HomeError(said("folder_not_empty", path=path), hint=said("folder_not_empty_hint"))
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
        # Nothing of the tree counts before it is renamed into place: flushed once, whole.
        with flushing_deferred(staging):
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
        fsync_tree(staging)
        if path.exists():
            path.rmdir()
        os.replace(staging, path)
        fsync_directory(path.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for url in created:
            drop_database(url)
        raise
    final = load_topology(path / TOPOLOGY_FILE)
    return Network(path, final, {n.code: NodeHome(path / n.code) for n in final})


def add_node(
    path: Path,
    code: str,
    parent: str,
    *,
    name: str | None = None,
    role: str | None = None,
    abbreviation: str | None = None,
    database_url: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> membership.Published:
    """``network add-node``: a node joins the province hosted under ``path``.

    Its home is made (``path/<code>``, its database at ``database_url``, else SQLite)
    with its key, certificate and revocation list from ``path/ca``, as ``network init``
    gives them; then the province sends the next topology version to every node, and to
    the new one first the topology, the code-set extensions and the revocation list.
    Any refusal (unknown parent, a code already there, ...) leaves nothing behind.
    """
    path = path.resolve()
    province = _province_home(path)
    target = path / code
    with Node.open(province) as node:
        proposed = membership.added(
            load_topology(node.settings.topology),
            code,
            parent,
            name=name,
            role=role,
            abbreviation=abbreviation,
            parent_endpoint=Endpoint("local", str(path / parent / "mailboxes")),
        )
        if target.exists():
            raise HomeError(said("home_exists", target=target), hint=said("home_exists_hint"))
        ca = pki.load_root(path / keys.CA_FOLDER, None)
        if code in pki.revoked_codes(ca):
            raise InputError(
                said("code_retired", code=code),
                hint=said("code_retired_hint"),
            )
        created_db = database_url is not None and ensure_database(database_url)
        home: NodeHome | None = None
        try:
            home = create_home(target, proposed, code, database_url, ca.suite.name)
            keys.issue(ca, proposed.node(code), home, clock)
            keys.install_recovery(home, ca.ca_dir / RECOVERY_CERT)
            published = membership.publish(
                node, lambda current: _with(current, proposed, code), joining=code, clock=clock
            )
        except BaseException:
            if home is not None:
                shutil.rmtree(home.path, ignore_errors=True)
            if created_db and database_url is not None:
                drop_database(database_url)
            raise
    text = published.topology.to_toml()
    (target / TOPOLOGY_FILE).write_text(text, encoding="utf-8")
    (path / TOPOLOGY_FILE).write_text(text, encoding="utf-8")
    return published


def _with(current: Topology, proposed: Topology, code: str) -> Topology:
    """The change ``proposed`` made, made again on the topology held under the lock."""
    spec = proposed.node(code)
    parent = proposed.node(spec.parent or "")
    return membership.added(
        current,
        code,
        parent.code,
        name=spec.name,
        role=spec.role,
        abbreviation=spec.abbreviation,
        parent_endpoint=parent.endpoint,
    )


def move_node(
    path: Path, code: str, parent: str, clock: Clock = SYSTEM_CLOCK
) -> membership.Published:
    """``network move-node`` on a province hosted under ``path``: the province moves
    ``code`` under ``parent`` and sends the next topology version to every node."""
    with Node.open(_province_home(path)) as node:
        published = membership.publish(
            node, lambda current: membership.moved(current, code, parent), clock=clock
        )
    (path / TOPOLOGY_FILE).write_text(published.topology.to_toml(), encoding="utf-8")
    return published


@dataclass(frozen=True)
class Retired:
    """What ``network retire-node`` did."""

    published: membership.Published
    crl_number: int | None
    """The revocation list sent down (None: the node never had a certificate)."""
    drained: bool
    """Whether every channel went quiet before the node was cut off (else what still
    waited is closed, with a statement at each node that held it)."""


def retire_node(
    path: Path, code: str, *, drain: bool = True, clock: Clock = SYSTEM_CLOCK
) -> Retired:
    """``network retire-node``: drain the province hosted under ``path`` (sync rounds
    until quiet), revoke every certificate of ``code`` and publish the revocation list,
    then send the topology without it; each node closes what it still had in flight
    with it, with a statement. Its home and its backups at the center are kept."""
    path = path.resolve()
    province = _province_home(path)
    with Node.open(province) as node:
        membership.retired(load_topology(node.settings.topology), code)  # refused early
    drained = not drain or sync_network(path, until_quiet=True, clock=clock).quiet
    with Node.open(province) as node:
        done = membership.retire(node, code, path / keys.CA_FOLDER, None, clock)
    (path / TOPOLOGY_FILE).write_text(done.published.topology.to_toml(), encoding="utf-8")
    return Retired(done.published, done.crl_number, drained)


def _province_home(path: Path) -> Path:
    if not (path / TOPOLOGY_FILE).is_file():
        raise HomeError(
            said("no_province_here", path=path, file=TOPOLOGY_FILE),
            hint=said("no_province_here_hint"),
        )
    return path / load_topology(path / TOPOLOGY_FILE).province.code


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
            for node, exchange in zip(opened, exchanges, strict=True):
                this_round.add(exchange.run_round(retransmit_now=idle > 0))
                release_memory(node.engine)  # its cache serves the next node
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
    found: list[Unsettled] = []
    for node in nodes:
        found.extend(alerts.unsettled(node.engine, node.spool, node.spec.code))
        release_memory(node.engine)  # as after a round: the pages it read serve the next node
    return found
