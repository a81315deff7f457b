"""``fiscalsync agent``: the node's scheduled jobs on APScheduler 3 (the only import of it).

Jobs live in the node database (table ``agent_jobs``), so a restarted agent knows what
was due while it was down; misfired runs are coalesced into one; a job never overlaps
itself; a lock file keeps a second agent off the same home; SIGTERM and SIGINT stop the
agent after the running job finishes. Jobs: ``sync`` every ``[sync] interval_seconds``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler

from nodes.exchange import Exchange, RoundSummary
from nodes.node import Node
from sync.errors import HomeError

__all__ = ["JOB_TABLE", "AgentRun", "run_agent", "run_once", "sync_job"]

JOB_TABLE = "agent_jobs"
LOCK_FILE = "agent.lock"
log = logging.getLogger("fiscalsync.agent")


@dataclass(frozen=True)
class AgentRun:
    """One run of one job."""

    job: str
    summary: RoundSummary


def sync_job(home: str) -> RoundSummary:
    """The ``sync`` job: one round with the parent (module-level, so the job store can name it)."""
    with Node.open(Path(home)) as node:
        exchange = Exchange(node)
        try:
            summary = exchange.run_round()
        finally:
            exchange.close()
    log.info(
        "sync: sent %d, applied %d, receipts out %d, errors %s",
        summary.sent,
        summary.applied,
        summary.receipts_sent,
        summary.errors or "none",
    )
    return summary


JOBS: dict[str, Callable[[str], RoundSummary]] = {"sync": sync_job}


@contextmanager
def agent_lock(home: Path) -> Iterator[None]:
    """Hold the home's agent lock, or refuse: two agents must never run on one home."""
    path = home / LOCK_FILE
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise HomeError(
                f"another agent is running on {home} (pid {holder})",
                hint="stop it first; one agent per node home",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


def run_once(home: Path) -> list[AgentRun]:
    """``agent --once``: run every job once now, under the agent lock (for cron and tests)."""
    with agent_lock(home):
        return [AgentRun(name, job(str(home))) for name, job in JOBS.items()]


def run_agent(home: Path, on_start: Callable[[list[str]], None] | None = None) -> None:
    """Run the scheduler until SIGTERM or SIGINT; the running job is let finish."""
    with agent_lock(home), Node.open(home) as node:
        scheduler = BlockingScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=node.engine, tablename=JOB_TABLE)},
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
            timezone=UTC,
        )
        scheduler.add_job(
            sync_job,
            "interval",
            seconds=node.settings.sync_interval_seconds,
            id="sync",
            name="sync with the parent",
            kwargs={"home": str(home)},
            next_run_time=datetime.now(UTC),
            replace_existing=True,
        )

        def stop(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %d: stopping after the running job", signum)
            scheduler.shutdown(wait=False)

        previous: dict[int, Any] = {
            sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            if on_start is not None:
                on_start(
                    [
                        f"{job.id} every {node.settings.sync_interval_seconds}s"
                        for job in scheduler.get_jobs()
                    ]
                )
            scheduler.start()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
