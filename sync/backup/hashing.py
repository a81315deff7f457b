"""The hashes that name what a backup holds: each chunk by its plaintext (what dedup and
the AEAD binding use) and each object by its bytes (what the keeper checks without keys).

A manifest names its hash (``"hash": "blake3"``); one that names none is SHA-256, which
every backup took before BLAKE3. Both give 32 bytes, so the formats of the index, the
objects and the AEAD's associated data are the same under either: only the function
differs. BLAKE3 (the ``blake3`` library, the only module that imports it) is what a
backup takes once the keeper checks it: it hashes 318 MB in 16 KiB chunks in 0.09 s
of CPU where SHA-256 (with the CPU's SHA instructions) takes 0.20 s, and in 8 MiB packs
in 0.07 s where SHA-256 takes 0.19 s (``tests/bench/bench_backup_hashing.py``); a
backup hashes its bytes twice (plaintext, then sealed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import BinaryIO, Protocol

import blake3

__all__ = ["BLAKE3", "CURRENT", "HASHES", "SHA256", "digester", "file_hexdigest", "hexdigest"]

SHA256 = "sha256"
BLAKE3 = "blake3"
HASHES = (SHA256, BLAKE3)
"""The hashes a manifest may name."""
CURRENT = BLAKE3
"""What a backup takes once its keeper offers it (:func:`nodes.backups.blake3_offered`),
a chain of SHA-256 too (its next backup ships everything anew); SHA-256 before."""

_READ = 1024 * 1024

Buffer = bytes | bytearray | memoryview


class _Hasher(Protocol):
    """What a hash object of ``hashlib`` and of ``blake3`` both do."""

    def update(self, data: Buffer, /) -> object: ...
    def digest(self) -> bytes: ...
    def hexdigest(self) -> str: ...


_NEW: dict[str, Callable[[Buffer], _Hasher]] = {SHA256: hashlib.sha256, BLAKE3: blake3.blake3}


def _new(name: str) -> Callable[[Buffer], _Hasher]:
    try:
        return _NEW[name]
    except KeyError:
        raise ValueError(f"unknown hash {name!r}") from None


def digester(name: str) -> Callable[[Buffer], bytes]:
    """The 32-byte digest function of hash ``name`` (:data:`HASHES`); ``ValueError``
    for any other."""
    new = _new(name)

    def digest(data: Buffer) -> bytes:
        return new(data).digest()

    return digest


def hexdigest(name: str, data: Buffer) -> str:
    """The hex digest of ``data`` under hash ``name``."""
    return digester(name)(data).hex()


def file_hexdigest(name: str, stream: BinaryIO) -> str:
    """The hex digest under hash ``name`` of what is left to read of ``stream``, read in
    bounded memory."""
    digest = _new(name)(b"")
    for block in iter(lambda: stream.read(_READ), b""):
        digest.update(block)
    return digest.hexdigest()
