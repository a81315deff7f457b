"""Benchmark: the hashes a backup names its chunks and objects by, SHA-256 against BLAKE3,
over what a backup of 1,000,000 events hashes: 318 MB in 16 KiB chunks (the plaintext,
for deduplication and the AEAD binding) and in 8 MiB packs (the objects' names).

Run by hand (pytest never collects it)::

    .venv/bin/python tests/bench/bench_backup_hashing.py --repeat 5

Each figure is the median of alternating runs, in CPU seconds (this process) and wall.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sync.backup import hashing  # noqa: E402
from sync.backup.chunks import FIXED  # noqa: E402
from sync.backup.manifest import PACK  # noqa: E402


def timed(
    digest: Callable[[memoryview], bytes], data: memoryview, size: int
) -> tuple[float, float]:
    """CPU and wall seconds to hash ``data`` in pieces of ``size`` bytes."""
    cpu, wall = time.process_time(), time.perf_counter()
    for at in range(0, len(data), size):
        digest(data[at : at + size])
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=318)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    data = memoryview(os.urandom(args.megabytes * 1024 * 1024))
    runs: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for _ in range(args.repeat):
        for size in (FIXED, PACK):
            for name in hashing.HASHES:
                figure = timed(hashing.digester(name), data, size)
                runs.setdefault((name, size), []).append(figure)
    print(f"{args.megabytes} MB, median of {args.repeat} alternating runs")
    print("| pieces | SHA-256 CPU s | BLAKE3 CPU s | SHA-256 wall s | BLAKE3 wall s |")
    print("|---|---|---|---|---|")
    for size, label in ((FIXED, "16 KiB chunks"), (PACK, "8 MiB packs")):
        cpu = [statistics.median(c for c, _w in runs[(n, size)]) for n in hashing.HASHES]
        wall = [statistics.median(w for _c, w in runs[(n, size)]) for n in hashing.HASHES]
        print(f"| {label} | {cpu[0]:.3f} | {cpu[1]:.3f} | {wall[0]:.3f} | {wall[1]:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
