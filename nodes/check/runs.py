"""The record of every check (``check_run``, ``check_finding``), and what the last one
left for ``status`` to show."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from schema.channels import (
    check_finding,
    check_run,
)
from schema.engine import reading

if TYPE_CHECKING:
    pass
from nodes.check.findings import CheckReport, Finding, Kind
from nodes.labels import Said

KEEP_RUNS = 30
"""How many checks are kept in the database, with what they found."""


def record(engine: Engine, report: CheckReport) -> None:
    """Keep the run and its findings; forget all but the last :data:`KEEP_RUNS` runs."""
    assert report.finished_at is not None
    with engine.begin() as conn:
        run_id = conn.execute(
            check_run.insert()
            .values(
                started_at=report.started_at,
                finished_at=report.finished_at,
                read_data=report.read_data,
                files_read=report.files_read,
                problems=len(report.problems),
                repaired=len(report.repaired),
            )
            .returning(check_run.c.id)
        ).scalar_one()
        if report.findings:
            conn.execute(
                check_finding.insert(),
                [
                    {
                        "run_id": run_id,
                        "number": number,
                        "kind": f.kind.value,
                        "subject": f.subject[:255],
                        "problem": f.problem,
                        "action": f.action,
                        "repaired": f.repaired,
                        "by_reading": f.by_reading,
                        "said": _kept(f),
                    }
                    for number, f in enumerate(report.findings, 1)
                ],
            )
        old = check_run.c.id <= run_id - KEEP_RUNS
        conn.execute(
            check_finding.delete().where(
                check_finding.c.run_id.in_(sa.select(check_run.c.id).where(old))
            )
        )
        conn.execute(check_run.delete().where(old))


def last_problems(engine: Engine) -> list[tuple[datetime, Finding]]:
    """The problems the last check left, each with when that check ended; when the last
    check did not read the stored change-sets whole, also what the last one that did
    found by reading them (a quicker check could not have seen it go)."""
    with reading(engine) as conn:
        last = conn.execute(sa.select(check_run).order_by(check_run.c.id.desc())).first()
        if last is None:
            return []
        runs = [(last, check_finding.c.run_id == last.id)]
        if not last.read_data:
            deep = conn.execute(
                sa.select(check_run).where(check_run.c.read_data).order_by(check_run.c.id.desc())
            ).first()
            if deep is not None:
                runs.append(
                    (deep, (check_finding.c.run_id == deep.id) & check_finding.c.by_reading)
                )
        found = []
        for run, which in runs:
            rows = conn.execute(
                sa.select(check_finding)
                .where(which, check_finding.c.repaired.is_(False))
                .order_by(check_finding.c.number)
            )
            found += [(run.finished_at, Finding(Kind(r.kind), r.subject, *_said(r))) for r in rows]
    return found


def _kept(finding: Finding) -> str | None:
    """A finding's problem and action as messages by key (JSON), when they are."""
    if isinstance(finding.problem, Said) and isinstance(finding.action, Said):
        kept = {"problem": finding.problem.as_json(), "action": finding.action.as_json()}
        return json.dumps(kept, ensure_ascii=False)
    return None


def _said(row: Any) -> tuple[str, str]:
    """The problem and action of a kept finding: as messages when this version knows
    them, else their English text."""
    kept = json.loads(row.said) if row.said else {}
    problem = Said.from_json(kept.get("problem"))
    action = Said.from_json(kept.get("action"))
    if problem is None or action is None:
        return row.problem, row.action
    return problem, action
