"""Run the simulation by hand: ``python -m tests.sim --seeds 1000`` (``make sim SEEDS=1000``).

Seeds run in parallel, one worker per core, each worker with its own folder (on
``/dev/shm`` when there is one). Every failing seed is printed with the invariant it broke,
the step, the command that replays it, and, shrunk, the command that replays the fewest
steps found to break it still. The exit status is 1 when any seed failed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from .fingerprints import compare, keep
from .history import FAULTS
from .shrinking import shrink
from .simulation import Outcome, play, replay_command
from .world import DEFAULT_SHAPE, Shape

_root: Path | None = None  # made by the main process, removed when it ends


def _folder() -> Path:
    """This process's folder (a worker's own, below the main process's)."""
    assert _root is not None
    return _root / f"w{os.getpid()}"


def _run(job: tuple[int, argparse.Namespace]) -> tuple[Outcome, list[int] | None]:
    seed, args = job
    database = args.database
    if database is not None:  # each worker its own databases
        database = database.replace("{code}", f"w{os.getpid()}_{{code}}")
    keep = None if args.keep is None else [int(i) for i in args.keep.split(",") if i]
    outcome = play(
        _folder(),
        seed,
        args.steps,
        args.shape,
        args.faults,
        keep,
        database,
        args.log,
        shortest=args.shortest,
    )
    shrunk = None
    if outcome.failure is not None and not args.no_shrink:
        wanted = outcome.failure.invariant
        last = min(outcome.failure.index, max(keep) if keep else outcome.steps - 1)
        every = keep if keep is not None else list(range(last + 1))

        def fails(trial: list[int]) -> bool:
            again = play(
                _folder(),
                seed,
                args.steps,
                args.shape,
                args.faults,
                trial,
                database,
                shortest=args.shortest,
            )
            return again.failure is not None and again.failure.invariant == wanted

        shrunk = shrink([i for i in every if i <= last], fails, args.shrink_budget)
    return outcome, shrunk


def _faults(text: str) -> tuple[str, ...]:
    chosen = tuple(f for f in text.split(",") if f and f != "none")
    unknown = set(chosen) - set(FAULTS)
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown faults {sorted(unknown)}; known: {','.join(FAULTS)}"
        )
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sim", description=__doc__)
    parser.add_argument("--seed", type=int, help="run this one seed (with --log, step by step)")
    parser.add_argument("--seeds", type=int, default=100, help="how many seeds (default 100)")
    parser.add_argument("--first", type=int, default=1, help="the first seed (default 1)")
    parser.add_argument("--steps", type=int, default=150, help="steps per seed (default 150)")
    parser.add_argument(
        "--shortest",
        type=int,
        help="each seed draws its number of steps, from this many to --steps",
    )
    parser.add_argument(
        "--shape",
        type=Shape.parse,
        default=DEFAULT_SHAPE,
        help="cities x counties + direct counties (3x3+1)",
    )
    parser.add_argument(
        "--faults", type=_faults, default=FAULTS, help=f"which faults ({','.join(FAULTS)})"
    )
    parser.add_argument("--keep", help="play only these steps of the history (a shrunk replay)")
    parser.add_argument(
        "--order",
        choices=("up", "down", "shuffled"),
        default="up",
        help="the order seeds are played in (a seed's history must not depend on it)",
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel workers")
    parser.add_argument("--database", help="PostgreSQL URL template with {code} (default SQLite)")
    parser.add_argument("--log", action="store_true", help="print every step as it is played")
    parser.add_argument("--no-shrink", action="store_true", help="do not shrink failing seeds")
    parser.add_argument("--shrink-budget", type=int, default=150, help="runs a shrink may take")
    parser.add_argument(
        "--fingerprints",
        metavar="FILE",
        help="write one line per seed to FILE: seed, outcome, fingerprint of its history",
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar="FILE",
        help="compare two --fingerprints files seed by seed, and run nothing",
    )
    args = parser.parse_args(argv)
    if args.compare:
        return compare(Path(args.compare[0]), Path(args.compare[1]))
    seeds = (
        [args.seed] if args.seed is not None else list(range(args.first, args.first + args.seeds))
    )
    if args.order == "down":
        seeds.reverse()
    elif args.order == "shuffled":
        random.Random(len(seeds)).shuffle(seeds)
    jobs = [(seed, args) for seed in seeds]
    started = time.monotonic()
    failed = 0
    steps = 0
    played: Counter[str] = Counter()  # steps played, and what came of them, by kind
    lines: dict[int, str] = {}
    global _root
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    _root = Path(tempfile.mkdtemp(prefix="fiscalsync-sim-", dir=shm))
    if args.fingerprints:
        Path(args.fingerprints).write_text("", encoding="utf-8")
    try:
        if args.jobs > 1 and len(seeds) > 1:
            with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
                results = pool.imap_unordered(_run, jobs)
                for outcome, shrunk in results:
                    keep(lines, outcome, args.fingerprints)
                    steps += outcome.steps
                    played.update(outcome.counts)
                    failed += _report(outcome, shrunk, args)
        else:
            for job in jobs:
                outcome, shrunk = _run(job)
                keep(lines, outcome, args.fingerprints)
                steps += outcome.steps
                played.update(outcome.counts)
                failed += _report(outcome, shrunk, args)
    finally:
        shutil.rmtree(_root, ignore_errors=True)
        if args.fingerprints:
            text = "".join(lines[seed] + "\n" for seed in sorted(lines))
            Path(args.fingerprints).write_text(text, encoding="utf-8")
    minutes = (time.monotonic() - started) / 60
    if len(seeds) > 1:
        print("played: " + ", ".join(f"{kind} {n}" for kind, n in sorted(played.items())))
    print(
        f"{len(seeds)} seed(s), {steps} steps, {failed} failed, in {minutes * 60:.0f} s "
        f"({len(seeds) / max(minutes, 1e-9):.1f} seeds per minute, {min(args.jobs, len(seeds))} worker(s))"
    )
    return 1 if failed else 0


def _report(outcome: Outcome, shrunk: list[int] | None, args: argparse.Namespace) -> int:
    if outcome.failure is None:
        if args.seed is not None:
            print(
                f"seed {outcome.seed}: ok ({outcome.swarm}); quiet after {outcome.settle_rounds} round(s)"
            )
        return 0
    failure = outcome.failure
    print(
        f"FAIL seed {outcome.seed} ({outcome.swarm}): {failure.invariant} at step {failure.index} [{failure.step}]"
    )
    print(f"  {failure.detail.splitlines()[0] if failure.detail else ''}")
    if args.seed is not None and len(failure.detail.splitlines()) > 1:
        print("\n".join("  " + line for line in failure.detail.splitlines()[1:]))
    keep = None if args.keep is None else [int(i) for i in args.keep.split(",") if i]
    print(
        f"  replay: {replay_command(outcome.seed, args.steps, args.shape, args.faults, keep, args.shortest)}"
    )
    if shrunk is not None:
        print(
            f"  shrunk to {len(shrunk)} step(s): {replay_command(outcome.seed, args.steps, args.shape, args.faults, shrunk, args.shortest)}"
        )
    sys.stdout.flush()
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
