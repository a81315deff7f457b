"""The quick test of an ``issue`` operation agrees with the full checks.

The apply path recognises the common case (every field as it must be) with one quick
test and sends everything else through :func:`check_operation`; the quick test must
never pass an operation the full checks would refuse. Random operations, made by
breaking a good one field by field, on the code sets of a real node database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodes import Node
from nodes.fiscal.appropriations import operations
from nodes.fiscal.appropriations.operations import Issues, check_operation
from nodes.fiscal.codes import Known
from nodes.fiscal.documents import Documents
from nodes.topology import load_topology
from schema.engine import reading
from sync.errors import InputError

AT = "2026-11-23T08:00:00.000000Z"
DOCUMENTS = Documents(load_topology(Path(__file__).parents[1] / "config/topologies/demo.toml"))
GOOD: dict[str, Any] = {
    "op": "issue",
    "id": "410000-2026-000001",
    "year": 2026,
    "doc": "豫财教〔2026〕12号",
    "title": "义务教育补助",
    "upper_doc": None,
    "parent_id": None,
    "func": "2050202",
    "econ": "50201",
    "fund": "111",
    "type": "special",
    "direct": False,
    "indicator": "additional",
    "source": "own",
    "level": "county",
    "project": None,
    "amount": 123456,
    "actor": "operator",
    "at": AT,
}
ODD = [None, "", 0, -1, 1, 2026, 10**15, 10**15 + 1, True, [], {}, "x" * 101, "x" * 301]
CHOICES: dict[str, list[Any]] = {
    "id": ["410000-2026-7", "410100-2026-000001", "410000-2025-000001", "410000-2026-x1"],
    "year": [2025, "2026", 2026.0],
    "doc": [
        "d",
        "文" * 100,
        "豫财预〔2025〕1号",
        "豫财预〔2026〕01号",
        "郑财预〔2026〕1号",
        "豫财[2026]1号",
    ],
    "title": ["t", "文" * 300],
    "upper_doc": ["u", "文" * 100, "财预〔2026〕3号", "郑财预〔2026〕1号"],
    "func": ["2050201", "2059998", "205"],
    "econ": ["50201", "99999"],
    "fund": ["112", "999"],
    "type": ["general", "loan", "Special", "shared"],
    "direct": [True, "yes", 1],
    "indicator": ["annual", "advance", "Annual"],
    "source": ["upper", "own", "mine"],
    "level": ["city", "central", "town"],
    "project": ["P1", "p" * 64, "p" * 65],
    "amount": [1, 10**15, 10**15 + 1, 12.5],
    "actor": ["a", "a" * 100],
    "at": [AT, "2026-11-23T08:00:00+08:00", "2026-11-23T08:00:00", "yesterday"],
    "op": ["issue"],
}
BREAK = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(sorted(CHOICES)), st.sampled_from(ODD)),
        st.sampled_from(sorted(CHOICES)).flatmap(
            lambda key: st.tuples(st.just(key), st.sampled_from(CHOICES[key]))
        ),
        st.tuples(st.sampled_from(sorted(GOOD)), st.just(KeyError)),  # the field left out
    ),
    max_size=3,
)


@pytest.fixture
def known(node_home: Path) -> Iterator[Known]:
    with Node.open(node_home) as node, reading(node.engine) as conn:
        yield Known(conn)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=BREAK)
def test_the_quick_test_passes_only_what_the_full_checks_pass(
    known: Known, changes: list[tuple[str, Any]]
) -> None:
    op = dict(GOOD)
    for key, value in changes:
        if value is KeyError:
            op.pop(key, None)
        else:
            op[key] = value
    issues = Issues("410000", "410181", "c" * 64, known, DOCUMENTS)
    times: dict[str, datetime] = {}
    check_operation(dict(GOOD), 1, times, "410000", known, DOCUMENTS)  # seen
    quick = issues.quick(op, times)
    try:
        full: datetime | None = check_operation(op, 1, dict(times), "410000", known, DOCUMENTS)
    except InputError:
        full = None
    if quick is not None:
        assert full == quick, f"the quick test passed what the full checks refuse: {op}"
    if not changes:
        assert quick is not None


def test_what_the_quick_test_remembers_stays_bounded_and_still_checks(
    known: Known, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change-set under many 文号 (each line its own): the 文号 and fields found good are
    remembered up to a bound (then forgotten, and checked again), so a million lines do
    not keep them all; a 文号 not of the enforced form is still refused."""
    monkeypatch.setattr(operations, "FIELDS_SEEN", 5)
    issues = Issues("410000", "410181", "c" * 64, known, DOCUMENTS)
    times: dict[str, datetime] = {}
    check_operation(dict(GOOD), 1, times, "410000", known, DOCUMENTS)  # its time seen
    sizes = []
    for number in range(1, 40):
        op = {**GOOD, "doc": f"豫财教〔2026〕{number}号"}
        assert issues.quick(op, times) is not None
        sizes.append(len(issues.fields_seen))
    assert max(sizes) == 5 and sizes[-1] <= 5
    assert issues.quick({**GOOD, "doc": "豫财[2026]1号"}, times) is None
