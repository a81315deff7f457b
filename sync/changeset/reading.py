"""Verifying and reading change-sets: :func:`verify`, :func:`read_header`,
:func:`iter_operations`, :func:`check_stored`."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO

from sync.certificates import Certificate, certificate_public_key
from sync.changeset.codec import (
    MAX_OPERATION_BYTES,
    FloatFound,
    NotAnObject,
    decode_operation,
    decode_operations,
)
from sync.changeset.framing import Reader, opened
from sync.changeset.header import (
    ChangeSetName,
    Header,
    Seal,
    parse_filename,
    signing_message,
    suite_of,
)
from sync.errors import (
    CertificateRejected,
    InputError,
    IntegrityError,
    KeyMaterialError,
    MalformedChangeSet,
    NotAuthorized,
    SignatureInvalid,
    WrongRecipient,
)
from sync.said import Said, said
from sync.trust import SignerInfo, TrustStore

# --- reading ------------------------------------------------------------------------------


HELD_LIMIT = 16 * 1024 * 1024
"""Most body bytes (decompressed) that :func:`verify` holds for the apply (``hold``): about
70,000 appropriations (a change-set is typically a few MB). A larger body is read from
the file again."""


@dataclass(frozen=True)
class Held:
    """The body :func:`verify` hashed and counted, kept for the apply, and the SHA-256 and
    size of the file it came from (to tell that the file is still the one verified; its
    bytes are not kept: deflate lets a body of a few bytes fill a file of any size)."""

    label: str
    file_sha256: bytes
    file_size: int
    body: list[bytes]


@dataclass(frozen=True)
class Verified:
    """A change-set that passed :func:`verify`: who sent it, and where it is."""

    header: Header
    id: str
    signer: SignerInfo
    path: Path | None
    held: Held | None = field(default=None, repr=False, compare=False)

    def operations(self) -> Iterator[dict[str, Any]]:
        """Stream the operations, failing at the end if the file changed since it was verified.

        A body held by :func:`verify` is decoded from memory (not inflated and hashed a
        second time) while the file is the one verified (its size and SHA-256, which verify
        took as it read it): it is hashed again before the first operation and after the
        last. A file changed before is read as without a held body (the same refusals, at
        the same operation); a file changed during is read again at the end, to refuse it
        as that read would.
        """
        if self.path is None:
            raise InputError(said("cs_from_stream", id=self.id))
        if self.held is None or not _unchanged(self.path, self.held):
            return iter_operations(self.path, expect_id=self.id)
        return chain.from_iterable(_held_operations(self.path, self.id, self.held))


def _small_body(stream: BinaryIO) -> bool:
    """Whether the file's last 4 bytes (the body's size, modulo 2**32, if it is a
    change-set) say at most :data:`HELD_LIMIT`: a hint, so that a larger body is not
    gathered only to be let go; the limit is kept while the body is read, whatever it said."""
    try:
        size = os.fstat(stream.fileno()).st_size
        end = os.pread(stream.fileno(), 4, size - 4) if size >= 4 else b""
    except (OSError, ValueError):
        return False
    return len(end) == 4 and int.from_bytes(end, "little") <= HELD_LIMIT


_HASH_READ = 256 * 1024
"""Bytes of a file hashed at a time by :func:`_unchanged`."""


def _unchanged(path: Path, held: Held) -> bool:
    """Whether ``path`` holds the file ``held`` came from: its size and SHA-256 (a file
    that cannot be read does not). Hashed in bounded memory, whatever its size."""
    digest = hashlib.sha256()
    try:
        with path.open("rb", buffering=0) as stream:
            if os.fstat(stream.fileno()).st_size != held.file_size:
                return False
            size = 0
            while chunk := stream.read(_HASH_READ):
                size += len(chunk)
                if size > held.file_size:
                    return False
                digest.update(chunk)
    except OSError:
        return False
    return size == held.file_size and digest.digest() == held.file_sha256


def _held_operations(path: Path, expect_id: str, held: Held) -> Iterator[list[dict[str, Any]]]:
    yield from _decoded(held.body, held.label)
    if not _unchanged(path, held):
        for _op in iter_operations(path, expect_id=expect_id):
            pass


def read_header(source: Path | BinaryIO) -> tuple[Header, Seal]:
    """Return the header and seal of a change-set without verifying anything (``inspect``)."""
    with opened(source) as (stream, label, _):
        header, seal, _line = Reader(stream, label).head()
        return header, seal


def verify(
    source: Path | BinaryIO,
    trust: TrustStore,
    *,
    recipient: str,
    authorize: Callable[[Header, SignerInfo], None] | None = None,
    check_operations: bool = False,
    hold: bool = False,
) -> Verified:
    """Verify a change-set completely, cheapest checks first; return who signed it.

    Order: framing and header syntax, header signature, signer certificate (chained to
    the root, unrevoked, valid when the header says it was signed, code equal to the
    origin: :meth:`TrustStore.check_signer`), recipient, ``authorize(header, signer)`` (which raises
    :class:`NotAuthorized` to refuse), then one streaming pass over the body for its
    hash and count. With ``check_operations`` every operation is also decoded (no floats,
    objects only); otherwise that is left to :func:`iter_operations`. A file whose name
    is a change-set name must be named after its own header. Read-only; memory stays
    bounded: with ``hold`` (for an apply that follows, and without ``check_operations``) a
    body of up to :data:`HELD_LIMIT` bytes is kept, with the file's size and SHA-256 (never
    its bytes), so that :meth:`Verified.operations` decodes it without inflating and
    hashing it again; a larger one is not.
    """
    with opened(source) as (stream, label, path):
        reader = Reader(stream, label)
        if hold and not check_operations and path is not None and _small_body(stream):
            reader.digest = hashlib.sha256()
        header, seal, _line = reader.head()
        if path is not None:
            _check_name(label, header)
        cert = _check_seal(label, header, seal)
        try:
            signer = trust.check_signer(cert, signed_at=header.created)
        except CertificateRejected as exc:  # of its kind (one not begun yet waits)
            raise type(exc)(_on(label, exc.message), hint=exc.hint) from exc
        if signer.code != header.origin:
            raise CertificateRejected(
                _on(label, said("cs_signer_not_origin", signer=signer.code, origin=header.origin))
            )
        if header.recipient != recipient:
            raise WrongRecipient(
                _on(label, said("cs_wrong_recipient", recipient=header.recipient, me=recipient))
            )
        if authorize is not None:
            try:
                authorize(header, signer)
            except NotAuthorized as exc:
                raise NotAuthorized(_on(label, exc.message), hint=exc.hint) from exc
        if check_operations:
            for _ops in _checked_operations(reader, header, label):
                pass
            return Verified(header=header, id=header.id, signer=signer, path=path)
        body = _check_body(reader, header, label, keep=reader.digest is not None)
        held = None
        if body is not None and reader.digest is not None:
            held = Held(label, reader.digest.digest(), reader.size, body)
        return Verified(header=header, id=header.id, signer=signer, path=path, held=held)


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
    with opened(path) as (stream, label, _path):
        reader = Reader(stream, label)
        header, seal, _line = reader.head()
        if header.id != expect_id:
            raise IntegrityError(
                _on(label, said("cs_other_header", found=header.id[:16], expected=expect_id[:16]))
            )
        if signature:
            _check_seal(label, header, seal)
        _check_body(reader, header, label)
        return header


def _check_seal(label: str, header: Header, seal: Seal) -> Certificate:
    """Verify the header signature under the embedded certificate; return the certificate."""
    if seal.fingerprint != header.signer:
        raise SignatureInvalid(
            _on(
                label,
                said("cs_seal_not_signer", seal=seal.fingerprint[:16], signer=header.signer[:16]),
            )
        )
    try:
        cert = seal.certificate()
    except KeyMaterialError as exc:
        raise MalformedChangeSet(_on(label, said("cs_embedded_cert", error=exc.message))) from exc
    try:
        public_key = certificate_public_key(cert)
        suite_of(header.suite).verify(public_key, seal.signature, signing_message(header))
    except KeyMaterialError as exc:
        raise SignatureInvalid(_on(label, said("cs_key_unusable", error=exc.message))) from exc
    except SignatureInvalid as exc:
        raise SignatureInvalid(_on(label, said("cs_signature_fails", error=exc.message))) from exc
    return cert


def _on(label: str, what: str) -> Said:
    """``what`` said of the change-set file ``label``: ``LABEL: what``."""
    return said("labelled", label=label, what=what)


def _check_name(label: str, header: Header) -> None:
    try:
        name = parse_filename(label)
    except MalformedChangeSet:
        return  # a temporary or quarantine name: nothing to compare
    expected = ChangeSetName(header.origin, header.recipient, header.seq, header.id)
    if name != expected:
        raise MalformedChangeSet(_on(label, said("cs_name_mismatch", expected=header.filename)))


def _check_body(
    reader: Reader, header: Header, label: str, *, keep: bool = False
) -> list[bytes] | None:
    """Check the body's hash and count; with ``keep``, return its chunks if they add up
    to at most :data:`HELD_LIMIT` bytes (else None, as without ``keep``)."""
    digest = suite_of(header.suite).new_hash()
    count = 0
    last = b"\n"
    kept: list[bytes] | None = [] if keep else None
    size = 0
    for chunk in reader.body():
        digest.update(chunk)
        count += chunk.count(b"\n")
        last = chunk[-1:]
        if kept is not None:
            size += len(chunk)
            if size > HELD_LIMIT:
                kept = reader.digest = None
            else:
                kept.append(chunk)
    _check_totals(label, header, digest.hexdigest(), count, last == b"\n")
    return kept


def _check_totals(label: str, header: Header, digest: str, count: int, complete: bool) -> None:
    if digest != header.body_digest:
        raise IntegrityError(_on(label, said("cs_body_hash")))
    if not complete:
        raise IntegrityError(_on(label, said("cs_no_end_of_line")))
    if count != header.count:
        raise IntegrityError(_on(label, said("cs_count", count=count, header=header.count)))


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
    with opened(source) as (stream, label, _path):
        reader = Reader(stream, label)
        header, _seal, _line = reader.head()
        if expect_id is not None and header.id != expect_id:
            raise IntegrityError(_on(label, said("cs_replaced", expected=expect_id)))
        for ops in _checked_operations(reader, header, label):
            yield from ops


def _checked_operations(
    reader: Reader, header: Header, label: str
) -> Iterator[list[dict[str, Any]]]:
    """The operations of the body, a list at a time; then its hash and count checked."""
    digest = suite_of(header.suite).new_hash()

    def hashed() -> Iterator[bytes]:
        for chunk in reader.body():
            digest.update(chunk)
            yield chunk

    count, complete = yield from _decoded(hashed(), label)
    _check_totals(label, header, digest.hexdigest(), count, complete)


_RUN = 64
"""Operations decoded at a time: few enough that their dicts are still in the processor's
cache when the apply takes them (measured: a run of 4,500 costs 0.5 µs more per operation)."""


def _decoded(
    chunks: Iterable[bytes], label: str
) -> Generator[list[dict[str, Any]], None, tuple[int, bool]]:
    """Decode a body given in chunks cut anywhere: yield the operations of each run of
    :data:`_RUN` whole lines as a list; return how many lines there were and whether the last one
    ended. A bad line raises after the operations before it were yielded."""
    count = 0
    pending = b""
    for chunk in chunks:
        lines = (pending + chunk if pending else chunk).split(b"\n")
        pending = lines.pop()
        if not lines:
            if len(pending) > MAX_OPERATION_BYTES:
                raise MalformedChangeSet(
                    _on(label, said("cs_op_too_long", index=count + 1, limit=MAX_OPERATION_BYTES))
                )
            continue
        for start in range(0, len(lines), _RUN):
            run = lines[start : start + _RUN]
            ops = decode_operations(run)
            if ops is None:  # some line fails: find it, after the operations before it
                ops = []
                try:
                    _decode_each(run, count + start, label, ops)
                except MalformedChangeSet:
                    yield ops
                    raise
            yield ops
        count += len(lines)
    return count, not pending


def _decode_each(lines: list[bytes], before: int, label: str, ops: list[dict[str, Any]]) -> None:
    """Decode ``lines`` one by one into ``ops``; raise for the first that fails."""
    count = before
    for line in lines:
        count += 1
        try:
            op = decode_operation(line)
        except FloatFound as exc:
            raise MalformedChangeSet(
                _on(label, said("cs_op_float", index=count, number=str(exc)))
            ) from exc
        except NotAnObject:
            raise MalformedChangeSet(_on(label, said("cs_op_not_object", index=count))) from None
        except ValueError as exc:  # not JSON, not UTF-8, huge ints, depth
            problem = (
                said("cs_op_not_utf8", index=count)
                if "UTF-8" in str(exc)
                else said("cs_op_not_json", index=count, error=f"{exc}: {line[:40]!r}")
            )
            raise MalformedChangeSet(_on(label, problem)) from exc
        ops.append(op)
