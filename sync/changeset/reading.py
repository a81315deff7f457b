"""Verifying and reading change-sets: :func:`verify`, :func:`read_header`,
:func:`iter_operations`, :func:`check_stored`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sync.certificates import Certificate, certificate_public_key
from sync.changeset.codec import MAX_OPERATION_BYTES, FloatFound, NotAnObject, decode_operation
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
            raise InputError(said("cs_from_stream", id=self.id))
        return iter_operations(self.path, expect_id=self.id)


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
) -> Verified:
    """Verify a change-set completely, cheapest checks first; return who signed it.

    Order: framing and header syntax, header signature, signer certificate (chained to
    the root, unrevoked, valid when the header says it was signed, code equal to the
    origin: :meth:`TrustStore.check_signer`), recipient, ``authorize(header, signer)`` (which raises
    :class:`NotAuthorized` to refuse), then one streaming pass over the body for its
    hash and count. With ``check_operations`` every operation is also decoded (no floats,
    objects only); otherwise that is left to :func:`iter_operations`. A file whose name
    is a change-set name must be named after its own header. Read-only; memory stays
    bounded.
    """
    with opened(source) as (stream, label, path):
        reader = Reader(stream, label)
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


def _check_body(reader: Reader, header: Header, label: str) -> None:
    digest = suite_of(header.suite).new_hash()
    count = 0
    last = b"\n"
    for chunk in reader.body():
        digest.update(chunk)
        count += chunk.count(b"\n")
        last = chunk[-1:]
    _check_totals(label, header, digest.hexdigest(), count, last == b"\n")


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
        yield from _operations(reader, header, label)


def _operations(reader: Reader, header: Header, label: str) -> Iterator[dict[str, Any]]:
    digest = suite_of(header.suite).new_hash()
    decode = decode_operation
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
                    _on(label, said("cs_op_too_long", index=count + 1, limit=MAX_OPERATION_BYTES))
                )
            continue
        pending = data[cut:]
        lines = data[:cut].split(b"\n")
        lines.pop()
        for line in lines:
            count += 1
            try:
                op = decode(line)
            except FloatFound as exc:
                raise MalformedChangeSet(
                    _on(label, said("cs_op_float", index=count, number=str(exc)))
                ) from exc
            except NotAnObject:
                raise MalformedChangeSet(
                    _on(label, said("cs_op_not_object", index=count))
                ) from None
            except ValueError as exc:  # not JSON, not UTF-8, huge ints, depth
                problem = (
                    said("cs_op_not_utf8", index=count)
                    if "UTF-8" in str(exc)
                    else said("cs_op_not_json", index=count, error=f"{exc}: {line[:40]!r}")
                )
                raise MalformedChangeSet(_on(label, problem)) from exc
            yield op
    _check_totals(label, header, digest.hexdigest(), count, not pending)
