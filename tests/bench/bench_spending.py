"""Benchmark: recording spending against every appropriation held, at every node of a kept
province (``bench_fiscal.py --keep``), this checkout against a baseline checkout.

Run by hand (pytest never collects it)::

    .venv/bin/python tests/bench/bench_fiscal.py --lines 20000 --keep /tmp/henan
    .venv/bin/python tests/bench/bench_spending.py /tmp/henan/henan --baseline ../main

Each run works on a fresh copy of the province: at every node but the center, it lists
what the node received (``holdings``) and records one entry of 1 fen against each
appropriation of which 2 fen or more is available (``ledger.record``, one batch a node).
Runs alternate between the baseline's code and this checkout's (``--runs`` of each, in
separate processes: the machine's noise is shared); printed is each run's CPU time
(this process's user + system) of ``ledger.record`` and of ``holdings``, summed over the
nodes, and the entries recorded.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]


def measure(province: Path) -> dict[str, float]:
    """Record the spending at every node of ``province`` (which it changes)."""
    from nodes.fiscal import appropriations, ledger
    from nodes.node import Node

    recording = listing = 0.0
    entries = 0
    for home in sorted(p for p in province.iterdir() if (p / "node.toml").exists()):
        with Node.open(home) as node:
            if node.spec.role == "center":
                continue
            started = time.process_time()
            held = appropriations.holdings(node, issued=False, year=2026)
            listing += time.process_time() - started
            book = [
                ledger.Entry(
                    date(2026, 10, 1 + number % 28),
                    "expenditure",
                    h.func_code,
                    1,
                    appropriation_id=h.id,
                )
                for number, h in enumerate(held)
                if h.available_fen >= 2
            ]
            if book:
                started = time.process_time()
                entries += ledger.record(node, book, actor="bench")
                recording += time.process_time() - started
    return {"record": recording, "holdings": listing, "entries": entries}


def run(code: Path, province: Path) -> dict[str, float]:
    """:func:`measure` with ``code`` first on the path, on a copy of ``province``."""
    with tempfile.TemporaryDirectory(prefix="fiscalsync-spending-") as scratch:
        copy = Path(scratch) / "henan"
        shutil.copytree(province, copy, symlinks=True)
        out = subprocess.run(
            [sys.executable, __file__, str(copy), "--measure"],
            env={"PYTHONPATH": str(code), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return dict(json.loads(out.splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("province", type=Path, help="a province kept by bench_fiscal.py")
    parser.add_argument("--baseline", type=Path, help="a checkout to compare with")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.province)))
        return 0
    codes = [("this", HERE)]
    if args.baseline is not None:
        codes.insert(0, ("baseline", args.baseline.resolve()))
    for number in range(args.runs):
        for name, code in codes:
            got = run(code, args.province)
            print(
                f"  run {number + 1} {name:<9} ledger.record {got['record']:6.2f} s cpu"
                f"  holdings {got['holdings']:6.2f} s cpu  ({int(got['entries']):,} entries)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
