"""Change-sets: the signed, content-addressed files in which every piece of data travels.

A change-set carries operations (JSON objects this module never interprets) from one
origin node to one recipient node. On disk it is ONE gzip file made of exactly two
members; decompressed, the whole file is newline-delimited JSON::

    member 1   line 1   header     RFC 8785 canonical JSON, see :class:`Header`
               line 2   seal       {"cert": base64 DER certificate, "sig": base64 signature}
    member 2   line 3…  body       one operation per line, compact JSON, no floats

Each member starts with the 16 bytes of :data:`MEMBER_PREFIX` (deflate, no time stamp,
unknown OS, and an extra field ``FS`` of 4 bytes) followed by those 4 bytes: the CRC-32
of the member's *compressed* deflate data. It ends with the usual gzip CRC-32 and size of
the decompressed data. The extra CRC is there because a deflate stream has bits that
change no output (the padding after its last block, a back-reference to an equal string
at another distance): without it, some single flipped bits would still decompress to the
signed content. With it, every changed byte fails a fixed header, the deflate decoder or a
checksum. Any gzip tool reads the file (``zcat`` shows the NDJSON). The body member's
deflate data is written to a temporary file while the body is hashed, then copied behind
the header member without recompression.

The change-set id is the SHA-256 of the canonical header; the file is named
``<origin>_<recipient>_<seq:010d>_<id>.fcs``. The origin signs ``DOMAIN + kind + NUL +
recipient + NUL + canonical header`` (domain separation: a receipt never verifies as an
appropriation, nor a change-set for one county as one for another); the header covers
the body through its hash (``"<hash>:<hex>"``, the hash of the signature suite) and its
operation count.

:func:`verify` checks a file in this order, each failure with its own exception: framing
and header syntax (:class:`MalformedChangeSet`), header signature
(:class:`SignatureInvalid`), signer certificate and its binding to the origin
(:class:`CertificateRejected`), recipient (:class:`WrongRecipient`), the caller's
authorisation (:class:`NotAuthorized`), and last a streaming pass over the body
(:class:`IntegrityError`). Reading and writing use bounded memory whatever the size.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, NamedTuple

from sync.clock import Clock
from sync.errors import (
    CertificateRejected,
    HomeError,
    InputError,
    IntegrityError,
    KeyMaterialError,
    MalformedChangeSet,
    NotAuthorized,
    SignatureInvalid,
    StorageError,
    WrongRecipient,
)
from sync.files import atomic_file
from sync.pki import (
    Certificate,
    Signer,
    SignerInfo,
    TrustStore,
    certificate_public_key,
    is_node_code,
    parse_certificate,
)
from sync.signing import DEFAULT_SUITE, SignatureSuite, canonical_json, get_suite

__all__ = [
    "COMPRESSION_LEVEL",
    "DOMAIN",
    "FORMAT",
    "MAX_OPERATION_BYTES",
    "MEMBER_PREFIX",
    "SUFFIX",
    "ChangeSetName",
    "ChangeSetWriter",
    "Header",
    "Seal",
    "Verified",
    "WrittenChangeSet",
    "check_stored",
    "iter_operations",
    "parse_filename",
    "read_header",
    "signing_message",
    "verify",
    "write_changeset",
]

FORMAT = 1
DOMAIN = b"fiscalsync-changeset-v1\x00"
SUFFIX = ".fcs"
COMPRESSION_LEVEL = 3
"""zlib level of both members. Measured on appropriation rows: levels 1–2 compress about
20% faster but write ~13% more bytes; 3 costs ~0.1 µs more per operation (3% of a write)
and decompresses fastest of the three; 6 is 2x slower to write."""

MEMBER_PREFIX = bytes.fromhex("1f8b08040000000000ff080046530400")
"""Gzip header of every member: ID, deflate, FEXTRA; no mtime; XFL 0, OS 255; then an
8-byte extra field, subfield ``FS`` of 4 bytes (the CRC-32 of the deflate data follows)."""
_CRC = struct.Struct("<I")
_TRAILER = struct.Struct("<II")
_READ_SIZE = 256 * 1024
"""Compressed bytes read at a time."""
_OUT_SIZE = 1024 * 1024
"""Most decompressed bytes produced at a time (bounds memory against zip bombs)."""
_WRITE_BUFFER = 1024 * 1024
"""Characters of operation lines gathered before they are hashed and compressed."""
_HEAD_LIMIT = 64 * 1024
"""Largest header member, decompressed: a header and a seal are about 1.5 KiB."""
MAX_OPERATION_BYTES = 16 * 1024 * 1024
"""Longest operation line accepted."""

_HEX64 = re.compile(r"[0-9a-f]{64}")
_KIND = re.compile(r"[a-z][a-z0-9-]{0,47}")
_CREATED = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.([0-9]{6})Z"
)
_FILENAME = re.compile(
    r"(?P<origin>[0-9A-Za-z-]+)_(?P<recipient>[0-9A-Za-z-]+)_(?P<seq>[0-9]{10})"
    r"_(?P<id>[0-9a-f]{64})\.fcs"
)
_MAX_SEQ = 10**10 - 1
_MAX_COUNT = 2**53 - 1  # the largest integer RFC 8785 (I-JSON) holds exactly
_HEADER_KEYS = frozenset(
    ("format", "origin", "recipient", "kind", "seq", "prev", "created", "count", "body")
    + ("suite", "signer")
)
_SEAL_KEYS = frozenset(("sig", "cert"))


# --- header -------------------------------------------------------------------------------


def _format_created(moment: datetime) -> str:
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}Z"
    )


def _parse_created(text: str) -> datetime | None:
    match = _CREATED.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, micro = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError:
        return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _channel_problem(
    origin: object, recipient: object, kind: object, seq: object, prev: object
) -> str | None:
    """Return what is wrong with a change-set's channel fields, or None."""
    if not is_node_code(origin):
        return f"origin {origin!r} is not a node code"
    if not is_node_code(recipient):
        return f"recipient {recipient!r} is not a node code"
    if origin == recipient:
        return f"origin and recipient are both {origin}"
    if not isinstance(kind, str) or _KIND.fullmatch(kind) is None:
        return f"kind {kind!r} is not a lower-case word"
    if not (isinstance(seq, int) and not isinstance(seq, bool) and 1 <= seq <= _MAX_SEQ):
        return f"seq {seq!r} is not an integer from 1 to {_MAX_SEQ}"
    if not isinstance(prev, str):
        return f"prev {prev!r} is not a string"
    if seq == 1 and prev != "":
        return "prev must be empty for seq 1"
    if seq != 1 and _HEX64.fullmatch(prev) is None:
        return f"prev {prev!r} is not the 64-hex-digit id of the previous change-set"
    return None


