"""Benchmark: reconciliation (上下级对账) of N appropriations between the province and a county.

Run by hand (pytest never collects it)::

    .venv/bin/python tests/bench/bench_reconcile.py                    # N = 1,000,000, SQLite
    .venv/bin/python tests/bench/bench_reconcile.py --size 100000 --backend postgresql

What is measured, each in a fresh subprocess, on one ``network init`` demo province in which
the province issued N appropriations to its direct county 410181 (in change-sets of
100,000, synced until quiet before any clock starts):

- **identical**: the province starts a reconciliation; province and county run sync
  rounds until it is concluded. Bytes are the sizes of every ``reconcile`` change-set
  file both sides wrote; the time of each side is what it spent in its own steps
  (starting, answering, comparing, concluding), and the wall time from start to
  statement.
- **differences**: the county's copy of D scattered appropriations is changed (an amount
  one fen higher, its digests kept as a write would keep them), then the same: exactly
  those D must be found.
- **naive**: the baseline that ships every record: the county reads all its records,
  encodes them as JSON lines and gzips them (the bytes); the province decodes them, reads
  its own and compares all of them. Same records, same comparison.
- **digest upkeep**: issuing and applying the N appropriations (enqueue + apply) with the
  digests kept, and with their upkeep switched off in the same code (the record digest
  and the bucket writes replaced by nothing), each in its own fresh province.

Targets (issue): identical < 32 KB and < 2 s per side; D = 100 differences found exactly in
< 256 KB and < 5 s; the upkeep < 15 % of the sync.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS_DIR.parent))

import config  # noqa: E402

PG_SERVER = os.environ.get("FISCALSYNC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
DEMO = config.TOPOLOGIES / "demo.toml"
PROVINCE, COUNTY = "410000", "410181"
BATCH = 100_000


def _template(backend: str, prefix: str) -> str | None:
    return f"{PG_SERVER}/{prefix}_{{code}}" if backend == "postgresql" else None


def _issue(path: Path, n: int, *, seed: int = 0) -> None:
    from nodes import Node
    from nodes.fiscal.appropriations import Allocation, allocate

    with Node.open(path / PROVINCE) as node:
        for start in range(0, n, BATCH):
            count = min(BATCH, n - start)
            lines = [
                Allocation(
                    COUNTY,
                    100 + (start + i) % 1_000,
                    "2050202",
                    "50201",
                    "111",
                    f"豫财预〔2026〕{seed * 100_000 + (start + i) // 1_000 + 1}号",
                    2026,
                )
                for i in range(count)
            ]
            allocate(node, lines, actor="bench")


def _settle(path: Path) -> None:
    from nodes.network import sync_network

    result = sync_network(path, until_quiet=True, max_rounds=30)
    assert result.quiet, result


def prepare(workdir: Path, n: int, backend: str, prefix: str) -> dict[str, Any]:
    from nodes import init_network

    network = init_network(workdir / "province", DEMO, _template(backend, prefix))
    began = time.perf_counter()
    _issue(network.path, n)
    _settle(network.path)
    return {"prepared_s": time.perf_counter() - began}


def _reconcile(path: Path) -> dict[str, Any]:
    """Start at the province, rounds at both until concluded; bytes and time per side."""
    from nodes import Node
    from nodes.exchange import Exchange
    from nodes.fiscal.reconcile import protocol
    from schema.channels import outbox
    from schema.engine import reading
    from schema.tables import reconciliation, reconciliation_finding

    spent = {PROVINCE: 0.0, COUNTY: 0.0}
    inner = protocol.apply_step

    def timed(conn: Any, verified: Any, sender: Any) -> None:
        began = time.perf_counter()
        try:
            inner(conn, verified, sender)
        finally:
            spent[sender.node.spec.code] += time.perf_counter() - began

    protocol.apply_step = timed  # type: ignore[assignment]
    nodes = {code: Node.open(path / code) for code in (PROVINCE, COUNTY)}
    exchanges = {code: Exchange(node) for code, node in nodes.items()}
    try:
        wall = time.perf_counter()
        began = time.perf_counter()
        session = protocol.start(nodes[PROVINCE], COUNTY)
        spent[PROVINCE] += time.perf_counter() - began
        for _ in range(20):
            for code in (PROVINCE, COUNTY):
                exchanges[code].run_round(retransmit_now=True)
            with reading(nodes[PROVINCE].engine) as conn:
                state = conn.execute(
                    reconciliation.select().where(reconciliation.c.id == session)
                ).one()
            if state.state == "concluded":
                break
        wall = time.perf_counter() - wall
        sizes = 0
        for node in nodes.values():
            with reading(node.engine) as conn:
                names = conn.execute(
                    outbox.select()
                    .with_only_columns(outbox.c.filename)
                    .where(outbox.c.kind == "reconcile")
                ).scalars()
                sizes += sum((node.home.spool / "outbox" / name).stat().st_size for name in names)
        with reading(nodes[PROVINCE].engine) as conn:
            findings = conn.execute(
                reconciliation_finding.select().where(
                    reconciliation_finding.c.reconciliation_id == session
                )
            ).all()
        return {
            "state": state.state,
            "agree": state.agree,
            "found": sorted((f.kind, f.subject) for f in findings if f.discrepancy),
            "bytes": sizes,
            "province_s": spent[PROVINCE],
            "county_s": spent[COUNTY],
            "wall_s": wall,
        }
    finally:
        for exchange in exchanges.values():
            exchange.close()
        for node in nodes.values():
            node.close()


def identical(workdir: Path) -> dict[str, Any]:
    result = _reconcile(workdir / "province")
    assert result["agree"] and not result["found"], result
    return result


def differences(workdir: Path, diffs: int) -> dict[str, Any]:
    import sqlalchemy as sa

    from nodes import Node
    from nodes.fiscal.reconcile import records
    from schema.tables import appropriation, appropriation_event

    path = workdir / "province"
    with Node.open(path / COUNTY) as node, node.engine.begin() as conn:
        ids = sorted(
            conn.execute(
                sa.select(appropriation.c.id).where(appropriation.c.recipient == COUNTY)
            ).scalars()
        )
        chosen = sorted(random.Random(7).sample(ids, diffs))
        before = records.view(conn, records.RECIPIENT, chosen)
        conn.execute(
            appropriation_event.update()
            .where(appropriation_event.c.appropriation_id.in_(chosen))
            .values(amount_fen=appropriation_event.c.amount_fen + 1)
        )
        after = records.view(conn, records.RECIPIENT, chosen)
        records.refresh(conn, records.scope(PROVINCE, COUNTY), before, after)
    result = _reconcile(path)
    assert result["found"] == sorted(("amount", i) for i in chosen), result["found"][:5]
    return result


def naive(workdir: Path) -> dict[str, Any]:
    """Every record shipped: read, encoded, compressed at the county; decoded, read and
    compared at the province."""
    from nodes import Node
    from nodes.fiscal.reconcile import findings, records
    from schema.engine import reading

    path = workdir / "province"
    began = time.perf_counter()
    with Node.open(path / COUNTY) as node, reading(node.engine) as conn:
        ids = list(records.edge_ids(conn, PROVINCE, COUNTY))
        held = records.view(conn, records.RECIPIENT, ids)
        payload = gzip.compress(
            b"".join(
                json.dumps(r.content, ensure_ascii=False).encode() + b"\n" for r in held.values()
            ),
            3,
        )
    county_s = time.perf_counter() - began
    began = time.perf_counter()
    theirs = {}
    for line in gzip.decompress(payload).splitlines():
        content = json.loads(line)
        theirs[content[0]] = content
    with Node.open(path / PROVINCE) as node, reading(node.engine) as conn:
        ours = {i: r.content for i, r in records.view(conn, records.ISSUER, ids).items()}
    found = findings.compare(ours, theirs)
    province_s = time.perf_counter() - began
    return {
        "bytes": len(payload),
        "province_s": province_s,
        "county_s": county_s,
        "wall_s": province_s + county_s,
        "found": len(found),
    }


def upkeep(workdir: Path, n: int, backend: str, prefix: str, keep: bool) -> dict[str, Any]:
    """Issue and apply N appropriations, the digests kept or not."""
    from nodes import init_network

    if not keep:  # the same code, the digests' upkeep replaced by nothing
        from nodes.fiscal.appropriations import issuing, receiving
        from nodes.fiscal.reconcile import records
        from sync import merkle

        records.new_digest = lambda *args, **kwargs: 0  # type: ignore[assignment]
        merkle.apply = lambda *args, **kwargs: None  # type: ignore[assignment]
        issuing._keep_digests = lambda *args, **kwargs: None  # type: ignore[assignment]
        assert receiving.merkle.apply is merkle.apply
    network = init_network(workdir / "province", DEMO, _template(backend, prefix))
    began = time.perf_counter()
    _issue(network.path, n)
    issued = time.perf_counter() - began
    _settle(network.path)
    return {"issue_s": issued, "total_s": time.perf_counter() - began}


# --- running each part in its own process ---------------------------------------------------


def _worker(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir)
    work: dict[str, Callable[[], dict[str, Any]]] = {
        "prepare": lambda: prepare(workdir, args.size, args.backend, args.prefix),
        "identical": lambda: identical(workdir),
        "differences": lambda: differences(workdir, args.diffs),
        "naive": lambda: naive(workdir),
        "upkeep-kept": lambda: upkeep(
            workdir / "kept", args.size, args.backend, args.prefix + "k", True
        ),
        "upkeep-off": lambda: upkeep(
            workdir / "off", args.size, args.backend, args.prefix + "o", False
        ),
    }
    result = work[args.worker]()
    Path(args.out).write_text(json.dumps(result), encoding="utf-8")


def _run(name: str, args: argparse.Namespace, workdir: Path, prefix: str) -> dict[str, Any]:
    out = workdir / f"{name}.json"
    command = [
        sys.executable, __file__, "--worker", name, "--workdir", str(workdir), "--out", str(out),
        "--size", str(args.size), "--diffs", str(args.diffs), "--backend", args.backend,
        "--prefix", prefix,
    ]  # fmt: skip
    subprocess.run(command, check=True)
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    print(f"  ran {name}: {json.dumps({k: v for k, v in result.items() if k != 'found'})}")
    return result


def _drop_databases(prefix: str) -> None:
    import psycopg2

    conn = psycopg2.connect(f"{PG_SERVER}/postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",))
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--diffs", type=int, default=100)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--worker")
    parser.add_argument("--workdir")
    parser.add_argument("--out")
    parser.add_argument("--prefix", default="")
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    workdir = Path(tempfile.mkdtemp(prefix="fsrecon-"))
    prefix = f"fsrecon_{uuid.uuid4().hex[:8]}"
    print(f"reconciliation benchmark: N = {args.size:,}, {args.backend}, D = {args.diffs}")
    try:
        results = {
            name: _run(name, args, workdir, prefix)
            for name in (
                "prepare",
                "identical",
                "differences",
                "naive",
                "upkeep-kept",
                "upkeep-off",
            )
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if args.backend == "postgresql":
            _drop_databases(prefix)
    print()
    print(f"{'':28}{'bytes':>12}{'province s':>12}{'county s':>10}{'wall s':>9}")
    for name in ("identical", "differences", "naive"):
        r = results[name]
        print(
            f"{name:28}{r['bytes']:>12,}{r['province_s']:>12.2f}{r['county_s']:>10.2f}{r['wall_s']:>9.2f}"
        )
    naive_r, same, diff = results["naive"], results["identical"], results["differences"]
    print()
    print(
        f"identical vs naive: {naive_r['bytes'] / max(same['bytes'], 1):,.0f}x fewer bytes, "
        f"{naive_r['wall_s'] / max(same['wall_s'], 1e-9):,.1f}x less time"
    )
    print(
        f"{args.diffs} differences vs naive: {naive_r['bytes'] / max(diff['bytes'], 1):,.0f}x fewer bytes, "
        f"{naive_r['wall_s'] / max(diff['wall_s'], 1e-9):,.1f}x less time; found exactly: "
        f"{len(diff['found']) == args.diffs}"
    )
    kept, off = results["upkeep-kept"], results["upkeep-off"]
    print(
        f"digest upkeep: issue + sync {kept['total_s']:.2f} s kept vs {off['total_s']:.2f} s off "
        f"(+{(kept['total_s'] / off['total_s'] - 1) * 100:.1f} %); issuing alone "
        f"{kept['issue_s']:.2f} s vs {off['issue_s']:.2f} s"
    )
    print()
    print(
        "Targets: identical < 32 KB and < 2 s per side; differences < 256 KB and < 5 s; "
        "upkeep < 15 %"
    )
    print(
        f"  identical:   {same['bytes']:,} B, {max(same['province_s'], same['county_s']):.2f} s per side"
    )
    print(
        f"  differences: {diff['bytes']:,} B, {max(diff['province_s'], diff['county_s']):.2f} s per side"
    )


if __name__ == "__main__":
    main()
