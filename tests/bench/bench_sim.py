"""Benchmark: seeds of the simulation (tests/sim) per minute, with a node's tables read
again only when its database changed, against reading them after every step that may
have changed them (as the simulation did before), in the same run.

Run by hand (pytest never collects it)::

    .venv/bin/python tests/bench/bench_sim.py                  # seeds 1-6, 150 steps
    .venv/bin/python tests/bench/bench_sim.py --seeds 20 --steps 150

The seeds run one after another in one process, on ``/dev/shm`` when there is one (as
``make sim`` runs them), each seed once per configuration, the two configurations
alternating, so that a machine busy with something else slows both alike. The
template province is made once, before the clock starts. Printed: seconds per
configuration and seeds per minute, and whether every seed gave the same history
under both (the fingerprint of every change-set queued and taken).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim import play, simulation  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--first", type=int, default=1)
    parser.add_argument("--steps", type=int, default=150)
    args = parser.parse_args()
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    base = Path(tempfile.mkdtemp(prefix="fiscalsync-bench-sim-", dir=shm))
    try:
        play(base, 0, 0)  # the template province, made once
        spent = {"every step": 0.0, "when changed": 0.0}
        same = True
        for seed in range(args.first, args.first + args.seeds):
            prints = []
            for name, reuse in (("every step", False), ("when changed", True)):
                simulation.REUSE_UNCHANGED = reuse
                started = time.perf_counter()
                outcome = play(base, seed, args.steps)
                spent[name] += time.perf_counter() - started
                prints.append((outcome.fingerprint, outcome.failure is None))
            same = same and prints[0] == prints[1]
            print(f"seed {seed}: {prints[0][1] and 'ok' or 'FAILED'}", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"\n{args.seeds} seed(s) of {args.steps} steps, one process, alternating")
    print(f"{'tables read':<16}{'seconds':>10}{'seeds/min':>12}")
    for name, seconds in spent.items():
        print(f"{name:<16}{seconds:>10.1f}{args.seeds / seconds * 60:>12.2f}")
    print(f"speed-up: {spent['every step'] / spent['when changed']:.2f}x; same histories: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
