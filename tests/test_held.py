"""Files held at a relay for another node: an age limit on the relay's own clock, one
verification per file (by its hash), and a file whose signer's certificate begins after
the relay's clock counted in ``status`` while it waits.

On a ``network init`` province, on SQLite and on PostgreSQL, with real sync rounds.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import provinces
import pytest
import sqlalchemy as sa
from test_renewal import ISSUED, issue, line, renew

from nodes import Node
from nodes.exchange import Exchange
from nodes.network import Network
from schema.channels import changeset_log, held_file, quarantine
from sync import changeset, held, relays
from sync.clock import SYSTEM_CLOCK, Clock, FixedClock
from sync.pki import load_signer

CITY = "410100"
UNKNOWN = "410183"  # 新密市: not in the demo topology (yet)


def one_round(network: Network, code: str, clock: Clock = SYSTEM_CLOCK) -> None:
    with Node.open(network.path / code) as node:
        exchange = Exchange(node, clock)
        try:
            exchange.run_round()
        finally:
            exchange.close()


def rows(network: Network, code: str, table: sa.Table) -> list[sa.Row[tuple[object, ...]]]:
    with Node.open(network.path / code) as node, node.engine.connect() as conn:
        return list(conn.execute(sa.select(table)).all())


def for_unknown(network: Network) -> Path:
    """A change-set the province signed for a node the city does not know, come down to
    the city as if from above (one joining, whose topology has not come yet)."""
    with Node.open(network.path / "410000") as top:
        signer = load_signer(top.home.keys)
    incoming = network.path / CITY / "spool" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    written = changeset.write_changeset(
        incoming, signer, UNKNOWN, "codeset", 1, "", [{"op": "x"}], SYSTEM_CLOCK
    )
    return written.path


def alerts(network: Network, code: str, clock: Clock = SYSTEM_CLOCK) -> list[dict[str, str]]:
    with Node.open(network.path / code) as node:
        return [a for a in node.status(clock).as_dict()["alerts"] if a["kind"].startswith("held")]


def test_a_held_file_goes_to_quarantine_after_the_limit_on_the_relays_clock(
    province: Network,
) -> None:
    settings = province.path / CITY / "node.toml"
    settings.write_text(
        settings.read_text(encoding="utf-8").replace("held_days = 30", "held_days = 2"),
        encoding="utf-8",
    )
    path = for_unknown(province)
    start = SYSTEM_CLOCK.now()
    one_round(province, CITY, FixedClock(start))
    one_round(province, CITY, FixedClock(start + timedelta(days=2)))  # the limit, not past it
    assert path.exists()
    assert rows(province, CITY, quarantine) == []
    (shown,) = alerts(province, CITY)
    assert shown["kind"] == "held-verified" and UNKNOWN in shown["detail"]
    one_round(province, CITY, FixedClock(start + timedelta(days=2, minutes=1)))
    assert not path.exists()
    (entry,) = rows(province, CITY, quarantine)
    assert entry.reason == held.REASON
    assert f"held 2 day(s) for {UNKNOWN}" in entry.detail and "held_days = 2" in entry.detail
    assert rows(province, CITY, held_file) == []  # forgotten with its file
    assert alerts(province, CITY) == []


def test_a_held_file_is_verified_once_while_its_bytes_stay_the_same(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    verify = relays.verify_for_relay

    def counted(path: Path, trust: object) -> object:
        checked.append(path.name)
        return verify(path, trust)  # type: ignore[arg-type]

    monkeypatch.setattr(relays, "verify_for_relay", counted)
    path = for_unknown(province)
    for _ in range(3):
        one_round(province, CITY)
    assert checked == [path.name]
    assert path.exists()
    (row,) = rows(province, CITY, held_file)
    assert (row.verdict, row.recipient) == (held.VERIFIED, UNKNOWN)
    # the same name, other bytes: checked again, and quarantined
    data = bytearray(path.read_bytes())
    data[-2] ^= 0x01
    path.write_bytes(bytes(data))
    one_round(province, CITY)
    assert checked == [path.name, path.name]
    assert not path.exists()
    assert [e.reason for e in rows(province, CITY, quarantine)] != [held.REASON]
    assert len(rows(province, CITY, quarantine)) == 1


@pytest.fixture
def set_up_earlier(tmp_path: Path, db_url_template: str | None, demo_topology: Path) -> Network:
    """The demo province, set up ten days ago (every certificate begun before a slow clock)."""
    return provinces.make(
        tmp_path / "province", demo_topology, db_url_template, clock=FixedClock(ISSUED)
    )


def test_a_relayed_file_whose_signers_certificate_begins_later_is_counted_while_it_waits(
    set_up_earlier: Network, tmp_path: Path
) -> None:
    """The province renews and issues to a county at once; the city that relays it runs
    a day slow, so by its clock the new certificate has not begun: the file waits at
    the city, named in its status, and goes on once the city's clock has caught up."""
    province, county = set_up_earlier, "410102"
    renew(province, "410000", tmp_path, "--renew")
    now = SYSTEM_CLOCK.now() + timedelta(minutes=1)
    issue(province, "410000", [line(county, 1_000, "豫财预〔2026〕7号")], FixedClock(now))
    one_round(province, "410000", FixedClock(now))
    slow = FixedClock(now - timedelta(days=1))
    one_round(province, CITY, slow)
    (shown,) = alerts(province, CITY, slow)
    assert shown["kind"] == "held-early" and county in shown["detail"]
    assert "check this node's clock" in shown["detail"]
    assert rows(province, CITY, quarantine) == []
    one_round(province, CITY, FixedClock(now + timedelta(minutes=1)))
    assert alerts(province, CITY) == []
    one_round(province, county, FixedClock(now + timedelta(minutes=2)))
    (taken,) = rows(province, county, changeset_log)
    assert taken.verdict == "applied"
