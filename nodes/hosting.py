"""``fiscalsync agent --homes DIR``: one agent for every node home under a folder.

Many provinces run their counties' systems on the city's servers (市级集中部署). Such a
data center runs one agent for all of them: each home keeps its own database (a SQLite
file, or a database of one PostgreSQL cluster), its own keys and its own jobs, exactly as
``fiscalsync agent`` would run them on that home alone (the jobs are the same functions,
kept in the same table of its database, so a home moves between the two freely).

- Each home has its own job store (its database) and its own worker thread, so one
  home's long job never holds up another's; its log lines name it (:mod:`nodes.logs`).
- Each home is held under its own agent lock, as ``fiscalsync agent`` holds it.
- A home that cannot be opened (its database down, another agent on it, a broken
  ``node.toml``) is logged and tried again every ``retry_seconds``; the others run on.
  A job that fails is logged by the scheduler, and runs again at its next time; a home
  whose database refuses to record its jobs' times (a full disk) has its jobs held back
  ``retry_seconds`` (:class:`nodes.agent.HomeJobStore`).
- The folders are scanned again every ``retry_seconds``, and at once on SIGHUP: a home
  added there starts without a restart, one removed stops (its jobs leave the
  scheduler, its lock is let go).
- ``--metrics-port`` serves every running home's figures, each series labelled ``node``.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from nodes import logs, metrics
from nodes.agent import add_home, remove_home, run_until_stopped, scheduler_for_homes
from nodes.labels import joined, said
from nodes.locks import agent_lock
from nodes.node import Node
from nodes.settings import SETTINGS_FILE
from schema.errors import FiscalsyncError
from sync.errors import InputError

__all__ = ["RETRY_SECONDS", "find_homes", "run_homes"]

RETRY_SECONDS = 60
log = logging.getLogger("fiscalsync.agent")


def find_homes(folders: list[Path], *, none_ok: bool = False) -> list[Path]:
    """The node homes among ``folders`` and their subfolders (a folder with ``node.toml``),
    in order, each once; refused when there is none (unless ``none_ok``: a rescan). A
    hidden subfolder is none: ``restore``, ``init`` and ``network init`` build a home in
    one (``.<code>.partial-…``) before its rename, and one a killed run left behind is
    no node to run (a restored one not yet rejoining would take new work)."""
    found: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            if none_ok:
                continue
            raise InputError(
                said("homes_not_folder", path=folder), hint=said("homes_not_folder_hint")
            )
        if (folder / SETTINGS_FILE).is_file():
            candidates = [folder]
        else:
            candidates = sorted(
                p
                for p in folder.iterdir()
                if not p.name.startswith(".") and (p / SETTINGS_FILE).is_file()
            )
        found += [p.resolve() for p in candidates if p.resolve() not in found]
    if not found and not none_ok:
        names = ", ".join(str(f) for f in folders)
        raise InputError(
            said("no_homes", file=SETTINGS_FILE, names=names), hint=said("no_homes_hint")
        )
    return found


class _Homes:
    """The homes of one agent: those running, and those to try again. The folders are
    scanned again every ``retry_seconds`` (and on SIGHUP): a home added there starts, one
    removed stops (its jobs leave the scheduler, its lock is let go)."""

    def __init__(
        self, scheduler: Any, folders: list[Path], homes: list[Path], retry_seconds: int
    ) -> None:
        self.scheduler = scheduler
        self.folders = folders
        self.retry_seconds = retry_seconds
        self.waiting = list(homes)
        self.running: tuple[Node, ...] = ()  # replaced whole: a scrape reads it meanwhile
        self.held: dict[Path, tuple[Node, contextlib.ExitStack]] = {}
        self.lock = threading.Lock()  # the rescan job's

    def start_waiting(self) -> list[str]:
        """Open and schedule every waiting home that can be; describe what started."""
        started = []
        for home in list(self.waiting):
            try:
                started.append(self._start(home))
            except FiscalsyncError as exc:
                log.error("%s: not running: %s (tried again in a while)", home, exc.message)
                continue
            except Exception as exc:  # one home's failure never stops the others
                log.error("%s: not running: %s (tried again in a while)", home, exc)
                continue
            self.waiting.remove(home)
        return started

    def _start(self, home: Path) -> str:
        with contextlib.ExitStack() as stack:
            stack.enter_context(agent_lock(home))
            node = stack.enter_context(Node.open(home))
            self.running = (*self.running, node)  # its figures shown from its first round
            try:
                described = add_home(self.scheduler, node, home, self.retry_seconds)
            except BaseException:
                self.running = tuple(n for n in self.running if n is not node)
                raise
            self.held[home] = (node, stack.pop_all())
        return said("agent_home", code=node.spec.code, jobs=joined(described, "listed"))

    def rescan(self) -> tuple[list[str], list[str]]:
        """Scan the folders again: start the homes added (and those still waiting), stop
        those removed; describe what started and what stopped."""
        with self.lock:
            if not self.scheduler.running:  # the agent stops: nothing starts
                return [], []
            found = find_homes(self.folders, none_ok=True)
            stopped = [self._stop(home) for home in list(self.held) if home not in found]
            self.waiting = [h for h in self.waiting if h in found]
            self.waiting += [h for h in found if h not in self.held and h not in self.waiting]
            return self.start_waiting(), stopped

    def _stop(self, home: Path) -> str:
        node, stack = self.held.pop(home)
        code = node.spec.code
        self.running = tuple(n for n in self.running if n is not node)
        # Its database closed and its lock let go once its running job has finished,
        # waited for apart: the scans go on meanwhile.
        remove_home(self.scheduler, code, partial(_let_go, code, stack))
        return f"{code} ({home}: no longer a node home there)"

    def close(self) -> None:
        for home in list(self.held):
            _node, stack = self.held.pop(home)
            stack.close()


def run_homes(
    folders: list[Path],
    on_start: Callable[[list[str]], None] | None = None,
    *,
    metrics_port: int | None = None,
    log_format: str = "text",
    retry_seconds: int = RETRY_SECONDS,
) -> None:
    """Run the jobs of every home under ``folders`` until SIGTERM or SIGINT (see the module)."""
    homes = find_homes(folders)
    logs.configure("agent", log_format)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})  # before any thread
    scheduler = scheduler_for_homes()
    state = _Homes(scheduler, folders, homes, retry_seconds)
    try:
        described = state.start_waiting()
        scheduler.add_job(
            _rescan,
            "interval",
            seconds=retry_seconds,
            args=[state],
            id="homes",
            name="scan the folders of homes again",
        )
        if state.waiting:
            described.append(
                said("agent_homes_waiting", count=len(state.waiting), seconds=retry_seconds)
            )
        scanned = ", ".join(map(str, folders))
        described.append(said("agent_homes_scanned", folders=scanned, seconds=retry_seconds))
        if metrics_port is not None:
            metrics.start_server(metrics.agent_registry(lambda: state.running), metrics_port)
            described.append(said("agent_metrics", url=f"http://127.0.0.1:{metrics_port}/metrics"))
        for line in described:
            log.info("started: %s", line)
        threading.Thread(target=_on_sighup, args=[scheduler], name="sighup", daemon=True).start()
        run_until_stopped(scheduler, described, on_start)
    finally:
        state.close()
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _let_go(code: str, stack: contextlib.ExitStack) -> None:
    """A home taken out of the agent, its running job finished: its figures forgotten,
    its database closed, its lock let go."""
    metrics.forget_node(code)
    stack.close()


def _on_sighup(scheduler: Any) -> None:
    """SIGHUP (blocked in every thread, waited for here, so it is never lost in one that
    sleeps): scan the folders of homes now, not at the next interval."""
    while True:
        signal.sigwait({signal.SIGHUP})
        log.info("signal SIGHUP: scanning the folders of homes again")
        scheduler.modify_job("homes", next_run_time=datetime.now(UTC))


def _rescan(state: _Homes) -> None:
    started, stopped = state.rescan()
    for line in started:
        log.info("started: %s", line)
    for line in stopped:
        log.info("stopped: %s", line)
