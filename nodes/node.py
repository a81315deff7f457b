"""The Node facade: what the command line asks of one node home."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nodes.home import NodeHome, create_home
from nodes.settings import Settings, load_settings
from nodes.topology import NodeSpec, Topology, load_topology
from schema import migrate, tables
from schema.engine import open_engine, redact
from sync.errors import ConfigError, HomeError

__all__ = ["Node", "NodeStatus", "init_node"]


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
                f"node home {home} does not exist",
                hint="pass --home DIR or set FISCALSYNC_HOME; 'fiscalsync init' creates one",
            )
        settings = load_settings(home)
        topology = load_topology(settings.topology)
        if settings.code not in topology:
            raise ConfigError(f"{settings.topology} does not list this node ({settings.code})")
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
        with engine.connect() as conn:
            stored = conn.execute(sa.select(tables.node_identity.c.code)).scalar_one_or_none()
        if stored != settings.code:
            raise HomeError(
                f"the database at {redact(settings.database_url)} belongs to node {stored}, "
                f"not {settings.code}",
                hint="correct [database] url in node.toml",
            )

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

    def status(self) -> NodeStatus:
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
            schema_revision=migrate.current_revision(self.engine),
            schema_head=migrate.head_revision(),
        )

    def upgrade_database(self) -> tuple[str | None, str]:
        """Run pending migrations; return the revisions before and after."""
        before = migrate.current_revision(self.engine)
        after = migrate.upgrade(self.engine)
        return before, after
