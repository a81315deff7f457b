"""The statement of a reconciliation (对账单): what each side holds of it, listed for the
terminal, a spreadsheet, JSON, or a printable HTML page with its title block.

Both sides keep the same statement: the issuer's conclusion travels to the recipient as
a change-set the issuer signs, after the recipient's answers that it signed.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nodes.alerts import Alert
from nodes.fiscal.reconcile.findings import KINDS, describe
from nodes.labels import said
from nodes.node import Node
from nodes.settings import LOCAL_TIME
from schema.engine import reading
from schema.tables import reconciliation, reconciliation_finding
from schema.types import format_yuan
from sync.errors import InputError
from sync.pki import load_signer

__all__ = [
    "FINDING_COLUMNS",
    "Statement",
    "alerts",
    "html_parts",
    "latest",
    "load",
    "render_html",
    "sessions",
]

WAITING = timedelta(days=3)
"""A reconciliation not concluded this long after it started is an alert."""

FINDING_COLUMNS = ("kind", "label", "subject", "field", "issuer", "recipient", "detail")


STREAM_ROWS = 2_000
"""Findings fetched from the database at a time."""


@dataclass(frozen=True)
class Statement:
    """One reconciliation as this node holds it; its findings are read from the database
    as they are iterated (:attr:`findings`), in bounded memory whatever their number."""

    session: Any
    summary: dict[str, Any]
    me: str
    names: dict[str, str]
    own_fingerprint: str
    engine: Engine

    @property
    def issuer(self) -> str:
        return str(self.session.origin)

    @property
    def recipient(self) -> str:
        return str(self.session.recipient)

    @property
    def findings(self) -> Iterator[Any]:
        """The findings in their order, streamed (a server-side cursor on PostgreSQL); the
        connection stays open until the iterator is exhausted or closed."""
        return self._findings()

    def _findings(self) -> Iterator[Any]:
        query = (
            sa.select(reconciliation_finding)
            .where(reconciliation_finding.c.reconciliation_id == self.session.id)
            .order_by(reconciliation_finding.c.number)
        )
        with reading(self.engine) as conn:
            streamed = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS)
            yield from streamed.execute(query)

    def finding_rows(self, words: Mapping[str, str] | None = None) -> Iterator[list[Any]]:
        """The findings, one row each (:data:`FINDING_COLUMNS`), streamed; with ``words``,
        each detail in their language (else as written, in English)."""
        for f in self.findings:
            yield [
                f.kind,
                KINDS.get(f.kind, f.kind),
                f.subject,
                f.field or "",
                _value(f.ours),
                _value(f.theirs),
                f.detail if words is None else describe(f.detail, f.params, words),
            ]

    def head(self) -> dict[str, Any]:
        """What :meth:`as_dict` says but the findings."""
        s = self.session
        return {
            "id": s.id,
            "issuer": s.origin,
            "recipient": s.recipient,
            "role": s.role,
            "state": s.state,
            "cut": s.cut,
            "agree": s.agree,
            "discrepancies": s.discrepancies,
            "in_transit": s.in_transit,
            "started_at": _local(s.started_at),
            "concluded_at": _local(s.concluded_at) if s.concluded_at else None,
            "summary": self.summary,
        }

    def finding_dicts(self) -> Iterator[dict[str, Any]]:
        """The findings as :meth:`as_dict` lists them, streamed."""
        for row in self.finding_rows():
            yield dict(zip(FINDING_COLUMNS, row, strict=True))

    def as_dict(self) -> dict[str, Any]:
        return {**self.head(), "findings": list(self.finding_dicts())}


def _value(text: str | None) -> str:
    if text is None:
        return ""
    value = json.loads(text)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _local(moment: datetime | None, zone: tzinfo = LOCAL_TIME) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "-"


def sessions(node: Node) -> list[Any]:
    """Every reconciliation this node started or answered, newest first."""
    with reading(node.engine) as conn:
        return list(
            conn.execute(sa.select(reconciliation).order_by(reconciliation.c.started_at.desc()))
        )


def latest(node: Node) -> str | None:
    found = sessions(node)
    return found[0].id if found else None


def load(node: Node, ident: str | None = None) -> Statement:
    """The statement of reconciliation ``ident`` (default: the newest)."""
    ident = ident or latest(node)
    if ident is None:
        raise InputError(
            said("no_reconciliation_yet"),
            hint=said("no_reconciliation_yet_hint"),
        )
    with reading(node.engine) as conn:
        row = conn.execute(
            sa.select(reconciliation).where(reconciliation.c.id == ident)
        ).one_or_none()
        if row is None:
            raise InputError(
                said("no_reconciliation", ident=ident),
                hint=said("no_reconciliation_hint"),
            )
    topology = node.topology
    names = {c: topology.node(c).name for c in (row.origin, row.recipient) if c in topology}
    return Statement(
        session=row,
        summary=json.loads(row.summary or "{}"),
        me=node.spec.code,
        names=names,
        own_fingerprint=load_signer(node.home.keys).fingerprint,
        engine=node.engine,
    )


def render_html(statement: Statement, zone: tzinfo = LOCAL_TIME) -> str:
    """A printable statement: title block, totals per function class, every finding;
    its time in ``zone`` (the node's [node] time_zone)."""
    return "".join(html_parts(statement, zone))


def html_parts(statement: Statement, zone: tzinfo = LOCAL_TIME) -> Iterator[str]:
    """:func:`render_html` in pieces, a finding at a time (bounded memory)."""
    s = statement.session
    e = html.escape
    title = "上下级指标对账单 Reconciliation statement"
    verdict = (
        "双方一致 The two sides agree"
        if s.agree
        else f"发现差异 {s.discrepancies} difference(s) found"
        if s.state == "concluded"
        else f"进行中 in progress ({s.state})"
    )
    issuer_totals = statement.summary.get("issuer_totals", {}) or {}
    recipient_totals = statement.summary.get("recipient_totals", {}) or {}
    classes = sorted(set(issuer_totals) | set(recipient_totals))
    total_rows = "".join(
        f"<tr><td>{e(k)}</td><td class=n>{e(format_yuan(int(issuer_totals.get(k, 0))))}</td>"
        f"<td class=n>{e(format_yuan(int(recipient_totals.get(k, 0))))}</td>"
        f"<td>{'' if issuer_totals.get(k, 0) == recipient_totals.get(k, 0) else '≠'}</td></tr>"
        for k in classes
    )
    fingerprints = statement.summary.get("fingerprints", {})
    block = [
        ("对账编号 Statement", s.id),
        ("对账单位 Issuer", f"{s.origin} {statement.names.get(s.origin, '')}"),
        ("对账单位 Recipient", f"{s.recipient} {statement.names.get(s.recipient, '')}"),
        ("对账截止 Cut", f"channel seq {s.cut}, concluded {_local(s.concluded_at, zone)} ({zone})"),
        ("上级证书 Issuer certificate", fingerprints.get(s.origin, "-")),
        ("下级证书 Recipient certificate", fingerprints.get(s.recipient, "-")),
        ("结论 Verdict", verdict),
        ("在途 In transit", str(s.in_transit)),
    ]
    rows = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in block)
    yield f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{e(title)} {e(s.id)}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #999; padding: 0.3em 0.6em; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
