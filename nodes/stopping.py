"""The agent's stop: SIGTERM, SIGINT or SIGHUP, whenever it comes, stops it once its
running jobs have finished; a second one stops it at once. (SIGHUP is what a closed
terminal or a dropped ssh session sends: by default it ended the agent in the middle of
a round. An agent hosting many homes blocks it in every thread and waits for it to scan
its folders again, :mod:`nodes.hosting`: there it never reaches these handlers.)

- The handlers of both signals do nothing. The interpreter writes each signal's number
  to a pipe (:func:`signal.set_wakeup_fd`), whichever thread the kernel gave it to, and
  the main thread waits on that pipe. Nothing is stopped inside a handler: a handler runs
  between two bytecodes of whatever the main thread was doing, and a stop takes locks
  (an executor's, the scheduler's) that the main thread may have been holding then.
- The running jobs are waited for in a thread of their own (:meth:`Stopping.finish`)
  while the main thread still reads the pipe: a second signal ends the process at once,
  by that signal's default action, its running job abandoned (a transaction is whole or
  not at all, and a change-set taken is taken again).
- A thread that must not end (the scheduler's own) tells :meth:`Stopping.thread_ended`
  when it ends by an exception: that wakes the main thread too, so the agent stops,
  with an error, rather than look alive and run nothing.

The pipe is set before the handlers, and the handlers restored before the pipe, so that
no signal finds a handler without the pipe behind it.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["STOP_SIGNALS", "Stopping"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

_DONE = 0
"""Written to the pipe when the running jobs have finished (no signal has number 0)."""
_ENDED = 255
"""Written to the pipe when a thread that must not end ended by an exception."""


class Stopping:
    """The stop of a process that runs jobs in other threads (see the module), set up
    while the ``with`` block runs: ``wait`` for the first signal, then ``finish``."""

    def __init__(self) -> None:
        self.ended: str | None = None
        """The name of the thread that ended by an exception (:meth:`thread_ended`)."""
        self._handlers: dict[int, Any] = {}
        self._wakeup: int | None = None
        """The wake-up fd before ours (-1: none), while ours is set."""
        self._read = self._write = -1
        self._closing = threading.Lock()
        """Held to write to the pipe from another thread, and to close it."""

    def __enter__(self) -> Stopping:
        self._read, self._write = os.pipe()
        try:
            os.set_blocking(self._write, False)
            self._wakeup = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
            for sig in STOP_SIGNALS:
                self._handlers[sig] = signal.signal(sig, _noted)
        except BaseException:
            self._restore()
            raise
        return self

    def __exit__(self, *_raised: object) -> None:
        self._restore()

    def thread_ended(self, name: str) -> None:
        """Thread ``name``, which must not end, is ending by an exception: wake the
        main thread (:meth:`wait` returns None). Called in that thread."""
        self.ended = name
        self._tell(_ENDED)

    def wait(self) -> int | None:
        """The number of the first stop signal, waited for; None when a thread that must
        not end ended first (:attr:`ended` names it)."""
        got = self._next({*STOP_SIGNALS, _ENDED})
        return None if got == _ENDED else got

    def finish(self, work: Callable[[], None]) -> None:
        """Run ``work`` (the wait for the running jobs) in a thread of its own until it
        returns, or until a second signal ends the process at once."""

        def run() -> None:
            try:
                work()
            finally:
                self._tell(_DONE)

        threading.Thread(target=run, name="stopping", daemon=True).start()
        got = self._next({*STOP_SIGNALS, _DONE})
        if got != _DONE:
            signal.signal(got, signal.SIG_DFL)
            signal.raise_signal(got)
            os._exit(128 + got)  # where the default action does not end it (process 1)

    def _tell(self, what: int) -> None:
        with self._closing:
            if self._write != -1:  # else the stop is over: nobody reads
                os.write(self._write, bytes([what]))

    def _next(self, wanted: set[int]) -> int:
        # A read that a signal interrupts is resumed (PEP 475) and finds its byte.
        while (got := os.read(self._read, 1)[0]) not in wanted:
            pass
        return got

    def _restore(self) -> None:
        for sig, handler in self._handlers.items():
            signal.signal(sig, handler)
        self._handlers.clear()
        if self._wakeup is not None:
            signal.set_wakeup_fd(self._wakeup)
            self._wakeup = None
        with self._closing:
            if self._read != -1:
                os.close(self._read)
                os.close(self._write)
                self._read = self._write = -1


def _noted(_signum: int, _frame: object) -> None:
    """The handler of SIGTERM and SIGINT: nothing; the pipe has the signal."""
