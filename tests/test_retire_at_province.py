"""``network retire-node --code X`` in the province's own home (a province on its own
machine, not hosted in one folder): the revocation and the topology go through the
network as the other changes of shape do.

On a ``network init`` province, on SQLite and on PostgreSQL, with real sync rounds.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from test_allocate import settle
from test_membership import give, run

from nodes import Node
from nodes.network import Network, sync_network
from nodes.topology import load_topology
from schema.channels import outbox
from sync.pki import load_signer
from sync.trust import TrustStore

CITY, COUNTY, NEVER = "410300", "410322", "410183"


def test_a_node_retired_from_the_provinces_home_is_revoked_and_closed_everywhere(
    province: Network,
) -> None:
    top = give(province, "410000", CITY, "100.00", "豫财预〔2026〕1号")
    settle(province)
    give(province, CITY, COUNTY, "30.00", "洛财预〔2026〕1号", "--from", top)
    give(province, "410000", COUNTY, "5.00", "豫财预〔2026〕2号")  # in flight at the province
    own = load_signer(province.homes[COUNTY].keys).certificate.serial_number
    before = (province.path / "topology.toml").read_bytes()

    retired = run(
        province, "410000", "network", "retire-node", "--code", COUNTY,
        "--ca", str(province.ca_dir), "--lang", "en",
    )  # fmt: skip
    assert retired.exit_code == 0, retired.stderr
    assert f"{COUNTY} retired: certificate revoked" in retired.output
    assert "still in flight were closed" in retired.output
    assert (province.path / "topology.toml").read_bytes() == before  # no folder of homes
    settle(province)
    for spec in load_topology(province.path / "410000" / "topology.toml"):
        with Node.open(province.path / spec.code) as node:
            assert COUNTY not in node.topology, spec.code
            assert node.topology.version == 1, spec.code
            trust = TrustStore.load(node.home.keys)
            assert trust.crl is not None and own in trust.crl.serials, spec.code
    for code in ("410000", CITY):
        (statement,) = (province.path / code / "statements").glob(f"retired-{COUNTY}-*.json")
        waiting = json.loads(statement.read_text(encoding="utf-8"))["unacknowledged"]
        assert [w["kind"] for w in waiting] == ["appropriation"], code
        with Node.open(province.path / code) as node, node.engine.connect() as conn:
            closed = conn.execute(
                sa.select(outbox.c.receipt_verdict).where(outbox.c.recipient == COUNTY)
            ).scalars()
            assert list(closed) == ["closed"], code


def test_retiring_from_the_provinces_home_needs_its_root_ca(province: Network) -> None:
    before = (province.path / "410000" / "topology.toml").read_bytes()
    refused = run(province, "410000", "network", "retire-node", "--code", COUNTY)
    assert refused.exit_code == 2 and "--ca DIR" in refused.stderr
    unknown = run(
        province, "410000", "network", "retire-node", "--code", "410999",
        "--ca", str(province.ca_dir), "--lang", "en",
    )  # fmt: skip
    assert unknown.exit_code == 3 and "410999 is not a node" in unknown.stderr
    assert (province.path / "410000" / "topology.toml").read_bytes() == before
    assert TrustStore.load(province.homes["410000"].keys).crl.number == 1  # type: ignore[union-attr]


def test_a_node_added_that_never_joined_is_retired_without_a_revocation(
    province: Network,
) -> None:
    """Added at the province's home, it never asked for its certificate: nothing to
    revoke, and the topology without it still goes to every node."""
    added = run(province, "410000", "network", "add-node", "--code", NEVER, "--parent", "410100")
    assert added.exit_code == 0, added.stderr
    assert not sync_network(province.path, until_quiet=True, max_rounds=12).quiet  # it waits
    issued = sorted((province.ca_dir / "issued").iterdir())

    retired = run(
        province, "410000", "network", "retire-node", "--code", NEVER,
        "--ca", str(province.ca_dir), "--lang", "en",
    )  # fmt: skip
    assert retired.exit_code == 0, retired.stderr
    assert f"{NEVER} retired: it never had a certificate" in retired.output
    assert "topology version 2 sent" in retired.output
    assert sorted((province.ca_dir / "issued").iterdir()) == issued
    settle(province)
    for spec in load_topology(province.path / "410000" / "topology.toml"):
        with Node.open(province.path / spec.code) as node:
            assert NEVER not in node.topology and node.topology.version == 2, spec.code
            trust = TrustStore.load(node.home.keys)
            assert trust.crl is not None and trust.crl.number == 1, spec.code
