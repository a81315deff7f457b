"""Bounded retries around any transport, with exponential backoff and full jitter.

Every operation of the contract is safe to repeat: ``publish`` replaces a name with the
same bytes, ``fetch`` resumes from its partial file, ``remove`` is idempotent. So every
operation is retried on the two transient failures, ``TransportUnreachable`` and
``TransferFailed``. ``HostKeyRejected`` and ``RemoteFileMissing`` are answers, not
accidents, and are raised at once, as is anything else.

Before retry *n* (1, 2, ...) the wrapper sleeps a delay drawn uniformly from
``[0, min(max_delay, base_delay * 2 ** (n - 1))]`` ("full jitter", which spreads the
counties of a province that lost their parent at the same moment); with
``jitter=False`` it sleeps that upper bound exactly. After ``attempts`` tries the last
error is raised, with a note saying so.
"""

from __future__ import annotations

import builtins
import logging
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from sync.errors import TransferFailed, TransportUnreachable
from sync.transports.base import Progress, RemoteFile, Transport

__all__ = ["RETRIED", "RetryingTransport"]

log = logging.getLogger(__name__)

RETRIED = (TransportUnreachable, TransferFailed)
"""The errors worth another attempt."""

T = TypeVar("T")


class RetryingTransport(Transport):
    """``inner``, with each operation tried up to ``attempts`` times.

    ``sleep`` and ``rng`` are injectable so that tests and simulations do not wait and
    draw reproducible delays. Closing the wrapper closes ``inner``; an operation that fails
    once the wrapper is closed (another thread's, cut off by the close) is not tried
    again, which would connect anew.
    """

    def __init__(
        self,
        inner: Transport,
        *,
        attempts: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        jitter: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {attempts}")
        if base_delay < 0 or max_delay < 0:
            raise ValueError("delays cannot be negative")
        self.inner = inner
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.jitter = jitter
        self.sleep = sleep
        self.rng = rng if rng is not None else random.Random()
        self.closed = False

    def __repr__(self) -> str:
        return f"RetryingTransport({self.inner!r}, attempts={self.attempts})"

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return self.rng.uniform(0, ceiling) if self.jitter else ceiling

    def _call(self, what: str, operation: Callable[[], T]) -> T:
        attempt = 1
        while True:
            try:
                return operation()
            except RETRIED as exc:
                if self.closed:
                    raise
                if attempt >= self.attempts:
                    exc.add_note(f"gave up after {attempt} attempts")
                    raise
                pause = self.delay(attempt)
                log.warning(
                    "%s failed (%s); attempt %d of %d in %.1f s",
                    what,
                    exc,
                    attempt + 1,
                    self.attempts,
                    pause,
                )
                self.sleep(pause)
                if self.closed:
                    raise
                attempt += 1

    def publish(self, folder: str, name: str, source: Path) -> None:
        self._call(f"publish {folder}/{name}", lambda: self.inner.publish(folder, name, source))

    def list(self, folder: str) -> builtins.list[RemoteFile]:
        return self._call(f"list {folder}", lambda: self.inner.list(folder))

    def fetch(self, folder: str, name: str, dest: Path, progress: Progress | None = None) -> None:
        self._call(f"fetch {folder}/{name}", lambda: self.inner.fetch(folder, name, dest, progress))

    def publish_many(self, folder: str, files: Sequence[tuple[str, Path]]) -> None:
        self._call(
            f"publish {len(files)} file(s) to {folder}",
            lambda: self.inner.publish_many(folder, files),
        )

    def read(self, folder: str, name: str, limit: int) -> bytes:
        return self._call(f"read {folder}/{name}", lambda: self.inner.read(folder, name, limit))

    def remove(self, folder: str, name: str) -> None:
        self._call(f"remove {folder}/{name}", lambda: self.inner.remove(folder, name))

    def remove_many(self, folder: str, names: Sequence[str]) -> None:
        self._call(
            f"remove {len(names)} file(s) from {folder}",
            lambda: self.inner.remove_many(folder, names),
        )

    def close(self) -> None:
        self.closed = True
        self.inner.close()
