"""A node joining on its own machine, the operator's side, end to end: ``network
add-node`` at the province, ``join`` on the new machine (its home in a folder the
province's does not share), ``network answer-join`` at the province, ``keys install``
of the answer; the new county then reaches its parent over SFTP, through a real
OpenSSH sshd, and takes what waited for it.

On a ``network init`` province, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from click.testing import CliRunner, Result

from cli import cli
from nodes import Node
from nodes.network import Network, sync_network
from nodes.topology import Endpoint, load_topology
from schema.channels import changeset_log, outbox

if TYPE_CHECKING:
    from sshd_fixture import Sshd

NEW, CITY = "410183", "410100"


def fiscalsync(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def in_english(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env={"LANG": "en_US.UTF-8"})


def test_a_county_joins_on_its_own_machine_and_syncs_over_sftp(
    province: Network, sshd: Sshd, tmp_path: Path, db_url_template: str | None
) -> None:
    top = province.path / "410000"
    added = fiscalsync("--home", top, "network", "add-node", "--code", NEW, "--parent", CITY)
    assert added.exit_code == 0, added.stderr
    assert not sync_network(province.path, until_quiet=True, max_rounds=12).quiet  # it waits

    machine = tmp_path / "machine"  # the new machine: nothing shared with the province
    machine.mkdir()
    given = load_topology(top / "topology.toml")  # as the province sends it
    sftp = Endpoint("sftp", sshd.url(province.path / CITY / "mailboxes"), sshd.host_key)
    (machine / "topology.toml").write_text(
        given.with_endpoints({CITY: sftp}).to_toml(), encoding="utf-8"
    )
    db = [] if db_url_template is None else ["--db", db_url_template.replace("{code}", NEW)]
    home = machine / NEW
    joined = fiscalsync(
        "join", home, "--node", NEW, "--topology", machine / "topology.toml",
        "-o", machine / "request", *db,
    )  # fmt: skip
    assert joined.exit_code == 0, joined.stderr
    assert "network answer-join" in joined.output and "sftp-config" in joined.output
    assert sorted(p.name for p in (machine / "request").iterdir()) == [f"{NEW}.csr", f"{NEW}.pub"]
    assert not (home / "keys" / "crl.pem").exists()

    answer = tmp_path / "answer"
    answered = fiscalsync(
        "--home", top, "network", "answer-join", machine / "request", "--ca", province.ca_dir,
        "-o", answer, "--lang", "en",
    )  # fmt: skip
    assert answered.exit_code == 0, answered.stderr
    assert f"Signed {NEW} (county)" in answered.output
    assert {f"{NEW}.crt", "ca.crt", "crl.pem", "topology.toml"} <= {
        p.name for p in answer.iterdir()
    }
    public = (machine / "request" / f"{NEW}.pub").read_text(encoding="utf-8")
    with sshd.authorized_keys.open("a") as keys:  # the parent lets it log in
        keys.write(public)

    installed = fiscalsync("--home", home, "keys", "install", answer, "--lang", "en")
    assert installed.exit_code == 0, installed.stderr
    assert "Installed revocation list" in installed.output
    again = fiscalsync("--home", home, "revocation", "install", answer)
    assert again.exit_code == 0, again.stderr  # the same list again: no harm

    for _ in range(4):
        synced = fiscalsync("--home", home, "sync")
        assert synced.exit_code == 0, synced.stderr
        sync_network(province.path, until_quiet=True, max_rounds=12)
    with Node.open(home) as node, node.engine.connect() as conn:
        assert node.spec.parent == CITY and node.topology.version == 1
        kinds = conn.execute(
            sa.select(changeset_log.c.kind, changeset_log.c.verdict)
            .where(changeset_log.c.origin == "410000")
            .order_by(changeset_log.c.seq)
        ).all()
    assert [tuple(k) for k in kinds] == [("topology", "applied"), ("revocation", "applied")]
    with Node.open(top) as node, node.engine.connect() as conn:
        unacknowledged = conn.execute(
            sa.select(sa.func.count())
            .select_from(outbox)
            .where(outbox.c.recipient == NEW, outbox.c.acked_at.is_(None))
        ).scalar_one()
    assert unacknowledged == 0  # its receipts came back, up through the city


def test_a_join_for_a_node_the_province_has_not_added_is_refused(
    province: Network, tmp_path: Path
) -> None:
    home = tmp_path / NEW
    english = CliRunner(env={"LANG": "en_US.UTF-8", "LC_ALL": None, "LC_MESSAGES": None})
    refused = english.invoke(cli, [
        "join", str(home), "--node", NEW, "--topology", str(province.path / "topology.toml"),
        "-o", str(tmp_path / "request"),
    ])  # fmt: skip
    assert refused.exit_code == 3, refused.output
    assert f"does not list {NEW}" in refused.stderr and "network add-node" in refused.stderr
    assert not home.exists() and not (tmp_path / "request").exists()


def _request_for(code: str, province: Network, folder: Path) -> Path:
    """A joining machine's request folder for ``code`` (its own key, the province's
    topology)."""
    joined = fiscalsync(
        "join", folder / code, "--node", code, "--topology", province.path / "topology.toml",
        "-o", folder / "request",
    )  # fmt: skip
    assert joined.exit_code == 0, joined.stderr
    return folder / "request"


def _answer_refused(province: Network, request: Path, tmp_path: Path) -> str:
    """Run ``network answer-join`` on ``request``; it must be refused with nothing
    written (no answer, no certificate issued). Its error, in English."""
    issued = sorted((province.ca_dir / "issued").iterdir())
    refused = in_english(
        "--home", province.path / "410000", "network", "answer-join", request,
        "--ca", province.ca_dir, "-o", tmp_path / "answer",
    )  # fmt: skip
    assert refused.exit_code == 3, refused.output
    assert not (tmp_path / "answer").exists()
    assert sorted((province.ca_dir / "issued").iterdir()) == issued
    return refused.stderr


def test_a_request_whose_name_hides_another_code_is_refused(
    province: Network, tmp_path: Path
) -> None:
    top = province.path / "410000"
    added = fiscalsync("--home", top, "network", "add-node", "--code", NEW, "--parent", CITY)
    assert added.exit_code == 0, added.stderr
    request = _request_for("410102", province, tmp_path)  # asks for a running county
    (request / "410102.csr").rename(request / f"{NEW}.csr")
    (request / "410102.pub").rename(request / f"{NEW}.pub")

    refused = _answer_refused(province, request, tmp_path)
    assert f"{NEW}.csr asks for a certificate for 410102" in refused
    assert "'fiscalsync join' wrote" in refused


def test_a_join_for_a_node_the_ca_already_certified_is_refused(
    province: Network, tmp_path: Path
) -> None:
    request = _request_for("410102", province, tmp_path)  # a running county joins again

    refused = _answer_refused(province, request, tmp_path)
    assert "already issued 410102 a certificate that is not revoked" in refused
    assert "keys new --renew" in refused
