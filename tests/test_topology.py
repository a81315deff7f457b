"""Topology files: the shipped ones, and every problem reported at once with its line."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

import config
from nodes.topology import load_topology, parse_topology
from sync.errors import ConfigError, TopologyError

HENAN = config.TOPOLOGIES / "henan.toml"
DIRECT = {
    "410181",
    "410225",
    "410482",
    "410526",
    "410728",
    "411381",
    "411481",
    "411525",
    "411628",
    "411729",
}


def problems_of(text: str, tmp_path: Path) -> list[str]:
    path = tmp_path / "t.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    return caught.value.problems


def node(code: str, role: str, parent: str | None = None, name: str = "n", **extra: str) -> str:
    lines = ["[[node]]", f'code = "{code}"', f'name = "{name}"', f'role = "{role}"']
    if parent:
        lines.append(f'parent = "{parent}"')
    lines += [f'{k} = "{v}"' for k, v in extra.items()]
    return "\n".join(lines) + "\n\n"


def test_shipped_henan_topology_is_the_real_tree() -> None:
    henan = load_topology(HENAN)
    roles = Counter(n.role for n in henan)
    assert roles == {"province": 1, "city": 18, "county": 157, "center": 1}  # 济源 a city
    assert henan.node("419001").role == "city" and henan.node("419001").parent == "410000"
    assert henan.province.code == "410000"
    with config.REGIONS.open(encoding="utf-8") as handle:
        regions = dict(csv.reader(handle, delimiter="\t"))
    for spec in henan:
        if spec.role != "center":
            assert regions[spec.code] == spec.name
    direct = {n.code for n in henan if n.role == "county" and n.parent == "410000"}
    assert direct == DIRECT
    # A county's parent is explicit: Gongyi carries Zhengzhou's prefix but answers to the province.
    assert henan.node("410181").parent == "410000"
    assert henan.node("410122").parent == "410100"
    for spec in henan:
        if spec.role == "county" and spec.code not in DIRECT:
            assert spec.parent == spec.code[:4] + "00"


def test_shipped_demo_topology() -> None:
    demo = load_topology(config.TOPOLOGIES / "demo.toml")
    assert Counter(n.role for n in demo) == {"province": 1, "city": 2, "county": 4, "center": 1}
    assert demo.ancestors("410102") == ["410100", "410000"]
    assert demo.is_ancestor("410000", "410322")
    assert not demo.is_ancestor("410300", "410102")
    assert [c.code for c in demo.children("410100")] == ["410102", "410122"]


def test_every_problem_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    text = (
        node("410000", "province")  # lines 1-4
        + node("410100", "city", "410000")  # lines 6-10
        + node("410100", "city", "410000")  # 12: duplicate
        + node("410102", "county")  # 18: county without a parent
        + node("410103", "county", "419900")  # 23: unknown parent
        + node("999999", "county", "410100")  # 29: not in the region list
        + node("410300", "province")  # 35: second province
        + node("410000-dc", "center", "410000")  # 40
        + node("410000-db", "center", "410000")  # 46: second center
        + node("410200", "mayor", "410000")  # 52: bad role, reported on its role line (55)
    )
    problems = problems_of(text, tmp_path)
    joined = "\n".join(problems)
    assert "t.toml:12: duplicate code 410100 (first at line 6)" in joined
    assert "t.toml:18: county 410102 has no parent" in joined
    assert "t.toml:23: 410103 names unknown parent 419900" in joined
    assert "t.toml:30: code 999999 is not in the region list" in joined
    assert "t.toml:35: more than one province (410000 and 410300)" in joined
    assert "t.toml:46: more than one center (410000-dc and 410000-db)" in joined
    assert "t.toml:55: node 410200 has role 'mayor'" in joined
    assert len(problems) == 7
    lines = [int(p.split(":")[1]) for p in problems]
    assert lines == sorted(lines)


def test_parent_cycle_is_found(tmp_path: Path) -> None:
    text = (
        node("410000", "province")
        + node("410100", "city", "410200")
        + node("410200", "city", "410100")
    )
    problems = problems_of(text, tmp_path)
    assert any("parent cycle: 410100 -> 410200 -> 410100" in p for p in problems), problems


def test_missing_province_and_unknown_keys(tmp_path: Path) -> None:
    text = (
        node("410100", "city", "410000")
        + '[[node]]\ncode = "410102"\nname = "x"\nrole = "county"\nparnet = "410100"\n'
    )
    problems = problems_of(text, tmp_path)
    joined = "\n".join(problems)
    assert "no node has role 'province'" in joined
    assert "t.toml:11: unknown key 'parnet'" in joined
    assert "410100 names unknown parent 410000" in joined


def test_sftp_endpoint_needs_a_pinned_host_key(tmp_path: Path) -> None:
    text = node("410000", "province", endpoint="sftp://fs@10.41.0.10:22/srv/fs")
    problems = problems_of(text, tmp_path)
    assert any("needs host_key" in p for p in problems)
    text = node(
        "410000", "province", endpoint="sftp://fs@10.41.0.10:22/srv/fs", host_key="not a key"
    )
    assert any("host_key must be 'TYPE BASE64'" in p for p in problems_of(text, tmp_path))


def test_endpoints_parse_and_relative_folders_resolve(tmp_path: Path) -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    text = node("410000", "province", endpoint="sftp://fs@10.41.0.10:2222/srv/fs", host_key=key)
    text += node("410100", "city", "410000", endpoint="mailboxes/410100")
    path = tmp_path / "t.toml"
    path.write_text(text, encoding="utf-8")
    topo = load_topology(path)
    province = topo.node("410000").endpoint
    assert province is not None and province.kind == "sftp" and province.host_key == key
    city = topo.node("410100").endpoint
    assert city is not None and city.kind == "local"
    assert city.path == (tmp_path / "mailboxes" / "410100").resolve()


def test_rendered_topology_reads_back_identically(tmp_path: Path) -> None:
    henan = load_topology(HENAN)
    again = parse_topology(henan.to_toml(), tmp_path / "x.toml")
    assert [(n.code, n.name, n.role, n.parent) for n in again] == [
        (n.code, n.name, n.role, n.parent) for n in henan
    ]
    assert again.sha256() == henan.sha256()


def test_invalid_toml_is_one_clear_problem(tmp_path: Path) -> None:
    problems = problems_of("[[node]\ncode = 1", tmp_path)
    assert len(problems) == 1 and "line 1" in problems[0]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read topology"):
        load_topology(tmp_path / "missing.toml")


def test_a_topology_is_checked_once_per_text_and_folder(tmp_path: Path) -> None:
    """Every node home of a province holds the same topology: opening them all parses it
    once. A copy elsewhere is the same topology with its own source; relative endpoints
    resolve against each file's own folder; a changed text is checked again."""
    text = node("410000", "province") + node("410100", "city", "410000", endpoint="box")
    homes = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        homes.append(tmp_path / name / "topology.toml")
        homes[-1].write_text(text, encoding="utf-8")
    first, second = (load_topology(path) for path in homes)
    assert (first.source, second.source) == tuple(homes)
    for topology, home in zip((first, second), homes, strict=True):
        endpoint = topology.node("410100").endpoint
        assert endpoint is not None and endpoint.path == (home.parent / "box").resolve()
    absolute = text.replace('"box"', f'"{tmp_path / "box"}"')
    for path in homes:
        path.write_text(absolute, encoding="utf-8")
    a, b = (load_topology(path) for path in homes)
    assert a.nodes is b.nodes and (a.source, b.source) == tuple(homes)  # checked once
    homes[1].write_text(absolute.replace('role = "city"', 'role = "town"'), encoding="utf-8")
    with pytest.raises(TopologyError):
        load_topology(homes[1])
    assert load_topology(homes[0]).nodes is a.nodes


def test_a_topology_read_again_keeps_its_rendering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every node compares the topology it follows with its file at every round: reading
    the same text again gives the digest worked out once, not rendered again."""
    text = node("410000", "province") + node("410100", "city", "410000")
    homes = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        homes.append(tmp_path / name / "topology.toml")
        homes[-1].write_text(text, encoding="utf-8")
    first = load_topology(homes[0])
    digest, rendered = first.sha256(), first.to_toml()

    def refused(value: str) -> str:
        raise AssertionError("rendered again")

    monkeypatch.setattr("nodes.topology._toml_string", refused)
    again = load_topology(homes[1])
    assert again.source == homes[1]
    assert (again.sha256(), again.to_toml()) == (digest, rendered)
    assert again.center is None and load_topology(HENAN).center is not None
