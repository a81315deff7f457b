"""Certificate renewal with change-sets in flight, end to end on SQLite and PostgreSQL.

A city renews its certificate (``keys new --renew``, ``pki sign``, ``keys install``) while
its breakdowns to two counties are on their way (one already applied by its county,
whose receipt has not come back; the others lost and waiting to be retransmitted) and
its receipt for the province is on its way up; then its old certificate expires before
any of it arrives. Everything must end acknowledged and applied exactly once, with
nothing re-signed and nothing quarantined.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import provinces
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from cli import cli
from nodes import Node
from nodes.exchange import Exchange
from nodes.fiscal.appropriations import Allocation, allocate, holdings
from nodes.network import Network, sync_network
from schema.channels import changeset_log, outbox, quarantine
from schema.tables import appropriation
from sync import certificates, changeset, pki
from sync.clock import SYSTEM_CLOCK, FixedClock
from sync.trust import LONGEST_WAIT

CITY = "410100"
COUNTIES = ("410102", "410122")
TODAY = SYSTEM_CLOCK.now()
ISSUED = TODAY - timedelta(days=10)
"""When the province was set up (``pki sign`` and so the renewal run on today's clock)."""
LATER = TODAY + timedelta(days=2)
"""When what was in flight arrives: after the renewing node's old certificate expired."""


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def rows(network: Network, code: str, table: sa.Table, *where: sa.ColumnElement[bool]) -> list:
    with Node.open(network.path / code) as node, node.engine.connect() as conn:
        return list(conn.execute(sa.select(table).where(*where)).all())


def one_round(network: Network, code: str, clock: FixedClock) -> None:
    with Node.open(network.path / code) as node:
        exchange = Exchange(node, clock)
        try:
            assert not exchange.run_round().errors
        finally:
            exchange.close()


def settle(network: Network, clock: FixedClock) -> None:
    result = sync_network(network.path, until_quiet=True, max_rounds=30, clock=clock)
    assert result.quiet, result


def issue(network: Network, code: str, lines: list[Allocation], clock: FixedClock) -> None:
    with Node.open(network.path / code) as node:
        allocate(node, lines, actor="tester", clock=clock)


def line(recipient: str, yuan: int, doc: str, parent_id: str | None = None) -> Allocation:
    return Allocation(
        recipient, yuan * 100, "2050201", "50201", "111", doc, 2026, parent_id=parent_id
    )


def expiring_tomorrow(network: Network, code: str) -> certificates.Certificate:
    """Give ``code`` a certificate for its key that expires a day from today."""
    keys = network.path / code / "keys"
    ca = pki.load_root(network.ca_dir)
    role = network.topology.node(code).role
    days = (TODAY - ISSUED).days + 1
    cert = pki.sign_csr(
        ca, (keys / "node.csr").read_bytes(), role, validity_days=days, clock=FixedClock(ISSUED)
    )
    pki.install_certificate(keys, cert, ca.cert_pem)
    return certificates.parse_certificate(cert)


def renew(network: Network, code: str, tmp_path: Path, *new: str) -> Result:
    """``keys new`` (with ``new``'s options), ``pki sign``, ``keys install``, as an operator
    would; return what ``keys install`` said."""
    home = network.path / code
    made = run("--home", home, "keys", "new", *new)
    assert made.exit_code == 0, made.stderr
    role = network.topology.node(code).role
    cert = tmp_path / f"{code}-renewed.crt"
    signed = run(
        "--home", home, "pki", "sign", home / "keys" / "node.csr", "--ca", network.ca_dir,
        "--role", role, "--out", cert,
    )  # fmt: skip
    assert signed.exit_code == 0, signed.stderr
    installed = run(
        "--home", home, "keys", "install", cert, "--ca-cert", network.ca_dir / "ca.crt",
        "--lang", "en",
    )  # fmt: skip
    assert installed.exit_code == 0, installed.stderr
    return installed


@pytest.fixture
def province(
    suite_name: str, tmp_path: Path, db_url_template: str | None, demo_topology: Path
) -> Network:
    return provinces.make(
        tmp_path / "province",
        demo_topology,
        db_url_template,
        clock=FixedClock(ISSUED),
        suite=suite_name,
    )


def test_renewal_with_change_sets_in_flight_on_two_channels(
    province: Network, tmp_path: Path
) -> None:
    old_cert = expiring_tomorrow(province, CITY)
    clock = FixedClock(ISSUED + timedelta(days=1))
    issue(province, "410000", [line(CITY, 100_000, "豫财预〔2026〕1号")], clock)
    settle(province, clock)
    with Node.open(province.path / CITY) as node:
        (received,) = [h.id for h in holdings(node, issued=False)]
    # Two breakdowns to each county, one change-set each: seq 1 and 2 on both channels.
    for number in (1, 2):
        for county in COUNTIES:
            issue(
                province, CITY, [line(county, 1_000, f"郑财预〔2026〕{number}号", received)], clock
            )
    # And one more appropriation from the province, which the city will take.
    issue(province, "410000", [line(CITY, 5_000, "豫财预〔2026〕2号")], clock)
    one_round(province, "410000", clock)
    one_round(province, CITY, clock)  # takes it, sends its receipt and the breakdowns
    down = {c: province.path / CITY / "mailboxes" / c / "down" for c in COUNTIES}
    lost = sorted(down["410102"].glob("*_0000000002_*.fcs")) + sorted(down["410122"].iterdir())
    assert len(lost) == 3
    for path in lost:
        path.unlink()  # lost on the way; the city's outbox still holds them
    one_round(province, "410102", clock)  # applies seq 1; its receipt waits in the mailbox
    assert [r.seq for r in rows(province, "410102", changeset_log)] == [1]
    up = province.path / "410000" / "mailboxes" / CITY / "up"
    assert [p.name[:13] for p in up.iterdir()] == [f"{CITY}_410000"]  # the city's receipt
    in_flight = {r.id for r in rows(province, CITY, outbox, outbox.c.acked_at.is_(None))}
    assert len(in_flight) == 4

    # Today the city renews: a new key and certificate, with the commands.
    keys = province.path / CITY / "keys"
    old_key = (keys / "node.key").read_bytes()
    installed = renew(province, CITY, tmp_path, "--renew")
    assert f"Renewed: certificate {old_cert.serial_number:x} is superseded" in installed.output
    assert (keys / "superseded" / f"{old_cert.serial_number:x}.crt").is_file()
    assert (keys / "node.key").read_bytes() != old_key
    assert not (keys / "node.key.new").exists()

    # Two days on, the old certificate has expired; the city signs with its new one.
    clock.set(LATER)
    assert old_cert.not_valid_after_utc < clock.now()
    issue(province, CITY, [line("410102", 1_000, "郑财预〔2026〕3号", received)], clock)
    settle(province, clock)

    # Nothing was re-signed: the change-sets in flight kept their ids, signed by the old
    # certificate, and every one of them was taken, once.
    sent = rows(province, CITY, outbox)
    assert in_flight <= {r.id for r in sent}
    assert len(sent) == 5 and all(r.receipt_verdict == "applied" for r in sent)
    first = next(r for r in sent if r.recipient == "410102" and r.seq == 2)
    _header, seal = changeset.read_header(
        province.path / CITY / "spool" / "outbox" / first.filename
    )
    assert seal.certificate() == old_cert
    for county, count in (("410102", 3), ("410122", 2)):
        logged = rows(province, county, changeset_log, changeset_log.c.origin == CITY)
        assert sorted(r.seq for r in logged) == list(range(1, count + 1)), county
        assert all(r.verdict == "applied" for r in logged)
        held = rows(province, county, appropriation, appropriation.c.recipient == county)
        assert len(held) == count, county
    # The city's receipts signed with the old certificate were accepted after it expired.
    assert all(r.receipt_verdict == "applied" for r in rows(province, "410000", outbox))
    for spec in province.topology:
        assert rows(province, spec.code, quarantine) == [], spec.code


def test_a_key_replaced_by_hand_leaves_what_the_old_one_signed_valid(
    province: Network, tmp_path: Path
) -> None:
    # The old key moved away by hand, a new one made and certified: a change-set the
    # old certificate signed before it expired still verifies after the expiry.
    expiring_tomorrow(province, "410000")
    clock = FixedClock(ISSUED + timedelta(days=1))
    issue(province, "410000", [line(CITY, 100_000, "豫财预〔2026〕1号")], clock)
    one_round(province, "410000", clock)
    keys = province.path / "410000" / "keys"
    (keys / "node.key").rename(tmp_path / "old.key")
    renew(province, "410000", tmp_path)
    clock.set(LATER)
    settle(province, clock)
    (logged,) = rows(province, CITY, changeset_log, changeset_log.c.origin == "410000")
    assert logged.verdict == "applied"
    assert rows(province, CITY, quarantine) == []


def test_a_renewed_certificate_that_begins_after_the_nodes_clock_is_not_installed(
    tmp_path: Path, demo_topology: Path
) -> None:
    """A city whose clock runs a day slow renews: the province signs by its own clock, so
    the new certificate begins a day after the city's clock. Installed, the city could
    sign nothing; so it is refused, and the city goes on signing with the one it holds
    until its clock is set right."""
    from nodes import keys
    from nodes.home import NodeHome
    from sync.errors import KeyMaterialError

    network = provinces.make(tmp_path / "province", demo_topology, None, clock=FixedClock(ISSUED))
    home = NodeHome(network.path / CITY)
    held = (home.keys / "node.crt").read_bytes()
    request, _ssh = keys.new_key(home, CITY, renew=True)
    ca = pki.load_root(network.ca_dir)
    issued = tmp_path / "renewed.crt"
    issued.write_bytes(pki.sign_csr(ca, request.read_bytes(), "city", clock=FixedClock(TODAY)))
    slow = FixedClock(TODAY - timedelta(days=1))
    with pytest.raises(KeyMaterialError, match="this node's clock says .* it could sign nothing"):
        keys.install_certificate(home, issued, network.ca_dir / "ca.crt", slow)
    assert (home.keys / "node.crt").read_bytes() == held
    assert (home.keys / pki.NODE_KEY_PENDING).exists()  # the renewal still waits
    # and the city still signs: it takes an appropriation and signs its receipt
    issue(network, "410000", [line(CITY, 100, "豫财预〔2026〕9号")], slow)
    one_round(network, "410000", slow)
    one_round(network, CITY, slow)
    assert rows(network, CITY, changeset_log, changeset_log.c.verdict == "applied")
    _identity, superseded = keys.install_certificate(
        home, issued, network.ca_dir / "ca.crt", FixedClock(TODAY)
    )
    assert superseded is not None and (home.keys / "node.crt").read_bytes() != held


def test_a_node_whose_clock_runs_slow_waits_for_a_renewed_certificate_to_begin(
    province: Network, tmp_path: Path
) -> None:
    """The province renews and issues to the city at once; the city's clock runs a day
    slow, so by it the province's new certificate has not begun. The change-set is not
    refused (nothing is wrong with it) nor quarantined: it waits, and is taken once the
    city's clock has caught up."""
    renew(province, "410000", tmp_path, "--renew")
    now = SYSTEM_CLOCK.now() + timedelta(minutes=1)
    issue(province, "410000", [line(CITY, 1_000, "豫财预〔2026〕7号")], FixedClock(now))
    one_round(province, "410000", FixedClock(now))
    one_round(province, CITY, FixedClock(now - timedelta(days=1)))
    assert rows(province, CITY, quarantine) == []
    assert rows(province, CITY, changeset_log, changeset_log.c.origin == "410000") == []
    one_round(province, CITY, FixedClock(now + timedelta(minutes=1)))
    (taken,) = rows(province, CITY, changeset_log, changeset_log.c.origin == "410000")
    assert taken.verdict == "applied"


def test_a_clock_more_than_a_week_slow_is_not_waited_for(province: Network, tmp_path: Path) -> None:
    """As above, but the city's clock runs eight days slow: beyond the longest wait, the
    change-set goes to quarantine, where an operator sees the clock named, not waits unseen."""
    renew(province, "410000", tmp_path, "--renew")
    now = SYSTEM_CLOCK.now() + timedelta(minutes=1)
    issue(province, "410000", [line(CITY, 1_000, "豫财预〔2026〕7号")], FixedClock(now))
    one_round(province, "410000", FixedClock(now))
    slow = now - LONGEST_WAIT - timedelta(days=1)
    one_round(province, CITY, FixedClock(slow))
    (held,) = rows(province, CITY, quarantine)
    assert "is not valid before" in held.detail and "this node's clock says" in held.detail
    assert rows(province, CITY, changeset_log, changeset_log.c.origin == "410000") == []
