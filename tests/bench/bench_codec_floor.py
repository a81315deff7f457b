"""Benchmark: how near the change-set decoder can come to raw ``orjson``; run by hand.

    .venv/bin/python tests/bench/bench_codec_floor.py [--operations 200000] [--repeat 5]

``tests/bench/bench_changeset.py`` compares verify + decode with ``orjson.loads`` of the
very lines the codec wrote (target: 0.7x its rate). This script asks what that target
allows, on the same rows (``bench_changeset.rows``), in one process, CPU seconds
(``time.process_time``, best of ``--repeat``):

- the baseline: ``orjson.loads`` of every line of the body, split at its newlines, in a
  Python loop (what ``bench_changeset`` times);
- what any reader of a change-set must do besides: inflate the body (deflate, at the
  codec's level), hash it (SHA-256, the header's body digest) and check the gzip CRC;
- the ceiling: the baseline's time over the baseline's plus that work;
- the smallest safe loop in Python: inflate, hash, split, decode runs of 64 lines, refuse
  floats by the type of every value, hand each operation to the caller;
- the codec's own ``_decoded`` over the same inflated and hashed chunks.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from itertools import chain
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_changeset  # noqa: E402

from sync.changeset.framing import COMPRESSION_LEVEL  # noqa: E402
from sync.changeset.reading import _decoded  # noqa: E402

READ = 1 << 20
RUN = 64


def best(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--operations", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    lines = [orjson.dumps(op) for batch in bench_changeset.rows(args.operations) for op in batch]
    body = b"\n".join(lines) + b"\n"
    del lines
    packer = zlib.compressobj(COMPRESSION_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    packed = packer.compress(body) + packer.flush()

    def inflated() -> Iterator[bytes]:
        unpacker = zlib.decompressobj(-zlib.MAX_WBITS)
        for start in range(0, len(packed), READ):
            yield unpacker.decompress(packed[start : start + READ])

    def baseline() -> None:
        for line in body.split(b"\n")[:-1]:
            orjson.loads(line)

    def inflate() -> None:
        for _chunk in inflated():
            pass

    def smallest_safe_loop() -> None:
        digest = hashlib.sha256()
        pending = b""
        for chunk in inflated():
            digest.update(chunk)
            cut = (pending + chunk).split(b"\n")
            pending = cut.pop()
            for start in range(0, len(cut), RUN):
                ops = list(map(orjson.loads, cut[start : start + RUN]))
                if float in set(map(type, chain.from_iterable(map(dict.values, ops)))):
                    raise ValueError("a float")
                for _op in ops:
                    pass

    def codec() -> None:
        digest = hashlib.sha256()

        def hashed() -> Iterator[bytes]:
            for chunk in inflated():
                digest.update(chunk)
                yield chunk

        for ops in _decoded(hashed(), "bench"):
            for _op in ops:
                pass

    figures = {
        "orjson.loads of every line (baseline)": best(baseline, args.repeat),
        "inflate": best(inflate, args.repeat),
        "SHA-256 of the body": best(lambda: hashlib.sha256(body).digest(), args.repeat),
        "gzip CRC of the body": best(lambda: zlib.crc32(body), args.repeat),
        "smallest safe loop": best(smallest_safe_loop, args.repeat),
        "codec (_decoded)": best(codec, args.repeat),
    }
    base = figures["orjson.loads of every line (baseline)"]
    must = figures["inflate"] + figures["SHA-256 of the body"] + figures["gzip CRC of the body"]
    print(
        f"{args.operations:,} operations: body {len(body) / 1e6:.1f} MB, "
        f"deflated (level {COMPRESSION_LEVEL}) {len(packed) / 1e6:.1f} MB; CPU s, best of "
        f"{args.repeat}"
    )
    for name, seconds in figures.items():
        ratio = (
            f"  {base / seconds:.2f}x the baseline's rate"
            if "loop" in name or "codec" in name
            else ""
        )
        print(f"  {name:40s} {seconds:7.3f}{ratio}")
    print(f"  ceiling (baseline / baseline + inflate, hash, CRC): {base / (base + must):.2f}x")


if __name__ == "__main__":
    main()
