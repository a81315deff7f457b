"""Benchmark: peak memory of the commands that handle every row, on any number of rows.

Run by hand (pytest never collects it)::

    .venv/bin/python tests/bench/bench_memory.py                  # N = 100,000 lines
    .venv/bin/python tests/bench/bench_memory.py --lines 1000000

On a ``network init`` of the demo topology (SQLite), the province runs, each in a fresh
interpreter of its own:

1. ``fiscalsync allocate --file batch.csv``: N lines of varied recipients (cities and
   counties, so that information copies go to the cities too), functional and economic
   codes, 文号 of the enforced form ``<简称><kind>〔YYYY〕N号`` and amounts;
2. ``fiscalsync appropriations --issued --format json -o issued.json``: the N rows;
3. the same listing as CSV and as XLSX.

Each command's peak is its own high-water mark (``VmHWM`` of ``/proc/self/status``, read
by the command's interpreter as it exits: ``ru_maxrss`` of a child would start from the
parent's RSS at the fork). Printed beside them, measured in the same run: the floor, the
same interpreter importing the command line and exiting (``fiscalsync --help``), and the
size of the data the command handled. Target: every command under 300 MB at 1,000,000.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import config

DEMO = config.TOPOLOGIES / "demo.toml"
PROVINCE = "410000"
TARGET_MB = 300
RECIPIENTS = ("410100", "410300", "410181", "410102", "410122", "410322")
KINDS = ("预", "教", "社", "农")
ECON = ("50201", "50299", "51301", "50501")

# Runs a command line in this interpreter and reports its own peak RSS as it exits.
RUNNER = """
import atexit, sys
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write("VMHWM_KB " + line.split()[1] + "\\n")
atexit.register(peak)
from cli import cli
cli(sys.argv[1:], prog_name="fiscalsync")
"""


def functional_codes() -> list[str]:
    with (config.CODESETS / "2026" / "func.csv").open(encoding="utf-8") as handle:
        return [r["code"] for r in csv.DictReader(handle) if len(r["code"]) == 7]


def write_batch(path: Path, lines: int) -> None:
    funcs = functional_codes()
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["recipient", "amount", "func", "econ", "fund", "doc", "title", "year"])
        for n in range(lines):
            out.writerow(
                [
                    RECIPIENTS[n % len(RECIPIENTS)],
                    f"{1 + (n * 7919) % 9_999_999}.{n % 100:02d}",
                    funcs[(n * 31) % len(funcs)],
                    ECON[n % len(ECON)],
                    "111",
                    f"豫财{KINDS[n % len(KINDS)]}〔2026〕{1 + n // 5 % 999_999}号",
                    f"转移支付第{n}项",
                    2026,
                ]
            )


def run(home: Path, *args: str) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one command in a fresh interpreter."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, "--home", str(home), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr[-2000:]}")
    peak = [line for line in done.stderr.splitlines() if line.startswith("VMHWM_KB ")]
    return seconds, int(peak[-1].split()[1]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="work here and keep it")
    parser.add_argument("--formats", default="json,csv,xlsx", help="listing formats to run")
    args = parser.parse_args()
    from nodes.network import init_network

    base = args.keep or Path(tempfile.mkdtemp(prefix="fiscalsync-bench-memory-"))
    try:
        network = init_network(base / "province", DEMO)
        home = network.path / PROVINCE
        batch = base / "batch.csv"
        write_batch(batch, args.lines)
        n = args.lines
        print(f"Peak memory of commands over {n:,} rows (SQLite, demo province), own VmHWM")
        rows = [("fiscalsync --help (the floor: interpreter and imports)", *run(home, "--help"))]
        rows.append(
            (
                f"allocate --file ({batch.stat().st_size / 1e6:.0f} MB of CSV)",
                *run(home, "allocate", "--file", str(batch), "--year", "2026"),
            )
        )
        for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
            out = base / f"issued.{fmt}"
            seconds, peak = run(home, "appropriations", "--issued", "--format", fmt, "-o", str(out))
            label = f"appropriations --issued --format {fmt} ({out.stat().st_size / 1e6:.0f} MB)"
            rows.append((label, seconds, peak))
            if fmt == "json":
                records = json.loads(out.read_text(encoding="utf-8"))
                if len(records) != n:
                    raise SystemExit(f"the listing holds {len(records)} rows, not {n}")
                del records
        print(f"  {'command':62} {'seconds':>8} {'peak RSS':>10}")
        for label, seconds, peak in rows:
            print(f"  {label:62} {seconds:8.1f} {peak:7.0f} MB")
        worst = max(peak for _, _, peak in rows[1:])
        verdict = "met" if worst < TARGET_MB else "MISSED"
        at = "" if n >= 1_000_000 else " (the target is for 1,000,000 rows)"
        print(f"  every command under {TARGET_MB} MB{at}: {verdict} (worst {worst:.0f} MB)")
        return 0
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
