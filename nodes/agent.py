"""``fiscalsync agent``: the node's scheduled jobs on APScheduler 3 (the only import of it).

Jobs live in the node database (table ``agent_jobs``), so a restarted agent knows what
was due while it was down; misfired runs are coalesced into one; a job never overlaps
itself; a lock file keeps a second agent off the same home; SIGTERM and SIGINT stop the
agent after the running job finishes. Jobs: ``sync`` every ``[sync] interval_seconds``;
``revocation`` (at the province, when ``node.toml`` names the CA folder) every hour,
re-publishing the revocation list once half its validity is over; ``check`` every day at
03:30 Beijing time, the home's consistency with every stored file read whole
(``fiscalsync check --read-data``), its problems logged and kept for ``status``;
``backup`` every night (when the topology has a data center), and at a node that keeps
others' backups ``backup-check`` (verify, then prune) two hours later; ``purge`` every
day at 04:30, letting go of the spool's files older than the retention
(:mod:`nodes.retention`); and those the
capabilities register (:data:`nodes.capabilities.JOBS`), such as the fiscal domain's
``report`` job on the report period boundaries.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.exc import SQLAlchemyError

from nodes import keys, logs, metrics, retention
from nodes.capabilities import JOBS
from nodes.check import CheckReport, check_home
from nodes.exchange import Exchange, RoundSummary
from nodes.labels import Said, said
from nodes.locks import agent_lock, home_lock
from nodes.node import Node
from nodes.settings import LOCAL_TIME
from nodes.stopping import Stopping
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import FiscalsyncError

__all__ = [
    "CHECK_SCHEDULE",
    "HOLD_SECONDS",
    "JOB_TABLE",
    "REVOCATION_INTERVAL_HOURS",
    "AgentRun",
    "HomeJobStore",
    "add_home",
    "remove_home",
    "backup_job",
    "keeper_job",
    "purge_job",
    "revocation_job",
    "check_job",
    "run_agent",
    "run_once",
    "run_until_stopped",
    "schedule_jobs",
    "scheduler_for",
    "scheduler_for_homes",
    "sync_job",
]

JOB_TABLE = "agent_jobs"
HOLD_SECONDS = 60
"""How long a home's jobs are held back after its database refused to record them."""
log = logging.getLogger("fiscalsync.agent")


