"""A change-set verified for an apply (``verify(..., hold=True)``) is inflated and hashed
once: the apply decodes the body verify held. What is refused, and when, is as without it:
a damaged body is refused by verify, before any apply; a bad operation line at the same
operation, with the same message; a file changed after verify at the end of the apply."""

from __future__ import annotations

import tempfile
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import provinces
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_changeset import (
    FLIPS,
    HENAN,
    SmallPki,
    _rebuild_body,
    appropriations,
    head_member_size,
    lines,
    make_pki,
    signed_file,
)
from test_sync import codes_at, import_codes, mailbox, rows, run_round

from nodes import Node
from nodes.exchange import Exchange
from nodes.network import Network
from schema.channels import quarantine
from sync.changeset import iter_operations, read_header, reading, verify, write_changeset
from sync.changeset.codec import decode_operation, decode_operations
from sync.changeset.framing import CRC, MEMBER_PREFIX, TRAILER
from sync.clock import SystemClock
from sync.errors import IntegrityError, MalformedChangeSet, StorageError, VerificationError


@pytest.fixture(scope="module", params=["ed25519", "sm2"])
def pki(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> SmallPki:
    return make_pki(tmp_path_factory.mktemp("pki"), HENAN, suite=request.param)


@pytest.fixture
def sample(pki: SmallPki, tmp_path: Path) -> Path:
    """Province → city appropriation of 50 operations."""
    written = write_changeset(
        tmp_path, pki.signers["410000"], "410100", "appropriation", 1, "", appropriations(50),
        clock=pki.clock,
    )  # fmt: skip
    return written.path


def held(path: Path, pki: SmallPki, recipient: str = "410100") -> reading.Verified:
    verified = verify(path, pki.trust(), recipient=recipient, hold=True)
    assert verified.held is not None  # the body is not read from the file again
    return verified


def refusal(path: Path, pki: SmallPki, **kw: Any) -> tuple[type[Exception], str]:
    with pytest.raises(VerificationError) as info:
        verify(path, pki.trust(), recipient="410100", **kw)
    return type(info.value), info.value.message


def read_until_refused(operations: Any) -> tuple[list[dict[str, Any]], str]:
    """The operations an apply saw before the refusal, and the refusal's message."""
    seen: list[dict[str, Any]] = []
    with pytest.raises(VerificationError) as info:
        for op in operations:
            seen.append(op)
    return seen, info.value.message


# --- the same operations ------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(st.dictionaries(st.text(), _json_values, max_size=6), max_size=12))
def test_one_pass_gives_the_operations_of_two_passes(
    pki: SmallPki, ops: list[dict[str, Any]]
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        written = write_changeset(
            Path(directory), pki.signers["410100"], "410102", "reconcile", 3, "ab" * 32, ops,
            clock=pki.clock,
        )  # fmt: skip
        two_passes = verify(written.path, pki.trust(), recipient="410102")
        assert two_passes.held is None
        one_pass = held(written.path, pki, "410102")
        assert list(one_pass.operations()) == list(two_passes.operations()) == ops
        assert list(one_pass.operations()) == ops  # and again: nothing was used up


def test_a_large_body_is_the_same_in_one_pass(pki: SmallPki, tmp_path: Path) -> None:
    """Lines cut by every buffer, an operation longer than a buffer, nested values."""
    ops = (
        appropriations(9_000)
        + [{"op": "note", "text": "长" * 1_500_000, "parts": [{"fen": 1}, [2, [3]]]}]
        + appropriations(5_000)
    )
    written = write_changeset(
        tmp_path, pki.signers["410000"], "410100", "appropriation", 1, "", ops, clock=pki.clock
    )
    assert list(held(written.path, pki).operations()) == ops
    assert list(verify(written.path, pki.trust(), recipient="410100").operations()) == ops


def test_a_body_over_the_limit_is_read_from_the_file_again(
    sample: Path, pki: SmallPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "HELD_LIMIT", 4_000)  # the 50 operations take ~11 KB
    verified = verify(sample, pki.trust(), recipient="410100", hold=True)
    assert verified.held is None
    assert list(verified.operations()) == appropriations(50)
    data = bytearray(sample.read_bytes())
    data[-4:] = (100).to_bytes(4, "little")  # a size that says small: gathered, let go, refused
    sample.write_bytes(data)
    assert refusal(sample, pki, hold=True) == refusal(sample, pki)


# --- a damaged body is refused by verify, as without hold --------------------------------


@pytest.mark.parametrize("where", [name for name in FLIPS if name.startswith("body")])
def test_a_flipped_bit_in_the_body_is_refused_by_verify(
    sample: Path, pki: SmallPki, where: str
) -> None:
    data = bytearray(sample.read_bytes())
    data[FLIPS[where](head_member_size(bytes(data)), len(data))] ^= 0x04
    sample.write_bytes(data)
    assert refusal(sample, pki, hold=True) == refusal(sample, pki)


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_a_truncated_body_is_refused_by_verify(sample: Path, pki: SmallPki, keep: float) -> None:
    data = sample.read_bytes()
    sample.write_bytes(data[: int(len(data) * keep)])
    assert refusal(sample, pki, hold=True) == refusal(sample, pki)


@pytest.mark.parametrize(
    "edit",
    [
        lambda rows: [rows[0].replace(b"123456", b"923456"), *rows[1:]],
        lambda rows: rows[:-1],
        lambda rows: [*rows, b'{"op":"issue","amount":1}\n'],
        lambda rows: [rows[0], b'{"op":"issue","amount":1.5}\n', *rows[2:]],
    ],
    ids=["changed", "removed", "added", "float"],
)
def test_a_body_the_signature_does_not_cover_is_refused_by_verify(
    sample: Path, pki: SmallPki, edit: Any
) -> None:
    _rebuild_body(sample, edit)
    kind, message = refusal(sample, pki, hold=True)
    assert (kind, message) == refusal(sample, pki)
    assert kind is IntegrityError and "body hash does not match" in message


# --- a bad operation line is refused at the same operation, with the same words ------------


@pytest.mark.parametrize("at", [1, 2, 4_700, 9_001])
@pytest.mark.parametrize(
    "bad",
    [
        b'{"op":"issue","amount":12.5}',
        b'{"op":"x","rate":[1,{"r":[0.5]}]}',
        b"[1,2]",
        b'{"a":1},{"b":2}',
        b'{"a":"\xff"}',
        b"",
        b'{"a":1' + b"0" * 30 + b"}",
        b'{"a":' + b"[" * 1020 + b"]" * 1020 + b"}",
    ],
    ids=["float", "nested float", "list", "two objects", "utf-8", "empty", "huge int", "deep"],
)
def test_a_bad_line_is_refused_at_the_same_operation(
    pki: SmallPki, tmp_path: Path, at: int, bad: bytes
) -> None:
    rows = lines(appropriations(9_001)).splitlines(keepends=True)
    rows[at - 1] = bad + b"\n"
    body = b"".join(rows)
    path = signed_file(tmp_path, pki.signers["410000"], "410100", body, body.count(b"\n"))
    streamed = read_until_refused(iter_operations(path))
    two_passes = read_until_refused(verify(path, pki.trust(), recipient="410100").operations())
    one_pass = read_until_refused(held(path, pki).operations())
    assert one_pass == two_passes == streamed
    seen, message = one_pass
    assert len(seen) == at - 1 and f"operation {at} " in message
    with pytest.raises(MalformedChangeSet, match=f"operation {at} "):
        verify(path, pki.trust(), recipient="410100", check_operations=True)


@given(
    st.lists(
        st.sampled_from(
            [b'{"a":1}', b'{"a":[1,{"b":2}]}', b'{"a":1', b'"b":2}', b"{}", b'{"a":"x', b'y"}']
            + [b'{"a":1},{"b":2}', b'{"a":[{"x":1}', b'{"y":2}]}', b"1", b'{"f":-0.0}', b""]
        ),
        min_size=1,
        max_size=8,
    )
)
def test_lines_decoded_together_are_decoded_as_one_by_one(batch: list[bytes]) -> None:
    """Lines that would make valid JSON together (a value cut in two, two objects on one
    line) are refused together exactly when one of them alone is."""
    alone = []
    for line in batch:
        try:
            alone.append(decode_operation(line))
        except ValueError:
            assert decode_operations(batch) is None
            return
    assert decode_operations(batch) == alone


def test_a_line_nested_deeper_than_the_walk_is_not_json() -> None:
    """orjson takes 1,024 levels; deeper than Python's own stack goes, the walk for floats
    refuses the line as content (never a RecursionError, a local failure)."""
    deep = b'{"a":' + b"[" * 1020 + b"]" * 1020 + b"}"
    assert decode_operations([b'{"a":1}', deep]) is None
    with pytest.raises(ValueError, match="nesting too deep"):
        decode_operation(deep)


# --- memory stays bounded whatever the file ------------------------------------------------

_EMPTY_STORED_BLOCK = b"\x00\x00\x00\xff\xff"
"""A deflate block that holds nothing: any number of them inflate to no bytes at all."""
_PAD = 8 * 1024 * 1024


def _padded(path: Path, pad: int) -> None:
    """Deflate the body of ``path`` again behind ``pad`` bytes of empty blocks: the same
    header, signature, body and checksums (a CRC is no seal), in a file ``pad`` larger."""
    data = path.read_bytes()
    head = head_member_size(data)
    body = zlib.decompressobj(-zlib.MAX_WBITS).decompress(data[head + len(MEMBER_PREFIX) + 4 :])
    compressor = zlib.compressobj(3, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = _EMPTY_STORED_BLOCK * (pad // 5) + compressor.compress(body) + compressor.flush()
    crc = CRC.pack(zlib.crc32(deflated))
    trailer = TRAILER.pack(zlib.crc32(body), len(body))
    path.write_bytes(data[:head] + MEMBER_PREFIX + crc + deflated + trailer)


def _peak(call: Any) -> tuple[Any, int]:
    """What ``call()`` returns, and the most Python memory it took meanwhile."""
    tracemalloc.start()
    try:
        return call(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("check_operations", [False, True])
def test_a_body_padded_to_any_size_is_held_in_bounded_memory(
    sample: Path, pki: SmallPki, check_operations: bool
) -> None:
    """A genuine change-set whose body member is padded with empty deflate blocks is
    accepted (its body is the one signed), but nothing the size of the file is kept."""
    _padded(sample, _PAD)
    assert sample.stat().st_size > _PAD
    verified, peak = _peak(
        lambda: verify(
            sample, pki.trust(), recipient="410100", hold=True, check_operations=check_operations
        )
    )
    assert peak < _PAD // 8
    assert (verified.held is None) is check_operations
    operations, peak = _peak(lambda: list(verified.operations()))
    assert operations == appropriations(50) and peak < _PAD // 8
    data = bytearray(sample.read_bytes())
    data[len(data) // 2] ^= 0x01  # in the padding: the same size, another file
    sample.write_bytes(bytes(data))
    refused = refusal(sample, pki)
    assert refusal(sample, pki, hold=True) == refused
    with pytest.raises(VerificationError) as info:
        list(verified.operations())  # read from the file again, refused as by verify
    assert (type(info.value), info.value.message) == refused


def test_a_header_that_never_ends_is_refused_in_bounded_memory(
    pki: SmallPki, tmp_path: Path
) -> None:
    """No signature is needed to send this: a header member of nothing but empty blocks,
    ending in four bytes that say the body is small."""
    path = tmp_path / "hostile.fcs"
    padding = _EMPTY_STORED_BLOCK * (_PAD // 5)
    path.write_bytes(MEMBER_PREFIX + bytes(4) + padding + bytes(4))
    (kind, message), peak = _peak(lambda: refusal(path, pki, hold=True))
    assert (kind, message) == refusal(path, pki)
    assert kind is MalformedChangeSet and "truncated" in message
    assert peak < _PAD // 8


# --- a file changed after verify -----------------------------------------------------------


def test_a_file_changed_after_verify_is_refused_at_the_end(sample: Path, pki: SmallPki) -> None:
    verified = held(sample, pki)
    _rebuild_body(sample, lambda rows: [rows[0].replace(b"123456", b"923456"), *rows[1:]])
    seen, message = read_until_refused(verified.operations())
    assert len(seen) == 50 and "body hash does not match" in message


def test_a_file_replaced_after_verify_is_refused(
    sample: Path, pki: SmallPki, tmp_path: Path
) -> None:
    verified = held(sample, pki)
    (tmp_path / "other").mkdir()
    other = write_changeset(
        tmp_path / "other", pki.signers["410000"], "410100", "appropriation", 1, "", [],
        clock=SystemClock(),
    )  # fmt: skip
    other.path.replace(sample)
    with pytest.raises(IntegrityError, match="file replaced after it was verified"):
        list(verified.operations())


def test_a_file_changed_during_the_apply_is_refused_at_its_end(sample: Path, pki: SmallPki) -> None:
    verified = held(sample, pki)
    operations = iter(verified.operations())
    first = next(operations)
    header, _seal = read_header(sample)
    _rebuild_body(sample, lambda rows: rows[:-1])
    with pytest.raises(IntegrityError, match="body hash does not match"):
        list(operations)
    assert first == appropriations(1)[0] and header.count == 50


def test_a_file_unreadable_after_verify_is_a_local_failure(sample: Path, pki: SmallPki) -> None:
    verified = held(sample, pki)
    sample.unlink()
    with pytest.raises(StorageError):
        list(verified.operations())


# --- a node's round -------------------------------------------------------------------------


@pytest.fixture
def province(tmp_path: Path, db_url_template: str | None, demo_topology: Path) -> Network:
    return provinces.make(tmp_path / "province", demo_topology, db_url_template)


def test_a_node_applies_the_held_body_and_refuses_a_damaged_one_before_any_apply(
    province: Network,
) -> None:
    node = Node.open(province.path / "410181")
    exchange = Exchange(node)
    applied: list[tuple[bool, int]] = []
    apply = exchange.applier

    def recorded(conn: sa.Connection, verified: reading.Verified) -> None:
        applied.append((verified.held is not None, verified.header.count))
        apply(conn, verified)

    exchange.applier = recorded
    try:
        import_codes(province, "2059901")
        run_round(province, "410000")
        assert exchange.run_round().applied == 1
        assert applied == [(True, 1)] and codes_at(province, "410181") == {"2059901"}
        import_codes(province, "2059902")
        run_round(province, "410000")
        (copy,) = mailbox(province, "410000", "410181").iterdir()
        data = bytearray(copy.read_bytes())
        data[len(data) - 12] ^= 0x20  # in the body's deflate data
        copy.write_bytes(bytes(data))
        summary = exchange.run_round()
    finally:
        exchange.close()
        node.close()
    assert summary.applied == 0 and applied == [(True, 1)]  # never handed to the apply
    assert len(rows(province, "410181", quarantine)) == 1
    assert codes_at(province, "410181") == {"2059901"}
