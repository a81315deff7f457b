"""Writing change-sets: :class:`ChangeSetWriter` streams operations into a signed file that
appears whole or not at all."""

from __future__ import annotations

import os
import shutil
import tempfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from sync.changeset.codec import encode_line
from sync.changeset.framing import (
    COMPRESSION_LEVEL,
    CRC,
    MEMBER_PREFIX,
    TRAILER,
    WRITE_BUFFER,
    gzip_member,
    remember_written,
)
from sync.changeset.header import Header, Seal, channel_problem, signing_message
from sync.clock import Clock
from sync.errors import (
    HomeError,
    InputError,
)
from sync.files import atomic_file
from sync.pki import Signer
from sync.said import said
from sync.signing import canonical_json

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


def encoded_operation(op: dict[str, Any], number: int) -> bytes:
    """Operation ``number`` (counted from 1) as the line a change-set holds, without its
    newline; :class:`InputError` naming it if JSON cannot hold it exactly (a float, a
    non-string key, text that is not Unicode, an integer past 64 bits, a cycle)."""
    try:
        if type(op) is not dict or not _exact(op):
            raise InputError(_refusal(op, number))
        return encode_line(op)
    except TypeError as exc:  # text that is not valid Unicode, an int past 64 bits
        problem = (
            "holds text that is not valid Unicode"
            if "UTF-8" in str(exc)
            else f"cannot be written ({exc}; integers are at most 64 bits)"
        )
        raise InputError(f"operation {number} {problem}") from exc
    except RecursionError:
        raise InputError(f"operation {number} nests too deeply or contains itself") from None


@dataclass(frozen=True)
class Encoded:
    """Operations already made into lines by :func:`encoded_operation` (each without its
    newline), for a writer to take as they are: a caller that kept the lines it checked
    (in a scratch file, say) does not decode and check them again."""

    lines: Iterable[bytes]


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
    :class:`HomeError`; a clock outside the signer's certificate validity (a slow clock,
    an expired certificate) raises :class:`KeyMaterialError`, since every recipient
    would refuse the change-set.
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
        epoch: str | None = None,
    ) -> None:
        origin = signer.code if origin is None else origin
        problem = channel_problem(origin, recipient, kind, seq, prev)
        if problem is not None:
            raise InputError(said("cs_unwritable", problem=problem))
        if origin != signer.code:
            raise InputError(
                said(
                    "cs_unwritable",
                    problem=said("cs_origin_not_signer", origin=origin, signer=signer.code),
                )
            )
        signer.require_valid(clock.now())
        self._out_dir = out_dir
        self._signer = signer
        self._origin = origin
        self._recipient = recipient
        self._kind = kind
        self._seq = seq
        self._prev = prev
        self._clock = clock
        self._level = level
        self._epoch = epoch
        self._digest = signer.suite.new_hash()
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
        self._crc = 0
        self._deflate_crc = 0
        self._size = 0
        self._count = 0
        self._buffer = bytearray()  # encoded lines, each copied in and let go at once
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
                said("cs_cannot_write_in", folder=self._out_dir, error=exc.strerror or exc)
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

    def add_many(self, ops: Iterable[dict[str, Any]] | Encoded) -> None:
        """Append every operation of ``ops``, in order (see :meth:`add`); operations
        :class:`Encoded` already are taken as they are."""
        if self._body is None:
            raise RuntimeError("use ChangeSetWriter in a 'with' block")
        if isinstance(ops, Encoded):
            self._add_lines(ops.lines)
            return
        count = self._count
        self._add_lines(encoded_operation(op, number) for number, op in enumerate(ops, count + 1))

    def _add_lines(self, lines: Iterable[bytes]) -> None:
        buffer = self._buffer
        count = self._count
        try:
            for line in lines:
                # the encoder's bytes hold spare capacity: copied into one buffer and
                # dropped, a line costs its length, not a page
                buffer += line
                buffer += b"\n"
                count += 1
                if len(buffer) >= WRITE_BUFFER:
                    self._count = count
                    self._flush()
        finally:
            self._count = count

    def _flush(self) -> None:
        data = self._buffer
        if not data:
            return
        assert self._body is not None
        self._digest.update(data)
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        self._write(self._compressor.compress(data))
        data.clear()

    def _write(self, data: bytes) -> None:
        assert self._body is not None
        self._deflate_crc = zlib.crc32(data, self._deflate_crc)
        try:
            self._body.write(data)
        except OSError as exc:
            raise HomeError(said("cs_cannot_write_body", error=exc.strerror or exc)) from exc

    def _publish(self) -> WrittenChangeSet:
        assert self._body is not None
        self._flush()
        self._write(self._compressor.flush())
        signer = self._signer
        created = self._clock.now()
        signer.require_valid(created)
        header = Header(
            origin=self._origin,
            recipient=self._recipient,
            kind=self._kind,
            seq=self._seq,
            prev=self._prev,
            created=created,
            count=self._count,
            body=f"{signer.suite.hash_name}:{self._digest.hexdigest()}",
            suite=signer.suite.name,
            signer=signer.fingerprint,
            epoch=self._epoch,
        )
        seal = Seal(signer.sign(signing_message(header)), signer.certificate_der)
        head = header.canonical() + b"\n" + canonical_json(seal.to_dict()) + b"\n"
        path = self._out_dir / header.filename
        try:
            with atomic_file(path, 0o644) as out:
                out.write(gzip_member(head, self._level))
                out.write(MEMBER_PREFIX + CRC.pack(self._deflate_crc))
                self._body.seek(0)
                shutil.copyfileobj(self._body, out, WRITE_BUFFER)
                out.write(TRAILER.pack(self._crc, self._size & 0xFFFFFFFF))
        except OSError as exc:
            raise HomeError(
                said("cs_cannot_publish", path=path, error=exc.strerror or exc)
            ) from exc
        remember_written(header)
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
    operations: Iterable[dict[str, Any]] | Encoded,
    clock: Clock,
    *,
    origin: str | None = None,
    epoch: str | None = None,
) -> WrittenChangeSet:
    """Write, sign and publish a change-set of ``operations``; see :class:`ChangeSetWriter`."""
    with ChangeSetWriter(
        out_dir, signer, recipient, kind, seq, prev, clock=clock, origin=origin, epoch=epoch
    ) as writer:
        writer.add_many(operations)
    return writer.result
