"""The suite's copied provinces are what ``network init`` makes (tests/provinces.py)."""

from __future__ import annotations

from pathlib import Path

import provinces
import sqlalchemy as sa
from click.testing import CliRunner

from cli import cli
from nodes import Node, init_network
from nodes.network import Network, database_url_for, sync_network
from nodes.topology import load_topology
from schema.engine import open_engine, reading, sqlite_url
from schema.tables import code_item, metadata


def contents(network: Network, db_url_template: str | None, code: str) -> dict[str, list]:
    """Every table of a node's database, its rows in order, with the province's folder as a
    placeholder, the moment of creation left out and the topology's digest checked."""
    url = database_url_for(db_url_template, code) or sqlite_url(
        network.homes[code].path / "node.db"
    )
    engine = open_engine(url)
    rows: dict[str, list] = {}
    try:
        with reading(engine) as conn:
            for table in metadata.sorted_tables:
                found = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
                rows[table.name] = [
                    {
                        k: str(v).replace(str(network.path), "PROVINCE")
                        for k, v in row._mapping.items()
                        if k != "created_at"
                    }
                    for row in found
                ]
    finally:
        engine.dispose()
    (identity,) = rows["node_identity"]
    assert identity["topology_sha256"] == load_topology(network.homes[code].topology_file).sha256()
    identity["topology_sha256"] = "the digest of its topology file"
    return rows


def files(network: Network, db_url_template: str | None) -> dict[str, str]:
    """Every file of the province folder but keys, databases and certificates, as text with
    the folder and database names as placeholders."""
    found = {}
    for path in sorted(network.path.rglob("*")):
        relative = path.relative_to(network.path)
        if relative.parts[:2] == ("ca", "issued"):  # named by serial number
            found["ca/issued"] = found.get("ca/issued", "") + "*"
            continue
        if path.is_dir() or relative.parts[0] == "ca" or "keys" in relative.parts:
            found[str(relative)] = ""
            continue
        if path.suffix in (".db", ".db-wal", ".db-shm"):
            found[str(relative)] = ""
            continue
        text = path.read_text(encoding="utf-8").replace(str(network.path), "PROVINCE")
        if db_url_template is not None:
            text = text.replace(db_url_template.split("{code}")[0], "DATABASE_")
        found[str(relative)] = text
    return found


def test_a_copied_province_is_what_network_init_makes(
    tmp_path: Path, db_url_template: str | None, demo_topology: Path
) -> None:
    fresh_template = (
        None if db_url_template is None else db_url_template.replace("{code}", "f{code}")
    )
    fresh = init_network(tmp_path / "fresh", demo_topology, fresh_template)
    first_template = db_url_template and db_url_template.replace("{code}", "a{code}")
    provinces.make(tmp_path / "first", demo_topology, first_template)
    copy = provinces.make(tmp_path / "copy", demo_topology, db_url_template)

    assert files(copy, db_url_template) == files(fresh, fresh_template)
    assert (
        load_topology(copy.path / "topology.toml").sha256()
        != load_topology(fresh.path / "topology.toml").sha256()
    )  # the folder differs, so the topology's digest does
    for code in fresh.homes:
        assert contents(copy, db_url_template, code) == contents(fresh, fresh_template, code)
        with Node.open(copy.homes[code].path) as node:  # its own database, not the template's
            assert node.spec.code == code
            own = database_url_for(db_url_template, code)
            assert str(node.settings.database_url) == (
                own or sqlite_url(copy.homes[code].path / "node.db")
            )


def test_two_copies_of_one_province_work_apart(
    tmp_path: Path, db_url_template: str | None, demo_topology: Path
) -> None:
    first_template = db_url_template and db_url_template.replace("{code}", "a{code}")
    first = provinces.make(tmp_path / "one", demo_topology, first_template)
    second = provinces.make(tmp_path / "two", demo_topology, db_url_template)
    csv = tmp_path / "codes.csv"
    csv.write_text(
        "codeset,year,code,name,parent,level\nfunc,2026,2059901,扩展,20599,3\n", encoding="utf-8"
    )
    result = CliRunner().invoke(
        cli, ["--home", str(second.homes["410000"].path), "codes", "import", str(csv)]
    )
    assert result.exit_code == 0, result.stderr
    assert sync_network(second.path, until_quiet=True, max_rounds=10).quiet

    def extension_at(network: Network, code: str) -> int:
        with Node.open(network.homes[code].path) as node, reading(node.engine) as conn:
            return len(
                conn.execute(sa.select(code_item).where(code_item.c.code == "2059901")).all()
            )

    assert extension_at(second, "410322") == 1
    assert extension_at(first, "410322") == 0
    assert extension_at(first, "410000") == 0
    assert not [p for p in first.path.rglob("*") if p.is_file() and "mailboxes" in p.parts]
