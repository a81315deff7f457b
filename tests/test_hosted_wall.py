"""``serve --homes`` at a data center hosting many node homes (市级集中部署), and the
wall's login by client certificate of the province's PKI.

On a ``network init`` province (every home under one folder, as a city's data center
holds its counties'), real HTTP and real TLS handshakes on the loopback.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import cli
from nodes import Node, keys
from nodes.network import Network, sync_network
from nodes.web import ClientCertificates, Hosted, Serving, check_binding, running
from sync.errors import ConfigError


def fetch(url: str, context: ssl.SSLContext | None = None) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30, context=context) as response:
        return response.status, response.read().decode("utf-8")


def test_serve_homes_shows_every_hosted_home(province: Network) -> None:
    codes = [spec.code for spec in province.topology]
    with ExitStack() as stack:
        servings = {c: Serving(stack.enter_context(Node.open(province.path / c))) for c in codes}
        with running(Hosted(servings)) as url:
            status, body = fetch(url + "api/homes")
            homes = {row["code"]: row for row in json.loads(body)["homes"]}
            assert status == 200 and list(homes) == codes
            assert homes["410181"]["province_managed"] is True
            assert homes["410102"]["parent"] == "410100"
            status, page = fetch(url + "?lang=en")
            assert status == 200 and "node homes hosted here (8)" in page
            assert all(f'id="home-{c}"' in page for c in codes)
            # each home's own wall, its links relative to it
            status, own = fetch(url + "home/410100/api/wall")
            assert status == 200 and json.loads(own)["served_by"] == "410100"
            status, tile = fetch(url + "home/410100/node/410102?lang=en")
            assert status == 200 and "410102" in tile
            status, text = fetch(url + "metrics")
            assert status == 200
            assert all(f'node="{c}"' in text for c in codes)


def test_serve_homes_waiting_change_sets_are_counted_per_home(province: Network) -> None:
    assert sync_network(province.path, until_quiet=True).quiet
    issue = CliRunner().invoke(
        cli,
        ["--home", str(province.path / "410000"), "allocate", "--to", "410100", "--amount",
         "1.00", "--func", "2050202", "--econ", "50201", "--fund", "111",
         "--doc", "豫财预〔2026〕1号", "--year", "2026"],
    )  # fmt: skip
    assert issue.exit_code == 0, issue.stderr
    with ExitStack() as stack:
        servings = {
            c: Serving(stack.enter_context(Node.open(province.path / c)))
            for c in ("410000", "410100")
        }
        with running(Hosted(servings)) as url:
            homes = {r["code"]: r for r in json.loads(fetch(url + "api/homes")[1])["homes"]}
    assert homes["410000"]["unacknowledged"] == 1 and homes["410000"]["state"] == "in flight"
    assert homes["410100"]["unacknowledged"] == 0


def _client(network: Network, code: str | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test checks the server's side of it
    if code is not None:
        folder = network.homes[code].keys
        context.load_cert_chain(folder / "node.crt", folder / "node.key")
    return context


def test_client_certificates_of_the_province_log_in(province: Network) -> None:
    keys.revoke_node(province.path / "ca", "410322", "key_compromise", None)
    with Node.open(province.path / "410000") as node:
        keys.publish_revocation(node, province.path / "ca", None)
        folder = node.home.keys
        tls = (folder / "node.crt", folder / "node.key")
        clients = ClientCertificates(folder / "ca.crt", folder / "crl.pem")
        check_binding("0.0.0.0", tls, None, clients)  # a login: no refusal
        with pytest.raises(ConfigError, match="without TLS and a login"):
            check_binding("0.0.0.0", tls, None, None)
        with pytest.raises(ConfigError, match="needs TLS"):
            check_binding("127.0.0.1", None, None, clients)
        with running(Serving(node), tls=tls, clients=clients) as url:
            assert url.startswith("https://")
            status, body = fetch(url + "api/wall", _client(province, "410102"))
            assert status == 200 and json.loads(body)["served_by"] == "410000"
            refused: list[Any] = []
            for who in (None, "410322"):  # no certificate; a revoked one
                try:
                    fetch(url + "api/wall", _client(province, who))
                except (ssl.SSLError, urllib.error.URLError, ConnectionError) as exc:
                    refused.append(who)
                    assert "Traceback" not in str(exc)
            assert refused == [None, "410322"]


def test_serve_refuses_client_certificates_without_tls(tmp_path: Path, province: Network) -> None:
    args = ["--home", str(province.path / "410000"), "serve", "--client-certs"]
    english = CliRunner(env={"LANG": "en_US.UTF-8", "LC_ALL": None, "LC_MESSAGES": None})
    result = english.invoke(cli, args)
    assert result.exit_code != 0 and "needs TLS" in result.stderr
    chinese = CliRunner(env={"LANG": "zh_CN.UTF-8", "LC_ALL": None, "LC_MESSAGES": None})
    result = chinese.invoke(cli, args)
    assert result.stderr.splitlines() == [
        "错误：凭客户端证书登录需要 TLS",
        "提示：同时给出 --tls-cert 和 --tls-key",
    ]


def test_serve_homes_serves_a_home_added_and_lets_go_one_removed(
    province: Network, tmp_path: Path
) -> None:
    from nodes.hosting import find_homes

    hosted_dir = tmp_path / "hosted"
    hosted_dir.mkdir()
    (hosted_dir / "410100").symlink_to(province.path / "410100")
    told: list[str] = []
    hosted = Hosted(
        {},
        scan=lambda: find_homes([hosted_dir], none_ok=True),
        on_problem=lambda path, why: told.append(f"{path.name}: {why}"),
        rescan_seconds=0,
    )
    try:
        with running(hosted) as url:
            codes = [r["code"] for r in json.loads(fetch(url + "api/homes")[1])["homes"]]
            assert codes == ["410100"]
            (hosted_dir / "410102").symlink_to(province.path / "410102")
            broken = hosted_dir / "410122"
            broken.mkdir()
            (broken / "node.toml").write_text("[node]\n", encoding="utf-8")
            codes = [r["code"] for r in json.loads(fetch(url + "api/homes")[1])["homes"]]
            assert codes == ["410100", "410102"]
            status, own = fetch(url + "home/410102/api/wall")
            assert status == 200 and json.loads(own)["served_by"] == "410102"
            fetch(url + "api/homes")
            assert len(told) == 1 and told[0].startswith("410122: ")  # told once
            (hosted_dir / "410100").unlink()
            codes = [r["code"] for r in json.loads(fetch(url + "api/homes")[1])["homes"]]
            assert codes == ["410102"]
            with pytest.raises(urllib.error.HTTPError) as gone:
                fetch(url + "home/410100/api/wall")
            assert gone.value.code == 404
            gone.value.close()
    finally:
        hosted.close()


def test_a_request_is_never_kept_waiting_by_a_scan_in_progress(
    province: Network, tmp_path: Path
) -> None:
    """A scan that takes long (a home's database slow to answer): the requests that
    come meanwhile are served the homes found so far, at once."""
    from nodes.hosting import find_homes

    hosted_dir = tmp_path / "hosted"
    hosted_dir.mkdir()
    (hosted_dir / "410100").symlink_to(province.path / "410100")
    scanning, finish = threading.Event(), threading.Event()
    slow = False

    def scan() -> list[Path]:
        if slow:
            scanning.set()
            finish.wait(60)
        return find_homes([hosted_dir], none_ok=True)

    hosted = Hosted({}, scan=scan, rescan_seconds=0)
    scanner = threading.Thread(target=hosted.refresh)
    try:
        with running(hosted) as url:
            assert [r["code"] for r in json.loads(fetch(url + "api/homes")[1])["homes"]] == [
                "410100"
            ]
            slow = True
            scanner.start()
            assert scanning.wait(30)
            started = time.monotonic()
            with urllib.request.urlopen(url + "api/homes", timeout=5) as response:
                homes = json.loads(response.read())["homes"]
            assert time.monotonic() - started < 5
            assert [r["code"] for r in homes] == ["410100"]
    finally:
        finish.set()
        if scanner.is_alive():
            scanner.join(30)
        hosted.close()


def test_a_home_whose_database_does_not_answer_is_tried_again_after_a_while(
    province: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hosted home whose database URL names a closed port: told once, tried again
    only after a wait that doubles, while the other homes are served."""
    from nodes.hosting import find_homes

    hosted_dir = tmp_path / "hosted"
    hosted_dir.mkdir()
    (hosted_dir / "410100").symlink_to(province.path / "410100")
    broken = hosted_dir / "410102"
    broken.mkdir()
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = (province.path / "410102" / "node.toml").read_text(encoding="utf-8")
    url_line = f'url = "postgresql://postgres@127.0.0.1:{port}/fiscalsync_410102"'
    (broken / "node.toml").write_text(
        re.sub(r"(?m)^#? ?url = .*$", url_line, settings, count=1), encoding="utf-8"
    )
    (broken / "topology.toml").write_bytes((province.path / "topology.toml").read_bytes())
    opened: list[Path] = []
    really = Node.open

    def counted(cls: type[Node], path: Path, *args: Any, **kwargs: Any) -> Node:
        opened.append(path)
        return really(path, *args, **kwargs)

    monkeypatch.setattr(Node, "open", classmethod(counted))
    told: list[str] = []
    hosted = Hosted(
        {},
        scan=lambda: find_homes([hosted_dir], none_ok=True),
        on_problem=lambda path, why: told.append(path.name),
        rescan_seconds=0,
        retry_seconds=1.0,
    )
    try:
        with running(hosted) as url:
            for _ in range(4):
                homes = json.loads(fetch(url + "api/homes")[1])["homes"]
                assert [r["code"] for r in homes] == ["410100"]
            assert opened.count(broken) == 1 and told == ["410102"]
            time.sleep(1.1)
            fetch(url + "api/homes")
            fetch(url + "api/homes")
            assert opened.count(broken) == 2  # once more after the wait, then 2 s before
            assert told == ["410102"]
    finally:
        hosted.close()
