"""Appliers check what they store against the table declarations: a field PostgreSQL
would refuse is refused with a negative receipt on both databases, never half-applied."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import provinces
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import cli
from nodes import Node
from nodes.fiscal import reports
from nodes.network import Network, sync_network
from schema import misfit, misfit_many
from schema.channels import changeset_log, outbox
from schema.tables import code_item, ledger_entry, report, report_line
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK
from sync.pki import load_signer

CENTER = "410000-dc"
COUNTY = "410181"


@pytest.fixture
def province(tmp_path: Path, db_url_template: str | None, demo_topology: Path) -> Network:
    return provinces.make(tmp_path / "province", demo_topology, db_url_template)


def send(
    network: Network, origin: str, recipient: str, kind: str, ops: list[dict[str, Any]]
) -> str:
    """Queue a change-set of ``ops`` as ``origin`` would (no check on the way out)."""
    with Node.open(network.path / origin) as node:
        signer = load_signer(node.home.keys)
        with node.engine.begin() as conn:
            return enqueue(conn, node.spool, signer, recipient, kind, ops, SYSTEM_CLOCK).id


def verdict(network: Network, holder: str, changeset_id: str) -> tuple[str, str | None]:
    with Node.open(network.path / holder) as node, node.engine.connect() as conn:
        row = conn.execute(sa.select(changeset_log).where(changeset_log.c.id == changeset_id)).one()
    return row.verdict, row.reason


def receipt(network: Network, origin: str, changeset_id: str) -> str | None:
    with Node.open(network.path / origin) as node, node.engine.connect() as conn:
        return conn.execute(
            sa.select(outbox.c.receipt_verdict).where(outbox.c.id == changeset_id)
        ).scalar_one()


def settle(network: Network) -> None:
    assert sync_network(network.path, until_quiet=True, max_rounds=20).quiet


def report_ops(generated_by: str = "tester", ytd: int = 1234) -> list[dict[str, Any]]:
    def line(section: str, level: int, code: str, amount: int) -> dict[str, Any]:
        return {"op": "line", "section": section, "level": level, "code": code,
                "budget": 0, "period": 0, "ytd": amount}  # fmt: skip

    lines = [
        line("revenue", 0, "", ytd),
        line("revenue", 1, "101", ytd),
        line("revenue", 3, "10101", ytd),
        line("expenditure", 0, "", 0),
    ]
    head = {
        "op": "report", "node": COUNTY, "period": "2026-09", "kind": "monthly", "year": 2026,
        "version": 1, "generated_at": "2026-10-01T00:00:00.000000Z",
        "generated_by": generated_by, "negative_entries": False, "lines": len(lines),
    }  # fmt: skip
    return [head, *lines]


def test_a_150_character_field_gets_a_negative_receipt(province: Network) -> None:
    long_name = "报" * 150  # fits a SQLite node's column, not a String(100)
    too_long = send(province, COUNTY, CENTER, "report", report_ops(generated_by=long_name))
    too_big = send(province, COUNTY, "410000", "report", report_ops(ytd=2**63))
    settle(province)
    assert verdict(province, CENTER, too_long) == (
        "rejected",
        "report operation: generated_by is 150 characters long; at most 100 fit",
    )
    assert verdict(province, "410000", too_big) == (
        "rejected",
        "revenue total: ytd_fen 9223372036854775808 does not fit in 64 bits",
    )
    assert receipt(province, COUNTY, too_long) == receipt(province, COUNTY, too_big) == "rejected"
    for holder in (CENTER, "410000"):
        with Node.open(province.path / holder) as node:
            assert reports.versions(node, "2026-09", COUNTY) == []
    # the channel goes on: a good report after them is taken
    good = send(province, COUNTY, CENTER, "report", report_ops())
    settle(province)
    assert verdict(province, CENTER, good) == ("applied", None)


def code_op(**changes: Any) -> dict[str, Any]:
    op = {"op": "code", "codeset": "func", "year": 2026, "code": "2059901", "name": "扩展",
          "parent": "20599", "level": 3, "extension": True}  # fmt: skip
    return {**op, **changes}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"name": "名" * 201}, "operation 2: name is 201 characters long; at most 200 fit"),
        ({"year": "2026"}, "operation 2: year '2026' has the wrong type"),
        ({"name": ["扩展"]}, "operation 2: name ['扩展'] has the wrong type"),
        ({"extension": 1}, "operation 2: extension 1 has the wrong type"),
    ],
)
def test_a_code_set_that_would_not_fit_is_refused_whole(
    province: Network, change: dict[str, Any], reason: str
) -> None:
    sent = send(
        province, "410000", "410100", "codeset", [code_op(code="2059902"), code_op(**change)]
    )
    settle(province)
    assert verdict(province, "410100", sent) == ("rejected", reason)
    with Node.open(province.path / "410100") as node, node.engine.connect() as conn:
        assert conn.execute(sa.select(code_item).where(code_item.c.is_extension)).all() == []


def test_codes_import_refuses_a_name_too_long_naming_the_row(
    province: Network, tmp_path: Path
) -> None:
    csv = tmp_path / "codes.csv"
    csv.write_text(
        "codeset,year,code,name,parent,level\n"
        f"func,2026,2059901,扩展,20599,3\nfunc,2026,2059902,{'名' * 201},20599,3\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli, ["--home", str(province.path / "410000"), "codes", "import", str(csv), "--lang", "en"]
    )
    assert result.exit_code == 3
    assert "codes.csv row 3: name is 201 characters long; at most 200 fit" in result.stderr


# --- the check itself ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "row", "problem"),
    [
        (report, {"generated_by": "x" * 100}, None),
        (
            report,
            {"generated_by": "x" * 101},
            "generated_by is 101 characters long; at most 100 fit",
        ),
        (report, {"generated_by": 5}, "generated_by 5 is not text"),
        (report, {"generated_by": "a\x00b"}, "generated_by holds a NUL character"),
        (
            report,
            {"generated_by": "\ud800"},
            "generated_by is not valid Unicode (a lone surrogate)",
        ),
        (report, {"generated_by": None}, "generated_by is missing"),
        (report, {"submitted_at": None}, None),
        (report, {"version": 2**31}, "version 2147483648 does not fit in 32 bits"),
        (report, {"version": True}, "version True is not a whole number"),
        (report, {"negative_entries": 0}, "negative_entries 0 is not true or false"),
        (report, {"received_at": datetime(2026, 1, 1)}, "is not a time with its zone"),
        (report, {"received_at": datetime(2026, 1, 1, tzinfo=UTC)}, None),
        (ledger_entry, {"amount_fen": -(2**63)}, None),
        (ledger_entry, {"entry_date": datetime(2026, 1, 1, tzinfo=UTC)}, "is not a date"),
        (ledger_entry, {"entry_date": date(2026, 1, 1), "memo": "长" * 10_000}, None),
    ],
)
def test_misfit_names_what_the_column_cannot_hold(
    table: sa.Table, row: dict[str, Any], problem: str | None
) -> None:
    found = misfit(table, row)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_misfit_knows_no_limits_of_a_type_it_was_not_taught() -> None:
    """A column of a type without known limits is an error of the code, found when a
    value is checked against it (the limits of a table are read once, from its
    declaration), not a misfit of the row."""
    odd = sa.Table("odd", sa.MetaData(), sa.Column("ratio", sa.Float, nullable=True))
    assert misfit(odd, {"ratio": None}) is None
    with pytest.raises(TypeError, match="no limits known"):
        misfit(odd, {"ratio": 0.5})


EDGES = [
    *("", "revenue", "x" * 16, "x" * 17, "x" * 100, "x" * 101, "长" * 100, "长" * 101),
    *("a\x00b", "\ud800", "5", "é"),
    *(0, 1, -1, 2**15, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1),
    *(2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**30),
    *(True, False, None, 1.5),
    *(date(2026, 1, 1), datetime(2026, 1, 1), datetime(2026, 1, 1, tzinfo=UTC)),
]
VALUES = st.one_of(st.sampled_from(EDGES), st.text(max_size=20), st.integers())
TABLES = {
    "report_line": (report_line, list(report_line.c.keys())),
    "report": (
        report,
        ["node_code", "version", "negative_entries", "generated_by", "state"],
    ),
    "report times": (report, ["generated_at", "submitted_at"]),
    "ledger_entry": (ledger_entry, ["entry_date", "amount_fen", "memo"]),
}
GOOD = {
    "report_line": (7, "expenditure", 3, "2050201", 1, -2, 3, 4, 0),
    "report": ("410181", 1, False, "张三", "received"),
    "report times": (datetime(2026, 1, 1, tzinfo=UTC), None),
    "ledger_entry": (date(2026, 1, 1), -(2**63), "备注"),
}


def first_misfit(table: sa.Table, columns: list[str], rows: list[tuple[Any, ...]]) -> Any:
    """What :func:`misfit` finds first, row by row: (row index, reason), or None."""
    for index, row in enumerate(rows):
        problem = misfit(table, dict(zip(columns, row, strict=True)))
        if problem is not None:
            return index, problem
    return None


def varied(which: str, place: int, values: list[Any], before: int) -> list[tuple[Any, ...]]:
    """``before`` rows that fit, then one row for each of ``values`` in column ``place``."""
    good = GOOD[which]
    return [good] * before + [(*good[:place], v, *good[place + 1 :]) for v in values]


@pytest.mark.parametrize("which", sorted(TABLES))
def test_misfit_many_finds_what_misfit_finds_at_every_edge(which: str) -> None:
    """Each column of each table, each edge value alone in it (every other value fits),
    after a row that fits: the batch check names the same row and reason as :func:`misfit`
    row by row, or passes where it does."""
    table, columns = TABLES[which]
    for place in range(len(columns)):
        for value in EDGES:
            rows = varied(which, place, [value], 1)
            assert misfit_many(table, columns, rows) == first_misfit(table, columns, rows), (
                columns[place],
                value,
            )


@settings(max_examples=200, deadline=None)
@given(
    which=st.sampled_from(sorted(TABLES)),
    column=st.integers(0, 8),
    values=st.lists(VALUES, min_size=1, max_size=6),
    before=st.integers(0, 3),
)
def test_misfit_many_names_the_row_and_reason_misfit_finds_first(
    which: str, column: int, values: list[Any], before: int
) -> None:
    """Several values in one column, the others fitting: the same first row and reason
    as :func:`misfit`; rows that all fit pass."""
    table, columns = TABLES[which]
    rows = varied(which, column % len(columns), values, before)
    assert misfit_many(table, columns, rows) == first_misfit(table, columns, rows)
    assert misfit_many(table, columns, [GOOD[which]] * (before + 1)) is None