@media print {{ body {{ margin: 0; }} }}
</style></head><body>
<h1>{e(title)}</h1>
<table class=block>{rows}</table>
<h2>按功能分类汇总 Totals per function class (金额单位：元)</h2>
<table><tr><th>类 Class</th><th>上级 Issuer</th><th>下级 Recipient</th><th></th></tr>{total_rows}</table>
<h2>差异明细 Findings</h2>
<table><tr><th>类型 Kind</th><th>对象 Subject</th><th>字段 Field</th><th>上级 Issuer</th>
<th>下级 Recipient</th><th>说明 Detail</th></tr>"""
    found = False
    for row in statement.finding_rows():
        found = True
        yield "<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in row[1:]) + "</tr>"
    if not found:
        yield "<tr><td colspan=6>无 none</td></tr>"
    yield """</table>
</body></html>
"""


def alerts(node: Node) -> list[Alert]:
    """For ``status``: the newest reconciliation of each edge that found discrepancies,
    failed, or has waited too long for the other side."""
    found = []
    newest: dict[tuple[str, str], Any] = {}
    for s in sessions(node):
        newest.setdefault((s.origin, s.recipient), s)
    now = datetime.now(LOCAL_TIME)
    for s in newest.values():
        other = s.recipient if s.origin == node.spec.code else s.origin
        if s.state == "concluded" and s.discrepancies:
            found.append(
                Alert(
                    "reconcile",
                    s.id,
                    said("alert_discrepancies", count=s.discrepancies, other=other, id=s.id),
                )
            )
        elif s.state == "failed":
            found.append(Alert("reconcile", s.id, said("alert_refused", other=other)))
        elif s.state != "concluded" and now - s.started_at > WAITING:
            found.append(
                Alert(
                    "reconcile",
                    s.id,
                    said("alert_waiting", other=other, since=_local(s.started_at)),
                )
            )
    return found
