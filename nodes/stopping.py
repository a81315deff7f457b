"""The agent's stop: SIGTERM or SIGINT, whenever it comes, stops it once its running jobs
have finished; a second one stops it at once.

- The handlers of both signals do nothing. The interpreter writes each signal's number
  to a pipe (:func:`signal.set_wakeup_fd`), whichever thread the kernel gave it to, and
  the main thread waits on that pipe. Nothing is stopped inside a handler: a handler runs
  between two bytecodes of whatever the main thread was doing, and a stop takes locks
  (an executor's, the scheduler's) that the main thread may have been holding then.
- The running jobs are waited for in a thread of their own (:meth:`Stopping.finish`)
  while the main thread still reads the pipe: a second signal ends the process at once,
  by that signal's default action, its running job abandoned (a transaction is whole or
  not at all, and a change-set taken is taken again).
- A watched thread (the scheduler's own) that ends by an uncaught exception wakes the
  main thread too, so the agent stops, with an error, rather than look alive and run
  nothing.

The pipe is set before the handlers, and the handlers restored before the pipe, so that
no signal finds a handler without the pipe behind it.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

__all__ = ["STOP_SIGNALS", "Stopping"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

_DONE = 0
"""Written to the pipe when the running jobs have finished (no signal has number 0)."""
_ENDED = 255
"""Written to the pipe when a watched thread ended by an uncaught exception."""


class Stopping:
    """The stop of a process that runs jobs in other threads (see the module), set up
    while the ``with`` block runs: ``wait`` for the first signal, then ``finish``."""

    def __init__(self) -> None:
        self.ended: str | None = None
        """The name of the watched thread that ended by an exception, if one did."""
        self._watched: set[threading.Thread] = set()
        self._handlers: dict[int, Any] = {}
        self._hook = threading.excepthook
        self._wakeup: int | None = None
        """The wake-up fd before ours (-1: none), while ours is set."""
        self._read = self._write = -1

    def __enter__(self) -> Stopping:
        self._hook = threading.excepthook
        self._read, self._write = os.pipe()
        try:
            os.set_blocking(self._write, False)
            self._wakeup = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
            for sig in STOP_SIGNALS:
                self._handlers[sig] = signal.signal(sig, _noted)
            threading.excepthook = self._thread_ended
        except BaseException:
            self._restore()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._restore()

    def watch(self, threads: Iterable[threading.Thread]) -> None:
        """Stop (:meth:`wait` returns None) should one of ``threads`` end by an exception."""
        self._watched.update(threads)

    def wait(self) -> int | None:
        """The number of the first SIGTERM or SIGINT, waited for; None when a watched
        thread ended first (:attr:`ended` names it)."""
        got = self._next({*STOP_SIGNALS, _ENDED})
        return None if got == _ENDED else got

    def finish(self, work: Callable[[], None]) -> None:
        """Run ``work`` (the wait for the running jobs) in a thread of its own until it
        returns, or until a second signal ends the process at once."""

        def run() -> None:
            try:
                work()
            finally:
                os.write(self._write, bytes([_DONE]))

        threading.Thread(target=run, name="stopping", daemon=True).start()
        got = self._next({*STOP_SIGNALS, _DONE})
        if got != _DONE:
            signal.signal(got, signal.SIG_DFL)
            signal.raise_signal(got)

    def _next(self, wanted: set[int]) -> int:
        # A read that a signal interrupts is resumed (PEP 475) and finds its byte.
        while (got := os.read(self._read, 1)[0]) not in wanted:
            pass
        return got

    def _thread_ended(self, args: threading.ExceptHookArgs) -> None:
        self._hook(args)
        if args.thread in self._watched:
            self.ended = args.thread.name
            os.write(self._write, bytes([_ENDED]))

    def _restore(self) -> None:
        threading.excepthook = self._hook
        for sig, handler in self._handlers.items():
            signal.signal(sig, handler)
        self._handlers.clear()
        if self._wakeup is not None:
            signal.set_wakeup_fd(self._wakeup)
            self._wakeup = None
        if self._read != -1:
            os.close(self._read)
            os.close(self._write)
            self._read = self._write = -1


def _noted(_signum: int, _frame: object) -> None:
    """The handler of SIGTERM and SIGINT: nothing; the pipe has the signal."""
