"""The data wall (``fiscalsync serve``) of a demo province after a month of flows, in a
real headless Chromium, its JSON API and its metrics against the nodes' databases, the
spending in its money totals against the reports and the ledger, and the refusal to bind
beyond the loopback without TLS and a login.

The browser is Debian's ``chromium`` with ``chromium-driver`` (``.ci/run`` installs them).
"""

from __future__ import annotations

import base64
import json
import shutil
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import provinces
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from conftest import DEMO_TOPOLOGY, unavailable
from cryptography.x509 import load_pem_x509_certificate

from cli import cli
from nodes import Node
from nodes.exchange import Exchange
from nodes.fiscal import ledger, reports
from nodes.fiscal.appropriations import Allocation, allocate
from nodes.fiscal.demo import ACTOR, work_a_month
from nodes.fiscal.reports.periods import Period
from nodes.logins import hash_password, load_logins
from nodes.network import Network, sync_network
from nodes.settings import LOCAL_TIME
from nodes.wall import wall
from nodes.web import Serving, check_binding, running
from schema.channels import outbox
from schema.tables import appropriation_event
from schema.types import format_utc, parse_yuan
from sync.clock import SYSTEM_CLOCK, FixedClock
from sync.errors import ConfigError

PROVINCE, HELD_BACK, SILENT = "410000", "410122", "410181"
"""410122 (under 郑州市) is held back; 410181 (province-managed) does not report."""


def _get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def month(province: Network) -> dict[str, Any]:
    """A month of flows; then the month before is reported by every node but 410181;
    then the province issues to 410122 while 410122's agent is down (the fault)."""
    work_a_month(province)
    before = Period.last_ended("monthly", Period.last_ended("monthly", _today()).start)
    for spec in province.topology:
        if spec.role != "center" and spec.code != SILENT:
            with Node.open(province.path / spec.code) as node:
                reports.generate(node, before, actor=ACTOR)
                reports.submit(node, before, actor=ACTOR)
    with Node.open(province.path / PROVINCE) as node:
        line = Allocation(HELD_BACK, 777_77, "2050202", "50201", "111", "豫财预〔2026〕99号", 2026)
        allocate(node, [line], actor=ACTOR)
    nodes = [Node.open(province.path / s.code) for s in province.topology if s.code != HELD_BACK]
    try:
        for _ in range(8):
            for node in nodes:
                exchange = Exchange(node)
                try:
                    exchange.run_round(retransmit_now=True)
                finally:
                    exchange.close()
    finally:
        for node in nodes:
            node.close()
    return {"before": before}


def _today() -> Any:
    return SYSTEM_CLOCK.now().astimezone(LOCAL_TIME).date()


def _lag(node: Node, recipient: str) -> tuple[int, int]:
    """Change-sets to ``recipient`` waiting for their receipt, and the money in them."""
    waiting = sa.select(outbox.c.id).where(
        outbox.c.recipient == recipient, outbox.c.acked_at.is_(None)
    )
    with node.engine.connect() as conn:
        count = len(conn.execute(waiting).all())
        fen = conn.execute(
            sa.select(sa.func.sum(appropriation_event.c.amount_fen)).where(
                appropriation_event.c.changeset_id.in_(waiting)
            )
        ).scalar_one()
    return count, int(fen or 0)


def _driver() -> Any:
    chromium = shutil.which("chromium")
    chromedriver = shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        unavailable("chromium", "install Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1600,1400"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(chromedriver), options=options)


