"""``fiscalsync agent``: the node's scheduled jobs on APScheduler 3 (the only import of it).

Jobs live in the node database (table ``agent_jobs``), so a restarted agent knows what
was due while it was down; misfired runs are coalesced into one; a job never overlaps
itself; a lock file keeps a second agent off the same home; SIGTERM and SIGINT stop the
agent after the running job finishes. Jobs: ``sync`` every ``[sync] interval_seconds``;
``report`` (not at the center) on the report period boundaries, the 1st, 11th and 21st of
each month at 00:10 Beijing time, generating and submitting the periods just ended;
``check`` every day at 03:30 Beijing time, the home's consistency with every stored file
read whole (``fiscalsync check --read-data``), its problems logged and kept for ``status``.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from nodes import reports
from nodes.check import CheckReport, check_home
from nodes.exchange import Exchange, RoundSummary
from nodes.locks import agent_lock, home_lock
from nodes.node import Node
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import FiscalsyncError

__all__ = [
    "CHECK_SCHEDULE",
    "JOB_TABLE",
    "REPORT_SCHEDULE",
    "AgentRun",
    "check_job",
    "report_job",
    "run_agent",
    "run_once",
    "schedule_jobs",
    "scheduler_for",
    "sync_job",
]

JOB_TABLE = "agent_jobs"
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
        "sync: sent %d, applied %d, receipts out %d, failed %d, parked %d, damaged %d, errors %s",
        summary.sent,
        summary.applied,
        summary.receipts_sent,
        summary.failed,
        summary.parked,
        summary.damaged,
        summary.errors or "none",
    )
    for problem in summary.problems:
        log.warning("sync: %s", problem)
    return summary


REPORT_SCHEDULE = {"day": "1,11,21", "hour": 0, "minute": 10}
"""When the ``report`` job runs (cron fields, Beijing time): just after each period ends."""
REPORT_ACTOR = "fiscalsync agent"


def report_job(home: str, clock: Clock = SYSTEM_CLOCK) -> list[reports.Submission]:
    """The ``report`` job: generate and submit the ten-day and monthly periods just ended.

    A period is submitted once: one already submitted (by the agent or by hand) is left
    alone, so a late or repeated run does no harm, and a correction stays a deliberate
    act. The center reports nothing. Every period is tried; the first failure is raised
    afterwards, for the scheduler to record.
    """
    submitted: list[reports.Submission] = []
    failures: list[FiscalsyncError] = []
    with home_lock(Path(home)), Node.open(Path(home)) as node:
        if node.spec.role == "center":
            return submitted
        today = reports.local_today(clock)
        for kind in reports.KINDS:
            period = reports.Period.last_ended(kind, today)
            if any(v.state == "submitted" for v in reports.versions(node, period)):
                continue
            try:
                reports.generate(node, period, actor=REPORT_ACTOR, clock=clock)
                submitted.append(reports.submit(node, period, actor=REPORT_ACTOR, clock=clock))
            except FiscalsyncError as exc:
                log.error("report %s: %s", period, exc.message)
                failures.append(exc)
                continue
            log.info("report %s: version %d submitted", period, submitted[-1].version)
    if failures:
        raise failures[0]
    return submitted


CHECK_SCHEDULE = {"hour": 3, "minute": 30}
"""When the ``check`` job runs (cron fields, Beijing time): every day, at a quiet hour."""


def check_job(home: str, clock: Clock = SYSTEM_CLOCK) -> CheckReport:
    """The ``check`` job: check the home's consistency, reading every stored file whole;
    log each problem (``status`` shows them from the database). Repairs nothing: what to
    delete is an operator's call (``fiscalsync check --repair``)."""
    with Node.open(Path(home)) as node:
        report = check_home(node, read_data=True, clock=clock)
    problems = report.problems
    log.info(
        "check: %d outbox entries, %d change-sets taken, %d channels, %d files read; %d problem(s)",
        report.entries,
        report.logged,
        report.channels,
        report.files_read,
        len(problems),
    )
    for finding in problems:
        log.warning("check: %s %s: %s", finding.kind, finding.subject, finding.problem)
    return report


JOBS: dict[str, Callable[[str], RoundSummary]] = {"sync": sync_job}
"""What ``agent --once`` runs (the report job runs on its period boundaries only)."""


def run_once(home: Path) -> list[AgentRun]:
    """``agent --once``: run every job once now, under the agent lock (for cron and tests)."""
    with agent_lock(home):
        return [AgentRun(name, job(str(home))) for name, job in JOBS.items()]


def scheduler_for(node: Node) -> BlockingScheduler:
    """A scheduler (not started) keeping its jobs in the node database; one job at a time."""
    return BlockingScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=node.engine, tablename=JOB_TABLE)},
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone=UTC,
    )


def schedule_jobs(scheduler: BaseScheduler, node: Node, home: Path) -> list[str]:
    """Add this node's jobs to ``scheduler`` (replacing stored ones); describe each."""
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
    described = [f"sync every {node.settings.sync_interval_seconds}s"]
    at = _add_cron(
        scheduler, check_job, CHECK_SCHEDULE, home, "check", "check the home, every file read"
    )
    described.append(f"check daily at {at}")
    if node.spec.role == "center":
        return described
    at = _add_cron(
        scheduler,
        report_job,
        REPORT_SCHEDULE,
        home,
        "report",
        "generate and submit the reports of the periods just ended",
    )
    described.append(f"report on days {REPORT_SCHEDULE['day']} at {at}")
    return described


def _add_cron(
    scheduler: BaseScheduler,
    job: Callable[..., Any],
    when: dict[str, Any],
    home: Path,
    ident: str,
    name: str,
) -> str:
    """Add ``job`` at the cron fields ``when`` (Beijing time); return the time of day."""
    scheduler.add_job(
        job,
        CronTrigger(**when, timezone=reports.LOCAL_TIME),
        id=ident,
        name=name,
        kwargs={"home": str(home)},
        replace_existing=True,
    )
    return f"{when['hour']:02d}:{when['minute']:02d} {reports.LOCAL_TIME}"


def run_agent(home: Path, on_start: Callable[[list[str]], None] | None = None) -> None:
    """Run the scheduler until SIGTERM or SIGINT; the running job is let finish."""
    with agent_lock(home), Node.open(home) as node:
        scheduler = scheduler_for(node)
        described = schedule_jobs(scheduler, node, home)

        def stop(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %d: stopping after the running job", signum)
            scheduler.shutdown(wait=False)

        previous: dict[int, Any] = {
            sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            if on_start is not None:
                on_start(described)
            scheduler.start()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