_DIGEST_SIZES: dict[str, int] = {}


def _suite_of(name: str) -> SignatureSuite:
    suite = get_suite(name)
    if name not in _DIGEST_SIZES:
        _DIGEST_SIZES[name] = suite.new_hash().digest_size
    return suite


@dataclass(frozen=True, kw_only=True)
class Header:
    """The signed first line of a change-set; validated on construction.

    ``created`` is an aware UTC datetime with microseconds (written as
    ``YYYY-MM-DDTHH:MM:SS.ffffffZ``); ``body`` is ``"<hash name>:<hex digest>"`` of the
    decompressed body bytes; ``signer`` is the SHA-256 hex of the signer's DER
    certificate. Construction raises :class:`MalformedChangeSet` on any bad field.
    """

    format: int = FORMAT
    origin: str
    recipient: str
    kind: str
    seq: int
    prev: str
    created: datetime
    count: int
    body: str
    suite: str = DEFAULT_SUITE
    signer: str

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem is not None:
            raise MalformedChangeSet(f"invalid header: {problem}")
        object.__setattr__(self, "created", self.created.astimezone(UTC))

    def _problem(self) -> str | None:
        if not _is_int(self.format) or self.format != FORMAT:
            return f"format {self.format!r} is not {FORMAT} (written by a newer fiscalsync?)"
        problem = _channel_problem(self.origin, self.recipient, self.kind, self.seq, self.prev)
        if problem is not None:
            return problem
        created = self.created
        if not isinstance(created, datetime) or created.utcoffset() is None:
            return f"created {created!r} is not an aware datetime"
        if not _is_int(self.count) or not 0 <= self.count <= _MAX_COUNT:
            return f"count {self.count!r} is not an integer from 0 to 2**53-1"
        if not isinstance(self.suite, str):
            return f"suite {self.suite!r} is not a string"
        try:
            suite = _suite_of(self.suite)
        except KeyMaterialError as exc:
            return exc.message
        if not isinstance(self.body, str):
            return f"body {self.body!r} is not a string"
        hash_name, _, digest = self.body.partition(":")
        if hash_name != suite.hash_name or not _is_hex(digest, _DIGEST_SIZES[self.suite]):
            return f"body {self.body!r} is not '{suite.hash_name}:' and a hex digest"
        if not isinstance(self.signer, str) or _HEX64.fullmatch(self.signer) is None:
            return f"signer {self.signer!r} is not a 64-hex-digit certificate fingerprint"
        return None

    def to_dict(self) -> dict[str, Any]:
        """Return the header as the JSON object written in the file."""
        return {
            "format": self.format,
            "origin": self.origin,
            "recipient": self.recipient,
            "kind": self.kind,
            "seq": self.seq,
            "prev": self.prev,
            "created": _format_created(self.created),
            "count": self.count,
            "body": self.body,
            "suite": self.suite,
            "signer": self.signer,
        }

    @classmethod
    def from_dict(cls, data: object) -> Header:
        """Build a header from its JSON object; any deviation is MalformedChangeSet."""
        if not isinstance(data, dict):
            raise MalformedChangeSet("invalid header: not a JSON object")
        keys = set(data)
        if keys != _HEADER_KEYS:
            missing = ", ".join(sorted(_HEADER_KEYS - keys)) or "none"
            extra = ", ".join(sorted(str(key) for key in keys - _HEADER_KEYS)) or "none"
            raise MalformedChangeSet(f"invalid header: missing fields {missing}; unknown {extra}")
        created_text = data["created"]
        created = _parse_created(created_text) if isinstance(created_text, str) else None
        if created is None:
            raise MalformedChangeSet(
                f"invalid header: created {created_text!r} is not YYYY-MM-DDTHH:MM:SS.ffffffZ"
            )
        return cls(**{**data, "created": created})

    def canonical(self) -> bytes:
        """Return the RFC 8785 canonical bytes of the header: what is hashed and signed."""
        return self._canonical

    @cached_property
    def _canonical(self) -> bytes:
        return canonical_json(self.to_dict())

    @cached_property
    def id(self) -> str:
        """The change-set id: SHA-256 hex of the canonical header."""
        return hashlib.sha256(self._canonical).hexdigest()

    @property
    def filename(self) -> str:
        return f"{self.origin}_{self.recipient}_{self.seq:010d}_{self.id}{SUFFIX}"

    @property
    def body_digest(self) -> str:
        """The hex digest part of :attr:`body`."""
        return self.body.partition(":")[2]


