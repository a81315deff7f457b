"""Lines and entries without a label of their own (given in code, not read from a file)
are named by their number (``line 7``, ``entry 5``) in what the second pass, inside the
write transaction, refuses: past a chunk's end, beside lines that have a label, and in
the operator's language.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from nodes import Node
from nodes.fiscal import ledger
from nodes.fiscal.appropriations import Allocation, allocate
from nodes.fiscal.appropriations import issuing as issuing_module
from nodes.fiscal.ledger import Entry, record
from nodes.labels import labels, said, shown
from nodes.network import Network, sync_network
from sync.errors import RowsRefused

YEAR = 2026
ACTOR = "test"
ZH = labels("zh")


@pytest.fixture
def city(province: Network) -> Iterator[dict[str, Node]]:
    nodes = {code: Node.open(province.path / code) for code in ("410000", "410100")}
    try:
        yield nodes
    finally:
        for node in nodes.values():
            node.close()


def _line(fen: int, doc: str, parent: str | None = None, label: str | None = None) -> Allocation:
    to = "410100" if parent is None else "410102"
    return Allocation(to, fen, "2050202", "50201", "111", doc, YEAR, parent_id=parent, label=label)


def _refused(action: object) -> RowsRefused:
    with pytest.raises(RowsRefused) as refused:
        action()  # type: ignore[operator]
    return refused.value


def test_lines_issued_before_are_named_by_number_past_a_chunk(
    city: dict[str, Node], province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(issuing_module, "BATCH", 2)
    province_node = city["410000"]
    first = allocate(
        province_node, [_line(100_000 + n, "豫财预〔2026〕1号") for n in range(3)], actor=ACTOR
    )
    again = [
        _line(500, "豫财预〔2026〕2号"),
        _line(100_000, "豫财预〔2026〕1号"),
        _line(700, "豫财预〔2026〕2号", label="batch.csv row 4"),
        _line(100_002, "豫财预〔2026〕1号"),
        _line(100_001, "豫财预〔2026〕1号", label="batch.csv row 6"),
    ]
    refused = _refused(lambda: allocate(province_node, again, actor=ACTOR))
    assert refused.problems == [
        f"line 2: already issued as {first[0]} (the same 文号, recipient, function and amount)",
        f"line 4: already issued as {first[2]} (the same 文号, recipient, function and amount)",
        f"batch.csv row 6: already issued as {first[1]} (the same 文号, recipient, function"
        " and amount)",
    ]
    in_chinese = [shown(p, ZH) for p in refused.problems]
    assert in_chinese[0].startswith("第 2 行") and in_chinese[2].startswith("batch.csv row 6")


def test_breakdowns_beyond_the_balance_are_named_by_number_past_a_chunk(
    city: dict[str, Node], province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    (parent,) = allocate(city["410000"], [_line(10_000, "豫财预〔2026〕1号")], actor=ACTOR)
    assert sync_network(province.path, until_quiet=True).quiet
    monkeypatch.setattr(issuing_module, "BATCH", 2)
    down = [_line(4_000, f"郑财预〔2026〕{n}号", parent) for n in range(1, 5)]
    refused = _refused(lambda: allocate(city["410100"], down, actor=ACTOR))
    assert [p.split(":")[0] for p in refused.problems] == ["line 3", "line 4"]
    assert all("exceeds its available balance" in p for p in refused.problems)


def test_spending_beyond_the_balance_is_named_by_number_past_a_chunk(
    city: dict[str, Node], province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ident,) = allocate(city["410000"], [_line(10_000, "豫财预〔2026〕1号")], actor=ACTOR)
    assert sync_network(province.path, until_quiet=True).quiet
    monkeypatch.setattr(ledger, "CHUNK", 2)

    def spend(fen: int, label: str | None = None) -> Entry:
        return Entry(date(YEAR, 10, 1), "expenditure", "2050202", fen, None, ident, label=label)

    book = [spend(4_000), spend(4_000), spend(1_000, "pay.csv row 4"), spend(2_000), spend(500)]
    refused = _refused(lambda: record(city["410100"], book, actor=ACTOR))
    assert [p.split(":")[0] for p in refused.problems] == ["entry 4", "entry 5"]
    assert refused.problems[0] == (
        f"entry 4: spending 20.00 元 exceeds what is still available of {ident}: 10.00 元"
    )
    assert shown(said("rows_entry", number=4), ZH) == "第 4 笔"
    assert shown(refused.problems[0], ZH).startswith("第 4 笔")
