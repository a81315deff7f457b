"""The Node facade: what the command line asks of one node home."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nodes import keeper, keys, retention
from nodes.alerts import Alert, alerts
from nodes.capabilities import ALERTS, UPGRADE_STEPS
from nodes.home import NodeHome, create_home
from nodes.identity import settle_suite
from nodes.labels import recalled, said
from nodes.policy import authorizer, check_send
from nodes.settings import Settings, load_settings
from nodes.topology import VERSION_COUNTER, NodeSpec, Topology, load_topology, parse_topology
from schema import migrate, tables
from schema.engine import open_engine, reading, redact
from schema.locks import lock_scope
from sync import attempts, changeset, quarantine, waiting
from sync.changeset import Header, Verified, WrittenChangeSet
from sync.channel import Spool, enqueue
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import ConfigError, HomeError, InputError
from sync.pki import load_signer
from sync.trust import TrustStore

__all__ = ["ChangeSetView", "Node", "NodeStatus", "init_node", "inspect_changeset"]


@dataclass(frozen=True)
class ChangeSetView:
    """What ``changeset inspect`` shows: the header, the seal, the first operations."""

    path: Path
    header: Header
    signer_fingerprint: str
    operations: list[dict[str, Any]]

    def header_rows(self) -> list[tuple[str, str]]:
        h = self.header
        return [
            ("id", h.id),
            ("kind", h.kind),
            ("origin", h.origin),
            ("recipient", h.recipient),
            ("seq", str(h.seq)),
            ("prev", h.prev or "-"),
            ("created", h.to_dict()["created"]),
            ("count", str(h.count)),
            ("body", h.body),
            ("suite", h.suite),
            ("signer", h.signer),
            ("epoch", h.epoch or "-"),
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "id": self.header.id,
            "header": self.header.to_dict(),
            "operations": self.operations,
        }


def inspect_changeset(path: Path, limit: int) -> ChangeSetView:
    """Read a change-set's header and first ``limit`` operations, verifying nothing."""
    if not path.is_file():
        raise InputError(said("no_changeset_file", path=path))
    header, seal = changeset.read_header(path)
    operations = list(itertools.islice(changeset.iter_operations(path), max(limit, 0)))
    return ChangeSetView(path, header, seal.fingerprint, operations)


@dataclass(frozen=True)
class NodeStatus:
    """Who a node is and the state of its database."""

    code: str
    name: str
    role: str
    home: Path
    parent: NodeSpec | None
    children: list[NodeSpec]
    topology_name: str
    topology_size: int
    database_url: str
    schema_revision: str | None
    schema_head: str
    trust: keys.TrustStatus
    spool_bytes: int = 0
    """The size of the spool (what ``fiscalsync purge`` lets go of when it is old)."""
    alerts: list[Alert] = field(default_factory=list)
    """What needs an operator: parked, damaged, retrying and quarantined files (only
    known when the schema is up to date), then the trust store's (revocation list,
    certificate)."""

    def as_dict(self) -> dict[str, object]:
        def brief(n: NodeSpec) -> dict[str, str]:
            return {"code": n.code, "name": n.name, "role": n.role}

        return {
            "code": self.code,
            "name": self.name,
            "role": self.role,
            "home": str(self.home),
            "parent": brief(self.parent) if self.parent else None,
            "children": [brief(c) for c in self.children],
            "topology": {"name": self.topology_name, "nodes": self.topology_size},
            "database": {
                "url": self.database_url,
                "schema_revision": self.schema_revision,
                "schema_head": self.schema_head,
                "up_to_date": self.schema_revision == self.schema_head,
            },
            **self.trust.as_dict(),
            "spool_bytes": self.spool_bytes,
            "alerts": [alert.as_dict() for alert in self.alerts],
        }


def init_node(home: Path, code: str, topology_file: Path, database_url: str | None) -> NodeHome:
    """``fiscalsync init``: check the topology, then create the home whole."""
    topology = load_topology(topology_file)
    return create_home(home, topology, code, database_url)