def _is_hex(text: str, size: int) -> bool:
    return len(text) == 2 * size and all(c in "0123456789abcdef" for c in text)


def signing_message(header: Header) -> bytes:
    """Return the bytes the origin signs for ``header`` (domain-separated)."""
    return (
        DOMAIN
        + header.kind.encode("ascii")
        + b"\x00"
        + header.recipient.encode("ascii")
        + b"\x00"
        + header.canonical()
    )


@dataclass(frozen=True)
class Seal:
    """The second line of a change-set: the header signature and the signer's certificate."""

    signature: bytes
    certificate_der: bytes = field(repr=False)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.certificate_der).hexdigest()

    def certificate(self) -> Certificate:
        """Parse the embedded certificate; raise KeyMaterialError if it is unreadable."""
        return parse_certificate(self.certificate_der)

    def to_dict(self) -> dict[str, str]:
        return {
            "sig": base64.b64encode(self.signature).decode("ascii"),
            "cert": base64.b64encode(self.certificate_der).decode("ascii"),
        }


class ChangeSetName(NamedTuple):
    """What a change-set's file name says."""

    origin: str
    recipient: str
    seq: int
    id: str


def parse_filename(name: str) -> ChangeSetName:
    """Split ``<origin>_<recipient>_<seq:010d>_<id>.fcs``; MalformedChangeSet otherwise."""
    match = _FILENAME.fullmatch(name)
    if match is None or int(match["seq"]) < 1:
        raise MalformedChangeSet(f"{name}: not a change-set file name")
    return ChangeSetName(match["origin"], match["recipient"], int(match["seq"]), match["id"])


# --- gzip members -------------------------------------------------------------------------


def _gzip_member(data: bytes, level: int = COMPRESSION_LEVEL) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = compressor.compress(data) + compressor.flush()
    return (
        MEMBER_PREFIX
        + _CRC.pack(zlib.crc32(deflated))
        + deflated
        + _TRAILER.pack(zlib.crc32(data), len(data) & 0xFFFFFFFF)
    )


