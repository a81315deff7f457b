"""A transport wrapper that injects faults, for tests and simulations of a bad network.

The faults, and the call each one spoils:

=========  =========  ==========================================================
fault      call       effect
=========  =========  ==========================================================
DROP       publish    reports success but delivers nothing
TRUNCATE   publish    delivers only the first half of the file, under its name
CORRUPT    publish    delivers the file with one bit flipped
DUPLICATE  publish    delivers the file, then delivers it again once it has been
                      removed (a redelivery, seen by the first later call on that
                      folder that finds the name gone)
STALL      publish    waits ``stall_seconds``, then raises ``TransferFailed`` as a
                      watchdog would; nothing is delivered
STALL      fetch      the same; the first half of the file is left at the
                      destination's partial name, as a broken download leaves it
REORDER    list       returns the files out of name order
=========  =========  ==========================================================

Faults are chosen per call with :meth:`FaultyTransport.inject` (the next call a fault
fits takes it) or at random: ``FaultyTransport(inner, {Fault.DROP: 0.1}, seed=7)`` drops
one publication in ten, the same ones for the same seed. Every fault applied is
recorded in ``applied``. With no faults the wrapper is a plain pass-through.
"""

from __future__ import annotations

import builtins
import enum
import random
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sync.errors import TransferFailed
from sync.transports.base import Progress, RemoteFile, Transport, partial_path

__all__ = ["AppliedFault", "Fault", "FaultyTransport"]


class Fault(enum.StrEnum):
    """What can go wrong with a call."""

    DROP = "drop"
    TRUNCATE = "truncate"
    CORRUPT = "corrupt"
    DUPLICATE = "duplicate"
    STALL = "stall"
    REORDER = "reorder"


# Which faults each call can suffer, in the order their random draws are made.
PUBLISH_FAULTS = (Fault.STALL, Fault.DROP, Fault.TRUNCATE, Fault.CORRUPT, Fault.DUPLICATE)
FETCH_FAULTS = (Fault.STALL,)
LIST_FAULTS = (Fault.REORDER,)


@dataclass(frozen=True)
class AppliedFault:
    """A fault that spoiled a call (``name`` is empty for a listing)."""

    fault: Fault
    folder: str
    name: str


class FaultyTransport(Transport):
    """``inner``, with faults injected on demand or at the given per-call ``faults`` rates.

    ``seed`` makes the random faults (and the bit that ``CORRUPT`` flips, and the order
    ``REORDER`` gives) reproducible; ``sleep`` is injectable so that a ``STALL`` need
    not really wait. Closing the wrapper closes ``inner``.
    """

    def __init__(
        self,
        inner: Transport,
        faults: Mapping[Fault, float] | None = None,
        *,
        seed: int = 0,
        stall_seconds: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = inner
        self.rates = dict(faults or {})
        for fault, rate in self.rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"rate of {fault} must be between 0 and 1, not {rate}")
        self.rng = random.Random(seed)
        self.stall_seconds = stall_seconds
        self.sleep = sleep
        self.applied: builtins.list[AppliedFault] = []
        self._forced: builtins.list[Fault] = []
        self._redeliveries: dict[tuple[str, str], bytes] = {}

    def __repr__(self) -> str:
        return f"FaultyTransport({self.inner!r}, {self.rates!r})"

    def inject(self, *faults: Fault) -> None:
        """Make the next calls that each fault fits suffer it, in the order given."""
        self._forced.extend(faults)

    def forget(self) -> None:
        """Forget the faults injected and not yet suffered."""
        self._forced.clear()

    def _choose(self, fits: tuple[Fault, ...], folder: str, name: str) -> Fault | None:
        chosen = next((f for f in self._forced if f in fits), None)
        if chosen is not None:
            self._forced.remove(chosen)
        else:
            chosen = next(
                (f for f in fits if self.rates.get(f) and self.rng.random() < self.rates[f]),
                None,
            )
        if chosen is not None:
            self.applied.append(AppliedFault(chosen, folder, name))
        return chosen

    def _publish_bytes(self, folder: str, name: str, data: bytes) -> None:
        with tempfile.TemporaryDirectory(prefix="fiscalsync-faulty-") as scratch:
            copy = Path(scratch) / name
            copy.write_bytes(data)
            self.inner.publish(folder, name, copy)

    def _redeliver(self, folder: str) -> None:
        """Deliver again the duplicated files of ``folder`` whose original is gone."""
        waiting = [key for key in self._redeliveries if key[0] == folder]
        if not waiting:
            return
        present = {f.name for f in self.inner.list(folder)}
        for key in waiting:
            if key[1] not in present:
                self._publish_bytes(folder, key[1], self._redeliveries.pop(key))

    def _stall(self, folder: str, name: str) -> TransferFailed:
        self.sleep(self.stall_seconds)
        return TransferFailed(f"{folder}/{name}: no progress; transfer aborted (injected stall)")

    def publish(self, folder: str, name: str, source: Path) -> None:
        self._redeliver(folder)
        fault = self._choose(PUBLISH_FAULTS, folder, name)
        if fault is None:
            self.inner.publish(folder, name, source)
            return
        data = source.read_bytes()
        if fault is Fault.STALL:
            raise self._stall(folder, name)
        if fault is Fault.DROP:
            return
        if fault is Fault.TRUNCATE:
            data = data[: len(data) // 2]
        elif fault is Fault.CORRUPT and data:
            bit = self.rng.randrange(len(data) * 8)
            spoiled = bytearray(data)
            spoiled[bit // 8] ^= 1 << (bit % 8)
            data = bytes(spoiled)
        elif fault is Fault.DUPLICATE:
            self._redeliveries[(folder, name)] = data
        self._publish_bytes(folder, name, data)

    def list(self, folder: str) -> builtins.list[RemoteFile]:
        self._redeliver(folder)
        files = self.inner.list(folder)
        if len(files) > 1 and self._choose(LIST_FAULTS, folder, "") is Fault.REORDER:
            shuffled = files[:]
            self.rng.shuffle(shuffled)
            return shuffled if shuffled != files else files[::-1]
        return files

    def fetch(self, folder: str, name: str, dest: Path, progress: Progress | None = None) -> None:
        self._redeliver(folder)
        if self._choose(FETCH_FAULTS, folder, name) is None:
            self.inner.fetch(folder, name, dest, progress)
            return
        with tempfile.TemporaryDirectory(prefix="fiscalsync-faulty-") as scratch:
            whole = Path(scratch) / name
            self.inner.fetch(folder, name, whole)
            data = whole.read_bytes()
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial_path(dest).write_bytes(data[: len(data) // 2])
        raise self._stall(folder, name)

    def remove(self, folder: str, name: str) -> None:
        self._redeliver(folder)
        self.inner.remove(folder, name)

    def close(self) -> None:
        self.inner.close()