@pytest.mark.slow
def test_the_wall_in_a_browser_shows_every_node_the_held_back_county_and_the_missing_report(
    province: Network, month: dict[str, Any], tmp_path: Path
) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    later = FixedClock(SYSTEM_CLOCK.now() + timedelta(hours=1))
    with Node.open(province.path / PROVINCE) as node:
        count, amount = _lag(node, HELD_BACK)
        assert count >= 1 and amount > 0
        with running(Serving(node, clock=later)) as url:
            driver = _driver()
            try:
                driver.get(url)
                tiles = {
                    t.get_attribute("data-code"): t
                    for t in driver.find_elements(By.CSS_SELECTOR, "a.node")
                }
                assert set(tiles) == {spec.code for spec in province.topology}
                held = tiles[HELD_BACK]
                assert held.get_attribute("data-state") == "behind"
                assert held.get_attribute("data-lag") == str(count)
                assert "滞后" in held.text and f"{amount // 100:,}.{amount % 100:02d}" in held.text
                behind = [c for c, t in tiles.items() if t.get_attribute("data-state") == "behind"]
                assert behind == [HELD_BACK]
                silent = tiles[SILENT].find_element(
                    By.CSS_SELECTOR, f'span.report[data-period="{month["before"].label}"]'
                )
                assert silent.text.endswith("未报")
                reported = tiles["410100"].find_element(
                    By.CSS_SELECTOR, f'span.report[data-period="{month["before"].label}"]'
                )
                assert not reported.text.endswith("未报")
                assert driver.find_element(By.ID, "totals").text
                driver.save_screenshot(str(tmp_path / "wall.png"))
                assert (tmp_path / "wall.png").stat().st_size > 10_000
                settle = sync_network(province.path, until_quiet=True, max_rounds=40)
                assert settle.quiet, settle.unsettled  # 410122 is back: the page follows
                # The page redraws its tiles as it refreshes: an element found a moment
                # before may be gone, and is looked for again.
                wait = WebDriverWait(
                    driver, 60, ignored_exceptions=(StaleElementReferenceException,)
                )
                wait.until(
                    lambda d: (
                        d.find_element(By.ID, f"node-{HELD_BACK}").get_attribute("data-state")
                        == "ok"
                    )
                )
                wait.until(lambda d: d.find_element(By.ID, f"node-{HELD_BACK}").click() or True)
                assert driver.find_element(By.ID, "detail").text == f"中牟县 {HELD_BACK}"
                driver.get(url + "?lang=en")
                english = driver.find_element(By.ID, f"node-{HELD_BACK}").text
                assert english.splitlines()[1] == "ok"
                assert english.splitlines()[2].startswith("last contact: ")
                assert driver.find_element(By.TAG_NAME, "h1").text.startswith("Finance data wall")
            finally:
                driver.quit()


def test_the_json_api_and_the_metrics_match_the_databases(
    province: Network, month: dict[str, Any]
) -> None:
    with Node.open(province.path / PROVINCE) as node, running(Serving(node)) as url:
        status, body = _get(url + "api/wall")
        assert status == 200
        wall = json.loads(body)
        with node.engine.connect() as conn:
            waiting = dict(
                conn.execute(
                    sa.select(outbox.c.recipient, sa.func.count())
                    .where(outbox.c.acked_at.is_(None))
                    .group_by(outbox.c.recipient)
                ).all()
            )
            sent = conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one()
        rows = {row["code"]: row for row in wall["nodes"]}
        assert set(rows) == {spec.code for spec in province.topology}
        assert {c: r["lag"]["changesets"] for c, r in rows.items() if r["lag"]["changesets"]} == (
            waiting
        )
        judged = {
            w.code: w.state for w in reports.submitters(node, month["before"], SYSTEM_CLOCK.now())
        }
        assert {c: rows[c]["reports"]["last"]["state"] for c in judged} == judged
        assert judged[SILENT] == "missing"
        status, body = _get(url + f"api/nodes/{HELD_BACK}")
        count, fen = _lag(node, HELD_BACK)
        assert status == 200 and fen > 0
        assert json.loads(body)["lag"] == {
            **json.loads(body)["lag"],
            "changesets": count,
            "amount_fen": fen,
        }
        assert _get(url + "api/nodes/999999")[0] == 404
        status, body = _get(url + "metrics")
        text = body.decode()
        assert status == 200
        assert f'fiscalsync_changesets_sent_total{{node="{PROVINCE}"}} {float(sent)}' in text
        for recipient, count in waiting.items():
            line = f'fiscalsync_channel_lag_changesets{{node="{PROVINCE}",recipient="{recipient}"}}'
            assert f"{line} {float(count)}" in text


