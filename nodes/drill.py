"""``backup drill``: prove the node can be restored, and say how long it takes.

A drill takes a backup now (recording each table's digest inside its snapshot), ships
it, then restores it from the keeper's endpoint, as ``restore`` would on a fresh
machine, into a scratch database (a temporary SQLite file, or a new PostgreSQL
database beside the live one, dropped afterwards), compares it table by table with the
live database as the snapshot saw it, and runs the checks the capabilities register
(:data:`nodes.capabilities.DRILL_CHECKS`: the reconciliation digests against their
records). The restore time is the number an auditor asks for.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from nodes import backups
from nodes.capabilities import DRILL_CHECKS
from nodes.exchange import Exchange, open_transport
from nodes.labels import said
from nodes.restore_objects import Fetcher, load_database, object_hashes
from schema import snapshot
from schema.engine import drop_database, ensure_database, open_engine, sqlite_url
from sync.backup import envelope, keys
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import ConfigError, TransportError

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = ["Drill", "drill"]


@dataclass
class Drill:
    """What a drill found."""

    number: int
    backup_seconds: float
    restore_seconds: float
    bytes: int
    tables: int
    differences: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.differences


def drill(
    node: Node, clock: Clock = SYSTEM_CLOCK, progress: Callable[[int], None] | None = None
) -> Drill:
    """Back up, restore into scratch, compare; see the module."""
    taken = backups.take_backup(node, digests=True, clock=clock, progress=progress)
    with contextlib.ExitStack() as stack:  # undone in reverse, whatever happens
        exchange = Exchange(node, clock)
        stack.callback(exchange.close)
        left, why = backups.upload(node, exchange.backup_way())
        if left:
            raise TransportError(said("drill_not_shipped", why=why))
        keeper = node.topology.node(taken.keeper)
        if keeper.endpoint is None:
            raise ConfigError(said("drill_no_endpoint", code=keeper.code))
        found = backups.last_manifest(node)
        assert found is not None
        read = found[1]
        own = keys.load_backup_key(node.home.keys / keys.BACKUP_KEY)
        data_keys = {
            bytes.fromhex(name): envelope.unwrap(
                bytes.fromhex(name), wraps, own, read.manifest.cipher
            )
            for name, wraps in read.manifest.keys.items()
        }
        index = read.index(data_keys)
        # Closed whatever happens: a fetch still under way when the drill fails is cut off.
        transport = stack.enter_context(
            open_transport(keeper.endpoint, node.home.keys, node.spec.code)
        )
        pickup = (exchange.local, f"{keeper.code}/{backups.PICKUP}") if exchange.local else None
        started = time.perf_counter()
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fiscalsync-drill-")))
        fetcher = Fetcher(
            transport,
            node.spec.code,
            data_keys,
            work,
            progress=None,
            also=pickup,
            hashes=object_hashes(read),
        )
        if node.engine.dialect.name == "postgresql":
            url = node.engine.url.set(
                database=f"{node.engine.url.database}_drill_{uuid.uuid4().hex[:8]}"
            )
            target = url.render_as_string(hide_password=False)
            ensure_database(target)
            stack.callback(drop_database, target)
        else:
            target = sqlite_url(work / "drill.db")
        with fetcher:
            load_database(read.manifest.backend, read.manifest.schema, index, fetcher, target)
            fetcher.finish()
        seconds = time.perf_counter() - started
        restored, findings = _read_back(target, node.spec.code)
    differences = [
        f"table {name}: the restored rows differ from the live ones at the snapshot"
        for name, digest in taken.digests.items()
        if restored.get(name) != digest
    ]
    return Drill(
        number=taken.number,
        backup_seconds=taken.seconds,
        restore_seconds=seconds,
        bytes=fetcher.bytes,
        tables=len(taken.digests),
        differences=differences + findings,
    )


def _read_back(target: str, code: str) -> tuple[dict[str, str], list[str]]:
    """The table digests of the restored database at ``target``, and what the drill's
    checks find in it."""
    engine = open_engine(target)
    try:
        if engine.dialect.name == "postgresql":
            _snap, restored = snapshot.export_postgresql(
                engine, code, lambda _t: _Null(), digests=True
            )
        else:
            with engine.connect() as conn:
                restored = snapshot.table_digests(conn)
        with engine.connect() as conn:
            findings = [p for check in DRILL_CHECKS for p in check(conn, code)]
            conn.execute(sa.text("SELECT 1"))
        return restored, findings
    finally:
        engine.dispose()


class _Null:
    def write(self, data: bytes) -> int:
        return len(data)
