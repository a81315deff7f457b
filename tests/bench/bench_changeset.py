"""Benchmark of the change-set codec: write, verify, read back; run by hand, not by pytest.

    .venv/bin/python tests/bench/bench_changeset.py [--sizes 10000,100000,1000000]

For each size, one fresh subprocess writes, signs, verifies and reads back a change-set of
appropriation-sized operations and reports its own peak RSS (``VmHWM`` of
``/proc/self/status``: ``ru_maxrss`` of a child starts from its parent's RSS); another
measures the fastest encoder and decoder available for the very same bytes, ``orjson``
(one compact line per operation, the bytes the codec writes), and the standard library's
``json`` for information, so the columns compare the codec with the best plain JSON can
do on this machine. Rows are made in batches of 10,000
outside the timed sections, so no phase holds a million rows in memory. Sizes under
300,000 are repeated and the best time kept.

Verify + decode is what a node does with a change-set it takes (:func:`sync.channel.receive`):
``verify(..., hold=True)``, then every operation of ``Verified.operations()`` seen by a
Python loop, as the baseline's loop sees every ``orjson.loads`` result. The machine may be
shared: the codec's and the baseline's processes alternate (``--rounds``, best of each
kept), and each time is taken twice, by the wall clock and by the process's CPU time
(user + system, ``time.process_time``); the ratio is given for both.

Targets: verify + decode at >= 70% of the raw orjson.loads rate of the same lines; peak
RSS < 200 MB at 1M.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BATCH = 10_000
TARGET = 0.7
FUNCS = ("2050201", "2050202", "2050203", "2080501", "2100101", "2130101", "2120101")
ECONS = ("50201", "50299", "50501", "39999")
TITLES = (
    "城乡义务教育补助经费",
    "基本公共卫生服务补助资金",
    "农业生产发展资金",
    "困难群众救助补助资金",
    "城镇保障性安居工程专项资金",
)


def rows(n: int) -> Iterator[list[dict[str, Any]]]:
    """Yield ``n`` appropriation-sized operations in batches; the same rows every run."""
    for start in range(0, n, BATCH):
        batch = []
        for i in range(start, min(n, start + BATCH)):
            h = (i * 2654435761) & 0xFFFFFFFF  # cheap deterministic scatter
            batch.append(
                {
                    "op": "issue",
                    "id": f"410000-2026-{i:07d}",
                    "year": 2026,
                    "func": FUNCS[h % 7],
                    "econ": ECONS[h % 4],
                    "fund": "111",
                    "amount": h * 37 % 10_000_000_000,
                    "doc": f"豫财教〔2026〕{h % 487 + 1}号",
                    "title": f"2026年{TITLES[h % 5]}（第{h % 9 + 1}批）",
                    "to": f"41{h % 17 + 1:02d}00",
                }
            )
        yield batch


def peak_rss_mb() -> float:
    """This process's own peak RSS."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def repeats(n: int) -> int:
    """Small sizes run several times (best time wins) so that noise does not decide."""
    return max(1, 300_000 // n)


def clocks() -> tuple[float, float]:
    """The wall clock and this process's CPU time (user + system), in seconds."""
    return time.perf_counter(), time.process_time()


def run_raw(n: int) -> dict[str, float]:
    """Time the fastest encoder and decoder (orjson) on the rows, one line at a time, as
    the codec does; and the standard library's json (for information)."""
    import orjson

    best = dict.fromkeys(("dumps", "loads", "loads_cpu", "json_dumps", "json_loads"), float("inf"))
    for _ in range(repeats(n)):
        spent = dict.fromkeys(best, 0.0)
        for batch in rows(n):
            start = time.perf_counter()
            lines = [orjson.dumps(op) for op in batch]
            middle, middle_cpu = clocks()
            for line in lines:
                orjson.loads(line)
            end, end_cpu = clocks()
            texts = [json.dumps(op, ensure_ascii=False, separators=(",", ":")) for op in batch]
            after = time.perf_counter()
            for text in texts:
                json.loads(text)
            spent["dumps"] += middle - start
            spent["loads"] += end - middle
            spent["loads_cpu"] += end_cpu - middle_cpu
            spent["json_dumps"] += after - end
            spent["json_loads"] += time.perf_counter() - after
        best = {key: min(best[key], spent[key]) for key in best}
    return {**{key: n / value for key, value in best.items()}, "rss": peak_rss_mb()}


def run_codec(n: int, workdir: Path) -> dict[str, float]:
    import inspect

    from sync.changeset import ChangeSetWriter, iter_operations, verify
    from sync.clock import FixedClock
    from sync.pki import (
        init_root,
        install_certificate,
        load_signer,
        new_node_key,
        sign_csr,
    )
    from sync.trust import TrustStore

    clock = FixedClock(datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    root = init_root(workdir / "ca", "410000", clock=clock)
    csr = new_node_key(workdir / "keys", "410000")
    install_certificate(
        workdir / "keys",
        sign_csr(root, csr.read_bytes(), "province", clock=clock),
        root.cert_pem,
    )
    signer = load_signer(workdir / "keys")
    trust = TrustStore(root.cert, root.crl(), clock)
    outbox = workdir / "outbox"
    outbox.mkdir()

    # As sync.channel.receive verifies (a tree from before ``hold`` verifies without it).
    how = {"hold": True} if "hold" in inspect.signature(verify).parameters else {}
    best = {
        "write": float("inf"),
        "verify": float("inf"),
        "read": float("inf"),
        "both": float("inf"),
        "both_cpu": float("inf"),
    }
    for _ in range(repeats(n)):
        writer = ChangeSetWriter(outbox, signer, "410100", "appropriation", 1, "", clock)
        start = time.perf_counter()
        writer.__enter__()
        writing = time.perf_counter() - start
        for batch in rows(n):
            start = time.perf_counter()
            writer.add_many(batch)
            writing += time.perf_counter() - start
        start = time.perf_counter()
        writer.__exit__(None, None, None)
        writing += time.perf_counter() - start
        path = writer.path

        start = time.perf_counter()
        verify(path, trust, recipient="410100", **how)
        verifying = time.perf_counter() - start

        start = time.perf_counter()
        count = sum(1 for _op in iter_operations(path))
        reading = time.perf_counter() - start
        assert count == n

        start, start_cpu = clocks()
        verified = verify(path, trust, recipient="410100", **how)
        count = 0
        for _op in verified.operations():
            count += 1
        end, end_cpu = clocks()
        both, both_cpu = end - start, end_cpu - start_cpu
        assert count == n
        for key, value in (("write", writing), ("verify", verifying), ("read", reading)):
            best[key] = min(best[key], value)
        best["both"] = min(best["both"], both)
        best["both_cpu"] = min(best["both_cpu"], both_cpu)

    return {
        "write": n / best["write"],
        "verify": n / best["verify"],
        "read": n / best["read"],
        "verify_decode": n / best["both"],
        "verify_decode_cpu": n / best["both_cpu"],
        "size": path.stat().st_size,
        "rss": peak_rss_mb(),
    }


def child(mode: str, n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-changeset-") as directory:
        result = run_raw(n) if mode == "raw" else run_codec(n, Path(directory))
    print(json.dumps(result))


def measure(mode: str, n: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(n)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternate runs of each process per size"
    )
    parser.add_argument("--child", nargs=2, metavar=("MODE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return

    from sync.changeset import COMPRESSION_LEVEL

    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        f"zlib {zlib.ZLIB_RUNTIME_VERSION}, level {COMPRESSION_LEVEL}"
    )
    print(
        "rates in operations per second; RSS is the own peak (VmHWM) of a fresh process per "
        "size; the baseline is orjson, the fastest decoder here, on the same lines"
    )
    header = (
        f"{'ops':>9} | {'orjson.dumps':>12} {'write':>9} | {'orjson.loads':>12} {'verify':>9} "
        f"{'read':>9} {'verif+dec':>9} {'vs loads':>8} | {'file':>9} {'B/op':>5} | "
        f"{'RSS codec':>9} {'RSS raw':>7}"
    )
    print(header)
    print("-" * len(header))
    for n in (int(size) for size in args.sizes.split(",")):
        raws, codecs = [], []
        for _ in range(args.rounds):
            raws.append(measure("raw", n))
            codecs.append(measure("codec", n))
        raw = {key: max(r[key] for r in raws) for key in raws[0]}  # rates: the best
        codec = {key: max(c[key] for c in codecs) for key in codecs[0]}
        raw["rss"] = max(r["rss"] for r in raws)
        ratio = codec["verify_decode"] / raw["loads"]
        ratio_cpu = codec["verify_decode_cpu"] / raw["loads_cpu"]
        print(
            f"{n:>9,} | {raw['dumps']:>12,.0f} {codec['write']:>9,.0f} | "
            f"{raw['loads']:>12,.0f} {codec['verify']:>9,.0f} {codec['read']:>9,.0f} "
            f"{codec['verify_decode']:>9,.0f} {ratio:>8.0%} | "
            f"{codec['size'] / 1e6:>7.2f}MB {codec['size'] / n:>5.1f} | "
            f"{codec['rss']:>7.1f}MB {raw['rss']:>5.1f}MB",
            flush=True,
        )
        verdict = "met" if ratio >= TARGET else "MISSED"
        print(
            f"{'':>9}   (json.dumps {raw['json_dumps']:,.0f}/s, json.loads "
            f"{raw['json_loads']:,.0f}/s for information); verify + decode at {ratio:.0%} of "
            f"orjson.loads (target >= {TARGET:.0%}): {verdict}",
            flush=True,
        )
        print(
            f"{'':>9}   by CPU time: orjson.loads {raw['loads_cpu']:,.0f}/s, verify + decode "
            f"{codec['verify_decode_cpu']:,.0f}/s, {ratio_cpu:.0%}; best of {args.rounds} "
            f"alternate runs of each",
            flush=True,
        )


if __name__ == "__main__":
    main()
