"""``fiscalsync demo``: the product's main job on the demo province, on SQLite."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import config
from nodes.network import Network, init_network
from nodes.topology import NodeSpec

__all__ = ["DEMO_TOPOLOGY", "DemoResult", "run_demo"]

DEMO_TOPOLOGY = config.TOPOLOGIES / "demo.toml"


@dataclass(frozen=True)
class DemoResult:
    network: Network
    seconds: float


def run_demo(path: Path | None, progress: Callable[[NodeSpec], None] | None = None) -> DemoResult:
    """Build the demo province under ``path`` (a new temporary folder when None)."""
    started = time.monotonic()
    if path is None:
        path = Path(tempfile.mkdtemp(prefix="fiscalsync-demo-")) / "province"
    network = init_network(path, DEMO_TOPOLOGY, progress=progress)
    return DemoResult(network, time.monotonic() - started)
