"""A seed's fingerprint: what two plays of one seed must agree on, whatever the order the
seeds were played in, the worker that played them or the machine's load
(``python -m tests.sim --fingerprints FILE`` writes a line per seed, ``--compare A B``
compares two such files)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .invariants import Snapshot
    from .simulation import Outcome

__all__ = ["compare", "fingerprint", "keep", "line"]


def fingerprint(states: dict[str, Snapshot]) -> str:
    """What two plays of one history must agree on: every change-set each node queued and
    took, by channel and number, with its verdict."""
    seen = sorted(
        (code, kind, row.recipient if kind == "out" else row.origin, row.seq, row.kind, verdict)
        for code, state in states.items()
        for kind, rows in (("out", state.outbox), ("in", state.log))
        for row in rows.values()
        for verdict in [row.receipt_verdict if kind == "out" else row.verdict]
    )
    return hashlib.sha256(repr(seen).encode()).hexdigest()


def keep(lines: dict[int, str], outcome: Outcome, path: str | None) -> None:
    """Note ``outcome``'s line, and add it to the file at once (a run cut short keeps the
    seeds it played; the file is written again in seed order at the end)."""
    lines[outcome.seed] = line(outcome)
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(lines[outcome.seed] + "\n")


def line(outcome: Outcome) -> str:
    """``seed outcome fingerprint steps counts``: what two plays of one seed must agree on
    (the outcome is ``ok`` or the invariant broken; the counts are the steps played and
    what came of them, by kind, so a busy database or a crash shows)."""
    verdict = "ok" if outcome.failure is None else outcome.failure.invariant.replace(" ", "_")
    counts = ",".join(f"{kind.replace(' ', '_')}={n}" for kind, n in sorted(outcome.counts.items()))
    return f"{outcome.seed} {verdict} {outcome.fingerprint} {outcome.steps} {counts}"


def compare(first: Path, second: Path) -> int:
    """Compare two ``--fingerprints`` files: 0 when every seed both hold is the same."""
    runs = []
    for path in (first, second):
        lines = path.read_text(encoding="utf-8").splitlines()
        runs.append({line.split(" ", 1)[0]: line for line in lines if line})
    common = sorted(set(runs[0]) & set(runs[1]), key=int)
    differ = [seed for seed in common if runs[0][seed] != runs[1][seed]]
    for seed in differ:
        print(f"seed {seed} differs:\n  {first}: {runs[0][seed]}\n  {second}: {runs[1][seed]}")
    alone = len(set(runs[0]) ^ set(runs[1]))
    print(
        f"{len(common)} seed(s) in both, {len(common) - len(differ)} the same, "
        f"{len(differ)} different; {alone} in only one file"
    )
    return 1 if differ else 0
