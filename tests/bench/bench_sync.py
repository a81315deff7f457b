"""Benchmark: one big appropriation change-set from the province to a county, end to end.

Run by hand (pytest never collects it)::

    .venv/bin/python tests/bench/bench_sync.py                      # N = 100,000 and 1,000,000
    .venv/bin/python tests/bench/bench_sync.py --sizes 100000 --only local-sqlite,sftp-postgresql
    .venv/bin/python tests/bench/bench_sync.py --sizes 20000 --baselines sqlite   # or '' for none
    .venv/bin/python tests/bench/bench_sync.py --sizes 100000 --profile /tmp/fsprof  # cProfile files

What is measured, for every size N:

- **fiscalsync**, for each transport (local folder; sftp to a real OpenSSH sshd on
  127.0.0.1) and database (SQLite; PostgreSQL, one database per node), the flow an
  operator runs: the province 410000 of the demo topology *allocates* N lines to the
  province-managed county 410181 (``appropriations.allocate``, what ``fiscalsync allocate
  --file`` calls: every line checked, the province's own appropriation and event rows
  and digests written, and ONE change-set of N ``issue`` operations written, signed and
  put in the outbox, in one transaction), sends it, the county fetches, verifies and
  applies it (rows in ``appropriation`` and ``appropriation_event``) and signs its
  receipt, and the province takes the receipt (outbox entry acknowledged). The clock
  runs from the first line generated to the acknowledged receipt, so the origin writing
  its own rows is inside it, as the publisher's COPY is inside replication's. Before it,
  one empty sync round of each node opens the database connections and the SSH session
  (the baselines, too, connect before their clocks start; that round's time is printed
  as "warm-up"). Each configuration runs in a fresh subprocess, which reports its own
  peak RSS (``VmHWM`` of ``/proc/self/status``: ``ru_maxrss`` of a child starts from its
  parent's RSS at the fork). The count and the sum of the amounts at both ends are
  checked, and so are the verdict, the acknowledgement and, for sftp, sshd's log of the
  login. The lines are varied as a real batch is: every 7-digit functional and 5-digit
  economic code in turn, 文号 of the enforced form ``豫财教〔2026〕N号``, amounts spread
  from 1 元 to a million.
- **raw bulk insert** of the same rows, where fiscalsync writes them: into a fresh
  node database for the origin and another for the county, one after the other, both
  inside the clock (the county's alone is printed beside it) (schema from
  ``schema.migrate.upgrade``): sqlite3 ``executemany`` (same pragmas as a node: WAL,
  synchronous=FULL, foreign keys), and psycopg2 ``COPY FROM STDIN`` on PostgreSQL. Rows
  (and the COPY text) are built before the clock starts: only the database's work is
  timed, which makes the baseline as fast as it can be.
- **PostgreSQL logical replication** of the same rows between two databases of the local
  server: the COPY at the publisher (one transaction), until the subscriber holds the
  last row, found by a primary-key lookup every millisecond (a ``count(*)`` poll would
  slow the subscriber it waits for). Needs ``wal_level = logical``.

CPU seconds are this process's user+sys inside the clock (``time.process_time``): the
PostgreSQL server's work is not in them, on either side, and in the sftp runs neither is
that of sshd and the sftp-server it starts for the session (encryption, file writes),
which are sshd's children, not this process's (so ``os.times()`` cannot count them).

Targets: PostgreSQL at least 1.5x the rows/s of logical replication and at least 0.5x
the raw COPY of the same rows; SQLite at least 65% of the raw bulk insert; peak RSS
under 300 MB at 1,000,000 rows. "rows/s" is lines per second: each line is one
``appropriation`` row and one ``appropriation_event`` row at each end, in every column
of the table alike.

Environment: ``FISCALSYNC_BENCH_PG`` (default ``postgresql://postgres@127.0.0.1:5432``).
Every database, replication slot, publication, subscription, sshd and temporary folder
the benchmark makes is removed at the end, also on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import csv
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg2
import sqlalchemy as sa

import config
from schema import migrate
from schema.engine import open_engine, sqlite_url
from sync.merkle import leaf_of

PG_SERVER = os.environ.get("FISCALSYNC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
DEMO = config.TOPOLOGIES / "demo.toml"
PROVINCE = "410000"
COUNTY = "410181"  # 巩义市: managed by the province directly, one hop
CONFIGS = ("local-sqlite", "local-postgresql", "sftp-sqlite", "sftp-postgresql")
TESTS_DIR = Path(__file__).resolve().parent.parent
BASE_AMOUNT = 1_234_567
AT = "2026-11-23T08:00:00Z"
SQLITE_AT = "2026-11-23 08:00:00.000000"
PG_AT = "2026-11-23T08:00:00+00:00"
DOC = "豫财教〔2026〕12号"
TITLE = "义务教育补助"
TARGET_PG_VS_REPLICATION = 1.5
TARGET_SQLITE_VS_RAW = 0.65
TARGET_PG_VS_COPY = 0.5
TARGET_RSS_MB = 300


# --- the data -------------------------------------------------------------------------------


def appropriation_id(i: int) -> str:
    return f"{PROVINCE}-2026-{i + 1:06d}"


def _codes(codeset: str, digits: int) -> list[str]:
    with (config.CODESETS / "2026" / f"{codeset}.csv").open(encoding="utf-8") as handle:
        return [r["code"] for r in csv.DictReader(handle) if len(r["code"]) == digits]


FUNCS = _codes("func", 7)
ECONS = _codes("econ", 5)
KINDS = ("预", "教", "社", "农")


def line_values(i: int) -> tuple[str, str, str, int]:
    """Line ``i``'s functional and economic codes, 文号 and amount: varied as a real batch
    is, every 文号 of the enforced form <简称><kind>〔YYYY〕N号 (N at most six digits)."""
    return (
        FUNCS[(i * 31) % len(FUNCS)],
        ECONS[i % len(ECONS)],
        f"豫财{KINDS[i % len(KINDS)]}〔2026〕{1 + i // 7 % 999_999}号",
        100 + (i * 7919) % 99_999_901,
    )


def lines(n: int) -> Iterator[Any]:
    """The N lines the operator issues to the county, made as they are read."""
    from nodes.fiscal.appropriations import Allocation

    for i in range(n):
        func, econ, doc, amount = line_values(i)
        yield Allocation(COUNTY, amount, func, econ, "111", doc, 2026, f"{TITLE}第{i}项", "special")


def expected_sum(n: int) -> int:
    return sum(line_values(i)[3] for i in range(n))


def raw_rows(n: int, at: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows fiscalsync stores at the county for the N lines, in table column order."""
    appropriations = []
    events = []
    for i in range(n):
        ident = appropriation_id(i)
        func, econ, doc, amount = line_values(i)
        appropriations.append(
            (ident, 2026, PROVINCE, COUNTY, doc, f"{TITLE}第{i}项", None, None)
            + (func, econ, "111", "special", None, at, "operator", leaf_of(ident))
            + (False, "annual", "own", "county")
        )
        events.append((ident, 1, "issue", amount, doc, "operator", at, "0" * 64))
    return appropriations, events


