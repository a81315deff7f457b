"""Issuing (下达) and breaking down (分解) appropriations, with balance control (指标控制).

Through real change-sets on a ``network init`` province, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from cli import cli
from nodes import Node, init_network
from nodes.network import Network, sync_network
from schema.channels import outbox
from schema.tables import appropriation
from schema.types import parse_yuan

LINE = ["--func", "2050202", "--econ", "50201", "--fund", "111"]


@pytest.fixture
def province(tmp_path: Path, db_url_template: str | None, demo_topology: Path) -> Network:
    return init_network(tmp_path / "province", demo_topology, db_url_template)


def run(network: Network, code: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--home", str(network.path / code), *args])


def allocate(network: Network, code: str, to: str, amount: str, *extra: str) -> Result:
    return run(
        network,
        code,
        "allocate",
        "--to",
        to,
        "--amount",
        amount,
        *LINE,
        "--doc",
        f"{code}〔2026〕1号",
        "--year",
        "2026",
        *extra,
    )


def listing(network: Network, code: str, which: str) -> list[dict[str, object]]:
    """The listing as JSON, amounts (元 text there) turned back into fen."""
    result = run(network, code, "appropriations", f"--{which}", "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = list(json.loads(result.output))
    for row in rows:
        for key in ("amount", "acknowledged", "available"):
            if key in row:
                row[f"{key}_fen"] = parse_yuan(row.pop(key))
    return rows


def settle(network: Network) -> None:
    assert sync_network(network.path, until_quiet=True, max_rounds=20).quiet


def test_issue_down_and_break_down_conserve_every_fen(province: Network) -> None:
    assert allocate(province, "410000", "410100", "1000000.00").exit_code == 0
    assert allocate(province, "410000", "410181", "250000.50").exit_code == 0
    settle(province)
    received = listing(province, "410100", "received")
    assert [(r["id"], r["amount_fen"], r["available_fen"]) for r in received] == [
        ("410000-2026-000001", 100_000_000, 100_000_000)
    ]
    first = allocate(province, "410100", "410102", "600000", "--from", "410000-2026-000001")
    second = allocate(province, "410100", "410122", "399999.99", "--from", "410000-2026-000001")
    assert first.exit_code == 0 and second.exit_code == 0, first.stderr + second.stderr
    settle(province)
    issued = sum(int(r["amount_fen"]) for r in listing(province, "410000", "issued"))
    got = sum(
        int(r["amount_fen"]) for c in ("410100", "410181") for r in listing(province, c, "received")
    )
    assert issued == got == 125_000_050
    broken_down = sum(int(r["amount_fen"]) for r in listing(province, "410100", "issued"))
    counties = sum(
        int(r["amount_fen"]) for c in ("410102", "410122") for r in listing(province, c, "received")
    )
    assert broken_down == counties == 99_999_999
    assert listing(province, "410100", "received")[0]["available_fen"] == 1
    county = listing(province, "410102", "received")[0]
    assert (county["issuer"], county["doc_no"]) == ("410100", "410100〔2026〕1号")
    with Node.open(province.path / "410100") as node, node.engine.connect() as conn:
        upper = (
            conn.execute(
                sa.select(appropriation.c.upper_doc_no).where(appropriation.c.issuer == "410100")
            )
            .scalars()
            .all()
        )
    assert upper == ["410000〔2026〕1号", "410000〔2026〕1号"]


def test_a_breakdown_beyond_the_available_balance_is_refused(province: Network) -> None:
    allocate(province, "410000", "410100", "100.00")
    settle(province)
    allocate(province, "410100", "410102", "60.00", "--from", "410000-2026-000001")
    result = allocate(province, "410100", "410122", "40.01", "--from", "410000-2026-000001")
    assert result.exit_code == 3
    assert "exceeds its available balance of 40.00 元" in result.stderr
    with Node.open(province.path / "410100") as node, node.engine.connect() as conn:
        sent = conn.execute(sa.select(outbox.c.recipient)).scalars().all()
    assert sent == ["410102"]  # nothing of the refused line was issued or queued


def test_only_an_appropriation_received_here_can_be_broken_down(province: Network) -> None:
    allocate(province, "410000", "410300", "100.00")
    settle(province)
    result = allocate(province, "410100", "410102", "1.00", "--from", "410000-2026-000001")
    assert result.exit_code == 3
    assert "is not an appropriation received here" in result.stderr


@pytest.mark.parametrize(
    ("code", "to", "why"),
    [
        ("410102", "410100", "only an ancestor issues appropriations"),
        ("410100", "410322", "410100 is not above 410322"),
        ("410100", "410181", "410100 is not above 410181"),
    ],
)
def test_only_down_the_tree(province: Network, code: str, to: str, why: str) -> None:
    result = allocate(province, code, to, "1.00")
    assert result.exit_code == 3
    assert why in result.stderr


@pytest.mark.parametrize(
    ("amount", "why"),
    [
        ("1.234", "at most two decimals"),
        ("abc", "at most two decimals"),
        ("0", "more than zero"),
        ("-5", "more than zero"),
    ],
)
def test_bad_amounts_are_refused(province: Network, amount: str, why: str) -> None:
    result = allocate(province, "410000", "410100", amount)
    assert result.exit_code == 3
    assert why in result.stderr
    assert listing(province, "410000", "issued") == []


def test_bad_classification_codes_are_refused(province: Network) -> None:
    result = run(
        province,
        "410000",
        "allocate",
        "--to",
        "410100",
        "--amount",
        "1",
        "--func",
        "205",
        "--econ",
        "5020",
        "--fund",
        "111",
        "--doc",
        "d",
    )
    assert result.exit_code == 3
    assert "'205' is not 7 digits" in result.stderr and "'5020' is not 5 digits" in result.stderr
