"""A failing history made short: steps dropped while the same invariant still breaks.

Delta debugging by hand (a history is a list of plain steps, any sub-sequence of which is
a history, see :mod:`.history`): drop chunks of half the steps, then quarters, and so
on down to single steps, keeping every drop after which the run still breaks the same
invariant, within a budget of runs. What is left is replayed with ``--keep``.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["shrink"]


def shrink(steps: list[int], fails: Callable[[list[int]], bool], budget: int = 200) -> list[int]:
    """The shortest sub-list of ``steps`` found for which ``fails`` is still true."""
    kept = list(steps)
    runs = 0
    chunk = max(len(kept) // 2, 1)
    while chunk >= 1 and runs < budget:
        start = 0
        dropped = False
        while start < len(kept) and runs < budget:
            trial = kept[:start] + kept[start + chunk :]
            runs += 1
            if trial and fails(trial):
                kept = trial
                dropped = True
            else:
                start += chunk
        if not dropped:
            chunk //= 2
    return kept