APPROPRIATION_COLUMNS = (
    "id, year, issuer, recipient, doc_no, title, upper_doc_no, parent_id, func_code, "
    "econ_code, fund_code, transfer_type, project_code, created_at, created_by, leaf, "
    "direct, indicator_kind, fund_source, budget_level"
)
EVENT_COLUMNS = "appropriation_id, seq, kind, amount_fen, doc_no, actor, at, changeset_id"


def copy_text(rows: list[tuple[Any, ...]]) -> str:
    """PostgreSQL COPY text format (no value here holds a tab, newline or backslash)."""

    def text(v: Any) -> str:
        return "\\N" if v is None else ("t" if v else "f") if isinstance(v, bool) else str(v)

    return "".join("\t".join(text(v) for v in row) + "\n" for row in rows)


# --- PostgreSQL helpers ---------------------------------------------------------------------


def pg_dsn(database: str) -> str:
    return f"{PG_SERVER}/{database}"


def pg_admin(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(pg_dsn("postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []
    finally:
        conn.close()


def pg_create(name: str) -> str:
    pg_admin(f'CREATE DATABASE "{name}"')
    url = pg_dsn(name)
    engine = open_engine(url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    return url


def like(prefix: str) -> str:
    """A LIKE pattern for names starting with ``prefix`` (whose "_" are literal)."""
    return prefix.replace("_", "\\_") + "%"


def pg_drop_like(prefix: str) -> list[str]:
    names = [
        r[0]
        for r in pg_admin("SELECT datname FROM pg_database WHERE datname LIKE %s", (like(prefix),))
    ]
    for name in names:
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return names


def fresh_prefix() -> str:
    return f"fsbench_{uuid.uuid4().hex[:10]}"


# --- baselines -------------------------------------------------------------------------------


def bench_raw_sqlite(n: int, workdir: Path) -> dict[str, Any]:
    """The same rows written where fiscalsync writes them: the origin's database, then the
    county's, each in one transaction; both inside the clock, as fiscalsync's are."""
    appropriations, events = raw_rows(n, SQLITE_AT)
    ends = [_raw_sqlite(n, workdir / f"raw-{end}.db", appropriations, events) for end in ENDS]
    return {
        "seconds": sum(wall for wall, _cpu in ends),
        "county_seconds": ends[-1][0],
        "cpu": sum(cpu for _wall, cpu in ends),
    }


ENDS = ("origin", "county")
"""Where a line's rows are written: at the province that issues it and at the county."""


def _raw_sqlite(
    n: int, path: Path, appropriations: list[tuple[Any, ...]], events: list[tuple[Any, ...]]
) -> tuple[float, float]:
    """The wall and CPU seconds of writing the rows into the database at ``path``."""
    engine = open_engine(sqlite_url(path))
    migrate.upgrade(engine)
    engine.dispose()
    con = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
            con.execute(f"PRAGMA {pragma}")
        start = time.perf_counter()
        cpu_start = time.process_time()
        con.execute("BEGIN IMMEDIATE")
        con.executemany(
            f"INSERT INTO appropriation ({APPROPRIATION_COLUMNS}) VALUES ({', '.join('?' * 20)})",
            appropriations,
        )
        con.executemany(
            f"INSERT INTO appropriation_event ({EVENT_COLUMNS}) VALUES ({', '.join('?' * 8)})",
            events,
        )
        con.execute("COMMIT")
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        count, total = con.execute(
            "SELECT count(*), sum(amount_fen) FROM appropriation_event"
        ).fetchone()
        (rows,) = con.execute("SELECT count(*) FROM appropriation").fetchone()
    finally:
        con.close()
    check("raw sqlite", n, count, total, rows)
    return seconds, cpu


def bench_raw_postgresql(n: int, prefix: str) -> dict[str, Any]:
    """The same rows COPied where fiscalsync writes them: the origin's database, then the
    county's; both inside the clock, as fiscalsync's are."""
    try:
        appropriations, events = raw_rows(n, PG_AT)
        texts = (copy_text(appropriations), copy_text(events))
        del appropriations, events
        ends = [_raw_postgresql(n, pg_create(f"{prefix}_raw_{end}"), texts) for end in ENDS]
        return {"seconds": sum(ends), "county_seconds": ends[-1]}
    finally:
        pg_drop_like(prefix)


def _raw_postgresql(n: int, url: str, texts: tuple[str, str]) -> float:
    conn = psycopg2.connect(url)
    try:
        start = time.perf_counter()
        _copy_both(conn, texts)
        seconds = time.perf_counter() - start
        with conn.cursor() as cur:
            cur.execute("SELECT count(*), sum(amount_fen) FROM appropriation_event")
            count, total = cur.fetchone()
            cur.execute("SELECT count(*) FROM appropriation")
            (rows,) = cur.fetchone()
        conn.commit()
    finally:
        conn.close()
    check("raw postgresql", n, count, total, rows)
    return seconds


def _copy_both(conn: Any, texts: tuple[str, str]) -> None:
    import io

    with conn.cursor() as cur:
        cur.copy_expert(
            f"COPY appropriation ({APPROPRIATION_COLUMNS}) FROM STDIN", io.StringIO(texts[0])
        )
        cur.copy_expert(
            f"COPY appropriation_event ({EVENT_COLUMNS}) FROM STDIN", io.StringIO(texts[1])
        )
    conn.commit()


def bench_replication(n: int, prefix: str) -> dict[str, Any]:
    """Logical replication of the same rows between two databases of the local server."""
    (level,) = pg_admin("SHOW wal_level")[0]
    if level != "logical":
        raise SystemExit(
            f"wal_level is {level!r}, logical replication needs 'logical': run "
            "ALTER SYSTEM SET wal_level = logical, and restart PostgreSQL"
        )
    name = prefix  # publication, slot and subscription share it
    pub_db, sub_db = f"{prefix}_pub", f"{prefix}_sub"
    sub_conn = pub_conn = None
    try:
        pub_url = pg_create(pub_db)
        sub_url = pg_create(sub_db)
        pub_conn = psycopg2.connect(pub_url)
        pub_conn.autocommit = True
        sub_conn = psycopg2.connect(sub_url)
        sub_conn.autocommit = True
        with pub_conn.cursor() as cur:
            cur.execute(f"CREATE PUBLICATION {name} FOR TABLE appropriation, appropriation_event")
            # On the same server CREATE SUBSCRIPTION would wait for its own transaction
            # while it creates the slot (see CREATE SUBSCRIPTION's notes): make it first.
            cur.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (name,))
        host, port = "127.0.0.1", 5432
        parsed = sa.engine.make_url(PG_SERVER)
        host, port, user = parsed.host or host, parsed.port or port, parsed.username or "postgres"
        with sub_conn.cursor() as cur:
            cur.execute(
                f"CREATE SUBSCRIPTION {name} CONNECTION 'host={host} port={port} user={user} "
                f"dbname={pub_db}' PUBLICATION {name} "
                f"WITH (copy_data = false, create_slot = false, slot_name = '{name}')"
            )
        _wait(lambda: _slot_active(name), "the subscription's worker to connect", 30)
        appropriations, events = raw_rows(n, PG_AT)
        texts = (copy_text(appropriations), copy_text(events))
        del appropriations, events
        pub_conn.autocommit = False
        start = time.perf_counter()
        _copy_both(pub_conn, texts)
        committed = time.perf_counter() - start
        last = appropriation_id(n - 1)
        with sub_conn.cursor() as cur:

            def arrived() -> bool:
                # The publisher's transaction is applied whole: its last row's arrival, by
                # primary key (a cheap lookup, not a count that slows the subscriber).
                cur.execute("SELECT 1 FROM appropriation WHERE id = %s", (last,))
                return cur.fetchone() is not None

            _wait(arrived, "the subscriber to hold every row", 3600, pause=0.001)
            seconds = time.perf_counter() - start
            cur.execute("SELECT count(*), sum(amount_fen) FROM appropriation_event")
            count, total = cur.fetchone()
            cur.execute("SELECT count(*) FROM appropriation")
            (rows,) = cur.fetchone()
        check("logical replication", n, count, total, rows)
        return {"seconds": seconds, "publisher_commit": committed}
    finally:
        if sub_conn is not None:
            with contextlib.suppress(psycopg2.Error), sub_conn.cursor() as cur:
                cur.execute(f"ALTER SUBSCRIPTION {name} DISABLE")
                cur.execute(f"ALTER SUBSCRIPTION {name} SET (slot_name = NONE)")
                cur.execute(f"DROP SUBSCRIPTION {name}")
            sub_conn.close()
        if pub_conn is not None:
            pub_conn.close()
        with contextlib.suppress(Exception):
            _wait(lambda: not _slot_active(name), "the replication slot to be released", 30)
        if pg_admin("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (name,)):
            pg_admin("SELECT pg_drop_replication_slot(%s)", (name,))
        pg_drop_like(prefix)  # the publication goes with its database
        left = pg_admin("SELECT slot_name FROM pg_replication_slots WHERE slot_name = %s", (name,))
        if left:
            print(f"WARNING: replication slot {name} is still there", file=sys.stderr)


def _slot_active(name: str) -> bool:
    rows = pg_admin("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (name,))
    return bool(rows and rows[0][0])


def _wait(condition: Callable[[], bool], what: str, timeout: float, pause: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(pause)


def check(what: str, n: int, count: Any, total: Any, rows: Any) -> None:
    want = (n, expected_sum(n), n)
    got = (int(count or 0), int(total or 0), int(rows or 0))
    if got != want:
        raise SystemExit(
            f"{what}: WRONG RESULT: events, sum of amounts, appropriations = {got}, expected {want}"
        )


# --- fiscalsync, in a subprocess of its own -------------------------------------------------


def _start_sshd(workdir: Path, authorized_key: Path) -> Any:
    """A real OpenSSH sshd on 127.0.0.1 accepting the county's key (tests/sshd_fixture.py)."""
    sys.path.insert(0, str(TESTS_DIR))
    from sshd_fixture import PRIVSEP_DIR, SSHD, Sshd

    if SSHD is None:
        raise SystemExit("no sshd binary: apt-get install -y openssh-server")
    PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    for attempt in range(3):  # another program may take the free port before sshd does
        server = Sshd(workdir / f"try{attempt}")
        server.authorized_keys.write_text(authorized_key.read_text())
        try:
            server.start()
        except Exception:
            if attempt == 2:
                raise
            continue
        assert server._process is not None
        (workdir / "sshd.pid").write_text(str(server._process.pid))  # for the parent's cleanup
        return server
    raise AssertionError("unreachable")


def run_fiscalsync(
    n: int, transport: str, database: str, workdir: Path, prefix: str, profile: Path | None
) -> dict[str, Any]:
    from nodes.exchange import Exchange
    from nodes.fiscal import appropriations
    from nodes.network import TOPOLOGY_FILE, init_network
    from nodes.node import Node
    from nodes.topology import Endpoint, load_topology
    from schema.channels import changeset_log, outbox
    from schema.tables import appropriation, appropriation_event
    from sync import changeset, channel

    template = f"{PG_SERVER}/{prefix}_{{code}}" if database == "postgresql" else None
    server = None
    nodes: list[Any] = []
    exchanges: list[Any] = []
    try:
        network = init_network(workdir / "province", DEMO, template)
        county_home = network.homes[COUNTY]
        if transport == "sftp":
            server = _start_sshd(workdir / "sshd", county_home.keys / "ssh_ed25519.pub")
            mailboxes = network.path / PROVINCE / "mailboxes"
            url = f"sftp://{server.user}@127.0.0.1:{server.port}{quote(str(mailboxes))}"
            host_key = " ".join(server.host_key.split()[:2])
            topology_file = county_home.path / TOPOLOGY_FILE
            topology = load_topology(topology_file)
            topology = topology.with_endpoints({PROVINCE: Endpoint("sftp", url, host_key)})
            topology_file.write_text(topology.to_toml(), encoding="utf-8")
        province = Node.open(network.path / PROVINCE)
        county = Node.open(network.path / COUNTY)
        nodes += [province, county]
        if transport == "sftp":
            assert county.parent is not None and county.parent.endpoint is not None
            assert county.parent.endpoint.kind == "sftp", county.parent.endpoint
        p_exchange, c_exchange = Exchange(province), Exchange(county)
        exchanges += [p_exchange, c_exchange]

        spent: dict[str, float] = {"verify": 0.0, "apply": 0.0, "receive": 0.0}
        recording = [False]

        def timed(name: str, inner: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return inner(*args, **kwargs)
                finally:
                    if recording[0]:
                        spent[name] += time.perf_counter() - start

            return wrapper

        # Module attributes are looked up at each call, so the wrappers see the real work.
        channel.receive = timed("receive", channel.receive)  # type: ignore[assignment]
        changeset.verify = timed("verify", changeset.verify)  # type: ignore[assignment]
        appropriations.apply_received = timed("apply", appropriations.apply_received)  # type: ignore[assignment]

        # One empty round each first, as the baselines connect before their clocks start:
        # database pools and the SSH session are open; the clock measures the change-set.
        warm_start = time.perf_counter()
        for exchange in (p_exchange, c_exchange):
            idle = exchange.run_round()
            if idle.errors or idle.moved:
                raise SystemExit(f"the warm-up round was not empty: {idle}")
        warmup = time.perf_counter() - warm_start

        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        start = time.perf_counter()
        cpu_start = time.process_time()
        batch: Any = lines(n)
        if not hasattr(appropriations, "iter_holdings"):  # a fiscalsync that reads lines twice
            batch = list(batch)
        ids = appropriations.allocate(province, batch, actor="operator")
        t_enqueue = time.perf_counter()
        send = p_exchange.run_round()
        t_send = time.perf_counter()
        recording[0] = True
        take = c_exchange.run_round()
        recording[0] = False
        t_take = time.perf_counter()
        back = p_exchange.run_round()
        end = time.perf_counter()
        cpu = time.process_time() - cpu_start
        if profiler:
            profiler.disable()
            assert profile is not None
            profile.mkdir(parents=True, exist_ok=True)
            profiler.dump_stats(profile / f"{transport}-{database}-{n}.prof")

        for summary in (send, take, back):
            if summary.errors:
                raise SystemExit(f"sync errors: {summary.errors}")
        if (send.sent, take.applied, take.receipts_sent, back.receipts_received) != (1, 1, 1, 1):
            raise SystemExit(f"unexpected rounds: {send}, {take}, {back}")
        with county.engine.connect() as conn:
            count, total = conn.execute(
                sa.select(sa.func.count(), sa.func.sum(appropriation_event.c.amount_fen))
            ).one()
            rows = conn.execute(sa.select(sa.func.count()).select_from(appropriation)).scalar()
        with province.engine.connect() as conn:
            entry = conn.execute(sa.select(outbox).where(outbox.c.recipient == COUNTY)).one()
            origin_rows = conn.execute(
                sa.select(sa.func.count()).select_from(appropriation_event)
            ).scalar()
        with county.engine.connect() as conn:
            verdict = conn.execute(
                sa.select(changeset_log.c.verdict).where(changeset_log.c.id == entry.id)
            ).scalar_one()
        check(f"fiscalsync {transport} {database}", n, count, total, rows)
        if (len(ids), origin_rows) != (n, n):
            raise SystemExit(f"the province holds {origin_rows} events of {len(ids)} ids, not {n}")
        if verdict != "applied" or entry.acked_at is None or entry.receipt_verdict != "applied":
            raise SystemExit(
                f"not applied and acknowledged: {verdict}, {entry.acked_at}, {entry.receipt_verdict}"
            )
        if server is not None and "Accepted publickey" not in server.log.read_text(
            errors="replace"
        ):
            raise SystemExit(f"sshd saw no login: {server.log_tail()}")
        size = (province.spool.outbox / entry.filename).stat().st_size
        rss_mb = _vm_hwm_mb()  # this process's own peak (ru_maxrss counts the parent's)
        hwm_mb = rss_mb
        verify_apply = spent["receive"]
        return {
            "seconds": end - start,
            "cpu": cpu,
            "rss_mb": rss_mb,
            "hwm_mb": hwm_mb,
            "file_mb": size / 1e6,
            "warmup": warmup,
            "phases": {
                "allocate": t_enqueue - start,
                "transfer": (t_send - t_enqueue) + (t_take - t_send - verify_apply),
                "verify": spent["verify"],
                "apply": spent["apply"],
                "commit": verify_apply - spent["verify"] - spent["apply"],
                "receipt": end - t_take,
            },
        }
    finally:
        for exchange in exchanges:
            with contextlib.suppress(Exception):
                exchange.close()
        for node in nodes:
            node.close()
        if server is not None:
            server.stop()
            (workdir / "sshd" / "sshd.pid").unlink(missing_ok=True)


def _vm_hwm_mb() -> float:
    """This process image's own peak RSS (``ru_maxrss`` also counts, on Linux, the RSS of
    the process that spawned it, taken over at exec; the parent here stays small)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


BASELINES = ("sqlite", "postgresql", "replication")


def worker_main(args: argparse.Namespace) -> None:
    if args.worker in BASELINES:
        if args.worker == "sqlite":
            result = bench_raw_sqlite(args.size, Path(args.workdir))
        elif args.worker == "postgresql":
            result = bench_raw_postgresql(args.size, args.prefix)
        else:
            result = bench_replication(args.size, args.prefix)
    else:
        transport, database = args.worker.split("-")
        result = run_fiscalsync(
            args.size, transport, database, Path(args.workdir), args.prefix, args.profile
        )
    Path(args.out).write_text(json.dumps(result))


def spawn(config_name: str, n: int, profile: Path | None) -> dict[str, Any]:
    """Run one configuration in a fresh interpreter; whatever it leaves is removed here."""
    workdir = Path(tempfile.mkdtemp(prefix="fsbench-"))
    prefix = fresh_prefix()
    out_path = workdir / "result.json"
    try:
        command = [sys.executable, __file__, "--worker", config_name, "--size", str(n)]
        command += ["--out", str(out_path), "--workdir", str(workdir), "--prefix", prefix]
        if profile:
            command += ["--profile", str(profile)]
        subprocess.run(command, check=True)
        result: dict[str, Any] = json.loads(out_path.read_text())
        return result
    finally:
        _cleanup(workdir, prefix)


def _cleanup(workdir: Path, prefix: str) -> None:
    """Stop a leftover sshd of a run, drop its databases and slots, remove its folder."""
    pid_file = workdir / "sshd" / "sshd.pid"  # written by the run, removed when it stops sshd
    if pid_file.exists():
        with contextlib.suppress(ValueError, OSError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
    for (slot,) in pg_admin(
        "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE %s", (like(prefix),)
    ):
        with contextlib.suppress(psycopg2.Error):
            pg_admin("SELECT pg_drop_replication_slot(%s)", (slot,))
    pg_drop_like(prefix)
    shutil.rmtree(workdir, ignore_errors=True)


# --- the report ------------------------------------------------------------------------------


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f}"


def report(n: int, fs: dict[str, dict[str, Any]], base: dict[str, dict[str, Any]]) -> None:
    print(f"\n=== N = {n:,} operations: one change-set {PROVINCE} -> {COUNTY} (one hop) ===")
    print("  (fiscalsync's clock includes the origin's own insert, as an operator's allocate does)")
    print(
        "  (fair: both sides write the same N lines as the same rows of both tables at both\n"
        "   ends, each inside its clock, connected before it starts; CPU is this process's\n"
        "   user+sys seconds inside the clock: the PostgreSQL server's is not counted, on\n"
        "   either side, nor, in the sftp runs, that of sshd and its sftp-server, which\n"
        "   encrypt and write the files)"
    )
    print(f"{'':38}{'seconds':>9}{'rows/s':>13}{'CPU s':>8}{'peak RSS':>11}  change-set")
    for name, r in fs.items():
        label = "fiscalsync " + name.replace("-", " / ")
        print(
            f"{label:38}{r['seconds']:>9.2f}{rate(n, r['seconds'])}{r['cpu']:>8.2f}"
            f"{r['rss_mb']:>8.0f} MB  {r['file_mb']:.1f} MB"
        )
    labels = {
        "sqlite": "raw bulk insert SQLite (executemany)",
        "postgresql": "raw bulk insert PostgreSQL (COPY)",
        "replication": "PostgreSQL logical replication",
    }
    for key, label in labels.items():
        if key in base:
            r = base[key]
            cpu = f"{r['cpu']:>8.2f}" if "cpu" in r else ""
            print(f"{label:38}{r['seconds']:>9.2f}{rate(n, r['seconds'])}{cpu}")
            if "county_seconds" in r:
                print(
                    f"  (both ends' rows, origin then county, as fiscalsync writes them; "
                    f"the county's alone: {r['county_seconds']:.2f} s)"
                )
    if "replication" in base:
        print(
            f"  (logical replication: publisher's COPY committed after "
            f"{base['replication']['publisher_commit']:.2f} s)"
        )

    print("\nTargets:")
    for name, r in fs.items():
        ours = n / r["seconds"]
        if name.endswith("sqlite") and "sqlite" in base:
            raw = n / base["sqlite"]["seconds"]
            ratio = ours / raw
            verdict = "met" if ratio >= TARGET_SQLITE_VS_RAW else "MISSED"
            print(
                f"  {name:18} {ratio:6.0%} of raw SQLite bulk insert "
                f"(target >= {TARGET_SQLITE_VS_RAW:.0%}): {verdict}"
            )
        if name.endswith("postgresql") and "replication" in base:
            ratio = ours / (n / base["replication"]["seconds"])
            verdict = "met" if ratio >= TARGET_PG_VS_REPLICATION else "MISSED"
            print(
                f"  {name:18} {ratio:6.2f}x logical replication "
                f"(target >= {TARGET_PG_VS_REPLICATION}x): {verdict}"
            )
        if name.endswith("postgresql") and "postgresql" in base:
            ratio = ours / (n / base["postgresql"]["seconds"])
            verdict = "met" if ratio >= TARGET_PG_VS_COPY else "MISSED"
            print(
                f"  {name:18} {ratio:6.2f}x raw PostgreSQL COPY of the same rows "
                f"(target >= {TARGET_PG_VS_COPY}x): {verdict}"
            )
    for name, r in fs.items():
        verdict = "met" if r["rss_mb"] < TARGET_RSS_MB else "MISSED"
        print(
            f"  {name:18} peak RSS {r['rss_mb']:.0f} MB (target < {TARGET_RSS_MB} MB"
            f"{' at 1,000,000' if n < 1_000_000 else ''}): {verdict}"
        )

    print("\nPhases (seconds):")
    phases = ("allocate", "transfer", "verify", "apply", "commit", "receipt")
    print(f"  {'':18}" + "".join(f"{p:>10}" for p in phases) + f"{'total':>10}{'warm-up':>10}")
    for name, r in fs.items():
        cells = "".join(f"{r['phases'][p]:>10.2f}" for p in phases)
        print(f"  {name:18}{cells}{r['seconds']:>10.2f}{r['warmup']:>10.2f}")
    print(
        "  allocate: the operator's allocate of the N lines at the province: checks, the\n"
        "            province's own rows (appropriations, events, digests), and the\n"
        "            change-set encoded, hashed, compressed, signed, in the outbox (one\n"
        "            transaction, as `fiscalsync allocate --file` does it);\n"
        "  transfer: province publishes to its mailbox + county fetches (local or sftp)\n"
        "            + county uploads the receipt; verify: signature, certificate, body\n"
        "            hash; apply: apply_received (decode, check, insert both tables);\n"
        "  commit: channel bookkeeping, receipt signing and the commit; receipt: the\n"
        "          province collects, verifies and records the receipt;\n"
        "  warm-up (not in total): one empty round of province and county before the\n"
        "          clock, which opens the database connections and the SSH session."
    )


def generation_cost(n: int) -> float:
    next(lines(1))  # imports first
    start = time.perf_counter()
    for _line in lines(n):
        pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", default="100000,1000000", help="comma-separated operation counts"
    )
    parser.add_argument(
        "--only", default=",".join(CONFIGS), help=f"fiscalsync configurations: {', '.join(CONFIGS)}"
    )
    parser.add_argument(
        "--baselines",
        default="sqlite,postgresql,replication",
        help="baselines to run: sqlite, postgresql, replication (none: '')",
    )
    parser.add_argument(
        "--profile", type=Path, help="write a cProfile file per fiscalsync run to this folder"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args)
        return
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    chosen = [c.strip() for c in args.only.split(",") if c.strip()]
    baselines = {b.strip() for b in args.baselines.split(",") if b.strip()}
    if baselines - set(BASELINES):
        parser.error(f"unknown baselines {sorted(baselines)}")
    unknown = set(chosen) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configurations {sorted(unknown)}; choose from {CONFIGS}")
    (level,) = pg_admin("SHOW wal_level")[0]
    (version,) = pg_admin("SHOW server_version")[0]
    print(
        f"fiscalsync benchmark: Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, "
        f"PostgreSQL {version} (wal_level {level}), {os.cpu_count()} CPUs"
    )
    for n in sizes:
        fs: dict[str, dict[str, Any]] = {}
        for name in chosen:
            fs[name] = spawn(name, n, args.profile)
            print(f"  ran fiscalsync {name} N={n:,}: {fs[name]['seconds']:.2f} s", flush=True)
        base: dict[str, dict[str, Any]] = {}
        for name in BASELINES:  # each in a subprocess too: this one stays small
            if name in baselines:
                base[name] = spawn(name, n, None)
        report(n, fs, base)
        print(
            f"\n  (generating the {n:,} lines alone takes {generation_cost(n):.2f} s; "
            "it is inside fiscalsync's allocate)"
        )


if __name__ == "__main__":
    main()
