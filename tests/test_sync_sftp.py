"""Sync over SFTP: a county reaches its parent through a real OpenSSH sshd on 127.0.0.1.

The province-managed county 巩义市 (410181) dials the province's mailboxes over SFTP with
the host key pinned in its topology; everything else in the province stays local.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import provinces
import pytest
from click.testing import CliRunner

from cli import cli
from nodes.network import Network, sync_network
from nodes.topology import Endpoint, load_topology

if TYPE_CHECKING:
    from sshd_fixture import Sshd

COUNTY = "410181"
CODES = "codeset,year,code,name,parent,level\nfunc,2026,{code},扩展项目{code},20599,3\n"


@pytest.fixture
def province(
    tmp_path: Path, db_url_template: str | None, demo_topology: Path, sshd: Sshd
) -> Network:
    network = provinces.make(tmp_path / "province", demo_topology, db_url_template)
    return county_dials_by_sftp(network, sshd)


def county_dials_by_sftp(network: Network, sshd: Sshd) -> Network:
    """``network`` with 巩义市 reaching the province's mailboxes through ``sshd``, pinned."""
    county = network.homes[COUNTY]
    public = (county.keys / "ssh_ed25519.pub").read_text().strip()
    with sshd.authorized_keys.open("a") as keys:
        keys.write(public + "\n")
    mailboxes = network.homes["410000"].mailboxes
    topology = load_topology(county.topology_file)
    sftp = Endpoint("sftp", sshd.url(mailboxes), sshd.host_key)
    county.topology_file.write_text(
        topology.with_endpoints({"410000": sftp}).to_toml(), encoding="utf-8"
    )
    return network


def import_codes(network: Network, code: str) -> None:
    csv = network.path.parent / f"{code}.csv"
    csv.write_text(CODES.format(code=code), encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["--home", str(network.path / "410000"), "codes", "import", str(csv)]
    )
    assert result.exit_code == 0, result.stderr


def province_round(network: Network) -> None:
    result = CliRunner().invoke(cli, ["--home", str(network.path / "410000"), "sync"])
    assert result.exit_code == 0, result.stderr


def run_county(network: Network) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--home", str(network.path / COUNTY), "sync", "--lang", "en"])
    return result.exit_code, result.output, result.stderr


def test_the_county_syncs_over_sftp(province: Network) -> None:
    endpoint = load_topology(province.homes[COUNTY].topology_file).node("410000").endpoint
    assert endpoint is not None and endpoint.kind == "sftp"
    import_codes(province, "2059901")
    result = sync_network(province.path, until_quiet=True, max_rounds=20)
    assert result.quiet
    status = CliRunner().invoke(
        cli, ["--home", str(province.path / "410000"), "outbox", "--all", "--lang", "en"]
    )
    line = next(ln for ln in status.output.splitlines() if ln.startswith(COUNTY))
    assert "applied" in line


def test_sshd_down_fails_cleanly_and_the_next_round_succeeds(province: Network, sshd: Sshd) -> None:
    import_codes(province, "2059901")
    province_round(province)  # the province leaves it in the county's mailbox
    sshd.stop()
    code, output, stderr = run_county(province)
    assert code == 7
    assert stderr.startswith("Error: parent unreachable")
    assert "applied 0" in output
    waiting = list((province.homes["410000"].mailboxes / COUNTY / "down").iterdir())
    assert len(waiting) == 1  # nothing lost
    sshd.start()
    code, output, stderr = run_county(province)
    assert code == 0, stderr
    assert "applied 1" in output and "receipts in 0 / out 1" in output


def test_a_changed_host_key_is_refused(province: Network, sshd: Sshd) -> None:
    import_codes(province, "2059901")
    province_round(province)
    sshd.change_host_key()
    code, _output, stderr = run_county(province)
    assert code == 7
    assert "host key" in stderr.lower()
    waiting = list((province.homes["410000"].mailboxes / COUNTY / "down").iterdir())
    assert len(waiting) == 1  # nothing was fetched from the impostor
    assert not any((province.homes[COUNTY].spool / "incoming").iterdir())
