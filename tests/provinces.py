"""Test provinces made once and copied: ``provinces.make(path, topology, db_template, ...)``.

``network init`` of the demo province is the costliest set-up of the suite, most of all on
PostgreSQL (eight databases, each created and built). A test gets exactly what ``init_network``
would give it: the first request of each kind (topology, backend, suite, clock) runs the real
``init_network`` into a template folder, and every request copies that folder (and, on
PostgreSQL, clones its databases with ``CREATE DATABASE … TEMPLATE``), then writes the new
folder's paths where a province keeps them: the topology files, each database's
``topology_node`` endpoints, ``topology_file`` and ``node_identity.topology_sha256``, and
the database URLs in ``node.toml``. What differs from a fresh ``init_network`` is only that the keys and the
certificates' serial numbers are the same in every copy, which no test compares across
provinces.

A clock other than the system clock or a :class:`FixedClock` gets a real ``init_network``
every time (its readings cannot be repeated).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from nodes.home import NodeHome
from nodes.network import TOPOLOGY_FILE, Network, database_url_for, init_network
from nodes.topology import load_topology
from schema import tables
from schema.engine import drop_database, open_engine, parse_url, sqlite_url
from sync.clock import SYSTEM_CLOCK, Clock, FixedClock
from sync.signing import DEFAULT_SUITE

__all__ = ["make"]

_ROOT = Path(tempfile.mkdtemp(prefix="fiscalsync-provinces-"))
_FOLDER = "province"


class _Template:
    def __init__(self, path: Path, db_template: str | None) -> None:
        self.path = path
        self.db_template = db_template


_templates: dict[tuple[str, str | None, str, datetime | None], _Template] = {}


def make(
    path: Path,
    topology_file: Path,
    db_url_template: str | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
    suite: str = DEFAULT_SUITE,
) -> Network:
    """The province ``init_network(path, topology_file, db_url_template, clock=, suite=)``
    would make, copied from a template made once per process."""
    if clock is SYSTEM_CLOCK:
        moment = None
    elif isinstance(clock, FixedClock):
        moment = clock.now()
    else:
        return init_network(path, topology_file, db_url_template, clock=clock, suite=suite)
    backend = None if db_url_template is None else parse_url(db_url_template).drivername
    key = (str(topology_file.resolve()), backend, suite, moment)
    template = _templates.get(key)
    if template is None:
        template = _make_template(topology_file, db_url_template, clock, suite)
        _templates[key] = template
    return _copy(template, path.resolve(), db_url_template)


def _make_template(
    topology_file: Path, db_url_template: str | None, clock: Clock, suite: str
) -> _Template:
    folder = _ROOT / uuid.uuid4().hex[:12]
    db_template = None
    if db_url_template is not None:
        base = db_url_template.rsplit("/", 1)[0]
        db_template = f"{base}/fst_tpl_{uuid.uuid4().hex[:12]}_{{code}}"
    network = init_network(folder / _FOLDER, topology_file, db_template, clock=clock, suite=suite)
    if db_template is not None:
        urls = [database_url_for(db_template, code) for code in network.homes]
        atexit.register(_drop, [u for u in urls if u is not None])
    return _Template(network.path, db_template)


def _drop(urls: list[str]) -> None:
    for url in urls:
        try:
            drop_database(url)
        except Exception:  # the server may be gone at exit; its cluster is thrown away
            pass


def _copy(template: _Template, path: Path, db_url_template: str | None) -> Network:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(f"{path} is not empty")
    if path.exists():
        path.rmdir()
    shutil.copytree(template.path, path, symlinks=True)
    old, new = str(template.path), str(path)
    for file in [path / TOPOLOGY_FILE, *path.glob(f"*/{TOPOLOGY_FILE}")]:
        file.write_text(file.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    topology = load_topology(path / TOPOLOGY_FILE)
    urls = {spec.code: sqlite_url(path / spec.code / "node.db") for spec in topology}
    if template.db_template is not None and db_url_template is not None:
        pairs = {
            code: (
                database_url_for(template.db_template, code),
                database_url_for(db_url_template, code),
            )
            for code in urls
        }
        _clone_databases([(str(a), str(b)) for a, b in pairs.values()])
        for code, (source, target) in pairs.items():
            assert source is not None and target is not None
            settings = NodeHome(path / code).settings_file
            text = settings.read_text(encoding="utf-8")
            settings.write_text(text.replace(source, target), encoding="utf-8")
            urls[code] = target
    for url in urls.values():
        _rewrite_paths(url, old, new, topology.sha256())
    return Network(path, topology, {n.code: NodeHome(path / n.code) for n in topology})


def _clone_databases(pairs: list[tuple[str, str]]) -> None:
    """``CREATE DATABASE target TEMPLATE source`` for each pair, by file copy (quicker than
    PostgreSQL 15's default for a database this small)."""
    admin = sa.create_engine(
        parse_url(pairs[0][1]).set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        poolclass=sa.pool.NullPool,
    )
    try:
        with admin.connect() as conn:
            for source, target in pairs:
                conn.exec_driver_sql(
                    f'CREATE DATABASE "{parse_url(target).database}" '
                    f'TEMPLATE "{parse_url(source).database}" STRATEGY FILE_COPY'
                )
    finally:
        admin.dispose()


def _rewrite_paths(url: str, old: str, new: str, topology_sha256: str) -> None:
    engine = open_engine(url)
    try:
        with engine.begin() as conn:
            endpoint = tables.topology_node.c.endpoint
            conn.execute(
                tables.topology_node.update()
                .where(endpoint.is_not(None))
                .values(endpoint=sa.func.replace(endpoint, old, new))
            )
            conn.execute(tables.node_identity.update().values(topology_sha256=topology_sha256))
            toml = tables.topology_file.c.toml
            conn.execute(tables.topology_file.update().values(toml=sa.func.replace(toml, old, new)))
    finally:
        engine.dispose()
