"""A malformed reconcile step from a validly-signed peer is refused (a negative receipt, its
sender told why), and the channel it came on goes on: nothing waits behind it. On SQLite
and PostgreSQL provinces."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cli import cli
from nodes import Node
from nodes.fiscal.appropriations import Allocation, allocate
from nodes.fiscal.reconcile.protocol import start
from nodes.network import Network, sync_network
from schema.engine import reading
from schema.tables import appropriation, reconciliation
from sync import merkle
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK
from sync.pki import load_signer

YEAR, FUNC, ECON, FUND = 2026, "2050202", "50201", "111"
PROVINCE, CITY = "410000", "410100"


def issue(network: Network, doc: int) -> str:
    with Node.open(network.path / PROVINCE) as node:
        line = Allocation(CITY, 100_00, FUNC, ECON, FUND, f"豫财预〔{YEAR}〕{doc}号", YEAR)
        (ident,) = allocate(node, [line], actor="test")
    return ident


def send_as(network: Network, origin: str, recipient: str, op: dict[str, Any]) -> str:
    """A reconcile step written and signed by ``origin`` as it would sign its own."""
    with Node.open(network.path / origin) as node, node.engine.begin() as conn:
        signer = load_signer(node.home.keys)
        return enqueue(conn, node.spool, signer, recipient, "reconcile", [op], SYSTEM_CLOCK).id


def sent(network: Network, origin: str, recipient: str) -> dict[str, str | None]:
    """Change-set id → the verdict of its receipt, of everything ``origin`` sent."""
    with Node.open(network.path / origin) as node:
        return {
            e.id: e.receipt_verdict
            for e in node.outbox(include_acknowledged=True)
            if e.recipient == recipient
        }


Step = Callable[[str, str], list[dict[str, Any]]]
"""The steps a variant sends, given the session and the id of the appropriation held."""


def report_answer(value: Any) -> Step:
    return lambda session, _ident: [
        {"step": "answer", "session": session, "reports": {"2026-10": value}}
    ]


def answer_then_records(record: list[Any]) -> Step:
    def steps(session: str, ident: str) -> list[dict[str, Any]]:
        leaf = merkle.leaf_of(ident)
        answer = {
            "step": "answer",
            "session": session,
            "head": 1,
            "leaves": {str(leaf): "0000000000000001"},
            "buckets": [leaf // merkle.LEAVES_PER_BUCKET],
        }
        return [answer, {"step": "records", "session": session, "absent": [], "records": [record]}]

    return steps


def record(events: Any) -> list[Any]:
    return ["Z-unknown", YEAR, "d", None, "t", FUNC, ECON, FUND, "x", None, events]


MALFORMED: dict[str, tuple[str, Step]] = {
    # the province answers the city's reconciliation of the reports it sent up
    "report_period_a_number": (PROVINCE, report_answer(5)),
    "report_period_empty": (PROVINCE, report_answer([])),
    "report_period_an_object": (PROVINCE, report_answer({"a": 1})),
    # the province (the issuer) to the city
    "leaf_superscript": (
        PROVINCE,
        lambda s, _i: [{"step": "leaves", "session": s, "records": {"²": {}}}],
    ),
    "leaf_of_5000_digits": (
        PROVINCE,
        lambda s, _i: [{"step": "leaves", "session": s, "records": {"9" * 5000: {}}}],
    ),
    "statement_kind_a_list": (
        PROVINCE,
        lambda s, _i: [
            {
                "step": "statement",
                "session": s,
                "agree": False,
                "findings": [{"kind": ["amount"], "subject": "x"}],
                "summary": {},
            }
        ],
    ),
    "statement_subject_with_nul": (
        PROVINCE,
        lambda s, _i: [
            {
                "step": "statement",
                "session": s,
                "agree": False,
                "findings": [{"kind": "amount", "subject": "x\x00"}],
                "summary": {},
            }
        ],
    ),
    # the city (the recipient) to the province
    "noticed_kind_an_object": (
        CITY,
        lambda s, _i: [
            {
                "step": "answer",
                "session": s,
                "head": 1,
                "agree": True,
                "noticed": [{"kind": {"a": 1}, "subject": "x"}],
            }
        ],
    ),
    "bucket_past_the_tree": (
        CITY,
        lambda s, _i: [
            {"step": "answer", "session": s, "head": 1, "leaves": {}, "buckets": [2**62]}
        ],
    ),
    "bucket_true": (
        CITY,
        lambda s, _i: [
            {"step": "answer", "session": s, "head": 1, "leaves": {}, "buckets": [True]}
        ],
    ),
    "record_events_a_number": (CITY, answer_then_records(record(5))),
    "record_amount_text": (CITY, answer_then_records(record([["e", "x", "12.345"]]))),
    "record_amount_past_a_column": (
        CITY,
        answer_then_records(record([[1, "issue", -(2**63), "d", "2026-01-01T00:00:00.000000Z"]])),
    ),
}


@pytest.mark.parametrize("variant", sorted(MALFORMED))
def test_a_malformed_step_is_refused_and_the_channel_goes_on(
    province: Network, variant: str
) -> None:
    sender, steps = MALFORMED[variant]
    ident = issue(province, 1)
    assert sync_network(province.path).quiet
    if variant.startswith("report_"):  # the city reconciles the reports it sent up
        with Node.open(province.path / CITY) as node:
            session = start(node, PROVINCE)
    else:
        with Node.open(province.path / PROVINCE) as node:
            session = start(node, CITY)
    recipient = CITY if sender == PROVINCE else PROVINCE
    crafted = [send_as(province, sender, recipient, op) for op in steps(session, ident)]
    sync_network(province.path, max_rounds=12)
    verdicts = sent(province, sender, recipient)
    assert verdicts[crafted[-1]] == "rejected"

    later = issue(province, 2)
    assert sync_network(province.path).quiet
    with Node.open(province.path / CITY) as node, reading(node.engine) as conn:
        held = set(conn.execute(sa.select(appropriation.c.id)).scalars())
    assert {ident, later} <= held
    verdicts = sent(province, sender, recipient)  # nothing after the refused step waits
    assert all(v is not None for v in verdicts.values()), verdicts
    for code in (PROVINCE, CITY):
        with Node.open(province.path / code) as node, reading(node.engine) as conn:
            parked = conn.execute(sa.text("SELECT count(*) FROM quarantine")).scalar_one()
            states = set(conn.execute(sa.select(reconciliation.c.state)).scalars())
        assert parked == 0 and "requested" not in states, (code, states)


def shown_as_html(network: Network, code: str, session: str) -> str:
    result = CliRunner().invoke(
        cli,
        ["--home", str(network.path / code), "reconcile", "show", session, "--format", "html"],
    )
    assert result.exit_code == 0, result.output + result.stderr
    return result.output


@pytest.mark.parametrize(
    "totals",
    [{"205": "12,345"}, {"205": [1]}, {"205": True}, {"²05": 1}, {"205": 2**63}, [1]],
    ids=["text", "list", "true", "superscript", "past_a_column", "not_an_object"],
)
def test_an_answer_whose_totals_are_not_fen_per_class_is_refused(
    province: Network, totals: Any
) -> None:
    issue(province, 1)
    assert sync_network(province.path).quiet
    with Node.open(province.path / PROVINCE) as node:
        session = start(node, CITY, full=True)
    answer = {"step": "answer", "session": session, "head": 1, "agree": True, "totals": totals}
    crafted = send_as(province, CITY, PROVINCE, answer)
    assert sync_network(province.path).quiet
    assert sent(province, CITY, PROVINCE)[crafted] == "rejected"
    page = shown_as_html(province, PROVINCE, session)  # concluded on the honest answer
    assert "<tr><td>205</td><td class=n>100.00</td><td class=n>100.00</td>" in page, page
    assert "上下级指标对账单" in shown_as_html(province, CITY, session)


@pytest.mark.parametrize(
    "summary",
    [
        5,
        {"fingerprints": ["x"]},
        {"fingerprints": {PROVINCE: 7}},
        {"issuer_totals": {"205": "1"}},
        {"recipient_totals": []},
        {"sent": "1"},
        {"full": "yes"},
    ],
    ids=[
        "not_an_object",
        "fingerprints_a_list",
        "fingerprint_a_number",
        "issuer_totals_text",
        "recipient_totals_a_list",
        "sent_text",
        "full_text",
    ],
)
def test_a_statement_whose_summary_is_not_of_its_shape_is_refused(
    province: Network, summary: Any
) -> None:
    issue(province, 1)
    assert sync_network(province.path).quiet
    with Node.open(province.path / PROVINCE) as node:
        session = start(node, CITY)
    sync_network(province.path, max_rounds=1)  # the request reaches the city, answered
    statement = {
        "step": "statement",
        "session": session,
        "agree": True,
        "findings": [],
        "summary": summary,
    }
    crafted = send_as(province, PROVINCE, CITY, statement)
    assert sync_network(province.path).quiet
    assert sent(province, PROVINCE, CITY)[crafted] == "rejected"
    assert "上下级指标对账单" in shown_as_html(province, CITY, session)