class HomeJobStore(SQLAlchemyJobStore):  # type: ignore[misc]  (APScheduler has no types)
    """A home's jobs, kept in its database.

    The scheduler reads the due jobs of every store in one loop, and stops for good when
    a store fails to record a job's next time (APScheduler 3 guards only the read): one
    home whose disk is full, or whose database went away after the read, would stop
    every home of the agent. Here such a failure is logged, naming the home, and holds
    that home's jobs back for ``hold_seconds``; the job stays due in its database, so it
    runs once the hold is over and the database takes writes again."""

    def __init__(self, code: str, hold_seconds: int = HOLD_SECONDS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.code = code
        self.hold = timedelta(seconds=hold_seconds)
        self.held_until: datetime | None = None

    def _held(self, now: datetime) -> bool:
        return self.held_until is not None and now < self.held_until

    def _refused(self, doing: str, exc: SQLAlchemyError) -> None:
        self.held_until = datetime.now(UTC) + self.hold
        reason = str(exc.orig if getattr(exc, "orig", None) is not None else exc).strip()
        log.error(
            "%s: its database refused to %s: %s (its jobs held back %ds)",
            self.code,
            doing,
            reason.splitlines()[0] if reason else type(exc).__name__,
            int(self.hold.total_seconds()),
        )

    def get_due_jobs(self, now: datetime) -> list[Any]:
        if self._held(now):
            return []
        return list(super().get_due_jobs(now))

    def get_next_run_time(self) -> datetime | None:
        try:
            upcoming: datetime | None = super().get_next_run_time()
        except SQLAlchemyError as exc:
            self._refused("tell when its next job is due", exc)
            return self.held_until
        if self._held(datetime.now(UTC)):
            return self.held_until if upcoming is None else max(upcoming, self.held_until)
        return upcoming

    def update_job(self, job: Any) -> None:
        try:
            super().update_job(job)
        except SQLAlchemyError as exc:
            self._refused(f"record the next time of job {job.id!r}", exc)

    def remove_job(self, job_id: str) -> None:
        try:
            super().remove_job(job_id)
        except SQLAlchemyError as exc:
            self._refused(f"remove job {job_id!r}", exc)


@dataclass(frozen=True)
class AgentRun:
    """One run of one job: a sync round's summary, or what another job did."""

    job: str
    summary: RoundSummary | None = None
    note: str = ""  # English as a ``str``, said by key (:class:`nodes.labels.Said`)


def sync_job(home: str) -> RoundSummary:
    """The ``sync`` job: one round with the parent (module-level, so the job store can name it)."""
    with Node.open(Path(home)) as node:
        exchange = Exchange(node)
        try:
            summary = exchange.run_round()
        finally:
            exchange.close()
    metrics.record_round(node.spec.code, summary)
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


REVOCATION_INTERVAL_HOURS = 1


def revocation_job(home: str, clock: Clock = SYSTEM_CLOCK) -> Said | None:
    """The ``revocation`` job (province): re-publish the revocation list when it is due.

    Returns what it did, or None when nothing was due (or this node does not publish).
    """
    with home_lock(Path(home)), Node.open(Path(home)) as node:
        published = keys.refresh_revocation(node, clock)
    if published is None:
        return None
    number, sent = published
    note = said("agent_republished", number=number, sent=sent)
    log.info("revocation: %s", note)
    return note


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


PURGE_SCHEDULE = {"hour": 4, "minute": 30}
"""When the ``purge`` job runs (cron fields, Beijing time): every day, after the check."""


def purge_job(home: str) -> Said:
    """The ``purge`` job: let go of the spool's files older than the retention."""
    with home_lock(Path(home)), Node.open(Path(home)) as node:
        done = retention.purge(node)
    note = said(
        "agent_purged",
        sent=done.sent,
        taken=done.taken,
        quarantine=done.quarantine,
        files=done.files,
        bytes=done.bytes,
        spool=done.spool_bytes,
    )
    log.info("purge: %s", note)
    return note


def backup_job(home: str) -> Said:
    """The ``backup`` job: a nightly backup of this node, shipped to its keeper."""
    from nodes import backups
    from nodes.exchange import Exchange

    with home_lock(Path(home)), Node.open(Path(home)) as node:
        taken = backups.take_backup(node)
        exchange = Exchange(node)
        try:
            left, why = backups.upload(node, exchange.backup_way())
        finally:
            exchange.close()
    note = said(
        "agent_backed_up", number=taken.number, objects=taken.new_objects, bytes=taken.new_bytes
    )
    if left:
        note = said("agent_backup_left", note=note, left=left, why=why)
    log.info("backup: %s", note)
    return note


def keeper_job(home: str) -> Said:
    """The ``backup-check`` job of a keeper: verify what it keeps, then prune."""
    from datetime import timedelta

    from nodes import keeper

    with home_lock(Path(home)), Node.open(Path(home)) as node:
        results = keeper.verify(
            node,
            keys.trust_store(node.home),
            max_age=timedelta(hours=node.settings.backup_max_age_hours),
        )
        pruned = keeper.prune(
            node, daily=node.settings.backup_keep_daily, monthly=node.settings.backup_keep_monthly
        )
    bad = [f"{r.node}: {'; '.join(map(str, r.problems))}" for r in results if r.problems]
    for line in bad:
        log.warning("backup check: %s", line)
    return said("agent_kept_checked", count=len(results), bad=len(bad), pruned=pruned[0])


def run_once(home: Path) -> list[AgentRun]:
    """``agent --once``: run every job that is due now, under the agent lock (for cron
    and tests): the revocation list if it must be re-published, then a sync round. The
    report job runs on its period boundaries only."""
    with agent_lock(home):
        runs = []
        note = revocation_job(str(home))
        if note is not None:
            runs.append(AgentRun("revocation", note=note))
        runs.append(AgentRun("sync", sync_job(str(home))))
        return runs


class AgentScheduler(BackgroundScheduler):
    """APScheduler's scheduler in a thread of its own, as the agent runs it: its worker
    threads kept by name, so that each one's running job is waited for at the stop outside
    the scheduler's locks (:meth:`finish_jobs`), and the end of its thread by an exception
    logged and told to ``when_ended`` (the agent stops)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.workers: dict[str, ThreadPoolExecutor] = {}
        self.draining: list[threading.Thread] = []
        """Threads waiting for the running job of a worker taken out, then letting go."""
        self._kept = threading.Lock()
        """Held to change or read :attr:`workers` and :attr:`draining`: a job (a rescan of
        ``agent --homes``) takes a worker out while the stop reads them."""
        self.when_ended: Callable[[str], None] | None = None

    def add_worker(self, alias: str, names: str | None = None) -> None:
        """A worker thread (one job at a time) for the jobs of executor ``alias``, its
        name starting with ``names`` when given; kept before the scheduler has it."""
        pool = ThreadPoolExecutor(1, {"thread_name_prefix": names} if names else None)
        with self._kept:
            self.workers[alias] = pool
        try:
            self.add_executor(pool, alias)
        except BaseException:
            with self._kept:
                del self.workers[alias]
            raise

    def remove_worker(self, alias: str, then: Callable[[], None] | None = None) -> None:
        """Take the worker of ``alias`` out at once; in a thread of its own, wait for its
        running job, if any, to finish (its thread then ends), then call ``then``."""
        self.remove_executor(alias, shutdown=False)
        with self._kept:
            pool = self.workers.pop(alias)

        def drain() -> None:
            pool.shutdown(wait=True)
            if then is not None:
                then()

        thread = threading.Thread(target=drain, name=f"{alias}-draining")
        with self._kept:  # started before the stop can read it: it joins only those
            self.draining = [t for t in self.draining if t.is_alive()]
            self.draining.append(thread)
            thread.start()

    def finish_jobs(self) -> None:
        """Wait for the running jobs of every worker, the scheduler stopped, then for
        those of the workers taken out (a job running at the stop may take one out)."""
        with self._kept:
            pools = tuple(self.workers.values())
        for pool in pools:
            pool.shutdown(wait=True)
        with self._kept:
            draining = tuple(self.draining)
        for thread in draining:
            thread.join()

    def _main_loop(self) -> None:  # the scheduler's thread, in APScheduler 3
        try:
            super()._main_loop()
        except BaseException:
            log.exception("the scheduler's thread ended")
            if self.when_ended is not None:
                self.when_ended(threading.current_thread().name)


def scheduler_for(node: Node) -> AgentScheduler:
    """A scheduler (not started) keeping its jobs in the node database; one job at a time."""
    scheduler = AgentScheduler(
        jobstores={
            "default": HomeJobStore(node.spec.code, engine=node.engine, tablename=JOB_TABLE)
        },
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone=UTC,
    )
    scheduler.add_worker("default")
    return scheduler


def scheduler_for_homes() -> AgentScheduler:
    """A scheduler (not started) for many homes (:mod:`nodes.hosting`): its own jobs in
    memory; each home's join it with :func:`add_home`."""
    scheduler = AgentScheduler(
        jobstores={"default": MemoryJobStore()},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone=UTC,
    )
    scheduler.add_worker("default")
    return scheduler


def add_home(
    scheduler: AgentScheduler, node: Node, home: Path, hold_seconds: int = HOLD_SECONDS
) -> list[str]:
    """Give ``node`` a worker thread of its own in ``scheduler``, its threads named for
    its log lines (:data:`nodes.logs.THREAD_PREFIX`), and a job store (its database,
    :class:`HomeJobStore`), and schedule its jobs there; describe them."""
    code = node.spec.code
    store = f"home-{code}"
    scheduler.add_worker(store, f"{logs.THREAD_PREFIX}{code}")
    try:
        scheduler.add_jobstore(
            HomeJobStore(code, hold_seconds, engine=node.engine, tablename=JOB_TABLE), store
        )
    except BaseException:
        scheduler.remove_worker(store)
        raise
    try:
        return schedule_jobs(scheduler, node, home, store=store)
    except BaseException:
        # Nothing of a home that could not start stays behind: it is tried again whole.
        remove_home(scheduler, code)
        raise


def remove_home(
    scheduler: AgentScheduler, code: str, then: Callable[[], None] | None = None
) -> None:
    """Take the jobs, job store and worker thread of home ``code`` (:func:`add_home`) out
    of ``scheduler`` at once; its running job, if any, is let finish, then ``then`` is
    called (in a thread of its own). Its jobs stay in its database, where the next agent
    on that home finds them."""
    store = f"home-{code}"
    scheduler.remove_jobstore(store, shutdown=False)
    scheduler.remove_worker(store, then)


def schedule_jobs(
    scheduler: BaseScheduler, node: Node, home: Path, *, store: str = "default"
) -> list[str]:
    """Add this node's jobs to ``scheduler`` (replacing stored ones), kept in the job store
    and run by the executor named ``store``; describe each."""
    add = partial(scheduler.add_job, jobstore=store, executor=store)
    add(
        sync_job,
        "interval",
        seconds=node.settings.sync_interval_seconds,
        id="sync",
        name="sync with the parent",
        kwargs={"home": str(home)},
        next_run_time=datetime.now(UTC),
        replace_existing=True,
    )
    described = [said("agent_sync", seconds=node.settings.sync_interval_seconds)]
    if node.spec.role == "province" and node.settings.revocation_ca is not None:
        add(
            revocation_job,
            "interval",
            hours=REVOCATION_INTERVAL_HOURS,
            id="revocation",
            name="re-publish the revocation list before it lapses",
            kwargs={"home": str(home)},
            next_run_time=datetime.now(UTC),
            replace_existing=True,
        )
        described.append(said("agent_revocation", ca=node.settings.revocation_ca))
    add(
        check_job,
        CronTrigger(**CHECK_SCHEDULE, timezone=LOCAL_TIME),
        id="check",
        name="check the home, every file read",
        kwargs={"home": str(home)},
        replace_existing=True,
    )
    described.append(said("agent_check", time=_clock(CHECK_SCHEDULE), zone=str(LOCAL_TIME)))
    add(
        purge_job,
        CronTrigger(**PURGE_SCHEDULE, timezone=LOCAL_TIME),
        id="purge",
        name="purge the spool's files older than the retention",
        kwargs={"home": str(home)},
        replace_existing=True,
    )
    days = retention.horizon(node.settings).days
    described.append(said("agent_purge", time=_clock(PURGE_SCHEDULE), days=days))
    if node.topology.center is not None:
        hour = node.settings.backup_hour
        add(
            backup_job,
            CronTrigger(hour=hour, minute=0, timezone=LOCAL_TIME),
            id="backup",
            name="back this node up to its keeper",
            kwargs={"home": str(home)},
            replace_existing=True,
        )
        described.append(said("agent_backup", time=f"{hour:02d}:00"))
        if any(
            n.code != node.spec.code and n.code in node.topology and _keeps(node, n.code)
            for n in node.topology
        ):
            add(
                keeper_job,
                CronTrigger(hour=(hour + 2) % 24, minute=0, timezone=LOCAL_TIME),
                id="backup-check",
                name="verify and prune the backups kept here",
                kwargs={"home": str(home)},
                replace_existing=True,
            )
            described.append(said("agent_keeper", time=f"{(hour + 2) % 24:02d}:00"))
    for job in JOBS:
        schedule = job.schedule(node)
        if schedule is None:
            continue
        trigger: dict[str, Any] = (
            {"trigger": CronTrigger(**schedule.cron, timezone=LOCAL_TIME)}
            if schedule.cron
            else {"trigger": "interval", "seconds": schedule.every_seconds}
        )
        if schedule.at_start:
            trigger["next_run_time"] = datetime.now(UTC)
        add(
            job.run,
            **trigger,
            id=job.id,
            name=job.name,
            kwargs={"home": str(home)},
            replace_existing=True,
        )
        described.append(job.describe(node))
    return described


def _clock(schedule: dict[str, Any]) -> str:
    """The time of day of a daily ``schedule`` (cron fields): ``03:30``."""
    return f"{schedule['hour']:02d}:{schedule['minute']:02d}"


def _keeps(node: Node, code: str) -> bool:
    from nodes.backups import keeper_of

    return keeper_of(node.topology, code) == node.spec.code


def run_agent(
    home: Path,
    on_start: Callable[[list[str]], None] | None = None,
    *,
    metrics_port: int | None = None,
    log_format: str = "text",
) -> None:
    """Run the scheduler until SIGTERM or SIGINT; the running job is let finish. With
    ``metrics_port``, the node's metrics are served on 127.0.0.1 at that port. Logs go
    to standard error, as text or JSON lines (``log_format``), each naming the node."""
    with agent_lock(home), Node.open(home) as node:
        logs.configure(node.spec.code, log_format)
        scheduler = scheduler_for(node)
        described = schedule_jobs(scheduler, node, home)
        if metrics_port is not None:
            metrics.start_server(metrics.agent_registry(node), metrics_port)
            described.append(said("agent_metrics", url=f"http://127.0.0.1:{metrics_port}/metrics"))
        run_until_stopped(scheduler, described, on_start)


def run_until_stopped(
    scheduler: AgentScheduler,
    described: list[str],
    on_start: Callable[[list[str]], None] | None = None,
) -> None:
    """Run ``scheduler`` in its own thread until SIGTERM or SIGINT, having told
    ``on_start`` what it runs; then stop it and let its running jobs finish (a second
    signal: at once). See :mod:`nodes.stopping`.

    The scheduler is stopped without waiting, and its jobs waited for after: its own
    wait holds its locks, which a running job may ask for (the homes' rescan adds and
    removes homes). A scheduler thread that ends by an exception stops the agent, with
    an error."""
    with Stopping() as stopping:
        scheduler.when_ended = stopping.thread_ended
        if on_start is not None:
            on_start(described)
        scheduler.start()
        signum = stopping.wait()
        if signum is None:
            log.error("thread %s ended: stopping after the running job", stopping.ended)
        else:
            log.info("signal %d: stopping after the running job", signum)
        scheduler.shutdown(wait=False)
        stopping.finish(scheduler.finish_jobs)
    if signum is None:
        raise FiscalsyncError(
            said("agent_thread_ended", thread=stopping.ended), hint=said("agent_thread_ended_hint")
        )
