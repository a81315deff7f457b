"""Document numbers (文号) and the fields of an appropriation: 指标类型, 指标来源, 预算级次.

A 文号 is ``<简称><kind>〔YYYY〕N号`` with the issuer's abbreviation from the topology;
the province records the central document (上级文号) it issues under, and a breakdown
carries its parent's. From the command line on a ``network init`` province, on SQLite
and on PostgreSQL; the recipient refuses crafted change-sets that break the rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_allocate import BATCH_HEADER, LINE, listing, run, settle
from test_direct_funds import ISSUE, crafted

from nodes.fiscal.documents import Documents
from nodes.network import Network
from nodes.topology import parse_topology
from sync.errors import TopologyError

FIRST = "410000-2026-000001"


def issue(network: Network, code: str, to: str, doc: str, *extra: str) -> Any:
    return run(network, code, "allocate", "--to", to, "--amount", "100.00", *LINE,
               "--doc", doc, "--year", "2026", *extra)  # fmt: skip


@pytest.mark.parametrize(
    ("code", "doc", "why"),
    [
        ("410000", "x", "'x' is not of the form <简称><kind>〔YYYY〕N号"),
        ("410000", "[2026]", "is not of the form"),
        ("410000", "豫财预[2026]1号", "with the brackets 〔 〕"),
        ("410000", "豫财预〔2026〕01号", "is not of the form"),
        ("410000", "郑财预〔2026〕1号", "'郑财预〔2026〕1号' of 410000 starts with 豫财"),
        ("410000", "豫财游〔2026〕1号", "'游' after 豫财 is not a document kind"),
        ("410000", "豫财预〔2025〕1号", "is of 2025, not of the fiscal year 2026"),
    ],
)
def test_a_malformed_document_number_is_refused(
    province: Network, code: str, doc: str, why: str
) -> None:
    result = issue(province, code, "410100", doc, "--lang", "en")
    assert result.exit_code == 3, result.output
    assert why in result.stderr
    assert "Traceback" not in result.stderr
    assert listing(province, code, "issued") == []


def test_an_advance_allocation_may_carry_last_years_document(province: Network) -> None:
    result = issue(province, "410000", "410100", "豫财预〔2025〕88号", "--indicator", "提前下达")
    assert result.exit_code == 0, result.stderr
    settle(province)
    (got,) = listing(province, "410100", "received")
    assert (got["indicator_label"], got["source_label"]) == ("提前下达", "本级安排")
    shown = run(province, "410100", "appropriations", "show", FIRST)
    assert "指标类型            提前下达" in shown.output
    assert "预算级次            市级" in shown.output


def test_the_province_records_the_central_document_and_breakdowns_carry_it_on(
    province: Network,
) -> None:
    result = issue(
        province, "410000", "410100", "豫财预〔2026〕5号", "--upper-doc", "财预〔2026〕3号"
    )
    assert result.exit_code == 0, result.stderr
    settle(province)
    (got,) = listing(province, "410100", "received")
    assert (got["upper_doc_no"], got["source_label"]) == ("财预〔2026〕3号", "上级补助")
    table = run(province, "410100", "appropriations")
    assert "财预〔2026〕3号" in table.output
    shown = run(province, "410100", "appropriations", "show", FIRST)
    assert "上级文号            财预〔2026〕3号" in shown.output
    issued = run(province, "410000", "appropriations", "--issued")
    assert "财预〔2026〕3号" in issued.output

    down = issue(province, "410100", "410102", "郑财预〔2026〕1号", "--from", FIRST)
    assert down.exit_code == 0, down.stderr
    settle(province)
    (county,) = listing(province, "410102", "received")
    assert (county["doc_no"], county["upper_doc_no"]) == ("郑财预〔2026〕1号", "豫财预〔2026〕5号")
    assert county["source_label"] == "上级补助"

    other = issue(province, "410100", "410122", "郑财预〔2026〕2号", "--from", FIRST,
                  "--upper-doc", "财预〔2026〕3号")  # fmt: skip
    assert other.exit_code == 3
    assert "分解的上级文号即 410000-2026-000001 的文号" in other.stderr
    below = issue(
        province, "410000", "410300", "豫财预〔2026〕6号", "--upper-doc", "郑财预〔2026〕1号"
    )
    assert below.exit_code == 3
    assert "既不是财政部（财）的文件，也不是 410000 上级节点的文件" in (below.stderr)


def test_every_problem_of_a_batch_file_is_named_in_one_pass(
    province: Network, tmp_path: Path
) -> None:
    batch = tmp_path / "batch.csv"
    batch.write_text(
        BATCH_HEADER + ",indicator,level\n"
        "410100,1.00,2050202,50201,111,豫财预〔2026〕1号,a,general,年初预算,市级\n"
        "410100,2.00,2050202,50201,111,x,b,general,追加,\n"
        "410300,3.00,2059998,50201,111,豫财预〔2026〕2号,c,general,someday,\n"
        "410300,4.00,2050202,50201,111,豫财预〔2024〕2号,d,general,,村级\n",
        encoding="utf-8",
    )
    result = run(
        province, "410000", "allocate", "--file", str(batch), "--year", "2026", "--lang", "en"
    )
    assert result.exit_code == 3
    for expected in (
        "batch.csv row 3: document number (文号) 'x' is not of the form",
        "batch.csv row 4: indicator (指标类型) 'someday' is not one of",
        "batch.csv row 5: level (预算级次) '村级' is not one of",
    ):
        assert expected in result.stderr
    assert listing(province, "410000", "issued") == []


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"doc": "x"}, "document number (文号) 'x' is not of the form"),
        ({"doc": "郑财预〔2026〕1号"}, "of 410000 starts with 豫财"),
        (
            {"indicator": "someday"},
            "indicator (指标类型) must be one of annual, additional, advance",
        ),
        ({"source": "upper"}, "is upper (上级补助) exactly when an upper document (上级文号)"),
        ({"upper_doc": "财预〔2026〕3号", "source": "own"}, "exactly when"),
        ({"upper_doc": "郑财预〔2026〕3号"}, "not a document of the Ministry of Finance"),
        ({"level": "village"}, "level (预算级次) must be one of"),
    ],
)
def test_the_recipient_refuses_crafted_documents_and_fields(
    province: Network, change: dict[str, Any], why: str
) -> None:
    assert why in crafted(province, "appropriation", "410100", [{**ISSUE, **change}])
    assert listing(province, "410100", "received") == []


def test_an_adjustment_under_a_malformed_document_is_refused_at_both_ends(
    province: Network,
) -> None:
    assert issue(province, "410000", "410100", "豫财预〔2026〕1号").exit_code == 0
    settle(province)
    bad = run(province, "410000", "adjust", FIRST, "--delta", "1.00", "--doc", "调增1号",
              "--lang", "en")  # fmt: skip
    assert bad.exit_code == 3 and "is not of the form" in bad.stderr
    increase = {"op": "increase", "id": FIRST, "amount": 1, "doc": "调增1号", "actor": "x",
                "at": ISSUE["at"]}  # fmt: skip
    assert "is not of the form" in crafted(province, "appropriation", "410100", [increase])


def test_abbreviations_and_document_kinds_come_from_the_topology(tmp_path: Path) -> None:
    text = (
        '[topology]\nname = "t"\ndocument_kinds = ["预", "资环"]\n\n'
        '[[node]]\ncode = "410000"\nname = "河南省"\nrole = "province"\nabbreviation = "豫财"\n\n'
        '[[node]]\ncode = "410100"\nname = "郑州市"\nrole = "city"\nparent = "410000"\n'
    )
    topology = parse_topology(text, tmp_path / "t.toml")
    documents = Documents(topology)
    assert documents.problem("豫财资环〔2026〕7号", "410000", 2026) is None
    assert "is not a document kind (预/资环)" in str(
        documents.problem("豫财教〔2026〕7号", "410000")
    )
    assert documents.problem("郑财预〔2026〕1号", "410100", 2026) is None  # no abbreviation: any
    assert "names no document kind" in str(documents.problem("郑财教〔2026〕1号", "410100"))
    assert "document_kinds" in parse_topology(topology.to_toml(), tmp_path / "u.toml").to_toml()
    with pytest.raises(TopologyError) as refused:
        parse_topology(text.replace('"豫财"', '"YC"'), tmp_path / "t.toml")
    assert "abbreviation 'YC' is not 1 to 8 Chinese characters" in str(refused.value.problems)
    with pytest.raises(TopologyError) as refused:  # a 文号 never holds the newline
        parse_topology(text.replace('"豫财"', '"豫财\\n"'), tmp_path / "t.toml")
    assert any("abbreviation '豫财\\n' is not 1 to" in p for p in refused.value.problems)
    with pytest.raises(TopologyError) as refused:
        parse_topology(text.replace('"资环"]', '"资环\\n"]'), tmp_path / "t.toml")
    assert "document_kinds" in str(refused.value.problems)


def test_a_code_or_a_document_number_is_its_form_to_its_very_end() -> None:
    """A newline after a 文号, a node code or a region code is not part of its form
    (a regular expression's ``$`` lets one by), nor are digits other than ASCII's."""
    from nodes.fiscal.documents import _SHAPE
    from schema.types import is_node_code, is_region_code

    assert _SHAPE.match("豫财预〔2026〕1号") and not _SHAPE.match("豫财预〔2026〕1号\n")
    assert not _SHAPE.match("豫财预〔２０２６〕1号") and not _SHAPE.match("豫财预〔2026〕1０号")
    assert is_node_code("410000-dc") and not is_node_code("410000-dc\n")
    assert not is_node_code("4１００００") and not is_region_code("4١٠٠٠٠")
    assert is_region_code("410102") and not is_region_code("410102\n")
