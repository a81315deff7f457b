"""Benchmark: full backup + restore of two checkouts of fiscalsync, turn about, on the
same node, against the database's own tools (``bench_backup.py``'s steps).

Run by hand (pytest never collects it)::

    .venv/bin/python tests/bench/bench_backup_against.py --before ../other-checkout
    .venv/bin/python tests/bench/bench_backup_against.py --before ../other --repeat 5 \\
        --events 200000 --incremental

One node of ``--events`` appropriation events is prepared once (``bench_backup``), then
each round runs, each in its own process: the database's own tools, one checkout's
``backup --full`` + ``restore`` and the other's, in turns (before then after, then
after then before), so that a machine doing other work weighs on both alike. A warm-up
round of each checkout comes first and is not counted: a node's first backup names its
chunks by SHA-256 until its keeper offers BLAKE3. With ``--incremental``, each checkout
also takes a backup, then another after 1 % more events, on a copy of its own.

Printed: the median of each figure (seconds, CPU seconds of the process and the tools
it ran, peak RSS), each checkout's ratio to the tools, and what the second backup ships.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_backup  # noqa: E402


def step(tree: Path, name: str, directory: Path, events: int) -> dict[str, Any]:
    """One step of ``bench_backup`` run by ``tree``'s own copy of it, on its own code."""
    out = subprocess.run(
        [
            sys.executable,
            str(tree / "tests" / "bench" / "bench_backup.py"),
            "--step",
            name,
            "--dir",
            str(directory),
            "--events",
            str(events),
        ],
        capture_output=True,
        text=True,
        cwd=tree,
        env=dict(os.environ, PYTHONPATH=str(tree)),
    )
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"{tree}: step {name} failed (exit {out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout")
    parser.add_argument("--after", type=Path, default=ROOT, help="this checkout by default")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--incremental", action="store_true")
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    with tempfile.TemporaryDirectory(prefix="fiscalsync-bench-") as scratch:
        base = Path(scratch)
        names = ["both"] + (["before-inc", "after-inc"] if args.incremental else [])
        try:
            for name in names:
                (base / name).mkdir()
                bench_backup.prepare(base / name, args.events, args.backend)
            shared = base / "both"
            for label, tree in trees.items():
                warm = step(tree, "ours", shared, args.events)
                print(f"warm-up {label}: {json.dumps(warm)}", file=sys.stderr)
            runs: dict[str, list[dict[str, Any]]] = {"tools": [], "before": [], "after": []}
            for turn in range(args.repeat):
                order = ("before", "after") if turn % 2 == 0 else ("after", "before")
                runs["tools"].append(step(trees["after"], "baseline", shared, args.events))
                for label in order:
                    runs[label].append(step(trees[label], "ours", shared, args.events))
                for label, done in runs.items():
                    print(f"{turn} {label}: {json.dumps(done[-1])}", file=sys.stderr)
            incremental = {
                label: step(tree, "incremental", base / f"{label}-inc", args.events)
                for label, tree in trees.items()
                if args.incremental
            }
        finally:
            for name in names:
                bench_backup.drop_all(base / name)
    print(f"\n{args.events:,} appropriation events, {args.backend}, median of {args.repeat}")
    print("| configuration | backup s | restore s | total s | CPU s | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    totals = {}
    for label, done in runs.items():
        wall = statistics.median(r["backup_s"] + r["restore_s"] for r in done)
        cpu = statistics.median(r["backup_cpu"] + r["restore_cpu"] for r in done)
        totals[label] = (wall, cpu)
        backed = statistics.median(r["backup_s"] for r in done)
        restored = statistics.median(r["restore_s"] for r in done)
        rss = statistics.median(r["rss_mb"] for r in done)
        print(f"| {label} | {backed:.2f} | {restored:.2f} | {wall:.2f} | {cpu:.2f} | {rss:.0f} |")
    for label in ("before", "after"):
        wall, cpu = totals[label]
        pairs = [
            (r["backup_s"] + r["restore_s"]) / (t["backup_s"] + t["restore_s"])
            for r, t in zip(runs[label], runs["tools"], strict=True)
        ]
        print(
            f"{label} / tools: {wall / totals['tools'][0]:.2f}x wall, "
            f"{cpu / totals['tools'][1]:.2f}x CPU (round by round: "
            f"{', '.join(f'{p:.2f}' for p in pairs)}); hash "
            f"{', '.join(str(r.get('hash')) for r in runs[label])}"
        )
    for label, inc in incremental.items():
        print(
            f"{label}: a second backup after +1 % events ships {inc['second_bytes'] / 1e6:.2f} "
            f"MB, {100 * inc['share']:.1f} % of the first's (peak RSS {inc['rss_mb']:.0f} MB)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
