"""``appropriations show ID`` looks its appropriation up by id (and its breakdowns by
parent): what it shows is what the year's whole listing says of it, for an appropriation
issued, received, broken down and refused, and an unknown id is refused as before. On
SQLite and on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner, Result

from cli import cli
from nodes import Node
from nodes.fiscal.appropriations import History, history, holdings
from nodes.network import Network, sync_network
from schema.tables import code_item

LINE = ["--econ", "50201", "--fund", "111", "--year", "2026"]


def run(network: Network, code: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--home", str(network.path / code), *args])


def issue(
    network: Network, code: str, to: str, amount: str, func: str, doc: str, *extra: str
) -> str:
    result = run(
        network, code, "allocate", "--to", to, "--amount", amount, "--func", func, *LINE,
        "--doc", doc, *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    with Node.open(network.path / code) as node:
        return max(h.id for h in holdings(node, issued=True))


def settle(network: Network) -> None:
    assert sync_network(network.path, until_quiet=True, max_rounds=20).quiet


def scanned(node: Node, ident: str) -> History:
    """The history as read from the year's whole listing, one holding after another."""
    shown = history(node, ident)
    year, here = shown.appropriation.year, shown.issued_here
    own = next(h for h in holdings(node, issued=here, year=year) if h.id == ident)
    children = [h for h in holdings(node, issued=True, year=year) if h.parent_id == ident]
    return History(own, shown.events, children, here)


def test_show_finds_an_appropriation_and_its_breakdowns_by_id(province: Network) -> None:
    normal = issue(province, "410000", "410100", "1000.00", "2050202", "豫财预〔2026〕1号")
    other = issue(province, "410000", "410100", "50.00", "2050202", "豫财预〔2026〕2号")
    with Node.open(province.path / "410300") as node, node.engine.begin() as conn:
        gone = (code_item.c.codeset == "func") & (code_item.c.code == "2050201")
        assert conn.execute(sa.delete(code_item).where(gone)).rowcount > 0
    refused = issue(province, "410000", "410300", "20.00", "2050201", "豫财预〔2026〕3号")
    settle(province)
    broken = issue(
        province, "410100", "410102", "300.00", "2050202", "郑财预〔2026〕1号", "--from", normal
    )
    issue(province, "410100", "410122", "200.00", "2050202", "郑财预〔2026〕2号", "--from", normal)
    issue(province, "410100", "410122", "10.00", "2050202", "郑财预〔2026〕3号", "--from", other)
    settle(province)

    for code, ident, breakdowns in (
        ("410000", normal, 0),  # issued here
        ("410100", normal, 2),  # received here, broken down twice
        ("410100", other, 1),
        ("410100", broken, 0),  # a breakdown, issued here
        ("410102", broken, 0),  # the breakdown received
        ("410000", refused, 0),  # refused by its recipient
    ):
        with Node.open(province.path / code) as node:
            shown = history(node, ident)
            assert shown == scanned(node, ident)
            assert len(shown.breakdowns) == breakdowns
        assert run(province, code, "appropriations", "show", ident).exit_code == 0
    with Node.open(province.path / "410000") as node:
        standing = history(node, refused)
    assert [e.verdict for e in standing.events] == ["rejected"]
    assert standing.appropriation.amount_fen == 0

    unknown = run(
        province, "410000", "appropriations", "show", "410000-2026-999999", "--lang", "en"
    )
    assert unknown.exit_code == 3
    assert "410000-2026-999999" in unknown.stderr and "Traceback" not in unknown.stderr


def test_the_cli_prints_what_the_history_holds(province: Network, tmp_path: Path) -> None:
    ident = issue(province, "410000", "410100", "1234.56", "2050202", "豫财预〔2026〕1号")
    settle(province)
    broken = issue(
        province, "410100", "410102", "34.56", "2050202", "郑财预〔2026〕1号", "--from", ident
    )
    settle(province)
    shown = run(province, "410100", "appropriations", "show", ident, "--lang", "en")
    assert shown.exit_code == 0, shown.stderr
    assert f"{ident} (received here)" in shown.output
    assert "1,200.00" in shown.output  # still available
    assert broken in shown.output and "34.56" in shown.output