def test_spent_is_every_leaf_of_a_report_once_and_the_own_ledger_before_a_report(
    tmp_path: Path, db_url_template: str | None
) -> None:
    """A county spends at a 类 code with nothing under it (208), at a 类 code beside a
    leaf under it (205 and 2050201: a 类 subtotal) and deep down (2010101); the wall
    above it shows each 类 to the fen, adding up to its report's total. A county with
    no report yet shows its own ledger on its own wall, and no longer once its report
    is sent (the report then counts, not both)."""
    clock = FixedClock(datetime.fromisoformat("2026-11-02T09:00:00+08:00"))
    province = provinces.make(
        tmp_path / "province",
        DEMO_TOPOLOGY,
        db_url_template,
        clock=FixedClock(datetime.fromisoformat("2026-09-01T00:00:00+08:00")),
    )

    def record(code: str, rows: list[tuple[str, str, str]]) -> None:
        entries = [
            ledger.Entry(date.fromisoformat(day), "expenditure", func, parse_yuan(yuan))
            for day, func, yuan in rows
        ]
        with Node.open(province.path / code) as node:
            ledger.record(node, entries, actor=ACTOR)

    def spent(code: str) -> dict[str, dict[str, int]]:
        with Node.open(province.path / code) as node:
            money = wall(node, clock).totals["money"]
        assert money["period"] == "2026-10"
        return dict(money["spent"])

    record(
        "410102",
        [
            ("2026-10-05", "205", "100.00"),
            ("2026-10-06", "2050201", "3.00"),
            ("2026-10-07", "2010101", "0.01"),
            ("2026-10-08", "208", "7.00"),
        ],
    )
    with Node.open(province.path / "410102") as node:
        reports.submit(node, "2026-10", actor=ACTOR, clock=clock)
    record(HELD_BACK, [("2026-10-09", "2050201", "500.00")])
    assert sync_network(province.path, until_quiet=True, max_rounds=20, clock=clock).quiet
    county = {"201": 1, "205": 100_00 + 3_00, "208": 7_00}
    for code in ("410100", "410000-dc"):
        assert spent(code) == {"county": county}, code
        with Node.open(province.path / code) as node:
            view = reports.view(node, "2026-10", region="410102", scope="own")
        assert sum(county.values()) == view.total("expenditure").ytd_fen
    with Node.open(province.path / "410000-dc") as node, running(Serving(node, clock=clock)) as url:
        status, body = _get(url + "api/wall")
    assert status == 200
    assert json.loads(body)["totals"]["money"]["spent"] == {"county": county}

    assert spent(HELD_BACK) == {"county": {"205": 500_00}}
    with Node.open(province.path / HELD_BACK) as node:
        reports.submit(node, "2026-10", actor=ACTOR, clock=clock)
    assert spent(HELD_BACK) == {"county": {"205": 500_00}}


def test_at_a_province_with_its_ca_folder_every_certificate_expiry_is_shown(
    province: Network,
) -> None:
    settings = province.path / PROVINCE / "node.toml"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(
        text.replace("[revocation]\n", f'[revocation]\nca = "{province.ca_dir}"\n'),
        encoding="utf-8",
    )
    with Node.open(province.path / PROVINCE) as node:
        rows = {row["code"]: row for row in wall(node).nodes}
    for spec in province.topology:
        cert = load_pem_x509_certificate((province.path / spec.code / "keys/node.crt").read_bytes())
        expected = format_utc(cert.not_valid_after_utc)
        assert rows[spec.code]["certificate"] == {"not_valid_after": expected}, spec.code


