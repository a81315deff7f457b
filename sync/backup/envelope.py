"""The encryption envelope of backups: AES-256-GCM (or SM4-GCM) objects under wrapped
data keys.

**Data keys.** Each backup draws a fresh 32-byte data key, named by a random 16-byte
key id. It is wrapped for every recipient (the node's own backup key and the
province's recovery key, :mod:`sync.backup.keys`) by X25519: an ephemeral key pair is
drawn, its shared secret with the recipient goes through HKDF-SHA256 (salt: the
ephemeral and the recipient public keys; info: :data:`WRAP_INFO`), and the data key is
sealed under the result with AES-256-GCM (the key id and the recipient's fingerprint as
associated data). In an SM2 network the recipients' keys are SM2, and the key id and
the data key are encrypted for each with SM2 public-key encryption (GB/T 32918.4); the
wrap says so (``"scheme": "sm2"``, no ephemeral key beside the ciphertext, whose ``C1``
is one). The manifest carries the wraps; the center, which holds neither private key,
cannot unwrap them.

**Objects.** A chunk of a backup is encrypted into one object::

    MAGIC (4) | key id (16) | salt (16) | segment 0 | segment 1 | ...

The object key is HKDF-SHA256(data key, salt, :data:`OBJECT_INFO`), unique to the
object. The plaintext is cut into segments of :data:`SEGMENT` bytes; segment *i* is
sealed with AES-256-GCM, nonce *i* (96-bit big-endian), associated data ``MAGIC | key
id | i | final`` where *final* is 1 for the last segment only, so a truncated,
reordered, spliced or extended object fails to decrypt. An object is named by the
hash of its bytes (SHA-256, or the hash its manifest names, :mod:`sync.backup.hashing`),
which anyone can check without a key (``backup verify --read-data`` at the center).

**Chunks** (format 2, what a backup seals since): one object key per data key,
HKDF-SHA256(data key, no salt, :data:`CHUNK_INFO`), derived once, and a random 96-bit
nonce per chunk::

    MAGIC2 (4) | key id (16) | nonce (12) | segment 0 | segment 1 | ...

Segment *i* is sealed under the nonce with *i* XORed into its last 8 bytes, associated
data ``MAGIC2 | key id | hash of the chunk's plaintext | i | final`` (32 bytes, under
the hash its manifest names: SHA-256 or BLAKE3). The plaintext hash is the one the
(sealed) index names, so a chunk opens only where the index
expects that very chunk: one swapped for another chunk of the same backup fails like a
tampered one, and a restore need not hash an object to trust its bytes. Random 96-bit
nonces under one key are safe far beyond the chunks one backup seals (a fresh data key
each backup; NIST SP 800-38D allows 2^32).

**Compressed chunks** (format 3, what a backup seals since, for every chunk that
compression shrinks, :mod:`sync.backup.compression`): format 2 with ``MAGIC3`` in the
header and the associated data, and the plaintext's Zstandard frame sealed in its place.
The hash bound in is still the plaintext's, so dedup, the index and the binding are as
in format 2; the frame names its size, which must be the size the index gives. A chunk
that does not shrink is sealed in format 2, which is also how older backups are read.

**Ciphers.** A network on the ``sm2`` suite (national commercial cryptography) seals
with SM4-GCM instead of AES-256-GCM everywhere above, with 16-byte keys derived by
HKDF-SM3: the data key carries its cipher, and the manifest records it
(:data:`CIPHERS`, :func:`cipher_for_suite`).

Foreign errors of ``cryptography`` are translated into :class:`BackupDamaged` or
:class:`KeyMaterialError`.
"""

from __future__ import annotations

import base64
import functools
import hmac
import os
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sync import sm2
from sync.backup import compression, hashing
from sync.backup.keys import BackupKey, PublicBackupKey, fingerprint, public_bytes
from sync.errors import InputError, KeyMaterialError
from sync.said import said

__all__ = [
    "AES_GCM",
    "CIPHERS",
    "SM4_GCM",
    "cipher_for_suite",
    "MAGIC",
    "MAGIC3",
    "SEGMENT",
    "SM2_WRAP",
    "X25519_WRAP",
    "BackupDamaged",
    "ChunkOpener",
    "ChunkSealer",
    "DataKey",
    "Wrap",
    "decrypt_object",
    "encrypt_object",
    "object_id",
    "open_chunk",
    "seal_chunk",
    "seal_chunk_into",
    "sealed_size",
    "unwrap",
]

