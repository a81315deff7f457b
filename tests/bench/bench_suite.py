"""Benchmark of the signature suites, Ed25519 and SM2 (国密), side by side; run by hand.

    .venv/bin/python tests/bench/bench_suite.py                 # sync of N = 100,000
    .venv/bin/python tests/bench/bench_suite.py --size 20000 --seconds 1

What is measured, in one run:

- **sign / verify per second** of a change-set header (its canonical bytes, ~330 bytes)
  under each suite: Ed25519 (``cryptography``) and SM2 with SM3 and the default
  identifier (``gmalglib``);
- **hash MB/s** of a 64 MB buffer, fed in 1 MB pieces as change-set bodies are: SHA-256
  (``hashlib``) against SM3 (``cryptography``);
- **sync**: the end-to-end flow of ``bench_sync.py`` (local folder, SQLite): the province
  enqueues one change-set of N ``issue`` operations for the county 410181, which fetches,
  verifies, applies and signs its receipt, which the province takes, on a demo network
  created on each suite (``network init --suite``). Each run is a fresh subprocess;
  the suites take turns (``--repeat`` rounds, the best time of each kept) so that a
  load that comes and goes on the machine does not fall on one suite only. The ratio
  SM2 / Ed25519 of the end-to-end time is printed (target: at most 1.3).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

SUITES = ("ed25519", "sm2")


def header_bytes() -> bytes:
    from sync.changeset import Header
    from sync.signing import get_suite

    suite = get_suite("sm2")
    return Header(
        origin="410000",
        recipient="410181",
        kind="appropriation",
        seq=42,
        prev="ab" * 32,
        created=datetime(2026, 11, 2, tzinfo=UTC),
        count=100_000,
        body="sm3:" + suite.digest(b"body"),
        suite="sm2",
        signer="cd" * 32,
    ).canonical()


def per_second(action: Any, seconds: float) -> float:
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            action()
        count += 50
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def bench_signatures(seconds: float) -> dict[str, tuple[float, float]]:
    from sync.signing import get_suite

    message = header_bytes()
    found = {}
    for name in SUITES:
        suite = get_suite(name)
        key = suite.generate_private_key()
        public = suite.public_key_of(key)
        signature = suite.sign(key, message)
        suite.verify(public, signature, message)
        signs = per_second(lambda s=suite, k=key: s.sign(k, message), seconds)
        verifies = per_second(
            lambda s=suite, p=public, g=signature: s.verify(p, g, message), seconds
        )
        found[name] = (signs, verifies)
    return found


def bench_hashes() -> dict[str, float]:
    from sync.signing import get_suite

    piece = os.urandom(1 << 20)
    found = {}
    for name in SUITES:
        suite = get_suite(name)
        best = float("inf")
        for _ in range(3):
            hasher = suite.new_hash()
            start = time.perf_counter()
            for _ in range(64):
                hasher.update(piece)
            hasher.hexdigest()
            best = min(best, time.perf_counter() - start)
        found[suite.hash_name] = 64 * 1.048576 / best
    return found


def worker(suite: str, size: int, workdir: Path, prefix: str, out: Path) -> None:
    """One end-to-end sync of ``bench_sync.py`` on a network created on ``suite``."""
    import bench_sync

    import nodes.network

    nodes.network.init_network = functools.partial(nodes.network.init_network, suite=suite)
    result = bench_sync.run_fiscalsync(size, "local", "sqlite", workdir, prefix, None)
    out.write_text(json.dumps(result))


def spawn(suite: str, size: int) -> dict[str, Any]:
    import shutil

    workdir = Path(tempfile.mkdtemp(prefix="fsbench-suite-"))
    out = workdir / "result.json"
    try:
        command = [sys.executable, __file__, "--worker", suite, "--size", str(size)]
        command += ["--workdir", str(workdir), "--out", str(out)]
        subprocess.run(command, check=True)
        result: dict[str, Any] = json.loads(out.read_text())
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="operations in the sync")
    parser.add_argument("--seconds", type=float, default=2.0, help="per signature measure")
    parser.add_argument("--repeat", type=int, default=2, help="sync runs of each suite")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.size, Path(args.workdir), "unused", Path(args.out))
        return

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
    signatures = bench_signatures(args.seconds)
    print(f"{'suite':<10}{'sign/s':>12}{'verify/s':>12}")
    for name, (signs, verifies) in signatures.items():
        print(f"{name:<10}{signs:>12,.0f}{verifies:>12,.0f}")
    hashes = bench_hashes()
    print(f"\n{'hash':<10}{'MB/s':>12}")
    for name, rate in hashes.items():
        print(f"{name:<10}{rate:>12,.0f}")
    print(
        f"\nsync of one change-set of {args.size:,} operations, local folder, SQLite "
        f"(best of {args.repeat}, suites taking turns)"
    )
    runs: dict[str, dict[str, Any]] = {}
    for _ in range(args.repeat):
        for name in SUITES:
            result = spawn(name, args.size)
            if name not in runs or result["seconds"] < runs[name]["seconds"]:
                runs[name] = result
    phases = list(next(iter(runs.values()))["phases"])
    print(f"{'':<12}" + "".join(f"{name:>12}" for name in SUITES))
    print(f"{'total s':<12}" + "".join(f"{runs[n]['seconds']:>12.2f}" for n in SUITES))
    for phase in phases:
        print(f"{phase:<12}" + "".join(f"{runs[n]['phases'][phase]:>12.2f}" for n in SUITES))
    print(f"{'ops/s':<12}" + "".join(f"{args.size / runs[n]['seconds']:>12,.0f}" for n in SUITES))
    print(f"{'peak RSS MB':<12}" + "".join(f"{runs[n]['rss_mb']:>12.0f}" for n in SUITES))
    ratio = runs["sm2"]["seconds"] / runs["ed25519"]["seconds"]
    print(f"\nsm2 / ed25519 end to end: {ratio:.2f}x (target: at most 1.30x)")


if __name__ == "__main__":
    main()