def test_binding_beyond_the_loopback_needs_tls_and_a_login(tmp_path: Path, node_home: Path) -> None:
    for host in ("0.0.0.0", "192.0.2.7", "::"):
        with pytest.raises(ConfigError, match="without TLS and a login"):
            check_binding(host, None, None)
    logins_file = tmp_path / "wall.logins"
    logins_file.write_text(hash_password("wang", "a long pass phrase") + "\n", encoding="utf-8")
    logins = load_logins(logins_file)
    with pytest.raises(ConfigError):
        check_binding("0.0.0.0", None, logins)
    cert, key = tmp_path / "wall.crt", tmp_path / "wall.key"
    with pytest.raises(ConfigError, match="no TLS file"):
        check_binding("0.0.0.0", (cert, key), logins)
    cert.write_text("x"), key.write_text("x")
    check_binding("0.0.0.0", (cert, key), logins)
    check_binding("127.0.0.1", None, None)
    english = CliRunner(env={"LANG": "en_US.UTF-8", "LC_ALL": None, "LC_MESSAGES": None})
    result = english.invoke(cli, ["--home", str(node_home), "serve", "--host", "0.0.0.0"])
    assert result.exit_code != 0
    assert result.output.startswith("Error: refusing to serve the data wall on 0.0.0.0")
    with Node.open(node_home) as node, running(Serving(node, logins=logins)) as url:
        assert _get(url + "api/wall")[0] == 401
        assert _get(url + "api/wall", ("wang", "a wrong pass phrase"))[0] == 401
        assert _get(url + "api/wall", ("wang", "a long pass phrase"))[0] == 200
        # many wrong passwords at once (hashed off the server's loop), a right one among
        # them, and the right one again (remembered): each answered as it should be
        from concurrent.futures import ThreadPoolExecutor

        tries = [("wang", f"wrong {i}") for i in range(8)] + [("nobody", "x")] * 4
        tries.insert(5, ("wang", "a long pass phrase"))
        with ThreadPoolExecutor(len(tries)) as pool:
            answers = list(pool.map(lambda who: _get(url + "api/wall", who)[0], tries))
        assert answers == [200 if who[1] == "a long pass phrase" else 401 for who in tries]
        assert _get(url + "api/wall", ("wang", "a long pass phrase"))[0] == 200
        assert _get(url + "api/wall", ("wang", "a long pass phrase!"))[0] == 401
    assert not logins.check("nobody", "a long pass phrase")  # hashed all the same


def test_the_wall_shows_times_in_the_nodes_zone_and_isolates_names(
    province: Network, tmp_path: Path
) -> None:
    """Every time on the wall (its own moment, each node's last contact, a node's page)
    is in the node's ``[node] time_zone`` (it was Beijing time whatever that said); a
    name another node chose is isolated from the code beside it (a right-to-left
    override in it reversed the code shown: "201014 区原中")."""
    import re
    from zoneinfo import ZoneInfo

    from nodes.wall_labels import LABELS
    from nodes.web import _TEMPLATES

    assert sync_network(province.path, until_quiet=True, max_rounds=20).quiet
    settings = province.path / PROVINCE / "node.toml"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(
        text.replace('time_zone = "Asia/Shanghai"', 'time_zone = "Europe/London"'),
        encoding="utf-8",
    )
    london = ZoneInfo("Europe/London")
    with Node.open(province.path / PROVINCE) as node, running(Serving(node)) as url:
        assert node.settings.time_zone == london
        status, body = _get(url + "api/wall")
        at = datetime.fromisoformat(json.loads(body)["at"].replace("Z", "+00:00"))
        status, page = _get(url)
        assert status == 200
        shown = re.search(r'<span id="at">([^<]+)</span>', page.decode()).group(1)
        moment = datetime.strptime(shown, "%Y-%m-%d %H:%M:%S").replace(tzinfo=london)
        assert abs((moment - at).total_seconds()) < 60, (shown, at)
    every = _TEMPLATES.from_string("{{ moment|local }}")  # every time the pages show
    assert every.render(moment="2026-11-29T00:30:00Z", zone=london) == "2026-11-29 00:30"
    assert every.render(moment="2026-11-29T00:30:00Z") == "2026-11-29 08:30"  # Beijing
    html = _TEMPLATES.get_template("node.html").render(
        n={"name": "\u202e中原区", "code": "410102"}, rows=[], t=LABELS["en"], lang="en"
    )
    assert "<title>中原区 410102" in html
    assert '<h1 id="detail"><bdi>\u202e中原区</bdi> 410102</h1>' in html
