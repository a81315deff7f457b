"""Reconciliation between levels (上下级对账), on SQLite and PostgreSQL provinces."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from click.testing import CliRunner

from cli import cli
from nodes import Node
from nodes.fiscal.appropriations import Allocation, allocate
from nodes.fiscal.reconcile.records import stale
from nodes.network import Network, sync_network
from schema.digests import digest_bucket
from schema.engine import reading
from schema.migrate import MIGRATIONS

YEAR, FUNC, ECON, FUND = 2026, "2050202", "50201", "111"


def issue(network: Network, origin: str, recipient: str, *amounts: int) -> list[str]:
    with Node.open(network.path / origin) as node:
        lines = [
            Allocation(recipient, a, FUNC, ECON, FUND, f"豫财预〔{YEAR}〕{i}号", YEAR)
            for i, a in enumerate(amounts, 1)
        ]
        return allocate(node, lines, actor="test")


def test_an_upgrade_past_the_digests_builds_them_from_the_records(province: Network) -> None:
    issue(province, "410000", "410100", 100_00, 200_00, 300_00)
    assert sync_network(province.path, until_quiet=True).quiet
    for code in ("410000", "410100"):
        with Node.open(province.path / code) as node:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            with node.engine.begin() as conn:
                config.attributes["connection"] = conn
                command.downgrade(config, "0005")
        result = CliRunner().invoke(cli, ["--home", str(province.path / code), "db", "upgrade"])
        assert result.exit_code == 0, result.output + result.stderr
        with Node.open(province.path / code) as node, reading(node.engine) as conn:
            kept = conn.execute(sa.select(sa.func.count()).select_from(digest_bucket)).scalar()
            assert kept and stale(conn, code) == []