class _Reader:
    """Reads the two members of one change-set file in bounded memory."""

    def __init__(self, stream: BinaryIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self._pending = b""

    def fail(self, problem: str) -> MalformedChangeSet:
        return MalformedChangeSet(f"{self.label}: {problem}")

    def _read(self, size: int) -> bytes:
        try:
            return self.stream.read(size)
        except OSError as exc:  # the disk's failure, never a verdict on the content
            raise StorageError.reading(self.label, exc) from exc

    def _take(self, size: int, what: str) -> bytes:
        data = self._pending
        while len(data) < size:
            more = self._read(max(size - len(data), _READ_SIZE))
            if not more:
                raise self.fail(f"file is truncated (it ends inside the {what})")
            data += more
        self._pending = data[size:]
        return data[:size]

    def member(self, what: str) -> Iterator[bytes]:
        """Yield the decompressed bytes of the next member, then check its gzip trailer."""
        prefix = self._take(len(MEMBER_PREFIX) + _CRC.size, what)
        if prefix[: len(MEMBER_PREFIX)] != MEMBER_PREFIX:
            raise self.fail(f"the {what} does not start with fiscalsync's gzip header")
        (want_deflate_crc,) = _CRC.unpack(prefix[len(MEMBER_PREFIX) :])
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        deflate_crc = 0
        crc = 0
        size = 0
        data = self._pending
        self._pending = b""
        while not inflater.eof:
            if not data:
                data = self._read(_READ_SIZE)
            try:
                out = inflater.decompress(data, _OUT_SIZE)
            except zlib.error as exc:
                raise self.fail(f"the {what} is not valid deflate data ({exc})") from exc
            if not data and not out and not inflater.eof:
                raise self.fail(f"file is truncated (it ends inside the {what})")
            # At the end of the stream the input left over is in unused_data (and
            # unconsumed_tail may still show a stale copy of it); before, in unconsumed_tail.
            tail = b"" if inflater.eof else inflater.unconsumed_tail
            used = len(data) - len(tail) - len(inflater.unused_data)
            deflate_crc = zlib.crc32(memoryview(data)[:used], deflate_crc)
            data = tail
            if out:
                crc = zlib.crc32(out, crc)
                size += len(out)
                yield out
        self._pending = inflater.unused_data
        want_crc, want_size = _TRAILER.unpack(self._take(_TRAILER.size, what))
        if deflate_crc != want_deflate_crc or want_crc != crc or want_size != size & 0xFFFFFFFF:
            raise self.fail(f"the {what} fails its gzip checksum (file altered or damaged)")

    def head(self) -> tuple[Header, Seal, bytes]:
        """Read member 1; return the header, the seal and the header line's bytes."""
        parts = []
        size = 0
        for chunk in self.member("header member"):
            size += len(chunk)
            if size > _HEAD_LIMIT:
                raise self.fail(f"the header member is larger than {_HEAD_LIMIT} bytes")
            parts.append(chunk)
        lines = b"".join(parts).split(b"\n")
        if len(lines) != 3 or lines[2] != b"":
            raise self.fail("the header member does not hold exactly a header and a seal line")
        header_line, seal_line = lines[0], lines[1]
        try:
            header = Header.from_dict(_strict_json(header_line))
        except MalformedChangeSet as exc:
            raise self.fail(exc.message) from exc
        if header_line != header.canonical():
            raise self.fail("the header is not in RFC 8785 canonical form")
        seal = self._seal(seal_line)
        return header, seal, header_line

    def _seal(self, line: bytes) -> Seal:
        try:
            data = _strict_json(line)
        except MalformedChangeSet as exc:
            raise self.fail(f"invalid seal: {exc.message}") from exc
        if not isinstance(data, dict) or set(data) != _SEAL_KEYS:
            raise self.fail('invalid seal: not an object of exactly "sig" and "cert"')
        try:
            seal = Seal(_b64(data["sig"]), _b64(data["cert"]))
        except (TypeError, ValueError) as exc:
            raise self.fail("invalid seal: sig or cert is not canonical base64") from exc
        if line != canonical_json(seal.to_dict()):
            raise self.fail("the seal is not in RFC 8785 canonical form")
        return seal

    def body(self) -> Iterator[bytes]:
        """Yield the decompressed body, then require the end of the file."""
        yield from self.member("body member")
        if self._pending or self._read(1):
            raise self.fail("unexpected data after the body member (trailing garbage)")


def _b64(value: object) -> bytes:
    if not isinstance(value, str):
        raise TypeError("not a string")
    decoded = base64.b64decode(value, validate=True)
    if base64.b64encode(decoded).decode("ascii") != value or not decoded:
        raise ValueError("not canonical base64")
    return decoded


def _duplicate_free(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise MalformedChangeSet("an object repeats a key")
    return result


class _FloatFound(ValueError):
    pass


def _reject_float(text: str) -> Any:
    raise _FloatFound(text)


_STRICT = json.JSONDecoder(
    parse_float=_reject_float, parse_constant=_reject_float, object_pairs_hook=_duplicate_free
)
_OPERATIONS = json.JSONDecoder(parse_float=_reject_float, parse_constant=_reject_float)
# JSONDecoder.scan_once is the C scanner behind JSONDecoder.decode; calling it directly
# skips decode()'s whitespace regexes and is about 1.3x faster per operation line.
_scan_operation: Callable[[str, int], tuple[Any, int]] = _OPERATIONS.scan_once  # type: ignore[attr-defined]


def _refuse_unknown(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON")


def _line_encoder() -> Callable[[Any], str]:
    """Return the fastest encoder of an operation line: compact, UTF-8, no NaN.

    ``JSONEncoder.encode`` builds a new C encoder for every call; building it once makes
    writing an operation about 1.5x faster. Circular references are caught by
    :func:`_exact` (as RecursionError) before encoding.
    """
    try:
        from _json import make_encoder
    except ImportError:  # an interpreter without the C accelerator
        encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return encoder.encode
    encode = make_encoder(
        None, _refuse_unknown, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
    return lambda op: "".join(encode(op, 0))


_encode_line = _line_encoder()


def _strict_json(line: bytes) -> Any:
    try:
        return _STRICT.decode(line.decode("utf-8"))
    except _FloatFound as exc:
        raise MalformedChangeSet(f"holds a non-integer number {exc}") from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedChangeSet(f"not valid JSON ({exc})") from exc


@contextlib.contextmanager
def _opened(source: Path | BinaryIO) -> Iterator[tuple[BinaryIO, str, Path | None]]:
    if isinstance(source, Path):
        try:
            stream = source.open("rb", buffering=0)
        except OSError as exc:
            raise StorageError.reading(str(source), exc) from exc
        with stream:
            yield stream, source.name, source
        return
    name = getattr(source, "name", None)
    label = os.path.basename(name) if isinstance(name, str) else "<stream>"
    yield source, label, None


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    """A change-set that passed :func:`verify`: who sent it, and where it is."""

    header: Header
    id: str
    signer: SignerInfo
    path: Path | None

    def operations(self) -> Iterator[dict[str, Any]]:
        """Stream the operations, failing at the end if the file changed since it was verified."""
        if self.path is None:
            raise InputError(f"change-set {self.id} was verified from a stream; reopen it")
        return iter_operations(self.path, expect_id=self.id)


def read_header(source: Path | BinaryIO) -> tuple[Header, Seal]:
    """Return the header and seal of a change-set without verifying anything (``inspect``)."""
    with _opened(source) as (stream, label, _):
        header, seal, _line = _Reader(stream, label).head()
        return header, seal


def verify(
    source: Path | BinaryIO,
    trust: TrustStore,
    *,
    recipient: str,
    authorize: Callable[[Header, SignerInfo], None] | None = None,
    check_operations: bool = False,
) -> Verified:
    """Verify a change-set completely, cheapest checks first; return who signed it.

    Order: framing and header syntax, header signature, signer certificate (trusted now,
    code equal to the origin), recipient, ``authorize(header, signer)`` (which raises
    :class:`NotAuthorized` to refuse), then one streaming pass over the body for its
    hash and count. With ``check_operations`` every operation is also decoded (no floats,
    objects only); otherwise that is left to :func:`iter_operations`. A file whose name
    is a change-set name must be named after its own header. Read-only; memory stays
    bounded.
    """
    with _opened(source) as (stream, label, path):
        reader = _Reader(stream, label)
        header, seal, _line = reader.head()
        if path is not None:
            _check_name(label, header)
        cert = _check_seal(label, header, seal)
        try:
            signer = trust.check_signer(cert)
        except CertificateRejected as exc:
            raise CertificateRejected(f"{label}: {exc.message}", hint=exc.hint) from exc
        if signer.code != header.origin:
            raise CertificateRejected(
                f"{label}: signed with the certificate of {signer.code}, "
                f"which does not belong to the origin {header.origin}"
            )
        if header.recipient != recipient:
            raise WrongRecipient(
                f"{label}: addressed to {header.recipient}, not to this node ({recipient})"
            )
        if authorize is not None:
            try:
                authorize(header, signer)
            except NotAuthorized as exc:
                raise NotAuthorized(f"{label}: {exc.message}", hint=exc.hint) from exc
        if check_operations:
            for _op in _operations(reader, header, label):
                pass
        else:
            _check_body(reader, header, label)
        return Verified(header=header, id=header.id, signer=signer, path=path)


def check_stored(path: Path, expect_id: str, *, signature: bool = False) -> Header:
    """Check a copy this node stored (its outbox, its receipts) before sending it again.

    Framing and checksums, the header (its id must be ``expect_id``, the id recorded when
    the copy was written) and the body's hash and count: the checks that need no trust
    store, and that any damage on disk fails. With ``signature`` the header signature is
    verified too, under the embedded certificate (which must be the one the header
    names); whether that certificate is trusted now is not asked, since the copy was
    judged when it was written or taken. Raises :class:`MalformedChangeSet`,
    :class:`SignatureInvalid` or :class:`IntegrityError` for a damaged copy,
    :class:`StorageError` for one that cannot be read (missing, I/O error). Read-only;
    memory stays bounded.
    """
    with _opened(path) as (stream, label, _path):
        reader = _Reader(stream, label)
        header, seal, _line = reader.head()
        if header.id != expect_id:
            raise IntegrityError(
                f"{label}: the header is that of change-set {header.id[:16]}…, "
                f"not of {expect_id[:16]}…"
            )
        if signature:
            _check_seal(label, header, seal)
        _check_body(reader, header, label)
        return header


def _check_seal(label: str, header: Header, seal: Seal) -> Certificate:
    """Verify the header signature under the embedded certificate; return the certificate."""
    if seal.fingerprint != header.signer:
        raise SignatureInvalid(
            f"{label}: the embedded certificate ({seal.fingerprint[:16]}…) is not the "
            f"signer named in the header ({header.signer[:16]}…)"
        )
    try:
        cert = seal.certificate()
    except KeyMaterialError as exc:
        raise MalformedChangeSet(f"{label}: embedded certificate: {exc.message}") from exc
    try:
        public_key = certificate_public_key(cert)
        _suite_of(header.suite).verify(public_key, seal.signature, signing_message(header))
    except KeyMaterialError as exc:
        raise SignatureInvalid(f"{label}: the signer's key is unusable ({exc.message})") from exc
    except SignatureInvalid as exc:
        raise SignatureInvalid(
            f"{label}: header signature does not verify ({exc.message})"
        ) from exc
    return cert


def _check_name(label: str, header: Header) -> None:
    try:
        name = parse_filename(label)
    except MalformedChangeSet:
        return  # a temporary or quarantine name: nothing to compare
    expected = ChangeSetName(header.origin, header.recipient, header.seq, header.id)
    if name != expected:
        raise MalformedChangeSet(
            f"{label}: the file name does not match its header (expected {header.filename})"
        )


def _check_body(reader: _Reader, header: Header, label: str) -> None:
    digest = _suite_of(header.suite).new_hash()
    count = 0
    last = b"\n"
    for chunk in reader.body():
        digest.update(chunk)
        count += chunk.count(b"\n")
        last = chunk[-1:]
    _check_totals(label, header, digest.hexdigest(), count, last == b"\n")


def _check_totals(label: str, header: Header, digest: str, count: int, complete: bool) -> None:
    if digest != header.body_digest:
        raise IntegrityError(
            f"{label}: body hash does not match the header (file altered or truncated)"
        )
    if not complete:
        raise IntegrityError(f"{label}: the last operation has no end of line")
    if count != header.count:
        raise IntegrityError(
            f"{label}: body holds {count} operations but the header says {header.count}"
        )


def iter_operations(
    source: Path | BinaryIO, *, expect_id: str | None = None
) -> Iterator[dict[str, Any]]:
    """Stream a change-set's operations, one dict each, in bounded memory.

    Nothing is verified up front except the header's syntax (and, with ``expect_id``,
    that the header is still the one verified); when the operations run out, the body
    hash and count are checked and :class:`IntegrityError` is raised if they differ. An
    apply that consumes every operation inside a transaction therefore fails before it
    commits if the file changed after :func:`verify`. A bad line raises
    :class:`MalformedChangeSet`.
    """
    with _opened(source) as (stream, label, _path):
        reader = _Reader(stream, label)
        header, _seal, _line = reader.head()
        if expect_id is not None and header.id != expect_id:
            raise IntegrityError(
                f"{label}: the header is no longer that of change-set {expect_id} "
                "(file replaced after it was verified)"
            )
        yield from _operations(reader, header, label)


def _operations(reader: _Reader, header: Header, label: str) -> Iterator[dict[str, Any]]:
    digest = _suite_of(header.suite).new_hash()
    scan = _scan_operation
    count = 0
    pending = b""
    for chunk in reader.body():
        digest.update(chunk)
        data = pending + chunk if pending else chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            pending = data
            if len(pending) > MAX_OPERATION_BYTES:
                raise MalformedChangeSet(
                    f"{label}: operation {count + 1} is longer than {MAX_OPERATION_BYTES} bytes"
                )
            continue
        pending = data[cut:]
        try:
            text = data[:cut].decode("utf-8")
        except UnicodeDecodeError as exc:
            where = count + 1 + data.count(b"\n", 0, exc.start)
            raise MalformedChangeSet(f"{label}: operation {where} is not valid UTF-8") from exc
        lines = text.split("\n")
        lines.pop()
        for line in lines:
            count += 1
            try:
                op, end = scan(line, 0)
            except StopIteration:
                raise MalformedChangeSet(
                    f"{label}: operation {count} is not JSON ({line[:40]!r})"
                ) from None
            except _FloatFound as exc:
                raise MalformedChangeSet(
                    f"{label}: operation {count} holds the non-integer number {exc} "
                    "(amounts are integer fen)"
                ) from exc
            except (ValueError, RecursionError) as exc:  # JSONDecodeError, huge ints, depth
                raise MalformedChangeSet(f"{label}: operation {count} is not JSON ({exc})") from exc
            if end != len(line) or type(op) is not dict:
                raise MalformedChangeSet(
                    f"{label}: operation {count} is not exactly one JSON object"
                )
            yield op
    _check_totals(label, header, digest.hexdigest(), count, not pending)


# --- writing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrittenChangeSet:
    """A change-set file just published."""

    path: Path
    header: Header

    @property
    def id(self) -> str:
        return self.header.id


def _exact(obj: dict[Any, Any]) -> bool:
    """Tell whether JSON holds ``obj`` exactly: str keys; str, int, bool, None, list, dict.

    The fast path of every written operation: it allocates nothing; :func:`_inexact`
    finds the culprit when it says no.
    """
    for key in obj:
        if type(key) is not str:
            return False
    return _exact_list(obj.values())


def _exact_list(items: Iterable[Any]) -> bool:
    for item in items:
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if kind is dict:
            if not _exact(item):
                return False
        elif kind is list:
            if not _exact_list(item):
                return False
        else:
            return False
    return True


def _inexact(value: Any, where: str) -> str | None:
    """Return why JSON cannot hold ``value`` exactly, naming where; None if it can."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return None
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return f"{where} has a non-string key {key!r}"
            problem = _inexact(item, f"{where}.{key}")
            if problem is not None:
                return problem
        return None
    if kind is list:
        for index, item in enumerate(value):
            problem = _inexact(item, f"{where}[{index}]")
            if problem is not None:
                return problem
        return None
    if kind is float:
        return f"{where} is the float {value!r}; amounts are integer fen"
    return f"{where} is a {kind.__name__}, which JSON cannot hold exactly"


def _refusal(op: Any, number: int) -> str:
    where = f"operation {number}"
    if type(op) is not dict:
        return f"{where} is a {type(op).__name__}, not a dict"
    return _inexact(op, where) or f"{where} cannot be written"


class ChangeSetWriter:
    """Writes one change-set in bounded memory; publish it by leaving the ``with`` block.

    ::

        with ChangeSetWriter(outbox, signer, "410100", "appropriation", 7, prev,
                             clock=clock) as writer:
            writer.add_many(operations)
        writer.path, writer.id

    Operations are hashed and deflated into a temporary body file as they come. On a
    clean exit the header is completed, signed, and the file assembled under a temporary
    name, fsynced, renamed to its content-addressed name and the folder fsynced. On an
    exception nothing is published and the temporary files are removed. Invalid
    operations (floats, non-JSON values) raise :class:`InputError`; I/O failures raise
    :class:`HomeError`.
    """

    def __init__(
        self,
        out_dir: Path,
        signer: Signer,
        recipient: str,
        kind: str,
        seq: int,
        prev: str,
        clock: Clock,
        *,
        origin: str | None = None,
        level: int = COMPRESSION_LEVEL,
    ) -> None:
        origin = signer.code if origin is None else origin
        problem = _channel_problem(origin, recipient, kind, seq, prev)
        if problem is not None:
            raise InputError(f"cannot write change-set: {problem}")
        if origin != signer.code:
            raise InputError(
                f"cannot write change-set: origin {origin} is not the signer's code {signer.code}"
            )
        self._out_dir = out_dir
        self._signer = signer
        self._origin = origin
        self._recipient = recipient
        self._kind = kind
        self._seq = seq
        self._prev = prev
        self._clock = clock
        self._level = level
        self._digest = signer.suite.new_hash()
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
        self._crc = 0
        self._deflate_crc = 0
        self._size = 0
        self._count = 0
        self._lines: list[str] = []
        self._buffered = 0
        self._body: BinaryIO | None = None
        self._body_path: Path | None = None
        self._result: WrittenChangeSet | None = None

    def __enter__(self) -> ChangeSetWriter:
        if self._body is not None or self._result is not None:
            raise RuntimeError("a ChangeSetWriter can be entered only once")
        try:
            fd, name = tempfile.mkstemp(prefix=".body-", suffix=".tmp", dir=self._out_dir)
        except OSError as exc:
            raise HomeError(
                f"cannot write a change-set in {self._out_dir}: {exc.strerror or exc}"
            ) from exc
        self._body_path = Path(name)
        self._body = os.fdopen(fd, "w+b")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self._result = self._publish()
        finally:
            self._discard()

    def add(self, op: dict[str, Any]) -> None:
        """Append one operation (a JSON object: str keys; str, int, bool, None, lists, dicts).

        An operation JSON cannot hold exactly (a float, a datetime, a non-string key)
        raises :class:`InputError`; leave the ``with`` block with it, nothing is published.
        """
        self.add_many((op,))

    def add_many(self, ops: Iterable[dict[str, Any]]) -> None:
        """Append every operation of ``ops``, in order (see :meth:`add`)."""
        if self._body is None:
            raise RuntimeError("use ChangeSetWriter in a 'with' block")
        lines = self._lines
        exact = _exact
        encode = _encode_line
        count = self._count
        buffered = self._buffered
        try:
            for op in ops:
                if type(op) is not dict or not exact(op):
                    raise InputError(_refusal(op, count + 1))
                line = encode(op)
                lines.append(line)
                count += 1
                buffered += len(line)
                if buffered >= _WRITE_BUFFER:
                    self._count = count
                    self._flush()
                    buffered = 0
        except RecursionError:
            raise InputError(f"operation {count + 1} nests too deeply or contains itself") from None
        finally:
            self._count = count
            self._buffered = buffered

    def _flush(self) -> None:
        if not self._lines:
            return
        assert self._body is not None
        try:
            data = ("\n".join(self._lines) + "\n").encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InputError(f"an operation holds text that is not valid Unicode ({exc})") from exc
        self._lines.clear()
        self._buffered = 0
        self._digest.update(data)
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        self._write(self._compressor.compress(data))

    def _write(self, data: bytes) -> None:
        assert self._body is not None
        self._deflate_crc = zlib.crc32(data, self._deflate_crc)
        try:
            self._body.write(data)
        except OSError as exc:
            raise HomeError(f"cannot write the change-set body: {exc.strerror or exc}") from exc

    def _publish(self) -> WrittenChangeSet:
        assert self._body is not None
        self._flush()
        self._write(self._compressor.flush())
        signer = self._signer
        header = Header(
            origin=self._origin,
            recipient=self._recipient,
            kind=self._kind,
            seq=self._seq,
            prev=self._prev,
            created=self._clock.now(),
            count=self._count,
            body=f"{signer.suite.hash_name}:{self._digest.hexdigest()}",
            suite=signer.suite.name,
            signer=signer.fingerprint,
        )
        seal = Seal(signer.sign(signing_message(header)), signer.certificate_der)
        head = header.canonical() + b"\n" + canonical_json(seal.to_dict()) + b"\n"
        path = self._out_dir / header.filename
        try:
            with atomic_file(path, 0o644) as out:
                out.write(_gzip_member(head, self._level))
                out.write(MEMBER_PREFIX + _CRC.pack(self._deflate_crc))
                self._body.seek(0)
                shutil.copyfileobj(self._body, out, _WRITE_BUFFER)
                out.write(_TRAILER.pack(self._crc, self._size & 0xFFFFFFFF))
        except OSError as exc:
            raise HomeError(f"cannot publish {path}: {exc.strerror or exc}") from exc
        return WrittenChangeSet(path=path, header=header)

    def _discard(self) -> None:
        if self._body is not None:
            self._body.close()
        if self._body_path is not None:
            self._body_path.unlink(missing_ok=True)
        self._body = None
        self._body_path = None

    @property
    def result(self) -> WrittenChangeSet:
        if self._result is None:
            raise RuntimeError("the change-set is published when the 'with' block ends")
        return self._result

    @property
    def path(self) -> Path:
        return self.result.path

    @property
    def header(self) -> Header:
        return self.result.header

    @property
    def id(self) -> str:
        return self.result.header.id

    @property
    def count(self) -> int:
        """Operations added so far."""
        return self._count


def write_changeset(
    out_dir: Path,
    signer: Signer,
    recipient: str,
    kind: str,
    seq: int,
    prev: str,
    operations: Iterable[dict[str, Any]],
    clock: Clock,
    *,
    origin: str | None = None,
) -> WrittenChangeSet:
    """Write, sign and publish a change-set of ``operations``; see :class:`ChangeSetWriter`."""
    with ChangeSetWriter(
        out_dir, signer, recipient, kind, seq, prev, clock=clock, origin=origin
    ) as writer:
        writer.add_many(operations)
    return writer.result
