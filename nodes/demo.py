"""``fiscalsync demo``: the product's main job on the demo province, on SQLite."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import config
from nodes.codes import import_codes
from nodes.network import Network, NetworkSync, init_network, sync_network
from nodes.node import Node
from nodes.topology import NodeSpec

__all__ = ["DEMO_TOPOLOGY", "DemoResult", "run_demo"]

DEMO_TOPOLOGY = config.TOPOLOGIES / "demo.toml"
DEMO_CODES = config.DIR / "demo" / "code-extensions.csv"


@dataclass(frozen=True)
class DemoResult:
    network: Network
    codes: int
    changesets: int
    sync: NetworkSync
    acknowledged: list[tuple[str, str, int, str]]
    seconds: float


def run_demo(path: Path | None, progress: Callable[[NodeSpec], None] | None = None) -> DemoResult:
    """Build the demo province under ``path`` (a new temporary folder when None), have
    the province send its code-set extensions to every node as signed change-sets, sync
    until every receipt is back, and report what the province sees."""
    started = time.monotonic()
    if path is None:
        path = Path(tempfile.mkdtemp(prefix="fiscalsync-demo-")) / "province"
    network = init_network(path, DEMO_TOPOLOGY, progress=progress)
    province = network.homes[network.topology.province.code].path
    with Node.open(province) as node:
        codes, changesets = import_codes(node, DEMO_CODES)
    synced = sync_network(path, until_quiet=True)
    with Node.open(province) as node:
        acknowledged = [
            (e.recipient, e.kind, e.seq, e.receipt_verdict or "pending")
            for e in node.outbox(include_acknowledged=True)
        ]
    return DemoResult(network, codes, changesets, synced, acknowledged, time.monotonic() - started)