class Node:
    """One node: its settings, its topology and its database engine."""

    def __init__(self, settings: Settings, topology: Topology, engine: Engine) -> None:
        self.settings = settings
        self.topology = topology
        self.engine = engine
        self.home = NodeHome(settings.home)
        self.spec = topology.node(settings.code)

    @classmethod
    def open(cls, home: Path, *, check_schema: bool = True) -> Node:
        """Open the node at ``home``; with ``check_schema`` the database must be current."""
        if not home.is_dir():
            raise HomeError(
                said("home_missing", home=home),
                hint=said("home_missing_hint"),
            )
        settings = load_settings(home)
        topology = load_topology(settings.topology)
        if settings.code not in topology:
            raise ConfigError(
                said("topology_lacks_node", topology=settings.topology, code=settings.code)
            )
        engine = open_engine(settings.database_url)
        try:
            if check_schema:
                migrate.check_schema(engine)
                cls._check_identity(engine, settings)
        except BaseException:
            engine.dispose()
            raise
        return cls(settings, topology, engine)

    @staticmethod
    def _check_identity(engine: Engine, settings: Settings) -> None:
        with reading(engine) as conn:
            stored = conn.execute(sa.select(tables.node_identity.c.code)).scalar_one_or_none()
        if stored != settings.code:
            raise HomeError(
                said(
                    "database_of_other_node",
                    url=redact(settings.database_url),
                    stored=stored,
                    code=settings.code,
                ),
                hint=said("database_of_other_node_hint"),
            )

    def adopt_topology(self, topology: Topology) -> None:
        """Follow ``topology`` from now on (a new version this node took or published)."""
        self.topology = topology
        self.spec = topology.node(self.settings.code)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Node:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def parent(self) -> NodeSpec | None:
        return self.topology.nodes[self.spec.parent] if self.spec.parent else None

    def status(self, clock: Clock = SYSTEM_CLOCK) -> NodeStatus:
        revision = migrate.current_revision(self.engine)
        head = migrate.head_revision()
        trust = keys.trust_status(self, clock)
        return NodeStatus(
            code=self.spec.code,
            name=self.spec.name,
            role=self.spec.role,
            home=self.settings.home,
            parent=self.parent,
            children=self.topology.children(self.spec.code),
            topology_name=self.topology.name,
            topology_size=len(self.topology),
            database_url=redact(self.settings.database_url),
            schema_revision=revision,
            schema_head=head,
            trust=trust,
            spool_bytes=retention.spool_bytes(self.home.spool),
            alerts=[
                *(alerts(self.engine, self.settings.time_zone) if revision == head else []),
                *(alert for source in ALERTS if revision == head for alert in source(self)),
                *(
                    Alert(kind, subject, detail)
                    for kind, subject, detail in (
                        keeper.status_alerts(self, clock) if revision == head else []
                    )
                ),
                *(Alert("trust", "keys", text) for text in trust.alerts),
            ],
        )

    def trust(self) -> TrustStore:
        """What this node trusts: its installed root certificate and revocation list."""
        return keys.trust_store(self.home)

    def verify_changeset(self, path: Path) -> Verified:
        """Verify a change-set addressed to this node, under this node's trust and policy."""
        if not path.is_file():
            raise InputError(said("no_changeset_file", path=path))
        return changeset.verify(
            path,
            self.trust(),
            recipient=self.spec.code,
            authorize=authorizer(self.topology),
            check_operations=True,
        )

    @property
    def spool(self) -> Spool:
        return Spool(self.home.spool).ensure()

    def broadcast(
        self,
        kind: str,
        operations: list[dict[str, Any]],
        *,
        also: Callable[[Connection], None] | None = None,
        exclude: frozenset[str] = frozenset(),
        clock: Clock = SYSTEM_CLOCK,
    ) -> list[WrittenChangeSet]:
        """Send the same operations to every other node, one signed change-set each.

        One transaction: ``also`` (this node's own change) and every outbox entry are
        committed together or not at all. Nodes in ``exclude`` (e.g. revoked ones, which
        could never sign a receipt) are left out. At the province the topology's version
        is locked first (:meth:`broadcast_in`): two broadcasts, or one and a change of
        the topology, each see what the other committed, ``also`` included.
        """
        with self.engine.begin() as conn:
            topology = self._current_topology(conn)
            if also is not None:
                also(conn)
            return self._broadcast(conn, topology, kind, operations, exclude, clock)

    def broadcast_in(
        self,
        conn: Connection,
        kind: str,
        operations: list[dict[str, Any]],
        *,
        exclude: frozenset[str] = frozenset(),
        clock: Clock = SYSTEM_CLOCK,
    ) -> list[WrittenChangeSet]:
        """:meth:`broadcast` in the caller's transaction.

        At the province, to every node of the topology the database holds, its version
        locked (as publishing one locks it): a node joining meanwhile either gets this
        change-set or, joining after it, every extension committed before. The topology
        this node was opened with may be older by then."""
        topology = self._current_topology(conn)
        return self._broadcast(conn, topology, kind, operations, exclude, clock)

    def _broadcast(
        self,
        conn: Connection,
        topology: Topology,
        kind: str,
        operations: list[dict[str, Any]],
        exclude: frozenset[str],
        clock: Clock,
    ) -> list[WrittenChangeSet]:
        """To every node of ``topology`` but this one and ``exclude``."""
        signer = load_signer(self.home.keys)
        spool = self.spool
        recipients = sorted(  # channel heads are locked in code order
            n.code for n in topology if n.code != self.spec.code and n.code not in exclude
        )
        for code in recipients:
            check_send(topology, self.spec.code, code, kind)
        return [enqueue(conn, spool, signer, code, kind, operations, clock) for code in recipients]

    def _current_topology(self, conn: Connection) -> Topology:
        """The topology as the province publishes it, in the caller's transaction (its
        version counter locked first); any other node's, as it was opened."""
        if self.spec.role != "province":
            return self.topology
        lock_scope(conn, VERSION_COUNTER, self.spec.code)
        held = conn.execute(sa.select(tables.topology_file.c.version, tables.topology_file.c.toml))
        row = held.first()
        if row is None or row.version == self.topology.version:
            return self.topology
        return parse_topology(row.toml, self.settings.topology)

    def outbox(self, *, include_acknowledged: bool = False) -> list[Any]:
        return waiting.pending_outbox(self.engine, include_acknowledged=include_acknowledged)

    def damaged_copies(self) -> dict[str, str]:
        """This node's own stored copies found damaged (never sent): file name → why."""
        failures = attempts.failures(self.engine)
        return {f.name: recalled(f.error, f.error_said) for f in failures if f.damaged}

    def waiting(self) -> list[waiting.Waiting]:
        return waiting.waiting(self.engine, self.spool, self.spec.code)

    def quarantined(self, *, include_closed: bool = False) -> list[Any]:
        return quarantine.entries(self.engine, include_closed=include_closed)

    def quarantine_entry(self, entry_id: int) -> Any:
        return quarantine.entry(self.engine, entry_id)

    def release(self, entry_id: int) -> Path:
        return quarantine.release(self.engine, self.spool, entry_id, SYSTEM_CLOCK)

    def drop(self, entry_id: int) -> None:
        quarantine.drop(self.engine, self.spool, entry_id, SYSTEM_CLOCK)

    def upgrade_database(self) -> tuple[str | None, str]:
        """Run pending migrations, and the capabilities' steps for the revisions passed,
        in one transaction, the network's suite recorded from the installed root first
        (:meth:`settle_suite`); return the revisions before and after."""
        before = migrate.current_revision(self.engine)
        known = before is not None and migrate.is_known_revision(before)  # else refused below
        passed = [
            step
            for step in UPGRADE_STEPS
            if known and str(before) < step.revision <= migrate.head_revision()
        ]

        suite = keys.installed_suite(self.home)

        def steps(conn: Connection) -> None:
            if suite is not None:
                settle_suite(conn, suite)
            for step in passed:
                step.run(conn, self.spec.code)

        after = migrate.upgrade(self.engine, after=steps)
        return before, after

    def settle_suite(self) -> bool:
        """Record the installed root's signature suite as the network's in the database
        (its digests recomputed if it was another); False when nothing changed, or no
        root is installed, or the database awaits ``db upgrade`` (which does it)."""
        suite = keys.installed_suite(self.home)
        if suite is None or migrate.current_revision(self.engine) != migrate.head_revision():
            return False
        with self.engine.begin() as conn:
            return settle_suite(conn, suite)
