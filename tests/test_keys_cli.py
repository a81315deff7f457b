"""The PKI and change-set commands, on real keys and a ``network init`` province."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import provinces
import pytest
from click.testing import CliRunner, Result

from cli import cli
from nodes import Node, init_node
from nodes.identity import network_suite
from nodes.network import Network
from schema.engine import reading


def run(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


@pytest.fixture
def province(tmp_path: Path, demo_topology: Path) -> Network:
    return provinces.make(tmp_path / "province", demo_topology)


@pytest.fixture
def outgoing(province: Network, tmp_path: Path) -> Path:
    """A real change-set from the province to Zhengzhou (a code set)."""
    csv = tmp_path / "codes.csv"
    csv.write_text(
        "codeset,year,code,name,parent,level\nfunc,2026,2059901,扩展项目,20599,3\n",
        encoding="utf-8",
    )
    assert run("--home", province.path / "410000", "codes", "import", csv).exit_code == 0
    return next((province.path / "410000" / "spool" / "outbox").glob("410000_410100_*.fcs"))


def test_root_ca_with_a_passphrase(tmp_path: Path) -> None:
    ca = tmp_path / "ca"
    env = {"FISCALSYNC_CA_PASSPHRASE": "correct horse"}
    result = run("pki", "init-root", ca, "--province", "410000", "--lang", "en", env=env)
    assert result.exit_code == 0, result.stderr
    assert "encrypted with the passphrase" in result.output
    assert stat.S_IMODE((ca / "ca.key").stat().st_mode) == 0o600
    assert b"ENCRYPTED" in (ca / "ca.key").read_bytes()
    again = run("pki", "init-root", ca, "--province", "410000", "--lang", "en", env=env)
    assert again.exit_code == 8 and "already holds a CA" in again.stderr
    # signing without the passphrase is refused with its own status
    wrong = run(
        "pki", "revoke", "--ca", ca, "--node", "410102", "--lang", "en",
        env={"FISCALSYNC_CA_PASSPHRASE": "nope"},
    )  # fmt: skip
    assert wrong.exit_code == 8
    assert wrong.stderr.startswith("Error:")


def test_key_made_on_the_node_signed_by_the_province_installed_on_the_node(
    tmp_path: Path, demo_topology: Path
) -> None:
    home = tmp_path / "410102"
    init_node(home, "410102", demo_topology, None)
    ca = tmp_path / "ca"
    assert run("pki", "init-root", ca, "--province", "410000").exit_code == 0
    made = run("--home", home, "keys", "new")
    assert made.exit_code == 0, made.stderr
    assert stat.S_IMODE((home / "keys" / "node.key").stat().st_mode) == 0o600
    signed = run(
        "pki",
        "sign",
        home / "keys" / "node.csr",
        "--ca",
        ca,
        "--role",
        "county",
        "--out",
        tmp_path / "410102.crt",
        "--topology",
        demo_topology,
        "--lang",
        "en",
    )
    assert signed.exit_code == 0, signed.stderr
    assert "Issued certificate for 410102 (county)" in signed.output
    installed = run(
        "--home", home, "keys", "install", tmp_path / "410102.crt", "--ca-cert", ca / "ca.crt"
    )
    assert installed.exit_code == 0, installed.stderr
    assert (home / "keys" / "node.crt").is_file() and (home / "keys" / "ca.crt").is_file()
    # a second key cannot be made over the first one
    assert run("--home", home, "keys", "new").exit_code == 8


def test_a_certificate_for_another_key_is_not_installed(
    tmp_path: Path, demo_topology: Path
) -> None:
    ca = tmp_path / "ca"
    run("pki", "init-root", ca, "--province", "410000")
    homes = {}
    for code in ("410102", "410122"):
        homes[code] = tmp_path / code
        init_node(homes[code], code, demo_topology, None)
        assert run("--home", homes[code], "keys", "new").exit_code == 0
    run(
        "pki",
        "sign",
        homes["410122"] / "keys" / "node.csr",
        "--ca",
        ca,
        "--role",
        "county",
        "--out",
        tmp_path / "other.crt",
        "--topology",
        demo_topology,
    )
    result = run(
        "--home",
        homes["410102"],
        "keys",
        "install",
        tmp_path / "other.crt",
        "--ca-cert",
        ca / "ca.crt",
        "--lang",
        "en",
    )
    assert result.exit_code == 8
    assert "for another key" in result.stderr
    assert not (homes["410102"] / "keys" / "node.crt").exists()


def test_revocation_list_numbers_only_go_up(province: Network) -> None:
    first = run(
        "pki", "revoke", "--ca", province.ca_dir, "--node", "410102", "--reason", "key_compromise",
        "--lang", "en",
    )  # fmt: skip
    assert first.exit_code == 0, first.stderr
    assert "Revocation list number 2: 1 certificate(s) revoked" in first.output
    second = run("pki", "revoke", "--ca", province.ca_dir, "--node", "410122")
    assert "吊销列表第 3 号：已吊销 2 张证书。" in second.output


def test_inspect_shows_the_header_and_first_operations(outgoing: Path) -> None:
    table = run("changeset", "inspect", outgoing, "--lang", "en")
    assert table.exit_code == 0, table.stderr
    assert "kind       codeset" in table.output
    assert "origin     410000" in table.output and "recipient  410100" in table.output
    assert "2059901" in table.output
    as_json = json.loads(run("changeset", "inspect", outgoing, "--json").output)
    assert as_json["header"]["seq"] == 1 and as_json["header"]["count"] == 1
    assert as_json["operations"][0]["code"] == "2059901"


def test_verify_at_the_recipient_says_ok(province: Network, outgoing: Path) -> None:
    result = run(
        "--home", province.path / "410100", "changeset", "verify", outgoing, "--lang", "en"
    )
    assert result.exit_code == 0, result.stderr
    assert result.output.startswith("OK ")
    assert (
        "codeset 410000 -> 410100, seq 1, 1 operations, signed by 410000 (province)"
        in result.output
    )


def test_verify_elsewhere_is_the_wrong_recipient(province: Network, outgoing: Path) -> None:
    result = run("--home", province.path / "410300", "changeset", "verify", outgoing)
    assert result.exit_code == 14
    assert "410300" in result.stderr or "410100" in result.stderr


@pytest.mark.parametrize(("where", "status"), [(0.3, (10, 11)), (-12, (10, 11))])
def test_verify_a_tampered_file(
    province: Network, outgoing: Path, tmp_path: Path, where: float, status: tuple[int, ...]
) -> None:
    data = bytearray(outgoing.read_bytes())
    index = int(len(data) * where) if where > 0 else len(data) + int(where)
    data[index] ^= 0x01
    tampered = tmp_path / outgoing.name
    tampered.write_bytes(bytes(data))
    result = run(
        "--home", province.path / "410100", "changeset", "verify", tampered, "--lang", "en"
    )
    assert result.exit_code in status, (result.exit_code, result.stderr)
    assert result.stderr.startswith("Error: ")


def test_verify_a_truncated_file(province: Network, outgoing: Path, tmp_path: Path) -> None:
    truncated = tmp_path / outgoing.name
    truncated.write_bytes(outgoing.read_bytes()[:-40])
    result = run("--home", province.path / "410100", "changeset", "verify", truncated)
    assert result.exit_code in (10, 11)


def test_verify_with_a_revoked_signer(province: Network, outgoing: Path) -> None:
    run("pki", "revoke", "--ca", province.ca_dir, "--node", "410000")
    crl = (province.ca_dir / "crl.pem").read_bytes()
    (province.path / "410100" / "keys" / "crl.pem").write_bytes(crl)
    result = run(
        "--home", province.path / "410100", "changeset", "verify", outgoing, "--lang", "en"
    )
    assert result.exit_code == 13
    assert "revoked" in result.stderr


def test_verify_a_missing_file(province: Network) -> None:
    result = run(
        "--home", province.path / "410100", "changeset", "verify", province.path / "none.fcs"
    )
    assert result.exit_code == 3


def test_pki_sign_checks_the_role_against_the_topology(tmp_path: Path, demo_topology: Path) -> None:
    home = tmp_path / "410102"
    init_node(home, "410102", demo_topology, None)
    ca = tmp_path / "ca"
    assert run("pki", "init-root", ca, "--province", "410000").exit_code == 0
    assert run("--home", home, "keys", "new").exit_code == 0
    csr = home / "keys" / "node.csr"
    sign = ["pki", "sign", csr, "--ca", ca, "--role", "city", "--topology", demo_topology]
    as_city = run(*sign, env={"LC_ALL": "en_US.UTF-8"})
    assert as_city.exit_code == 3
    assert "Error: 410102 (中原区) is a county in topology 'demo', not a city" in as_city.stderr
    assert "--role county" in as_city.stderr
    in_chinese = run(*sign, env={"LC_ALL": "zh_CN.UTF-8"}).stderr.splitlines()
    assert in_chinese == [
        "错误：410102（中原区）在拓扑 'demo' 中是县级，而不是市级",
        "提示：用 --role county 签发",
    ]
    assert list((ca / "issued").glob("*.pem")) == []  # nothing was issued
    unchecked = run(
        "pki", "sign", csr, "--ca", ca, "--role", "county", env={"LC_ALL": "en_US.UTF-8"}
    )
    assert unchecked.exit_code == 2 and "--topology FILE or --home DIR" in unchecked.stderr
    by_home = run("--home", home, "pki", "sign", csr, "--ca", ca, "--role", "county")
    assert by_home.exit_code == 0, by_home.stderr


def test_an_sm2_province_enrols_a_node_and_refuses_an_ed25519_key(
    tmp_path: Path, demo_topology: Path
) -> None:
    ca = tmp_path / "ca"
    env = {"FISCALSYNC_CA_PASSPHRASE": "correct horse"}
    created = run(
        "pki", "init-root", ca, "--province", "410000", "--suite", "sm2", "--lang", "en", env=env
    )
    assert created.exit_code == 0, created.stderr
    assert "suite sm2" in created.output
    assert b"ENCRYPTED SM2 PRIVATE KEY" in (ca / "ca.key").read_bytes()

    def sign(home: Path, out: Path, *more: str) -> Result:
        return run(
            "pki", "sign", home / "keys" / "node.csr", "--ca", ca, "--role", "county",
            "--out", out, "--topology", demo_topology, *more, env=env,
        )  # fmt: skip

    # A node that made an ed25519 key: the SM2 province refuses its request, saying why.
    stray = tmp_path / "410122"
    init_node(stray, "410122", demo_topology, None)
    assert run("--home", stray, "keys", "new").exit_code == 0
    refused = sign(stray, tmp_path / "410122.crt", "--lang", "en")
    assert refused.exit_code == 8, refused.output
    assert "does not hold an sm2 key" in refused.stderr and "--suite sm2" in refused.stderr
    assert not (tmp_path / "410122.crt").exists()

    home = tmp_path / "410102"
    init_node(home, "410102", demo_topology, None)
    assert run("--home", home, "keys", "new", "--suite", "sm2").exit_code == 0
    signed = sign(home, tmp_path / "410102.crt")
    assert signed.exit_code == 0, signed.stderr
    installed = run(
        "--home", home, "keys", "install", tmp_path / "410102.crt", "--ca-cert", ca / "ca.crt"
    )
    assert installed.exit_code == 0, installed.stderr
    # Its database records the network's suite, which its reconciliation digests hash with.
    with Node.open(home) as node, reading(node.engine) as conn:
        assert network_suite(conn).name == "sm2"
    # Once the node trusts an SM2 root, a key of another suite is refused before it is made.
    renewal = run("--home", home, "keys", "new", "--renew", "--suite", "ed25519", "--lang", "en")
    assert renewal.exit_code == 8 and "signs with sm2, not ed25519" in renewal.stderr
    assert not (home / "keys" / "node.key.new").exists()
    assert run("--home", home, "keys", "new", "--renew").exit_code == 0
