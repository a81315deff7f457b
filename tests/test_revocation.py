"""Revocation lists: a week's validity, re-published before they lapse, a stale list an
alert, a missing one a refusal. On real lists, real homes, SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import provinces
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from cli import cli
from nodes import Node, keys
from nodes.locks import ca_lock
from nodes.network import Network, sync_network
from schema.channels import quarantine
from sync import revocation
from sync.certificates import Certificate
from sync.clock import SYSTEM_CLOCK, FixedClock
from sync.errors import CertificateRejected, InputError
from sync.pki import init_root, install_certificate, load_root, new_node_key, revoke, sign_csr
from sync.revocation import DEFAULT_VALIDITY, Freshness, issue_crl, load_crl, renewed
from sync.trust import TrustStore

NOW = SYSTEM_CLOCK.now()
CODES = "codeset,year,code,name,parent,level\nfunc,2026,2059901,扩展项目,20599,3\n"


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def province_at(
    tmp_path: Path, template: str | None, topology: Path, days_ago: float, suite_name: str
) -> Network:
    """A province set up (root CA, certificates, first revocation list) ``days_ago``."""
    clock = FixedClock(NOW - timedelta(days=days_ago))
    return provinces.make(tmp_path / "province", topology, template, clock=clock, suite=suite_name)


def status(network: Network, code: str) -> dict:
    result = run("--home", network.path / code, "status", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.output)


def crl_number(network: Network, code: str) -> int:
    return load_crl((network.path / code / "keys" / "crl.pem").read_bytes(), _root(network)).number


def _root(network: Network) -> Certificate:
    return load_root(network.ca_dir).cert


def import_codes(network: Network, tmp_path: Path) -> None:
    csv = tmp_path / "codes.csv"
    csv.write_text(CODES, encoding="utf-8")
    result = run("--home", network.path / "410000", "codes", "import", csv)
    assert result.exit_code == 0, result.stderr


def settle(network: Network) -> None:
    assert sync_network(network.path, until_quiet=True, max_rounds=30).quiet


# --- the list itself ------------------------------------------------------------------


def test_every_list_is_due_again_a_week_after_it_is_issued(suite_name: str, tmp_path: Path) -> None:
    start = NOW.replace(microsecond=0)  # a list's times are whole seconds
    root = init_root(tmp_path / "ca", "410000", clock=FixedClock(start), suite=suite_name)
    first = root.crl()
    assert (first.last_update, first.next_update) == (start, start + DEFAULT_VALIDITY)
    assert first.next_update is not None and first.next_update < root.cert.not_valid_after_utc
    assert first.freshness(start + DEFAULT_VALIDITY) is Freshness.FRESH
    assert first.freshness(start + DEFAULT_VALIDITY + timedelta(seconds=1)) is Freshness.STALE
    with pytest.raises(InputError, match="from 1 hour to 366 days"):
        issue_crl(root.cert, root.key, 2, [], NOW, timedelta(days=400))


def test_a_list_checked_once_is_still_refused_under_another_root(tmp_path: Path) -> None:
    # Two provinces' roots with the same name: only the signature tells them apart.
    ours = init_root(tmp_path / "ours", "410000", clock=SYSTEM_CLOCK)
    theirs = init_root(tmp_path / "theirs", "410000", clock=SYSTEM_CLOCK)
    pem = (tmp_path / "ours" / "crl.pem").read_bytes()
    assert load_crl(pem, ours.cert).number == 1
    assert load_crl(pem, ours.cert).number == 1  # the second time from what was kept
    with pytest.raises(CertificateRejected):
        load_crl(pem, theirs.cert)
    with pytest.raises(CertificateRejected):
        revocation.checked_crl(load_crl(pem, ours.cert).x509, theirs.cert)


def test_a_list_issued_again_keeps_its_entries_under_a_higher_number(
    suite_name: str, tmp_path: Path
) -> None:
    clock = FixedClock(NOW)
    root = init_root(tmp_path / "ca", "410000", clock=clock, suite=suite_name)
    keys_dir = tmp_path / "k"
    csr = new_node_key(keys_dir, "410102", suite=suite_name)
    install_certificate(
        keys_dir, sign_csr(root, csr.read_bytes(), "county", clock=clock), root.cert_pem
    )
    revoked = revoke(root, "410102", "keyCompromise", clock=clock)
    later = NOW + timedelta(days=6)
    again = renewed(revoked, root.cert, root.key, later, above=7)
    assert again.number == 8 and again.serials == revoked.serials
    assert [e.revocation_date_utc for e in again.entries] == [
        e.revocation_date_utc for e in revoked.entries
    ]
    assert again.last_update == later.replace(microsecond=0)
    trust = TrustStore(root.cert, again, clock)
    # a higher number that drops a revocation is refused: revocation never goes backwards
    dropped = issue_crl(root.cert, root.key, 9, [], later)
    with pytest.raises(CertificateRejected, match="no longer revokes 1 certificate"):
        trust.update_crl(dropped)


# --- missing ----------------------------------------------------------------------------


def test_a_missing_list_refuses_every_change_set_with_a_clear_error(
    suite_name: str, tmp_path: Path, db_url_template: str | None, demo_topology: Path
) -> None:
    network = province_at(
        tmp_path, db_url_template, demo_topology, days_ago=0, suite_name=suite_name
    )
    import_codes(network, tmp_path)
    assert run("--home", network.path / "410000", "sync").exit_code == 0
    crl = network.path / "410100" / "keys" / "crl.pem"
    crl.unlink()

    refused = run("--home", network.path / "410100", "sync", "--lang", "en")
    assert refused.exit_code == 13
    assert refused.stderr.startswith(f"Error: no revocation list ({crl} is missing)")
    assert "Hint: install the province's crl.pem" in refused.stderr
    assert "fiscalsync revocation install crl.pem" in refused.stderr
    assert "Traceback" not in refused.stderr
    waiting = next((network.path / "410000" / "mailboxes" / "410100" / "down").glob("*.fcs"))
    verified = run(
        "--home", network.path / "410100", "changeset", "verify", waiting, "--lang", "en"
    )
    assert verified.exit_code == 13 and "no revocation list" in verified.stderr
    shown = status(network, "410100")
    assert shown["revocation"]["state"] == "missing"
    assert any("no revocation list" in alert["detail"] for alert in shown["alerts"])
    with Node.open(network.path / "410100") as node, node.engine.connect() as conn:
        assert conn.execute(sa.select(quarantine)).all() == []  # nothing was taken, nor lost

    installed = run(
        "--home", network.path / "410100", "revocation", "install", network.ca_dir / "crl.pem"
    )
    assert installed.exit_code == 0, installed.stderr
    assert installed.output.startswith("Installed revocation list 1 (0 revoked, next update by")
    settle(network)
    assert status(network, "410100")["revocation"]["state"] == "fresh"


def test_a_damaged_list_is_named_and_can_be_replaced(
    suite_name: str, tmp_path: Path, db_url_template: str | None, demo_topology: Path
) -> None:
    network = province_at(
        tmp_path, db_url_template, demo_topology, days_ago=0, suite_name=suite_name
    )
    crl = network.path / "410102" / "keys" / "crl.pem"
    crl.write_bytes(b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
    refused = run("--home", network.path / "410102", "sync", "--lang", "en")
    assert refused.exit_code == 13
    assert f"Error: {crl}: not a readable PEM revocation list" in refused.stderr
    assert "Hint: install the province's crl.pem again" in refused.stderr
    assert any("cannot be used" in alert["detail"] for alert in status(network, "410102")["alerts"])
    installed = run(
        "--home", network.path / "410102", "revocation", "install", network.ca_dir / "crl.pem"
    )
    assert installed.exit_code == 0, installed.stderr
    assert run("--home", network.path / "410102", "sync").exit_code == 0


# --- stale ------------------------------------------------------------------------------


def test_a_stale_list_is_an_alert_and_sync_goes_on(
    suite_name: str, tmp_path: Path, db_url_template: str | None, demo_topology: Path
) -> None:
    # Set up nine days ago, its province never re-published the list since: a province
    # offline for a week must not stop every county's sync.
    network = province_at(
        tmp_path, db_url_template, demo_topology, days_ago=9, suite_name=suite_name
    )
    county = status(network, "410102")
    assert county["revocation"]["state"] == "stale"
    assert county["revocation"]["number"] == 1
    (alert,) = (a["detail"] for a in county["alerts"])
    assert alert.startswith("the revocation list (number 1) is stale since ")
    assert "change-sets are still verified with this list" in alert
    text = run("--home", network.path / "410102", "status", "--lang", "en").output
    assert "Revocation  number 1, 0 revoked, issued " in text and text.count(": stale") == 1
    assert (
        "Alerts      1\n  trust       keys: the revocation list (number 1) is stale since" in text
    )
    chinese = run("--home", network.path / "410102", "status").output  # the default
    assert "keys: 吊销列表（第 1 号）自 " in chinese and "须由省级重新发布" in chinese, chinese
    (province_alert,) = (a["detail"] for a in status(network, "410000")["alerts"])
    assert "re-publish it: fiscalsync revocation publish --ca DIR" in province_alert

    import_codes(network, tmp_path)
    settle(network)  # verified with the stale list: nothing refused
    for spec in network.topology:
        with Node.open(network.path / spec.code) as node, node.engine.connect() as conn:
            assert conn.execute(sa.select(quarantine)).all() == [], spec.code


# --- re-published -----------------------------------------------------------------------


@pytest.mark.slow
def test_the_province_agent_republishes_the_list_at_half_life(
    suite_name: str, tmp_path: Path, db_url_template: str | None, demo_topology: Path
) -> None:
    network = province_at(
        tmp_path, db_url_template, demo_topology, days_ago=4, suite_name=suite_name
    )
    settings = network.path / "410000" / "node.toml"
    text = settings.read_text(encoding="utf-8")
    assert '# ca = "/secure/ca"' in text
    settings.write_text(text.replace('# ca = "/secure/ca"', 'ca = "../ca"'), encoding="utf-8")
    assert status(network, "410000")["revocation"]["republished_by"] == "agent"
    with Node.open(network.path / "410000") as node:
        a_day_old = FixedClock(NOW - timedelta(days=3))
        assert keys.refresh_revocation(node, a_day_old) is None  # nothing due yet

    before = SYSTEM_CLOCK.now().replace(microsecond=0)
    ran = run("--home", network.path / "410000", "agent", "--once")  # four days old
    after = SYSTEM_CLOCK.now()
    assert ran.exit_code == 0, ran.stderr
    assert ran.output.startswith("吊销列表：吊销列表第 2 版已重新发布给 7 个节点\n")
    settle(network)
    published = load_crl((network.ca_dir / "crl.pem").read_bytes(), _root(network))
    assert published.number == 2 and published.next_update is not None
    assert before + DEFAULT_VALIDITY <= published.next_update <= after + DEFAULT_VALIDITY
    assert {crl_number(network, spec.code) for spec in network.topology} == {2}
    assert status(network, "410102")["revocation"]["state"] == "fresh"
    again = run("--home", network.path / "410000", "agent", "--once")
    assert again.output.startswith("同步：")  # fresh: nothing to re-publish

    # A revocation made in the CA folder goes out with the agent's next run.
    assert run("pki", "revoke", "--ca", network.ca_dir, "--node", "410322").exit_code == 0
    ran = run("--home", network.path / "410000", "agent", "--once", "--lang", "en")
    assert ran.output.startswith("revocation: revocation list 4 re-published to 6 node(s)\n")
    assert "\nsync: sent " in ran.output
    settle(network)
    for spec in network.topology:
        expected = 2 if spec.code == "410322" else 4  # the revoked county is left out
        assert crl_number(network, spec.code) == expected, spec.code


def test_without_its_ca_folder_the_province_is_told_to_publish_by_hand(
    suite_name: str, tmp_path: Path, db_url_template: str | None, demo_topology: Path
) -> None:
    network = province_at(
        tmp_path, db_url_template, demo_topology, days_ago=5, suite_name=suite_name
    )
    shown = status(network, "410000")
    assert shown["revocation"]["republished_by"] == "hand"
    (alert,) = (a["detail"] for a in shown["alerts"])
    assert alert.startswith("the revocation list (number 1) lapses on ")
    assert "fiscalsync revocation publish --ca DIR" in alert
    assert status(network, "410102")["alerts"] == []  # still fresh down there

    published = run(
        "--home", network.path / "410000", "revocation", "publish", "--ca", network.ca_dir
    )
    assert published.exit_code == 0, published.stderr
    assert published.output == "第 2 号吊销列表已排队发往 7 个节点。\n"
    assert status(network, "410000")["alerts"] == []
    settle(network)
    assert {crl_number(network, spec.code) for spec in network.topology} == {2}

    older = tmp_path / "old-crl.pem"
    ca = load_root(network.ca_dir)
    older.write_bytes(revocation.issue_crl(ca.cert, ca.key, 1, [], NOW).pem)
    refused = run("--home", network.path / "410102", "revocation", "install", older, "--lang", "en")
    assert refused.exit_code == 13 and "older than the one in use" in refused.stderr
    foreign = init_root(tmp_path / "other-ca", "410000", clock=FixedClock(NOW), suite=suite_name)
    refused = run(
        "--home", network.path / "410102", "revocation", "install", foreign.ca_dir / "crl.pem",
        "--lang", "en",
    )  # fmt: skip
    assert refused.exit_code == 13 and "not signed by this province's root CA" in refused.stderr


def test_a_list_that_could_not_be_written_is_written_when_taken_again(
    suite_name: str,
    tmp_path: Path,
    db_url_template: str | None,
    demo_topology: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A county whose disk is full when a new list arrives takes it again later, and then
    keeps it on disk: the rounds after the failure (one process, one trust store for
    all of them) once saw the list as held already, applied its change-set and never
    wrote the file, so a restart went back to the older list."""
    import errno

    network = province_at(tmp_path, db_url_template, demo_topology, 0, suite_name)
    published = run(
        "--home", network.path / "410000", "revocation", "publish", "--ca", network.ca_dir
    )
    assert published.exit_code == 0, published.stderr
    county = network.path / "410102" / "keys" / "crl.pem"
    real = revocation.write_atomic
    failed: list[Path] = []

    def full_once(path: Path, data: bytes, *args: object, **kwargs: object) -> None:
        if path == county and not failed:
            failed.append(path)
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data, *args, **kwargs)

    monkeypatch.setattr(revocation, "write_atomic", full_once)
    problems: list[str] = []
    done = sync_network(
        network.path,
        until_quiet=True,
        max_rounds=30,
        on_round=lambda _n, s: problems.extend(str(p) for p in s.problems),
    )
    assert done.quiet and failed == [county]
    assert any("crl.pem" in p for p in problems), problems
    assert {crl_number(network, spec.code) for spec in network.topology} == {2}
    assert status(network, "410102")["revocation"]["number"] == 2


def test_one_list_at_a_time_is_issued_from_the_ca_folder(tmp_path: Path) -> None:
    ca = tmp_path / "ca"
    assert run("pki", "init-root", ca, "--province", "410000").exit_code == 0
    with ca_lock(ca):
        busy = CliRunner().invoke(
            cli,
            ["pki", "revoke", "--ca", str(ca), "--node", "410102"],
            env={"FISCALSYNC_LOCK_WAIT": "0"},
        )
    assert busy.exit_code == 4
    assert busy.stderr.startswith(f"错误：CA 目录 {ca} 正被另一个命令使用"), busy.stderr
    assert load_crl((ca / "crl.pem").read_bytes(), load_root(ca).cert).number == 1
