"""A whole province on one machine: one node home per topology node, local transport.

This is the 地市级集中管理 model, where a data center hosts many nodes' agents, and
what tests, demos and benchmarks use. ``DIR/topology.toml`` is the topology with every
endpoint pointing at a local folder (``DIR/<code>/mailboxes``), and ``DIR/<code>/`` is
each node's home.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nodes.home import NodeHome, create_home
from nodes.topology import Endpoint, NodeSpec, Topology, load_topology
from schema.engine import drop_database, ensure_database
from sync.errors import HomeError, InputError

__all__ = ["Network", "init_network"]

TOPOLOGY_FILE = "topology.toml"


@dataclass(frozen=True)
class Network:
    """A province hosted in one folder."""

    path: Path
    topology: Topology
    homes: dict[str, NodeHome]


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
) -> Network:
    """Create every node of the topology under ``path``; all of it or nothing."""
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
        for spec in topology:
            url = database_url_for(db_url_template, spec.code)
            if url is not None and ensure_database(url):
                created.append(url)
            create_home(staging / spec.code, topology, spec.code, url)
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
