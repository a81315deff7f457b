"""``fiscalsync serve``: the data wall (金财数据墙) as a read-only web page, its JSON API
and the node's metrics, from the node's own database (the only import of Starlette,
uvicorn and Jinja2).

Routes: ``/`` the wall (Chinese; ``?lang=en`` English), refreshed in place every few
seconds from ``/fragment``; ``/node/CODE`` one node's detail; ``/api/wall`` and
``/api/nodes/CODE`` the same figures as JSON (:mod:`nodes.wall`); ``/metrics`` the
Prometheus text (:mod:`nodes.metrics`). Nothing writes.

It binds to 127.0.0.1 by default. Any other address is refused unless both TLS (a
certificate and its key) and a login are given: a logins file (:mod:`nodes.logins`,
HTTP basic) or client certificates of the province's PKI (:class:`ClientCertificates`:
any certificate its root issued and its revocation list does not name, checked in the
TLS handshake; the server does not see which node's it is, so any node's certificate
of the province opens the wall). The wall shows every node of the province and what it
holds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from nodes import metrics
from nodes.labels import said
from nodes.logins import Logins
from nodes.node import Node
from nodes.settings import LOCAL_TIME
from nodes.wall import Wall, wall
from nodes.wall_labels import FIGURES, LABELS, LEVELS
from schema.errors import FiscalsyncError
from schema.types import parse_utc
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import ConfigError

__all__ = [
    "DEFAULT_HOST",
    "LABELS",
    "ClientCertificates",
    "Hosted",
    "Serving",
    "app",
    "hosted_app",
    "check_binding",
    "running",
    "serve",
    "serve_app",
]

DEFAULT_HOST = "127.0.0.1"
REFRESH_SECONDS = 5
FRESH_FOR = 1.0
"""Seconds one computed wall (and metrics text) is served to every viewer before it is
read again: many screens on the wall cost the database no more than one."""
RETRY_SECONDS = 10.0
"""Seconds before a hosted home that could not be opened is tried again (then twice as
long after each failure, up to :data:`RETRY_MOST`)."""
RETRY_MOST = 600.0


def _in_zone(text: str | None, zone: ZoneInfo) -> str:
    """A UTC time as a clock in ``zone`` reads it."""
    if not text:
        return "-"
    return parse_utc(text).astimezone(zone).strftime("%Y-%m-%d %H:%M")


@pass_context
def _local(context: Context, text: str | None) -> str:
    """The filter ``local``: :func:`_in_zone` of the page's ``zone`` (the node's [node]
    time_zone)."""
    return _in_zone(text, context.get("zone") or LOCAL_TIME)


_BIDI_CONTROLS = dict.fromkeys([0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def _plain(text: Any) -> str:
    """``text`` without the characters that change the direction of what follows them,
    where no element can isolate it (a page's title)."""
    return str(text).translate(_BIDI_CONTROLS)


def _yuan(fen: Any) -> str:
    fen = int(fen or 0)
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def _age(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600}h"


_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
_TEMPLATES.filters.update(local=_local, yuan=_yuan, age=_age, plain=_plain)
"""A name another node chose is shown in an element of its own direction (``<bdi>``, in
the templates): a right-to-left override in a name reversed the code shown beside it
("201014 区原中")."""


@dataclass(frozen=True)
class ClientCertificates:
    """Login by client certificate: TLS asks every browser or program for a certificate
    the province's root CA (``ca``) issued and has not revoked (``crl``, read at start)."""

    ca: Path
    crl: Path


def check_binding(
    host: str,
    tls: tuple[Path, Path] | None,
    logins: Logins | None,
    clients: ClientCertificates | None = None,
) -> None:
    """Refuse to bind beyond the loopback without TLS and a login (a password or a
    client certificate); refuse client certificates without TLS."""
    if clients is not None:
        if tls is None:
            raise ConfigError(
                said("client_certs_need_tls"), hint=said("client_certs_need_tls_hint")
            )
        for path in (clients.ca, clients.crl):
            if not path.is_file():
                raise ConfigError(said("no_file", path=path), hint=said("client_files_hint"))
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return
    if tls is None or (logins is None and clients is None):
        raise ConfigError(said("wall_open", host=host), hint=said("wall_open_hint"))
    for path in tls:
        if not path.is_file():
            raise ConfigError(said("no_tls_file", path=path))


@dataclass
class Serving:
    """What the server holds: the node, its clock, who may log in, the last wall read."""

    node: Node
    clock: Clock = SYSTEM_CLOCK
    logins: Logins | None = None
    fresh_for: float = FRESH_FOR

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._metrics_lock = threading.Lock()
        self._wall: Wall | None = None
        self._read_at = 0.0
        self._metrics: bytes | None = None
        self._metrics_at = 0.0

    def wall(self) -> Wall:
        """The wall, read again once it is older than ``fresh_for`` seconds."""
        with self._lock:
            if self._wall is None or time.monotonic() - self._read_at > self.fresh_for:
                self._wall = wall(self.node, self.clock)
                self._read_at = time.monotonic()
            return self._wall

    def metrics(self) -> bytes:
        """The metrics text, read again once it is older than ``fresh_for`` seconds."""
        with self._metrics_lock:
            if self._metrics is None or time.monotonic() - self._metrics_at > self.fresh_for:
                self._metrics = metrics.exposition(self.node, self.clock)
                self._metrics_at = time.monotonic()
            return self._metrics


@dataclass
class Hosted:
    """What ``serve --homes`` holds: the serving of every node home a data center hosts
    (市级集中部署), by code, each with its own database and its own wall.

    With ``scan`` (the homes under the folders now), they are found again before a
    request at most every ``rescan_seconds``: a home added is opened and served, one
    removed let go, without a restart; one that cannot be opened is told to
    ``on_problem`` and tried again after ``retry_seconds``, twice as long after each
    failure up to ``retry_most`` (a database that does not answer costs its wait once
    in a while, not at every scan). A request that comes while another scans never
    waits for it: it is served the homes found so far."""

    servings: dict[str, Serving]
    logins: Logins | None = None
    scan: Callable[[], list[Path]] | None = None
    on_problem: Callable[[Path, str], None] | None = None
    rescan_seconds: float = FRESH_FOR
    retry_seconds: float = RETRY_SECONDS
    retry_most: float = RETRY_MOST

    def __post_init__(self) -> None:
        self._scan_lock = threading.Lock()
        self._scanned_at: float | None = None
        self._opened: dict[Path, str] = {}
        self._told: dict[Path, str] = {}
        self._failed: dict[Path, tuple[float, float]] = {}
        """A home that could not be opened: (when it is tried again, the wait before)."""
        self.version = 0
        """Raised whenever the homes served change (the routes are made again)."""

    def refresh(self) -> None:
        """Find the homes again (with ``scan``), at most every ``rescan_seconds``."""
        if self.scan is None:
            return
        if not self._scan_lock.acquire(blocking=False):
            return  # another request scans: this one is served the homes found so far
        try:
            self._rescan()
        finally:
            self._scan_lock.release()

    def _rescan(self) -> None:
        now = time.monotonic()
        if self._scanned_at is not None and now - self._scanned_at < self.rescan_seconds:
            return
        self._scanned_at = now
        found = self.scan() if self.scan is not None else []
        servings = dict(self.servings)
        for path, code in list(self._opened.items()):
            if path not in found:
                del self._opened[path]
                servings.pop(code).node.close()
        for path in set(self._failed) - set(found):
            del self._failed[path]
        for path in found:
            if path in self._opened or self._failed.get(path, (now, 0.0))[0] > now:
                continue
            try:
                node = Node.open(path)
            except FiscalsyncError as exc:
                if self.on_problem is not None and self._told.get(path) != exc.message:
                    self.on_problem(path, exc.message)  # once, until it changes
                self._told[path] = exc.message
                waited = self._failed.get(path, (now, 0.0))[1]
                wait = min(max(2 * waited, self.retry_seconds), self.retry_most)
                self._failed[path] = (time.monotonic() + wait, wait)
                continue
            self._told.pop(path, None)
            self._failed.pop(path, None)
            if node.spec.code in servings:  # the same node twice: served once
                node.close()
                continue
            self._opened[path] = node.spec.code
            servings[node.spec.code] = Serving(node)
        if servings.keys() != self.servings.keys():
            self.servings = servings  # replaced whole: a request reads it meanwhile
            self.version += 1

    def close(self) -> None:
        """Let go of every home opened by :meth:`refresh`."""
        with self._scan_lock:
            for code in self._opened.values():
                self.servings[code].node.close()
            self._opened.clear()

    def summaries(self) -> list[dict[str, Any]]:
        """Each home as its own wall tells it: its state (the worst of what it waits
        for), what it waits for, its last contact with its parent, quarantine, backup."""
        rows = []
        for code, serving in self.servings.items():
            data = serving.wall()
            me = data.node(code) or {}
            parent = data.node(me.get("parent") or "") or {}
            states = {r["state"] for r in data.nodes}
            rows.append(
                {
                    "code": code,
                    "name": me.get("name", ""),
                    "role": me.get("role", ""),
                    "parent": me.get("parent"),
                    "province_managed": me.get("province_managed", False),
                    "state": next((s for s in _STATES if s in states), "ok"),
                    "unacknowledged": sum(r["lag"]["changesets"] for r in data.nodes),
                    "last_contact": parent.get("last_contact"),
                    "quarantine": sum(r["quarantine"] for r in data.nodes),
                    "parked": sum(r["parked"] for r in data.nodes),
                    "backup": me.get("backup", {}),
                    "certificate": me.get("certificate", {}),
                }
            )
        return rows


_STATES = ("behind", "in flight")


def _lang(request: Request) -> str:
    return "en" if request.query_params.get("lang") == "en" else "zh"


def _groups(data: Wall, t: dict[str, str]) -> list[dict[str, Any]]:
    by_code = {row["code"]: row for row in data.nodes}
    top = [row for row in data.nodes if row["role"] in ("province", "center")]
    groups = [{"title": f"{t['province']} / {t['center']}", "nodes": top}]
    for row in data.nodes:
        if row["role"] == "city":
            children = [r for r in data.nodes if r["parent"] == row["code"]]
            groups.append(
                {"title": "", "name": row["name"], "code": row["code"], "nodes": [row, *children]}
            )
    managed = [r for r in data.nodes if r["province_managed"]]
    if managed:
        groups.append({"title": t["province_managed_group"], "nodes": managed})
    placed = {r["code"] for g in groups for r in g["nodes"]}
    rest = [r for code, r in by_code.items() if code not in placed]
    if rest:
        groups.append({"title": "", "nodes": rest})
    return groups


def _context(serving: Serving, request: Request) -> dict[str, Any]:
    data = serving.wall()
    lang = _lang(request)
    t = LABELS[lang]
    money = data.totals.get("money")
    classes: list[str] = []
    if money:
        classes = sorted({k for what in FIGURES for lv in money[what].values() for k in lv})

    def klass_any(klass: str, level: str) -> bool:
        return bool(money) and any((money[what].get(level) or {}).get(klass) for what in FIGURES)

    me = data.node(data.served_by) or {}
    zone = serving.node.settings.time_zone
    return {
        "zone": zone,
        "wall": {
            "served_by": data.served_by,
            "nodes": data.nodes,
            "at_local": data.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
        },
        "self_name": me.get("name", ""),
        "self_code": data.served_by,
        "groups": _groups(data, t),
        "behind": sum(1 for r in data.nodes if r["state"] == "behind"),
        "missing": sum(
            1
            for r in data.nodes
            if (r.get("reports") or {}).get("current", {}).get("state") == "missing"
        ),
        "money": money,
        "levels": LEVELS,
        "figures": FIGURES,
        "classes": classes,
        "klass_any": klass_any,
        "lang": lang,
        "t": t,
        "refresh_ms": REFRESH_SECONDS * 1000,
    }


def _detail_rows(row: dict[str, Any], t: dict[str, str], zone: ZoneInfo) -> list[tuple[str, str]]:
    lag = row["lag"]
    rows = [
        (t["code"], row["code"]),
        (t["name"], row["name"]),
        (t["role"], t.get(row["role"], row["role"])),
        (t["parent"], row["parent"] or "-"),
        (t["state"], t[row["state"]]),
        (t["last_contact"], _in_zone(row["last_contact"], zone)),
        (t["lag_changesets"], str(lag["changesets"])),
        (t["lag_amount"], _yuan(lag.get("amount_fen", 0))),
        (t["lag_oldest"], _age(lag["oldest_age_seconds"])),
        (t["quarantine"], str(row["quarantine"])),
        (t["parked"], str(row["parked"])),
    ]
    for key, label in (("current", "report_current"), ("last", "report_last")):
        report = (row.get("reports") or {}).get(key)
        if report:
            submitted = _in_zone(report["submitted_at"], zone) if report["submitted_at"] else ""
            rows.append(
                (
                    t[label],
                    f"{report['period']} {t[report['state']]} ({t['deadline']} "
                    f"{report['due_date']}) {submitted}".strip(),
                )
            )
    reconcile = row.get("reconcile")
    if reconcile:
        rows.append(
            (
                t["reconcile"],
                f"{t.get(reconcile['state'], reconcile['state'])}, "
                f"{reconcile['discrepancies']} {t['discrepancies']}, {_in_zone(reconcile['at'], zone)}",
            )
        )
    backup = row["backup"]
    rows.append((t["backup"], _in_zone(backup["latest"], zone)))
    if backup["fresh"] is not None:
        rows.append((t["backup_fresh"], t["yes"] if backup["fresh"] else t["no"]))
    if row.get("certificate"):
        rows.append((t["certificate"], _in_zone(row["certificate"]["not_valid_after"], zone)))
    return rows


Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class _BasicAuth:
    """HTTP basic authentication in front of every route, when logins are given.

    A password is hashed (scrypt, about 50 ms) on a worker thread (Starlette's pool),
    never on the server's event loop: there, wrong passwords sent by many clients held
    every request behind them. An accepted ``Authorization`` header is remembered (its
    hash, the last :data:`REMEMBERED`), so the wall's own refreshes are not hashed
    again."""

    REMEMBERED = 64

    def __init__(self, inner: Any, logins: Logins) -> None:
        self.inner = inner
        self.logins = logins
        self.accepted: OrderedDict[bytes, None] = OrderedDict()

    async def _checked(self, header: str) -> bool:
        key = hashlib.sha256(header.encode("latin-1")).digest()
        if key in self.accepted:
            return True
        allowed = await run_in_threadpool(self._allowed, header)
        if allowed:
            self.accepted[key] = None
            while len(self.accepted) > self.REMEMBERED:
                self.accepted.popitem(last=False)
        return allowed

    def _allowed(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            name, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return self.logins.check(name, password)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            header = headers.get(b"authorization", b"").decode("latin-1")
            if not await self._checked(header):
                response = PlainTextResponse(
                    "login required",
                    status_code=401,
                    headers={"WWW-Authenticate": 'Basic realm="fiscalsync", charset="UTF-8"'},
                )
                await response(scope, receive, send)
                return
        await self.inner(scope, receive, send)


def app(serving: Serving) -> Any:
    """The ASGI application of the wall for ``serving``."""

    def page(request: Request) -> Response:
        html = _TEMPLATES.get_template("wall.html").render(_context(serving, request))
        return HTMLResponse(html)

    def fragment(request: Request) -> Response:
        html = _TEMPLATES.get_template("wall_body.html").render(_context(serving, request))
        return HTMLResponse(html)

    def node_page(request: Request) -> Response:
        row = serving.wall().node(request.path_params["code"])
        if row is None:
            return PlainTextResponse("no such node", status_code=404)
        t = LABELS[_lang(request)]
        zone = serving.node.settings.time_zone
        html = _TEMPLATES.get_template("node.html").render(
            n=row, rows=_detail_rows(row, t, zone), t=t, lang=_lang(request), zone=zone
        )
        return HTMLResponse(html)

    def api_wall(_request: Request) -> Response:
        return JSONResponse(serving.wall().as_dict())

    def api_node(request: Request) -> Response:
        row = serving.wall().node(request.path_params["code"])
        if row is None:
            return JSONResponse({"error": "no such node"}, status_code=404)
        return JSONResponse(row)

    def metrics_page(_request: Request) -> Response:
        return Response(serving.metrics(), media_type=metrics.CONTENT_TYPE)

    application = Starlette(
        routes=[
            Route("/", page),
            Route("/fragment", fragment),
            Route("/node/{code}", node_page),
            Route("/api/wall", api_wall),
            Route("/api/nodes/{code}", api_node),
            Route("/metrics", metrics_page),
        ]
    )
    if serving.logins is not None:
        return _BasicAuth(application, serving.logins)
    return application


def hosted_app(hosted: Hosted) -> Any:
    """The ASGI application of ``serve --homes``: ``/`` every hosted home's tile,
    ``/api/homes`` the same as JSON, ``/metrics`` every home's figures labelled by node,
    and each home's own wall under ``/home/CODE/``; the homes found again before a
    request when ``hosted`` scans (:meth:`Hosted.refresh`)."""

    def page(request: Request) -> Response:
        lang = _lang(request)
        html = _TEMPLATES.get_template("homes.html").render(
            homes=hosted.summaries(),
            t=LABELS[lang],
            lang=lang,
            at_local=SYSTEM_CLOCK.now().astimezone(LOCAL_TIME).strftime("%Y-%m-%d %H:%M:%S"),
        )
        return HTMLResponse(html)

    def api_homes(_request: Request) -> Response:
        return JSONResponse({"homes": hosted.summaries()})

    def metrics_page(_request: Request) -> Response:
        nodes = [serving.node for serving in hosted.servings.values()]
        return Response(metrics.exposition_of(nodes), media_type=metrics.CONTENT_TYPE)

    def routes() -> list[Any]:
        return [
            Route("/", page),
            Route("/api/homes", api_homes),
            Route("/metrics", metrics_page),
            *(Mount(f"/home/{code}", app=app(s)) for code, s in hosted.servings.items()),
        ]

    application = Starlette(routes=routes())
    made = [hosted.version]

    async def rescanning(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and hosted.scan is not None:
            await run_in_threadpool(hosted.refresh)
            if made[0] != hosted.version:
                made[0] = hosted.version
                application.router.routes = routes()
        await application(scope, receive, send)

    if hosted.logins is not None:
        return _BasicAuth(rescanning, hosted.logins)
    return rescanning


@contextmanager
def running(
    serving: Serving | Hosted,
    host: str = DEFAULT_HOST,
    port: int = 0,
    tls: tuple[Path, Path] | None = None,
    clients: ClientCertificates | None = None,
) -> Iterator[str]:
    """Serve the wall (or a data center's hosted homes) from a background thread while
    the block runs; yield its URL (``port`` 0: a free one). For tests, benchmarks and
    embedding, on the loopback."""
    check_binding(host, tls, serving.logins, clients)
    with socket.socket() as probe:
        probe.bind((host, port))
        port = probe.getsockname()[1]
    application = hosted_app(serving) if isinstance(serving, Hosted) else app(serving)
    server = uvicorn.Server(_config(application, host, port, tls, clients))
    thread = threading.Thread(target=server.run, name="wall", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ConfigError(said("wall_not_started", host=host, port=port))
        time.sleep(0.02)
    try:
        yield f"{'https' if tls else 'http'}://{host}:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def serve(
    serving: Serving,
    host: str = DEFAULT_HOST,
    port: int = 8470,
    tls: tuple[Path, Path] | None = None,
    on_start: Callable[[str], None] | None = None,
    clients: ClientCertificates | None = None,
) -> None:
    """Serve the wall until stopped (SIGINT, SIGTERM); refuse an unsafe binding first."""
    check_binding(host, tls, serving.logins, clients)
    serve_app(app(serving), host, port, tls, on_start, clients)


def serve_app(
    application: Any,
    host: str = DEFAULT_HOST,
    port: int = 8470,
    tls: tuple[Path, Path] | None = None,
    on_start: Callable[[str], None] | None = None,
    clients: ClientCertificates | None = None,
) -> None:
    """Serve an application of this module until stopped (the binding checked first)."""
    server = uvicorn.Server(_config(application, host, port, tls, clients))
    if on_start is not None:
        scheme = "https" if tls else "http"
        on_start(f"{scheme}://{host}:{port}/")
    server.run()


def _config(
    application: Any,
    host: str,
    port: int,
    tls: tuple[Path, Path] | None,
    clients: ClientCertificates | None,
) -> uvicorn.Config:
    config = uvicorn.Config(
        application,
        host=host,
        port=port,
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
        ssl_cert_reqs=ssl.CERT_REQUIRED if clients else ssl.CERT_NONE,
        ssl_ca_certs=str(clients.ca) if clients else None,
        log_level="warning",
        access_log=False,
    )
    if clients is not None:
        config.load()  # the server then keeps this context
        assert config.ssl is not None
        config.ssl.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        config.ssl.load_verify_locations(cafile=str(clients.crl))
    return config
