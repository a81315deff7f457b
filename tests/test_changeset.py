"""Change-sets: the codec, the writer, and one test per attack on a change-set file."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import re
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.changeset import (
    DOMAIN,
    MEMBER_PREFIX,
    ChangeSetName,
    ChangeSetWriter,
    Header,
    Seal,
    iter_operations,
    parse_filename,
    read_header,
    signing_message,
    verify,
    write_changeset,
)
from sync.clock import FixedClock, SystemClock
from sync.errors import (
    CertificateRejected,
    HomeError,
    InputError,
    IntegrityError,
    KeyMaterialError,
    MalformedChangeSet,
    NotAuthorized,
    SignatureInvalid,
    VerificationError,
    WrongRecipient,
)
from sync.pki import (
    RootCA,
    Signer,
    init_root,
    install_certificate,
    load_signer,
    new_node_key,
    revoke,
    sign_csr,
)
from sync.revocation import RevocationList
from sync.signing import Ed25519Suite, Hasher, SignatureSuite, canonical_json, register_suite
from sync.trust import SignerInfo, TrustStore

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
KINDS = ("appropriation", "receipt", "report", "codeset", "revocation", "reconcile", "backup")


# --- a small PKI (reusable fixture factory) -----------------------------------------------


@dataclass
class SmallPki:
    """A province root CA in ``base`` and enrolled nodes, all on one FixedClock."""

    base: Path
    clock: FixedClock
    root: RootCA
    signers: dict[str, Signer] = field(default_factory=dict)
    _enrolled: int = 0

    def enrol(
        self,
        code: str,
        role: str,
        *,
        validity_days: int = 825,
        issued_at: datetime | None = None,
    ) -> Signer:
        """Make a key for ``code`` on "its" machine, have the root certify it, load it."""
        self._enrolled += 1
        keys = self.base / "nodes" / f"{code}-{self._enrolled}"
        csr = new_node_key(keys, code, suite=self.root.suite.name)
        clock = FixedClock(issued_at) if issued_at is not None else self.clock
        cert = sign_csr(self.root, csr.read_bytes(), role, validity_days=validity_days, clock=clock)
        install_certificate(keys, cert, self.root.cert_pem)
        signer = load_signer(keys)
        self.signers.setdefault(code, signer)
        return signer

    def trust(self, *, at: datetime | None = None, crl: RevocationList | None = None) -> TrustStore:
        clock = FixedClock(at) if at is not None else self.clock
        return TrustStore(self.root.cert, crl or self.root.crl(), clock)


def make_pki(
    base: Path,
    nodes: dict[str, str],
    *,
    province: str = "410000",
    clock: FixedClock | None = None,
    suite: str = "ed25519",
) -> SmallPki:
    """Build a root CA of ``suite`` for ``province`` and enrol ``nodes`` (code → role)."""
    clock = clock or FixedClock(T0)
    pki = SmallPki(base, clock, init_root(base / "ca", province, clock=clock, suite=suite))
    for code, role in nodes.items():
        pki.enrol(code, role)
    return pki


HENAN = {"410000": "province", "410100": "city", "410102": "county", "410103": "county"}


@pytest.fixture(scope="module", params=["ed25519", "sm2"])
def pki(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> SmallPki:
    """A province, a city and two counties, under each signature suite. Tests must not
    revoke here (use make_pki)."""
    return make_pki(tmp_path_factory.mktemp("pki"), HENAN, suite=request.param)


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    path = tmp_path / "outbox"
    path.mkdir()
    return path


# --- helpers that take files apart and put them back together -----------------------------


def appropriations(n: int) -> list[dict[str, Any]]:
    return [
        {
            "op": "issue",
            "id": f"410000-2026-{i:06d}",
            "year": 2026,
            "func": "2050201",
            "econ": "50201",
            "fund": "111",
            "amount": 123_456 + i,
            "doc": "豫财教〔2026〕12号",
            "title": "2026年城乡义务教育补助经费",
            "to": "410100",
        }
        for i in range(n)
    ]


def member(data: bytes) -> bytes:
    """One gzip member exactly as the format prescribes, made with stdlib zlib only."""
    raw = zlib.compress(data, 6, wbits=-zlib.MAX_WBITS)
    crcs = struct.pack("<I", zlib.crc32(raw)), struct.pack("<II", zlib.crc32(data), len(data))
    return MEMBER_PREFIX + crcs[0] + raw + crcs[1]


def head_member_size(data: bytes) -> int:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    inflater.decompress(data[len(MEMBER_PREFIX) + 4 :])
    assert inflater.eof
    return len(data) - len(inflater.unused_data) + 8


def body_of(path: Path) -> bytes:
    content = gzip.decompress(path.read_bytes())
    return content.split(b"\n", 2)[2]


def assemble(directory: Path, header: Header, seal: Seal, body: bytes) -> Path:
    """Write a change-set file from parts, named after ``header``."""
    head = header.canonical() + b"\n" + canonical_json(seal.to_dict()) + b"\n"
    path = directory / header.filename
    path.write_bytes(member(head) + member(body))
    return path


def reseal(signer: Signer, header: Header) -> Seal:
    return Seal(signer.sign(signing_message(header)), signer.certificate_der)


def dated(path: Path, signer: Signer, created: datetime) -> Path:
    """The change-set at ``path`` as a node whose clock said ``created`` would sign it
    (its own writer refuses to): the same body, the header re-dated and really signed."""
    header, _seal = read_header(path)
    redated = dataclasses.replace(header, created=created)
    return assemble(path.parent, redated, reseal(signer, redated), body_of(path))


def lines(ops: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(
        json.dumps(op, ensure_ascii=False, separators=(",", ":")).encode() + b"\n" for op in ops
    )


def _hexdigest(suite: SignatureSuite, body: bytes) -> str:
    hasher = suite.new_hash()
    hasher.update(body)
    return hasher.hexdigest()


def signed_file(directory: Path, signer: Signer, recipient: str, body: bytes, count: int) -> Path:
    """A change-set its origin really signed, around an arbitrary body."""
    header = Header(
        origin=signer.code,
        recipient=recipient,
        kind="appropriation",
        seq=1,
        prev="",
        created=T0,
        count=count,
        body=f"{signer.suite.hash_name}:{_hexdigest(signer.suite, body)}",
        suite=signer.suite.name,
        signer=signer.fingerprint,
    )
    return assemble(directory, header, reseal(signer, header), body)


@pytest.fixture
def sample(pki: SmallPki, outbox: Path) -> Path:
    """Province → city appropriation of 50 operations."""
    written = write_changeset(
        outbox, pki.signers["410000"], "410100", "appropriation", 1, "", appropriations(50),
        clock=pki.clock,
    )  # fmt: skip
    return written.path


def check(path: Path | io.BytesIO, pki: SmallPki, recipient: str = "410100", **kw: Any) -> Any:
    return verify(path, pki.trust(), recipient=recipient, **kw)


# --- round trips --------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_round_trip(pki: SmallPki, outbox: Path, kind: str, count: int) -> None:
    origin, recipient = (
        ("410100", "410000") if kind in ("receipt", "report") else ("410000", "410100")
    )
    ops = appropriations(count)
    written = write_changeset(
        outbox, pki.signers[origin], recipient, kind, 1, "", ops, clock=pki.clock
    )
    assert written.path.name == written.header.filename
    assert parse_filename(written.path.name) == ChangeSetName(origin, recipient, 1, written.id)

    verified = check(written.path, pki, recipient)
    assert verified.id == written.id
    assert verified.header == written.header
    assert verified.header.kind == kind
    assert verified.header.count == count
    assert verified.header.created == T0
    assert verified.signer.code == origin
    assert list(iter_operations(written.path)) == ops
    assert list(verified.operations()) == ops
    header, seal = read_header(written.path)
    assert header == written.header and seal.fingerprint == header.signer
    assert [p.name for p in outbox.iterdir()] == [written.path.name]  # no temporary left


def test_the_file_is_plain_gzip_ndjson(sample: Path) -> None:
    content = gzip.decompress(sample.read_bytes()).decode()
    rows = [json.loads(line) for line in content.splitlines()]
    assert rows[0]["origin"] == "410000" and rows[0]["format"] == 1
    assert set(rows[1]) == {"sig", "cert"}
    assert rows[2:] == appropriations(50)


def test_an_epoch_is_signed_with_the_header(pki: SmallPki, outbox: Path) -> None:
    """A node restored from a backup names its epoch in every header (nodes.rejoin): it is
    part of what is signed and of the id, and a node never restored names none."""
    signer = pki.signers["410000"]
    ops = appropriations(2)
    named = write_changeset(
        outbox, signer, "410100", "appropriation", 1, "", ops, clock=pki.clock, epoch="ab" * 16
    )
    assert check(named.path, pki).header.epoch == "ab" * 16
    plain = write_changeset(outbox, signer, "410100", "appropriation", 1, "", ops, clock=pki.clock)
    assert check(plain.path, pki).header.epoch is None
    assert b"epoch" not in gzip.decompress(plain.path.read_bytes()).split(b"\n", 1)[0]
    assert named.id != plain.id
    content = gzip.decompress(named.path.read_bytes())
    header_line, rest = content.split(b"\n", 1)
    seal_line, body = rest.split(b"\n", 1)
    forged = header_line.replace(b"ab" * 16, b"cd" * 16)
    named.path.write_bytes(member(forged + b"\n" + seal_line + b"\n") + member(body))
    with pytest.raises(VerificationError):
        check(named.path, pki)


def test_chained_change_sets(pki: SmallPki, outbox: Path) -> None:
    signer, clock = pki.signers["410000"], FixedClock(T0)
    first = write_changeset(outbox, signer, "410100", "appropriation", 1, "", [], clock=clock)
    clock.advance(timedelta(seconds=1))
    second = write_changeset(
        outbox, signer, "410100", "appropriation", 2, first.id, appropriations(1), clock=clock
    )
    assert check(second.path, pki).header.prev == first.id
    assert second.path.name.startswith("410000_410100_0000000002_")


def test_large_change_set_crosses_every_buffer(pki: SmallPki, outbox: Path) -> None:
    ops = appropriations(12_000) + [{"op": "note", "text": "长" * 3_000_000}] + appropriations(3)
    written = write_changeset(
        outbox, pki.signers["410000"], "410100", "appropriation", 1, "", ops, clock=pki.clock
    )
    assert check(written.path, pki, check_operations=True).header.count == len(ops)
    assert list(iter_operations(written.path)) == ops


def test_verify_and_read_from_a_stream(sample: Path, pki: SmallPki) -> None:
    verified = check(io.BytesIO(sample.read_bytes()), pki)
    assert verified.path is None
    assert len(list(iter_operations(io.BytesIO(sample.read_bytes())))) == 50


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(st.dictionaries(st.text(), _json_values, max_size=6), max_size=8))
def test_codec_round_trips_any_json_objects(pki: SmallPki, ops: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        written = write_changeset(
            Path(directory), pki.signers["410100"], "410102", "reconcile", 3, "ab" * 32, ops,
            clock=pki.clock,
        )  # fmt: skip
        assert check(written.path, pki, "410102", check_operations=True).id == written.id
        assert list(iter_operations(written.path)) == ops


class _Sha512Suite(Ed25519Suite):
    name = "test-changeset-sha512"
    hash_name = "sha512"

    def new_hash(self) -> Hasher:
        return hashlib.sha512()


def test_a_plug_in_suite_changes_the_body_hash_not_the_format(tmp_path: Path, outbox: Path) -> None:
    pki = make_pki(tmp_path, {"410000": "province", "410100": "city"})  # an ed25519 stand-in
    suite = _Sha512Suite()
    register_suite(suite)
    signer = dataclasses.replace(pki.signers["410000"], suite=suite)
    written = write_changeset(
        outbox, signer, "410100", "codeset", 1, "", appropriations(2), clock=pki.clock
    )
    assert written.header.suite == "test-changeset-sha512"
    assert written.header.body.startswith("sha512:") and len(written.header.body_digest) == 128
    assert check(written.path, pki).header == written.header


# --- the writer ---------------------------------------------------------------------------


def test_writer_as_context_manager(pki: SmallPki, outbox: Path) -> None:
    with ChangeSetWriter(
        outbox, pki.signers["410100"], "410102", "appropriation", 1, "", clock=pki.clock
    ) as writer:
        writer.add({"op": "issue", "amount": 1})
        writer.add_many(appropriations(2))
        assert writer.count == 3
    assert writer.header.count == 3
    assert writer.path == outbox / writer.header.filename
    assert check(writer.path, pki, "410102").id == writer.id


def test_writer_publishes_nothing_on_error(pki: SmallPki, outbox: Path) -> None:
    with pytest.raises(ZeroDivisionError):
        with ChangeSetWriter(
            outbox, pki.signers["410000"], "410100", "appropriation", 1, "", clock=pki.clock
        ) as writer:
            writer.add_many(appropriations(10))
            raise ZeroDivisionError
    assert list(outbox.iterdir()) == []


@pytest.mark.parametrize(
    ("op", "message"),
    [
        ({"amount": 12.5}, r"operation 1.amount is the float 12.5; amounts are integer fen"),
        ({"a": [1, {"b": float("nan")}]}, r"operation 1.a\[1\].b is the float nan"),
        ({1: "x"}, "operation 1 has a non-string key 1"),
        ({"when": T0}, "operation 1.when is a datetime"),
        ({"text": "\ud800"}, "not valid Unicode"),
        ({"n": 2**64}, "integers are at most 64 bits"),
    ],
)
def test_writer_refuses_what_json_cannot_hold_exactly(
    pki: SmallPki, outbox: Path, op: dict[Any, Any], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        write_changeset(
            outbox, pki.signers["410000"], "410100", "appropriation", 1, "", [op], clock=pki.clock
        )
    assert list(outbox.iterdir()) == []


@pytest.mark.parametrize(
    ("recipient", "kind", "seq", "prev", "message"),
    [
        ("410_100", "appropriation", 1, "", "recipient '410_100' is not a node code"),
        ("410000", "appropriation", 1, "", "origin and recipient are both 410000"),
        ("410100", "Appropriation", 1, "", "is not a lower-case word"),
        ("410100", "appropriation", 0, "", "seq 0 is not an integer"),
        ("410100", "appropriation", 1, "ab" * 32, "prev must be empty for seq 1"),
        ("410100", "appropriation", 2, "", "is not the 64-hex-digit id"),
    ],
)
def test_writer_refuses_bad_channel_fields(
    pki: SmallPki, outbox: Path, recipient: str, kind: str, seq: int, prev: str, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        ChangeSetWriter(outbox, pki.signers["410000"], recipient, kind, seq, prev, clock=pki.clock)


def test_writer_refuses_an_operation_that_contains_itself(pki: SmallPki, outbox: Path) -> None:
    op: dict[str, Any] = {"op": "issue"}
    op["again"] = [op]
    with pytest.raises(InputError, match="operation 2 nests too deeply or contains itself"):
        write_changeset(
            outbox, pki.signers["410000"], "410100", "appropriation", 1, "", [{}, op], pki.clock
        )
    assert list(outbox.iterdir()) == []


def test_writer_needs_its_folder(pki: SmallPki, tmp_path: Path) -> None:
    with pytest.raises(HomeError, match="cannot write a change-set in .*missing"):
        write_changeset(
            tmp_path / "missing", pki.signers["410000"], "410100", "report", 1, "", [], pki.clock
        )


def test_writer_refuses_an_origin_other_than_the_signer(pki: SmallPki, outbox: Path) -> None:
    with pytest.raises(InputError, match="origin 410000 is not the signer's code 410100"):
        ChangeSetWriter(
            outbox, pki.signers["410100"], "410102", "appropriation", 1, "",
            clock=pki.clock, origin="410000",
        )  # fmt: skip


# --- attacks: each must be refused with its own exception and a useful message -------------


FLIPS: dict[str, Callable[[int, int], int]] = {
    # name: (end of the header member, file size) -> offset of the byte to flip
    "head gzip header (mtime)": lambda split, size: 4,
    "head gzip header (os)": lambda split, size: 9,
    "head gzip extra field (deflate crc)": lambda split, size: 17,
    "head deflate data (start)": lambda split, size: 22,
    "head deflate data (middle)": lambda split, size: split // 2,
    "head gzip trailer (crc)": lambda split, size: split - 8,
    "head gzip trailer (size)": lambda split, size: split - 2,
    "body gzip header (flags)": lambda split, size: split + 3,
    "body deflate data (start)": lambda split, size: split + 21,
    "body deflate data (middle)": lambda split, size: (split + size) // 2,
    "body gzip trailer (crc)": lambda split, size: size - 7,
    "body gzip trailer (size)": lambda split, size: size - 1,
}


@pytest.mark.parametrize("where", list(FLIPS))
@pytest.mark.parametrize("bit", [0, 7])
def test_one_flipped_bit_is_refused(sample: Path, pki: SmallPki, where: str, bit: int) -> None:
    data = bytearray(sample.read_bytes())
    data[FLIPS[where](head_member_size(bytes(data)), len(data))] ^= 1 << bit
    sample.write_bytes(data)
    # Every byte is under a gzip checksum or our fixed gzip header, so a flip never gets
    # as far as the signature: it is malformed framing, named with the file.
    with pytest.raises(MalformedChangeSet, match=f"^{sample.name}: ") as info:
        check(sample, pki)
    assert any(
        words in info.value.message
        for words in ("gzip header", "deflate", "gzip checksum", "truncated")
    ), info.value.message


def test_every_single_bit_flip_is_refused(pki: SmallPki, outbox: Path) -> None:
    written = write_changeset(
        outbox, pki.signers["410000"], "410100", "appropriation", 1, "", appropriations(2),
        clock=pki.clock,
    )  # fmt: skip
    original = written.path.read_bytes()
    for index in range(len(original)):
        data = bytearray(original)
        data[index] ^= 1 << (index % 8)
        with pytest.raises(VerificationError):
            verify(io.BytesIO(bytes(data)), pki.trust(), recipient="410100")


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_truncated_file_is_refused(sample: Path, pki: SmallPki, keep: float) -> None:
    data = sample.read_bytes()
    sample.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(MalformedChangeSet, match=f"^{sample.name}: file is truncated"):
        check(sample, pki)


def test_trailing_garbage_is_refused(sample: Path, pki: SmallPki) -> None:
    with sample.open("ab") as stream:
        stream.write(b"\x00")
    with pytest.raises(MalformedChangeSet, match="unexpected data after the body member"):
        check(sample, pki)


def test_a_third_gzip_member_is_refused(sample: Path, pki: SmallPki) -> None:
    with sample.open("ab") as stream:
        stream.write(member(lines([{"op": "smuggled"}])))
    with pytest.raises(MalformedChangeSet, match="trailing garbage"):
        check(sample, pki)


def _rebuild_body(path: Path, edit: Callable[[list[bytes]], list[bytes]]) -> None:
    header, seal = read_header(path)
    body_lines = body_of(path).splitlines(keepends=True)
    assemble(path.parent, header, seal, b"".join(edit(body_lines)))


def test_operation_added_is_refused(sample: Path, pki: SmallPki) -> None:
    _rebuild_body(sample, lambda rows: [*rows, lines([{"op": "issue", "amount": 10**9}])])
    with pytest.raises(IntegrityError, match="body hash does not match the header"):
        check(sample, pki)


def test_operation_removed_is_refused(sample: Path, pki: SmallPki) -> None:
    _rebuild_body(sample, lambda rows: rows[:-1])
    with pytest.raises(IntegrityError, match=f"^{sample.name}: body hash does not match"):
        check(sample, pki)


def test_operation_changed_is_refused(sample: Path, pki: SmallPki) -> None:
    _rebuild_body(sample, lambda rows: [rows[0].replace(b"123456", b"923456"), *rows[1:]])
    with pytest.raises(IntegrityError, match="file altered or truncated"):
        check(sample, pki)


@pytest.fixture
def forge(sample: Path) -> Callable[..., Path]:
    """Change header fields but keep the original seal; the attacker names the file to fit."""
    body = body_of(sample)

    def forge(**changes: Any) -> Path:
        header, seal = read_header(sample)
        forged = dataclasses.replace(header, **changes)
        return assemble(sample.parent, forged, seal, body)

    return forge


def test_header_resigned_by_another_nodes_valid_key(sample: Path, pki: SmallPki) -> None:
    # 410103, a real county with a valid certificate, signs the province's header as its own.
    attacker = pki.signers["410103"]
    header, _seal = read_header(sample)
    forged = dataclasses.replace(header, signer=attacker.fingerprint)
    path = assemble(sample.parent, forged, reseal(attacker, forged), body_of(sample))
    with pytest.raises(
        CertificateRejected,
        match="signed with the certificate of 410103, which does not belong to the origin 410000",
    ):
        check(path, pki)


def test_another_certificate_under_the_original_signer_field(sample: Path, pki: SmallPki) -> None:
    attacker = pki.signers["410103"]
    header, _seal = read_header(sample)
    path = assemble(sample.parent, header, reseal(attacker, header), body_of(sample))
    with pytest.raises(SignatureInvalid, match="is not the signer named in the header"):
        check(path, pki)


def test_original_certificate_with_another_key(sample: Path, pki: SmallPki) -> None:
    attacker = pki.signers["410103"]
    header, seal = read_header(sample)
    forged_seal = Seal(attacker.sign(signing_message(header)), seal.certificate_der)
    path = assemble(sample.parent, header, forged_seal, body_of(sample))
    with pytest.raises(SignatureInvalid, match="header signature does not verify"):
        check(path, pki)


def test_certificate_for_another_code(pki: SmallPki, outbox: Path) -> None:
    # The city claims to be the province: a valid signature, but under the city's certificate.
    city = pki.signers["410100"]
    header = Header(
        origin="410000", recipient="410102", kind="appropriation", seq=1, prev="",
        created=T0, count=0, body=f"{city.suite.hash_name}:{_hexdigest(city.suite, b'')}",
        suite=city.suite.name, signer=city.fingerprint,
    )  # fmt: skip
    path = assemble(outbox, header, reseal(city, header), b"")
    with pytest.raises(CertificateRejected, match="certificate of 410100, which does not belong"):
        check(path, pki, "410102")


def test_a_certificate_that_expired_after_signing_still_verifies(
    suite_name: str, tmp_path: Path, outbox: Path
) -> None:
    # Signed while the certificate was valid, delivered after it expired (its node has
    # renewed meanwhile): the change-set keeps its place on its channel.
    pki = make_pki(tmp_path, {}, suite=suite_name)
    signer = pki.enrol("410000", "province", validity_days=30)
    written = write_changeset(outbox, signer, "410100", "appropriation", 1, "", [], clock=pki.clock)
    long_after = T0 + timedelta(days=400)
    assert verify(written.path, pki.trust(at=long_after), recipient="410100").id == written.id


def test_a_change_set_signed_after_its_certificate_expired(
    suite_name: str, tmp_path: Path, outbox: Path
) -> None:
    pki = make_pki(tmp_path, {}, suite=suite_name)
    signer = pki.enrol("410000", "province", validity_days=30)
    written = write_changeset(outbox, signer, "410100", "appropriation", 1, "", [], clock=pki.clock)
    late = T0 + timedelta(days=30, minutes=6)
    path = dated(written.path, signer, late)
    with pytest.raises(
        CertificateRejected,
        match="certificate of 410000 expired on 2026-03-31T08:00:00Z, before the change-set "
        "was signed at 2026-03-31T08:06:00Z",
    ) as refused:
        verify(path, pki.trust(at=late), recipient="410100")
    assert "renew" in refused.value.hint
    within_skew = T0 + timedelta(days=30, minutes=4)
    path = dated(written.path, signer, within_skew)
    assert verify(path, pki.trust(at=within_skew), recipient="410100")


def test_a_change_set_signed_before_its_certificate_was_valid(
    suite_name: str, tmp_path: Path, outbox: Path
) -> None:
    # A node whose clock is a day slow: its change-set is dated before its certificate
    # began, and is refused even once the certificate is valid at the recipient.
    pki = make_pki(tmp_path, {}, suite=suite_name)
    signer = pki.enrol("410000", "province")
    written = write_changeset(outbox, signer, "410100", "appropriation", 1, "", [], clock=pki.clock)
    path = dated(written.path, signer, T0 - timedelta(days=1))
    with pytest.raises(
        CertificateRejected,
        match="certificate of 410000 is not valid before 2026-03-01T08:00:00Z, yet the "
        "change-set says it was signed at 2026-02-28T08:00:00Z",
    ):
        verify(path, pki.trust(at=T0 + timedelta(days=2)), recipient="410100")
    path = dated(written.path, signer, T0 - timedelta(minutes=4))
    assert verify(path, pki.trust(), recipient="410100")


@pytest.mark.parametrize(
    ("moment", "problem", "hint"),
    [
        (
            T0 - timedelta(seconds=1),
            "clock says 2026-03-01T07:59:59Z, before its certificate is valid",
            "clock",
        ),
        (
            T0 + timedelta(days=31),
            "certificate expired on 2026-03-31T08:00:00Z",
            "keys new --renew",
        ),
    ],
)
def test_the_writer_refuses_to_sign_outside_its_certificate(
    suite_name: str, tmp_path: Path, outbox: Path, moment: datetime, problem: str, hint: str
) -> None:
    # What every recipient would refuse is not written at all: a clear error at the
    # origin instead of a change-set that would block its channel for good.
    pki = make_pki(tmp_path, {}, suite=suite_name)
    signer = pki.enrol("410000", "province", validity_days=30)
    with pytest.raises(KeyMaterialError, match=problem) as refused:
        write_changeset(outbox, signer, "410100", "appropriation", 1, "", [], FixedClock(moment))
    assert hint in refused.value.hint
    assert list(outbox.iterdir()) == []


def test_without_a_revocation_list_nothing_verifies(
    sample: Path, pki: SmallPki, tmp_path: Path
) -> None:
    keys = tmp_path / "bare"
    keys.mkdir()
    (keys / "ca.crt").write_bytes(pki.root.cert_pem)
    trust = TrustStore.load(keys, clock=pki.clock)
    assert trust.crl is None
    with pytest.raises(CertificateRejected, match="no revocation list") as refused:
        verify(sample, trust, recipient="410100")
    assert str(keys / "crl.pem") in refused.value.message
    assert "fiscalsync revocation install crl.pem" in refused.value.hint


def test_not_yet_valid_certificate(suite_name: str, tmp_path: Path, outbox: Path) -> None:
    pki = make_pki(tmp_path, {}, suite=suite_name)
    signer = pki.enrol("410000", "province", issued_at=T0 + timedelta(days=10))
    signed = FixedClock(T0 + timedelta(days=10))
    written = write_changeset(outbox, signer, "410100", "appropriation", 1, "", [], clock=signed)
    with pytest.raises(  # the recipient's clock says the certificate has not begun
        CertificateRejected, match="certificate of 410000 is not valid before 2026-03-11T08:00:00Z"
    ):
        verify(written.path, pki.trust(), recipient="410100")


def test_revoked_certificate(suite_name: str, tmp_path: Path, outbox: Path) -> None:
    pki = make_pki(tmp_path, {"410000": "province", "410100": "city"}, suite=suite_name)
    written = write_changeset(
        outbox, pki.signers["410100"], "410000", "receipt", 1, "", [], clock=pki.clock
    )
    assert verify(written.path, pki.trust(), recipient="410000")
    crl = revoke(pki.root, "410100", "keyCompromise", clock=pki.clock)
    serial = pki.signers["410100"].certificate.serial_number
    with pytest.raises(
        CertificateRejected, match=f"certificate of 410100 is revoked \\(serial {serial:x}"
    ):
        verify(written.path, pki.trust(crl=crl), recipient="410000")


@pytest.mark.parametrize("province", ["410000", "420000"])
def test_certificate_from_another_root(
    suite_name: str, tmp_path: Path, pki: SmallPki, province: str
) -> None:
    # An impostor CA: with the same province code (same issuer name) its signature fails,
    # with another code its name already does.
    impostor = make_pki(tmp_path, {"410000": "province"}, province=province, suite=suite_name)
    (tmp_path / "out").mkdir()
    written = write_changeset(
        tmp_path / "out", impostor.signers["410000"], "410100", "appropriation", 1, "", [],
        clock=pki.clock,
    )  # fmt: skip
    expected = "not signed by" if province == "410000" else "not issued by"
    with pytest.raises(CertificateRejected, match=f"certificate of 410000 is {expected} this"):
        check(written.path, pki)


def test_receipt_presented_as_an_appropriation(pki: SmallPki, outbox: Path) -> None:
    receipt = write_changeset(
        outbox, pki.signers["410000"], "410100", "receipt", 1, "", [], clock=pki.clock
    )
    header, seal = read_header(receipt.path)
    forged = assemble(outbox, dataclasses.replace(header, kind="appropriation"), seal, b"")
    with pytest.raises(SignatureInvalid, match="header signature does not verify"):
        check(forged, pki)


def test_domain_separation_covers_kind_and_recipient(pki: SmallPki, sample: Path) -> None:
    header, _seal = read_header(sample)
    message = signing_message(header)
    assert message.startswith(DOMAIN + b"appropriation\x00410100\x00")
    assert message.endswith(header.canonical())


def test_change_set_for_another_node(sample: Path, pki: SmallPki) -> None:
    with pytest.raises(WrongRecipient, match="addressed to 410100, not to this node \\(410102\\)"):
        check(sample, pki, recipient="410102")


def test_tampered_recipient(forge: Callable[..., Path], pki: SmallPki) -> None:
    path = forge(recipient="410102")
    with pytest.raises(SignatureInvalid, match=f"^{path.name}: header signature does not verify"):
        check(path, pki, recipient="410102")


def test_tampered_amount_count_or_time_in_header(forge: Callable[..., Path], pki: SmallPki) -> None:
    for changes in (
        {"count": 49},
        {"created": T0 + timedelta(days=1)},
        {"seq": 2, "prev": "0" * 64},
    ):
        with pytest.raises(SignatureInvalid):
            check(forge(**changes), pki)


def test_renamed_file_is_refused(sample: Path, pki: SmallPki) -> None:
    header, _seal = read_header(sample)
    renamed = sample.with_name(sample.name.replace("_0000000001_", "_0000000002_"))
    sample.rename(renamed)
    with pytest.raises(MalformedChangeSet, match="file name does not match its header"):
        check(renamed, pki)
    spooled = renamed.rename(renamed.with_name("upload.tmp"))  # other names are not judged
    assert check(spooled, pki).id == header.id


def test_authorize_refusal_propagates(sample: Path, pki: SmallPki) -> None:
    seen: list[tuple[str, str]] = []

    def authorize(header: Header, signer: SignerInfo) -> None:
        seen.append((header.kind, signer.role))
        raise NotAuthorized(f"a {signer.role} may not send {header.kind} to {header.recipient}")

    with pytest.raises(
        NotAuthorized, match=f"^{sample.name}: a province may not send appropriation to 410100"
    ):
        check(sample, pki, authorize=authorize)
    assert seen == [("appropriation", "province")]


def test_checks_run_cheapest_first(sample: Path, pki: SmallPki) -> None:
    # A broken body is not looked at when the recipient or authorisation already fails.
    _rebuild_body(sample, lambda rows: rows[:-1])
    with pytest.raises(WrongRecipient):
        check(sample, pki, recipient="410102")

    def refuse(header: Header, signer: SignerInfo) -> None:
        raise NotAuthorized("no")

    with pytest.raises(NotAuthorized):
        check(sample, pki, authorize=refuse)


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("12.5", "holds the non-integer number 12.5 \\(amounts are integer fen\\)"),
        ("1e3", "holds the non-integer number 1000.0"),
        ("NaN", "is not JSON"),
        ("-Infinity", "is not JSON"),
        (str(2**64), "holds the non-integer number"),  # integers hold at most 64 bits
        ("[1, 2.5]", "holds the non-integer number 2.5"),  # inside a list
        ('{"fen": 7, "rate": [0.5]}', "holds the non-integer number 0.5"),  # deeper
        ('[true, null, "x", -0.0]', "holds the non-integer number -0.0"),
    ],
)
def test_floats_in_operations_are_refused_on_read(
    pki: SmallPki, outbox: Path, number: str, why: str
) -> None:
    body = b'{"op":"issue","amount":1}\n{"op":"issue","amount":' + number.encode() + b"}\n"
    path = signed_file(outbox, pki.signers["410000"], "410100", body, 2)
    assert check(path, pki).header.count == 2  # hash and count hold: the origin signed it
    with pytest.raises(MalformedChangeSet, match=f"operation 2 {why}"):
        list(iter_operations(path))
    with pytest.raises(MalformedChangeSet, match=f"operation 2 {why}"):
        check(path, pki, check_operations=True)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"a":1}\n\n', "operation 2 is not JSON"),
        (b'{"a":1}\n[1,2]\n', "operation 2 is not exactly one JSON object"),
        (b'{"a":1} {"b":2}\n', "operation 1 is not JSON"),
        (b'{"a":"\xff"}\n', "operation 1 is not valid UTF-8"),
        (b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", "operation 1 is not JSON"),
        (b'{"a":1' + b"0" * 5000 + b"}\n", "operation 1 is not JSON"),
    ],
)
def test_bad_operation_lines_are_refused_on_read(
    pki: SmallPki, outbox: Path, body: bytes, message: str
) -> None:
    path = signed_file(outbox, pki.signers["410000"], "410100", body, body.count(b"\n"))
    with pytest.raises(MalformedChangeSet, match=message):
        list(iter_operations(path))


def test_signed_count_that_does_not_match_the_body(pki: SmallPki, outbox: Path) -> None:
    path = signed_file(outbox, pki.signers["410000"], "410100", lines(appropriations(3)), 4)
    with pytest.raises(IntegrityError, match="body holds 3 operations but the header says 4"):
        check(path, pki)
    with pytest.raises(IntegrityError, match="body holds 3 operations"):
        list(iter_operations(path))


def test_body_without_final_newline(pki: SmallPki, outbox: Path) -> None:
    path = signed_file(outbox, pki.signers["410000"], "410100", b'{"a":1}\n{"a":2}', 2)
    with pytest.raises(IntegrityError, match="the last operation has no end of line"):
        check(path, pki)


def test_file_changed_after_verify_fails_before_the_last_operation_is_used(
    sample: Path, pki: SmallPki
) -> None:
    verified = check(sample, pki)
    _rebuild_body(sample, lambda rows: [rows[0].replace(b"123456", b"923456"), *rows[1:]])
    applied = []
    with pytest.raises(IntegrityError, match="body hash does not match"):
        for op in verified.operations():
            applied.append(op)
    assert len(applied) == 50  # streamed, then refused at the end: the caller rolls back


def test_file_replaced_after_verify(sample: Path, pki: SmallPki, outbox: Path) -> None:
    verified = check(sample, pki)
    other = write_changeset(
        outbox, pki.signers["410000"], "410100", "appropriation", 1, "", [], clock=SystemClock()
    )
    other.path.replace(sample)
    with pytest.raises(IntegrityError, match="file replaced after it was verified"):
        list(verified.operations())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda h: h.replace(b'"format":1', b'"format":2'), "format 2 is not 1"),
        (lambda h: re.sub(rb'"suite":"[0-9a-z]+"', b'"suite":"sm9"', h), "unknown signature suite"),
        (lambda h: h.replace(b'"count":50', b'"count":50.0'), "non-integer number 50.0"),
        (lambda h: h.replace(b'"count":50', b'"count":"50"'), "count '50' is not"),
        (lambda h: h.replace(b'Z"', b'+08:00"', 1), "is not YYYY-MM-DDTHH:MM:SS.ffffffZ"),
        (lambda h: h.replace(b"{", b'{"extra":1,', 1), "unknown extra"),
        (lambda h: h.replace(b"{", b'{"body":"x",', 1), "repeats a key"),
        (lambda h: h.replace(b",", b", ", 1), "not in RFC 8785 canonical form"),
        (lambda h: h.replace(b'"seq":1', b'"seq":true'), "seq True is not an integer"),
        (lambda h: h.replace(b'"format"', b'"epoch":null,"format"'), "epoch is null"),
        (lambda h: h.replace(b'"format"', b'"epoch":"0a1b","format"'), "epoch '0a1b' is not 32"),
    ],
)
def test_malformed_headers_are_refused(
    sample: Path, pki: SmallPki, edit: Callable[[bytes], bytes], message: str
) -> None:
    content = gzip.decompress(sample.read_bytes())
    header_line, rest = content.split(b"\n", 1)
    seal_line, body = rest.split(b"\n", 1)
    sample.write_bytes(member(edit(header_line) + b"\n" + seal_line + b"\n") + member(body))
    with pytest.raises(MalformedChangeSet, match=message):
        check(sample, pki)


def test_operations_in_the_header_member_are_refused(sample: Path, pki: SmallPki) -> None:
    content = gzip.decompress(sample.read_bytes())
    sample.write_bytes(member(content) + member(b""))
    with pytest.raises(MalformedChangeSet, match="exactly a header and a seal line"):
        check(sample, pki)


def test_not_a_change_set_at_all(outbox: Path, pki: SmallPki) -> None:
    path = outbox / "x.fcs"
    path.write_bytes(gzip.compress(b"hello\n"))
    with pytest.raises(MalformedChangeSet, match="^x.fcs: the header member does not start"):
        check(path, pki)
    path.write_bytes(b"")
    with pytest.raises(MalformedChangeSet, match="truncated"):
        check(path, pki)


def test_parse_filename_refuses_other_names() -> None:
    for name in ("410000_410100_1_" + "a" * 64 + ".fcs", "410000_410100_0000000000_x.fcs"):
        with pytest.raises(MalformedChangeSet, match="not a change-set file name"):
            parse_filename(name)


def test_header_requires_an_aware_time() -> None:
    with pytest.raises(MalformedChangeSet, match="not an aware datetime"):
        Header(
            origin="410000", recipient="410100", kind="report", seq=1, prev="", count=0,
            created=datetime(2026, 1, 1), body="sha256:" + "0" * 64, signer="0" * 64,
        )  # fmt: skip


# --- the clock ----------------------------------------------------------------------------


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(datetime(2026, 3, 1, 16, 0, tzinfo=UTC).astimezone())
    assert clock.now() == datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC
    assert clock.advance(timedelta(hours=1)) == datetime(2026, 3, 1, 17, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive"):
        FixedClock(datetime(2026, 3, 1))
    assert SystemClock().now().tzinfo is UTC