MAGIC = b"FSB1"
MAGIC2 = b"FSB2"
MAGIC3 = b"FSB3"
BOUND = (MAGIC2, MAGIC3)
"""Magics of chunks bound to their plaintext hash: as it is, and compressed."""
SEGMENT = 1024 * 1024
WRAP_INFO = b"fiscalsync backup data key v1"
OBJECT_INFO = b"fiscalsync backup object v1"
CHUNK_INFO = b"fiscalsync backup chunk v2"
_TAG = 16
_HEADER = len(MAGIC) + 16 + 16
_HEADER2 = len(MAGIC2) + 16 + 12
_FLAGS = struct.Struct(">QB")


class BackupDamaged(InputError):
    """A backup object, manifest or index that fails its checks: tampered, truncated, from
    another node, or not decryptable with the key given."""

    exit_code = 11


def object_id(data: bytes | memoryview, hash_name: str = hashing.SHA256) -> str:
    """The name of an object: the hex hash of its bytes, under the hash its manifest
    names (:mod:`sync.backup.hashing`)."""
    return hashing.hexdigest(hash_name, data)


AES_GCM = "aes-256-gcm"
SM4_GCM = "sm4-gcm"
CIPHERS = (AES_GCM, SM4_GCM)
"""The ciphers a backup may be sealed with; AES-256-GCM unless its manifest names another."""


def cipher_for_suite(suite: str) -> str:
    """The backup cipher of a network on signature ``suite``: SM4-GCM for ``sm2``."""
    return SM4_GCM if suite == "sm2" else AES_GCM


class _SM4GCM:
    """SM4-GCM with the interface of :class:`AESGCM` (ciphertext followed by the tag)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def encrypt(self, nonce: bytes, data: bytes | memoryview, associated: bytes) -> bytes:
        encryptor = Cipher(algorithms.SM4(self._key), modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(associated)
        return encryptor.update(data) + encryptor.finalize() + encryptor.tag

    def decrypt(self, nonce: bytes, sealed: bytes | memoryview, associated: bytes) -> bytes:
        if len(sealed) < _TAG:
            raise InvalidTag()
        decryptor = Cipher(algorithms.SM4(self._key), modes.GCM(nonce)).decryptor()
        decryptor.authenticate_additional_data(associated)
        return decryptor.update(sealed[:-_TAG]) + decryptor.finalize_with_tag(bytes(sealed[-_TAG:]))


def _aead(cipher: str, secret: bytes, salt: bytes, info: bytes) -> AESGCM | _SM4GCM:
    """The sealing of ``cipher`` under a key derived from ``secret`` (HKDF)."""
    if cipher == SM4_GCM:
        return _SM4GCM(HKDF(hashes.SM3(), 16, salt, info).derive(secret))
    if cipher != AES_GCM:
        raise BackupDamaged(said("bk_unknown_cipher", cipher=repr(cipher)))
    return AESGCM(_hkdf(secret, salt, info))


def _hkdf(secret: bytes, salt: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 (RFC 5869) of 32 bytes: extract, then the one block of expand. Written
    with the standard library's HMAC, which gives the same bytes as ``cryptography``'s
    HKDF (a test compares them) at a fraction of the cost per object."""
    pseudorandom = hmac.digest(salt or bytes(32), secret, "sha256")
    return hmac.digest(pseudorandom, info + b"\x01", "sha256")


X25519_WRAP = "x25519"
SM2_WRAP = "sm2"
"""How a data key is wrapped: X25519 + HKDF + AEAD, or SM2 encryption (GB/T 32918.4)."""


