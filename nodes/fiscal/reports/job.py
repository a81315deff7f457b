"""The agent's ``report`` job: generate and submit the periods just ended, once."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

from nodes.capabilities import Job, Schedule
from nodes.fiscal import reports
from nodes.labels import joined, said
from nodes.locks import home_lock
from nodes.node import Node
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import FiscalsyncError

__all__ = ["REPORT_ACTOR", "REPORT_JOB", "REPORT_SCHEDULE", "report_job"]

REPORT_SCHEDULE = {"day": "1,11,21", "hour": 0, "minute": 10}
"""When the ``report`` job runs (cron fields, Beijing time): just after each period ends."""
REPORT_ACTOR = "fiscalsync agent"
log = logging.getLogger("fiscalsync.agent")


def report_job(home: str, clock: Clock = SYSTEM_CLOCK) -> list[reports.Submission]:
    """The ``report`` job: generate and submit the ten-day and monthly periods just ended.

    Only the kinds ``[reports] agent_submits`` of ``node.toml`` lists (both by default;
    ``[]`` leaves every submission to an operator). A period is submitted once: one
    already submitted (by the agent or by hand, even at the same moment as this run) is
    left alone, so a late or repeated run does no harm, and a correction stays a
    deliberate act (:func:`reports.submit_once`). The center reports nothing. Every
    period is tried; the first failure is raised afterwards, for the scheduler to record.
    """
    submitted: list[reports.Submission] = []
    failures: list[FiscalsyncError] = []
    with home_lock(Path(home)), Node.open(Path(home)) as node:
        if node.spec.role == "center":
            return submitted
        today = reports.local_today(clock)
        for kind in node.settings.agent_submits:
            period = reports.Period.last_ended(kind, today)
            try:
                done = reports.submit_once(node, period, actor=REPORT_ACTOR, clock=clock)
            except FiscalsyncError as exc:
                log.error("report %s: %s", period, exc.message)
                failures.append(exc)
                continue
            if done is not None:
                submitted.append(done)
                log.info("report %s: version %d submitted", period, done.version)
        _resend_regions(node, today, clock, failures)
    if failures:
        raise failures[0]
    return submitted


def _resend_regions(node: Node, today: date, clock: Clock, failures: list[FiscalsyncError]) -> None:
    """Send the 全辖 (逐级) of the periods just ended again where reports from below
    arrived since it was sent (the children report after their parent, as often as not)."""
    for kind in node.settings.agent_submits:
        period = reports.Period.last_ended(kind, today)
        try:
            if reports.region_outdated(node, period):
                version = reports.submit_region(node, period, actor=REPORT_ACTOR, clock=clock)
                log.info("report %s: consolidated version %d submitted", period, version)
        except FiscalsyncError as exc:
            log.error("report %s (全辖): %s", period, exc.message)
            failures.append(exc)


def _describe(_node: Node) -> str:
    when = REPORT_SCHEDULE
    time = f"{when['hour']:02d}:{when['minute']:02d}"
    days = joined(str(when["day"]).split(","), "days_listed")  # 1,11,21 / 1、11、21
    return said("agent_report", days=days, time=time, zone=str(reports.LOCAL_TIME))


REPORT_JOB = Job(
    id="report",
    name="generate and submit the reports of the periods just ended",
    run=report_job,
    schedule=lambda node: None if node.spec.role == "center" else Schedule(cron=REPORT_SCHEDULE),
    describe=_describe,
)
