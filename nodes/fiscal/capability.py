"""The fiscal domain's place in the node runtime: what it registers with
:mod:`nodes.capabilities` (imported once, by ``nodes/__init__.py``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from nodes.capabilities import (
    ADOPTERS,
    ALERTS,
    APPLIERS,
    DRILL_CHECKS,
    FORGOTTEN_ON_RESTORE,
    HOME_LOADERS,
    JOBS,
    RECEIPT_HOOKS,
    REJOINED,
    SUITE_CHANGED,
    UPGRADE_STEPS,
    WALL_FIGURES,
    WALL_TOTALS,
    Context,
    Handler,
    UpgradeStep,
)
from nodes.fiscal import appropriations, codes, figures, reports, yearend
from nodes.fiscal.documents import Documents
from nodes.fiscal.reconcile import protocol, records, statement
from nodes.fiscal.reconcile.rounds import RECONCILE_JOB
from nodes.fiscal.reports.job import REPORT_JOB
from nodes.node import Node
from sync.changeset import Verified

__all__: list[str] = []


def _appropriation(context: Context) -> Handler:
    documents = Documents(context.node.topology)

    def apply(conn: Connection, verified: Verified) -> None:
        appropriations.apply_received(conn, verified, documents)

    return apply


def _copy(context: Context) -> Handler:
    topology = context.node.topology

    def apply(conn: Connection, verified: Verified) -> None:
        appropriations.apply_copy(conn, verified, topology)

    return apply


def _adopt_copy(_context: Context) -> Handler:
    def adopt(conn: Connection, verified: Verified) -> None:
        """The issuer keeps nothing of a copy it sent: nothing to redo."""

    return adopt


def _report(context: Context) -> Handler:
    def apply(conn: Connection, verified: Verified) -> None:
        reports.apply_received(conn, verified, context.node.topology, taken_at=context.clock.now())

    return apply


def _codeset(_context: Context) -> Handler:
    def apply(conn: Connection, verified: Verified) -> None:
        codes.store(conn, codes.parse_operations(verified.operations()))

    return apply


def _appropriation_receipt(node: Node) -> Any:
    me = node.spec.code

    def taken(conn: Connection, entry: Any, verdict: str) -> None:
        records.receipt_taken(conn, me, entry, verdict)
        if verdict == "rejected":
            yearend.refused(node, conn, entry)

    return taken


def _reconcile_receipt(node: Node) -> Any:
    def taken(conn: Connection, entry: Any, verdict: str) -> None:
        if verdict == "rejected":
            protocol.refused(conn, entry)

    return taken


def _adopt_appropriation(_context: Context) -> Handler:
    def adopt(conn: Connection, verified: Verified) -> None:
        appropriations.adopt_issued(conn, verified)
        yearend.adopt_acceptance(conn, verified)

    return adopt


def _adopt_report(context: Context) -> Handler:
    node = context.node
    first = node.spec.parent or (node.topology.center.code if node.topology.center else "")

    def adopt(conn: Connection, verified: Verified) -> None:
        reports.adopt_submitted(conn, verified, first)

    return adopt


APPLIERS.update(
    appropriation=_appropriation,
    copy=_copy,
    report=_report,
    codeset=_codeset,
    reconcile=protocol.handler,
    yearclose=lambda _context: yearend.apply_statement,
)
RECEIPT_HOOKS["appropriation"] = _appropriation_receipt
RECEIPT_HOOKS["reconcile"] = _reconcile_receipt
JOBS.extend((REPORT_JOB, RECONCILE_JOB))
HOME_LOADERS.append(codes.load_national)
UPGRADE_STEPS.extend(
    (UpgradeStep("0006", records.rebuild), UpgradeStep("0011", codes.load_transfer_types))
)
SUITE_CHANGED.append(records.rebuild)
ALERTS.append(statement.alerts)
FORGOTTEN_ON_RESTORE.add("reconcile")  # run again after a restore, never redone
REJOINED.append(codes.publish_again)
REJOINED.append(reports.send_again)
WALL_FIGURES.append(figures.node_figures)
WALL_TOTALS.append(figures.totals)
ADOPTERS.update(
    appropriation=_adopt_appropriation,
    copy=_adopt_copy,
    report=_adopt_report,
    codeset=_codeset,
    reconcile=lambda _context: protocol.forget_own_step,
    yearclose=lambda _context: yearend.adopt_statement,
)
DRILL_CHECKS.append(
    lambda conn, me: [
        f"reconciliation digests of {edge} differ from their records"
        for edge in records.stale(conn, me)
    ]
)
