"""Benchmark: seeds of the simulation (tests/sim) per minute, its province on
``/dev/shm`` (memory: what ``make sim`` and the simulation's tests use) against a folder
on disk (the test suite's ``tmp_path``, as its tests used before), in the same run.

Run by hand (pytest never collects it)::

    .venv/bin/python tests/bench/bench_sim.py                  # seeds 1-4, 150 steps
    .venv/bin/python tests/bench/bench_sim.py --seeds 20 --steps 80
    .venv/bin/python tests/bench/bench_sim.py --seeds 10 --shortest 30   # as make sim-ci

With ``--against REV`` it compares this checkout with the code of another revision
instead, both provinces on ``/dev/shm``, each side in a process of its own (the other
revision in a ``git worktree`` made for the run), the seeds alternating between them::

    .venv/bin/python tests/bench/bench_sim.py --against 7415c52 --seeds 20 --shortest 30

``--against`` also takes a folder holding a checkout (``/work/main``): that one runs as
it is, with its own ``.venv`` when it has one.

The seeds run one after another in one process, each seed once per place, the two
places alternating, so that a machine busy with something else slows both alike. Each
place's template province is made once, before the clock starts. Printed: seconds per
place and seeds per minute, the CPU seconds a seed takes and what 500 seeds would take
on 2 cores doing nothing else (``make sim-ci``), and whether every seed gave the same
history in both (the fingerprint of every change-set queued and taken).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim import play  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--first", type=int, default=1)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--shortest", type=int, help="each seed draws its length from this")
    parser.add_argument("--disk", default=tempfile.gettempdir(), help="a folder on disk")
    parser.add_argument("--against", metavar="REV", help="compare with this git revision")
    args = parser.parse_args()
    if not Path("/dev/shm").is_dir():
        print("no /dev/shm here: nothing to compare")
        return 0
    if args.against:
        return _against(args)
    places = {
        "disk": Path(tempfile.mkdtemp(prefix="fiscalsync-bench-sim-", dir=args.disk)),
        "/dev/shm": Path(tempfile.mkdtemp(prefix="fiscalsync-bench-sim-", dir="/dev/shm")),
    }
    spent = dict.fromkeys(places, 0.0)
    cpu = dict.fromkeys(places, 0.0)
    same = True
    try:
        for base in places.values():
            play(base, 0, 0)  # the template province, made once per place
        for seed in range(args.first, args.first + args.seeds):
            prints = []
            for name, base in places.items():
                started, used = time.perf_counter(), time.process_time()
                outcome = play(base, seed, args.steps, shortest=args.shortest)
                spent[name] += time.perf_counter() - started
                cpu[name] += time.process_time() - used
                prints.append((outcome.fingerprint, outcome.failure is None))
            same = same and prints[0] == prints[1]
            print(f"seed {seed}: {'ok' if prints[0][1] else 'FAILED'}", flush=True)
    finally:
        for base in places.values():
            shutil.rmtree(base, ignore_errors=True)
    _table(
        f"{args.seeds} seed(s) of {args.steps} steps, one process, alternating",
        "province on",
        spent,
        cpu,
        args.seeds,
    )
    print(f"speed-up: {spent['disk'] / spent['/dev/shm']:.2f}x; same histories: {same}")
    return 0 if same else 1


def _table(
    title: str, what: str, spent: dict[str, float], cpu: dict[str, float], seeds: int
) -> None:
    """Seconds, seeds per minute, CPU seconds a seed, and what 500 seeds would take on
    2 cores doing nothing else (``make sim-ci``), for each side."""
    print(f"\n{title}")
    print(f"{what:<16}{'seconds':>10}{'seeds/min':>12}{'CPU s/seed':>12}{'500 on 2':>10}")
    for name, seconds in spent.items():
        per_seed = cpu[name] / seeds
        print(
            f"{name:<16}{seconds:>10.1f}{seeds / seconds * 60:>12.2f}{per_seed:>12.2f}"
            f"{500 * per_seed / 2 / 60:>9.1f}m"
        )


_RUNNER = """
import json, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path.cwd() / "tests"))
from sim import play
base = Path(tempfile.mkdtemp(prefix="fiscalsync-bench-sim-", dir="/dev/shm"))
play(base, 0, 0)
print("ready", flush=True)
for line in sys.stdin:
    seed, steps, shortest = json.loads(line)
    started, used = time.perf_counter(), time.process_time()
    outcome = play(base, seed, steps, shortest=shortest)
    print(json.dumps([time.perf_counter() - started, time.process_time() - used,
                      outcome.fingerprint, outcome.failure is None]), flush=True)
"""


def _against(args: argparse.Namespace) -> int:
    """This checkout against revision ``args.against``, each in its own process."""
    here = Path(__file__).resolve().parents[2]
    given = Path(args.against)
    if given.is_dir():  # a checkout already there, with its own venv if it has one
        other = given.resolve()
    else:
        other = Path(tempfile.mkdtemp(prefix="fiscalsync-bench-rev-"))
        subprocess.run(
            ["git", "-C", str(here), "worktree", "add", "--detach", str(other), args.against],
            check=True,
            capture_output=True,
        )
    sides = {"this checkout": here, args.against: other}
    spent = dict.fromkeys(sides, 0.0)
    cpu = dict.fromkeys(sides, 0.0)
    same = True
    runners = {}
    try:
        for name, root in sides.items():
            env = {**os.environ, "PYTHONPATH": str(root)}
            own = root / ".venv" / "bin" / "python"
            runners[name] = subprocess.Popen(
                [str(own) if own.exists() else sys.executable, "-c", _RUNNER],
                cwd=root,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert runners[name].stdout is not None
            runners[name].stdout.readline()  # its template province is made
        for seed in range(args.first, args.first + args.seeds):
            prints = []
            for name, runner in runners.items():
                assert runner.stdin is not None and runner.stdout is not None
                runner.stdin.write(json.dumps([seed, args.steps, args.shortest]) + "\n")
                runner.stdin.flush()
                wall, used, fingerprint, ok = json.loads(runner.stdout.readline())
                spent[name] += wall
                cpu[name] += used
                prints.append((fingerprint, ok))
            same = same and prints[0] == prints[1]
            print(f"seed {seed}: {'ok' if prints[0][1] else 'FAILED'}", flush=True)
    finally:
        for runner in runners.values():
            runner.kill()
        if other != given.resolve():
            subprocess.run(
                ["git", "-C", str(here), "worktree", "remove", "--force", str(other)],
                capture_output=True,
            )
    _table(
        f"{args.seeds} seed(s) of {args.steps} steps, two processes, alternating",
        "code",
        spent,
        cpu,
        args.seeds,
    )
    if not cpu[args.against] or not spent["this checkout"]:
        raise SystemExit("nothing was played: give --seeds 1 or more")
    base = spent[args.against]
    ratio = cpu["this checkout"] / cpu[args.against]
    print(
        f"speed-up: {base / spent['this checkout']:.2f}x; CPU this/other: {ratio:.3f}; "
        f"same histories: {same}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