@dataclass(frozen=True)
class Wrap:
    """A data key sealed for one recipient."""

    recipient: str
    ephemeral: bytes
    sealed: bytes
    scheme: str = X25519_WRAP

    def as_dict(self) -> dict[str, str]:
        found = {
            "recipient": self.recipient,
            "ephemeral": base64.b64encode(self.ephemeral).decode("ascii"),
            "sealed": base64.b64encode(self.sealed).decode("ascii"),
        }
        if self.scheme != X25519_WRAP:  # an X25519 wrap is written as it always was
            found["scheme"] = self.scheme
        return found

    @classmethod
    def from_dict(cls, data: Any) -> Wrap:
        try:
            scheme = str(data.get("scheme", X25519_WRAP))
            if scheme not in (X25519_WRAP, SM2_WRAP):
                raise ValueError(f"unknown scheme {scheme!r}")
            return cls(
                str(data["recipient"]),
                base64.b64decode(data["ephemeral"], validate=True),
                base64.b64decode(data["sealed"], validate=True),
                scheme,
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise BackupDamaged(said("bk_wrap_malformed", error=str(exc))) from exc


@dataclass(frozen=True)
class DataKey:
    """A data key and its id; :meth:`fresh` draws one from the operating system."""

    id: bytes
    secret: bytes
    cipher: str = AES_GCM

    @classmethod
    def fresh(cls, cipher: str = AES_GCM) -> DataKey:
        return cls(os.urandom(16), AESGCM.generate_key(bit_length=256), cipher)

    @property
    def name(self) -> str:
        return self.id.hex()

    def wrap(self, recipient: PublicBackupKey) -> Wrap:
        """Seal this key for ``recipient``: X25519 + HKDF + the key's cipher for an X25519
        key, SM2 encryption of the key id and the key for an SM2 one."""
        if isinstance(recipient, sm2.SM2PublicKey):
            sealed = recipient.encrypt(self.id + self.secret)
            return Wrap(fingerprint(recipient), b"", sealed, SM2_WRAP)
        ephemeral = X25519PrivateKey.generate()
        shared = ephemeral.exchange(recipient)
        mine = public_bytes(ephemeral.public_key())
        theirs = public_bytes(recipient)
        sealing = _aead(self.cipher, shared, mine + theirs, WRAP_INFO)
        who = fingerprint(recipient)
        sealed = sealing.encrypt(bytes(12), self.secret, self.id + who.encode("ascii"))
        return Wrap(who, mine, sealed)

    def wraps(self, recipients: Iterable[PublicBackupKey]) -> list[Wrap]:
        return [self.wrap(r) for r in recipients]


def unwrap(key_id: bytes, wraps: list[Wrap], key: BackupKey, cipher: str = AES_GCM) -> DataKey:
    """Open the wrap meant for ``key``; :class:`KeyMaterialError` if there is none or it
    does not open (a wrong key), :class:`BackupDamaged` if it was altered. ``cipher``
    is the one the manifest names."""
    mine = [w for w in wraps if w.recipient == key.fingerprint]
    if not mine:
        raise KeyMaterialError(
            said("bk_not_for_key", fingerprint=key.fingerprint[:16]),
            hint=said("bk_not_for_key_hint"),
        )
    wrap = mine[0]
    if isinstance(key.private, sm2.SM2PrivateKey):
        return _unwrap_sm2(key_id, wrap, key.private, cipher)
    if wrap.scheme != X25519_WRAP:
        raise BackupDamaged(said("bk_wrap_scheme", kind="X25519", scheme=wrap.scheme))
    try:
        ephemeral = X25519PublicKey.from_public_bytes(wrap.ephemeral)
        shared = key.private.exchange(ephemeral)
    except ValueError as exc:
        raise BackupDamaged(said("bk_wrap_malformed", error=str(exc))) from exc
    sealing = _aead(cipher, shared, wrap.ephemeral + public_bytes(key.public), WRAP_INFO)
    try:
        secret = sealing.decrypt(bytes(12), wrap.sealed, key_id + wrap.recipient.encode())
    except InvalidTag as exc:
        raise BackupDamaged(said("bk_wrap_altered")) from exc
    return DataKey(key_id, secret, cipher)


def _unwrap_sm2(key_id: bytes, wrap: Wrap, key: sm2.SM2PrivateKey, cipher: str) -> DataKey:
    if wrap.scheme != SM2_WRAP:
        raise BackupDamaged(said("bk_wrap_scheme", kind="SM2", scheme=wrap.scheme))
    try:
        opened = key.decrypt(wrap.sealed)
    except ValueError as exc:
        raise BackupDamaged(said("bk_wrap_altered")) from exc
    if len(opened) != len(key_id) + 32 or opened[: len(key_id)] != key_id:
        raise BackupDamaged(said("bk_wrap_other_key", key=key_id.hex()))
    return DataKey(key_id, opened[len(key_id) :], cipher)


def _aad(key_id: bytes, index: int, final: bool) -> bytes:
    return MAGIC + key_id + _FLAGS.pack(index, 1 if final else 0)


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


def encrypt_object(key: DataKey, plaintext: bytes | memoryview) -> bytes:
    """Seal one chunk into an object (see the module docstring)."""
    salt = os.urandom(16)
    aead = _aead(key.cipher, key.secret, salt, OBJECT_INFO)
    parts = [MAGIC, key.id, salt]
    view = memoryview(plaintext)
    count = max(1, -(-len(view) // SEGMENT))
    for index in range(count):
        segment = view[index * SEGMENT : (index + 1) * SEGMENT]
        final = index == count - 1
        parts.append(aead.encrypt(_nonce(index), bytes(segment), _aad(key.id, index, final)))
    return b"".join(parts)


def object_key_id(data: bytes | memoryview) -> bytes:
    """The key id an object names (BackupDamaged if it is not an object at all)."""
    magic = bytes(data[: len(MAGIC)])
    header = _HEADER2 if magic in BOUND else _HEADER
    if len(data) < header + _TAG or magic not in (MAGIC, *BOUND):
        raise BackupDamaged(said("bk_not_object"))
    return bytes(data[len(MAGIC) : len(MAGIC) + 16])


def is_bound(data: bytes | memoryview) -> bool:
    """Whether a sealed chunk is of format 2 or 3 (bound to its plaintext hash)."""
    return bytes(data[: len(MAGIC2)]) in BOUND


@functools.lru_cache(maxsize=64)
def _chunk_aead(cipher: str, secret: bytes) -> AESGCM | _SM4GCM:
    return _aead(cipher, secret, b"", CHUNK_INFO)


def _chunk_nonce(base: bytes, index: int) -> bytes:
    return base[:4] + (int.from_bytes(base[4:], "big") ^ index).to_bytes(8, "big")


def _chunk_aad(magic: bytes, key_id: bytes, digest: bytes, index: int, final: bool) -> bytes:
    return magic + key_id + digest + _FLAGS.pack(index, 1 if final else 0)


class _Nonces:
    """Random 96-bit nonces, drawn from the operating system a block at a time (one
    system call for thousands of chunks). A forked child forgets its parent's block (and
    its lock, which another thread may have held at the fork) at once, so it draws its
    own: it never seals with a nonce its parent seals with too."""

    BLOCK = 12 * 4096

    def __init__(self) -> None:
        self._forget()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._block = b""
        self._at = 0

    def draw(self) -> bytes:
        with self._lock:
            if self._at + 12 > len(self._block):
                self._block, self._at = os.urandom(self.BLOCK), 0
            self._at += 12
            return self._block[self._at - 12 : self._at]


_NONCES = _Nonces()
_ONLY = _FLAGS.pack(0, 1)
"""The flags of a chunk's one and final segment (most chunks are one segment)."""


def seal_chunk(
    key: DataKey, plaintext: bytes | memoryview, digest: bytes, *, compress: bool = True
) -> bytes:
    """Seal one chunk, bound to ``digest``, the hash of ``plaintext`` that the index
    names it by: compressed (format 3) when that shrinks it, else as it is (format 2);
    see the module docstring."""
    aead = _chunk_aead(key.cipher, key.secret)
    base = _NONCES.draw()
    squeezed = compression.squeeze(plaintext) if compress else None
    magic = MAGIC2 if squeezed is None else MAGIC3
    view = memoryview(plaintext if squeezed is None else squeezed)
    if len(view) <= SEGMENT:  # segment 0, final: the nonce is the base itself
        sealed = aead.encrypt(base, view, magic + key.id + digest + _ONLY)
        return b"".join((magic, key.id, base, sealed))
    parts = [magic, key.id, base]
    count = max(1, -(-len(view) // SEGMENT))
    for index in range(count):
        segment = view[index * SEGMENT : (index + 1) * SEGMENT]
        aad = _chunk_aad(magic, key.id, digest, index, index == count - 1)
        parts.append(aead.encrypt(_chunk_nonce(base, index), segment, aad))
    return b"".join(parts)


def sealed_size(plain: int) -> int:
    """The size of a chunk of ``plain`` bytes sealed as it is (format 2)."""
    return _HEADER2 + plain + _TAG * max(1, -(-plain // SEGMENT))


def seal_chunk_into(
    key: DataKey, plaintext: bytes | memoryview, digest: bytes, out: memoryview
) -> int:
    """Seal one chunk as it is (format 2, as :func:`seal_chunk` does uncompressed) into
    the start of ``out``, which holds at least :func:`sealed_size` bytes; the size
    written. No bytes are made but the nonce: the sealing is written in place."""
    aead = _chunk_aead(key.cipher, key.secret)
    if not hasattr(aead, "encrypt_into"):  # SM4-GCM, or cryptography before 47
        sealed = seal_chunk(key, plaintext, digest, compress=False)
        out[: len(sealed)] = sealed
        return len(sealed)
    base = _NONCES.draw()
    view = memoryview(plaintext)
    out[: len(MAGIC2)] = MAGIC2
    out[len(MAGIC2) : len(MAGIC2) + 16] = key.id
    out[len(MAGIC2) + 16 : _HEADER2] = base
    if len(view) <= SEGMENT:  # segment 0, final: the nonce is the base itself
        end = _HEADER2 + len(view) + _TAG
        aead.encrypt_into(base, view, MAGIC2 + key.id + digest + _ONLY, out[_HEADER2:end])
        return end
    at = _HEADER2
    count = -(-len(view) // SEGMENT)
    for index in range(count):
        segment = view[index * SEGMENT : (index + 1) * SEGMENT]
        aad = _chunk_aad(MAGIC2, key.id, digest, index, index == count - 1)
        end = at + len(segment) + _TAG
        aead.encrypt_into(_chunk_nonce(base, index), segment, aad, out[at:end])
        at = end
    return at


class ChunkSealer:
    """Seals many chunks of one data key as they are (format 2), each into its place in
    a pack, with what they all share worked out once: the sealing, the header's and the
    associated data's first bytes. Gives the bytes :func:`seal_chunk_into` gives."""

    def __init__(self, key: DataKey) -> None:
        self.key = key
        self.aead: Any = _chunk_aead(key.cipher, key.secret)  # AESGCM: encrypt_into
        self.head = MAGIC2 + key.id
        self.in_place = hasattr(self.aead, "encrypt_into")

    def seal_into(self, plaintext: memoryview, digest: bytes, out: memoryview) -> int:
        """Seal ``plaintext``, bound to ``digest``, at the start of ``out``, under a nonce
        of its own; the size written (:func:`sealed_size`). A chunk of several segments,
        or a sealing that cannot write in place, is sealed by :func:`seal_chunk_into`."""
        if not self.in_place or len(plaintext) > SEGMENT:
            return seal_chunk_into(self.key, plaintext, digest, out)
        nonce = _NONCES.draw()
        end = _HEADER2 + len(plaintext) + _TAG
        out[:20] = self.head
        out[20:_HEADER2] = nonce
        self.aead.encrypt_into(nonce, plaintext, self.head + digest + _ONLY, out[_HEADER2:end])
        return end


class ChunkOpener:
    """Opens the chunks of a backup sealed as they are in one segment (format 2, what
    the pages of a SQLite file are sealed as) straight into the caller's buffer, with
    the sealing of each data key worked out once. What it does not open so (another
    format, several segments, a cipher without in-place opening) it declines: the
    caller opens it with :func:`open_chunk`, which reads every format."""

    def __init__(self, keys: dict[bytes, DataKey]) -> None:
        self.sealings: dict[bytes, tuple[Any, bytes]] = {}
        for key_id, key in keys.items():
            aead = _chunk_aead(key.cipher, key.secret)
            if hasattr(aead, "decrypt_into"):
                self.sealings[key_id] = (aead, MAGIC2 + key_id)

    def open_into(
        self,
        data: bytes,
        view: memoryview,
        offset: int,
        length: int,
        digest: bytes,
        out: memoryview,
        name: str,
    ) -> bool:
        """Open the chunk sealed at ``offset`` (``length`` bytes) of the object ``data``
        (``view`` a view of it), whose plaintext hash is ``digest``, into ``out``, which
        is exactly its size; False (``out`` untouched) when declined, :class:`BackupDamaged`
        when it does not open as that very chunk."""
        if length != len(out) + _HEADER2 + _TAG or len(out) > SEGMENT:
            return False
        found = self.sealings.get(data[offset + 4 : offset + 20])
        if found is None or data[offset : offset + 4] != MAGIC2:
            return False
        aead, head = found
        try:
            aead.decrypt_into(
                data[offset + 20 : offset + _HEADER2],
                view[offset + _HEADER2 : offset + length],
                head + digest + _ONLY,
                out,
            )
        except InvalidTag as exc:
            raise _unopened(name, 0) from exc
        return True


def _unopened(name: str, index: int) -> BackupDamaged:
    return BackupDamaged(said("bk_chunk_fails", name=name[:16], index=index))


def open_chunk(
    keys: dict[bytes, DataKey], data: bytes | memoryview, name: str, digest: bytes, size: int
) -> bytes:
    """Open a sealed chunk of any format, of ``size`` bytes; a format-2 or 3 chunk only
    if it is the one whose plaintext hash is ``digest`` (a format-1 one is bound by its
    object's name, which the caller checks). The caller checks the size of what it gets."""
    if not is_bound(data):
        return decrypt_object(keys, bytes(data), name)
    opened = _open_bound(keys, data, name, digest)
    if bytes(data[: len(MAGIC3)]) != MAGIC3:
        return opened
    try:
        return compression.expand(opened, size)
    except ValueError as exc:
        raise BackupDamaged(said("bk_object_problem", name=name[:16], problem=exc.args[0])) from exc


def _open_bound(
    keys: dict[bytes, DataKey], data: bytes | memoryview, name: str, digest: bytes
) -> bytes:
    magic = bytes(data[: len(MAGIC2)])
    key_id = object_key_id(data)
    key = keys.get(key_id)
    if key is None:
        raise BackupDamaged(said("bk_unknown_key", name=name[:16]))
    aead = _chunk_aead(key.cipher, key.secret)
    base = bytes(data[len(MAGIC2) + 16 : _HEADER2])
    body = memoryview(data)[_HEADER2:]
    step = SEGMENT + _TAG
    if len(body) <= step:  # one segment, the final one
        try:
            return aead.decrypt(base, body, magic + key_id + digest + _ONLY)
        except InvalidTag as exc:
            raise _unopened(name, 0) from exc
    count = max(1, -(-len(body) // step))
    out = []
    for index in range(count):
        sealed = body[index * step : (index + 1) * step]
        aad = _chunk_aad(magic, key_id, digest, index, index == count - 1)
        try:
            out.append(aead.decrypt(_chunk_nonce(base, index), sealed, aad))
        except InvalidTag as exc:
            raise _unopened(name, index) from exc
    return out[0] if count == 1 else b"".join(out)


def decrypt_object(keys: dict[bytes, DataKey], data: bytes, name: str) -> bytes:
    """Open an object sealed under one of ``keys``; :class:`BackupDamaged` names what is
    wrong (truncated, altered, reordered, or under an unknown key)."""
    key_id = object_key_id(data)
    key = keys.get(key_id)
    if key is None:
        raise BackupDamaged(said("bk_unknown_key", name=name[:16]))
    salt = data[len(MAGIC) + 16 : _HEADER]
    aead = _aead(key.cipher, key.secret, salt, OBJECT_INFO)
    body = memoryview(data)[_HEADER:]
    step = SEGMENT + _TAG
    count = max(1, -(-len(body) // step))
    out = []
    for index in range(count):
        sealed = bytes(body[index * step : (index + 1) * step])
        try:
            out.append(aead.decrypt(_nonce(index), sealed, _aad(key_id, index, index == count - 1)))
        except InvalidTag as exc:
            raise BackupDamaged(said("bk_segment_fails", name=name[:16], index=index)) from exc
    return b"".join(out)
