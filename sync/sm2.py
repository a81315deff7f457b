"""SM2 keys and signatures (GB/T 32918), through ``gmalglib``: the only module importing it.

A signature is over ``SM3(Z_A || message)``, where ``Z_A`` hashes the signer's
distinguishing identifier with the curve and its public key (GB/T 32918.2 §5.5); the
identifier is the standard's default ``1234567812345678`` (GM/T 0009) unless the
caller names another. Signatures are written as DER ``SEQUENCE { r, s }`` (GM/T 0009),
public keys as the uncompressed point ``04 || x || y`` and, in certificates, as an
X.509 ``SubjectPublicKeyInfo`` of algorithm id-ecPublicKey on the SM2 curve (GM/T 0015).
Private keys are stored as PKCS#8 of the same algorithm holding an RFC 5915
``ECPrivateKey``.

**Encryption** (GB/T 32918.4) seals a short secret for a public key: the ciphertext is
``C1 || C3 || C2`` (the ephemeral point uncompressed, the SM3 check value, the masked
message), the order of the 2016 standard, which OpenSSL's ``pkeyutl -decrypt`` reads
once written as GM/T 0009's ``SEQUENCE { x, y, C3, C2 }``.

``gmalglib`` is a C implementation (measured in ``tests/bench/bench_suite.py``). Its
errors (``ValueError`` and the like on malformed keys) are translated here into
``ValueError`` with our own words; a signature that does not verify is ``False``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gmalglib.sm2 import SM2, SM2_DEFAULT_UID

from sync import der

__all__ = [
    "DEFAULT_ID",
    "EC_PUBLIC_KEY_OID",
    "SM2_CURVE_OID",
    "SM2_WITH_SM3_OID",
    "SM2PrivateKey",
    "SM2PublicKey",
    "algorithm_identifier",
    "generate",
    "private_key_der",
    "private_key_from_der",
    "public_key_from_info",
]

DEFAULT_ID = bytes(SM2_DEFAULT_UID)
"""The default distinguishing identifier, ``1234567812345678`` (GM/T 0009)."""
EC_PUBLIC_KEY_OID = "1.2.840.10045.2.1"
SM2_CURVE_OID = "1.2.156.10197.1.301"
SM2_WITH_SM3_OID = "1.2.156.10197.1.501"

_ALGORITHM = der.sequence(der.oid(EC_PUBLIC_KEY_OID), der.oid(SM2_CURVE_OID))
_POINT_SIZE = 65
_CHECK_SIZE = 32


@dataclass(frozen=True)
class SM2PublicKey:
    """An SM2 public key: the uncompressed curve point ``04 || x || y``."""

    point: bytes
    _verifier: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.point) != _POINT_SIZE or not SM2.is_pk_valid(self.point):
            raise ValueError("not a point of the SM2 curve")
        # Z_A of the default identifier is computed once, with the key.
        object.__setattr__(self, "_verifier", SM2(pk=self.point))

    def verify(self, signature: bytes, message: bytes, uid: bytes = DEFAULT_ID) -> bool:
        """Whether ``signature`` (DER) signs ``message`` for this key and ``uid``."""
        try:
            pair = der.elements(der.unwrap(signature, der.SEQUENCE))
            if len(pair) != 2:
                return False
            r, s = (der.read_integer(part) for part in pair)
        except ValueError:
            return False
        if r.bit_length() > 256 or s.bit_length() > 256:
            return False
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        verifier = self._verifier if uid == DEFAULT_ID else SM2(pk=self.point, uid=uid)
        return bool(verifier.verify(message, raw))

    def info(self) -> bytes:
        """The DER ``SubjectPublicKeyInfo`` of this key (GM/T 0015)."""
        return der.sequence(_ALGORITHM, der.bit_string(self.point))

    def encrypt(self, message: bytes) -> bytes:
        """``message`` encrypted for this key (GB/T 32918.4): ``C1 || C3 || C2``."""
        if not message:
            raise ValueError("SM2 encrypts a message of at least one byte")
        return bytes(SM2(pk=self.point).encrypt(message))


@dataclass(frozen=True)
class SM2PrivateKey:
    """An SM2 private key (the 32-byte scalar ``d``) with its public half."""

    secret: bytes = field(repr=False)
    public: SM2PublicKey = field(init=False)
    _signer: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.secret) != 32 or not SM2.is_sk_valid(self.secret):
            raise ValueError("not an SM2 private key")
        object.__setattr__(self, "public", SM2PublicKey(SM2.get_pk(self.secret)))
        object.__setattr__(self, "_signer", SM2(self.secret))

    def sign(
        self,
        message: bytes,
        uid: bytes = DEFAULT_ID,
        *,
        random: Callable[[int], bytes] | None = None,
    ) -> bytes:
        """The DER signature of ``message`` under ``uid``.

        ``random`` replaces the CSPRNG that draws the per-signature ``k`` (only for the
        standard's worked example; ``gmalglib`` reads its bytes little-endian).
        """
        if random is not None:
            signer = SM2(self.secret, uid=uid, rnd_fn=random)
        else:
            signer = self._signer if uid == DEFAULT_ID else SM2(self.secret, uid=uid)
        raw = signer.sign(message)
        r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        return der.sequence(der.integer(r), der.integer(s))

    def decrypt(self, ciphertext: bytes) -> bytes:
        """The message of a ``C1 || C3 || C2`` ciphertext for this key; ``ValueError`` if
        it is malformed, altered, or for another key (its check value differs)."""
        if len(ciphertext) <= _POINT_SIZE + _CHECK_SIZE or ciphertext[:1] != b"\x04":
            raise ValueError("not an SM2 ciphertext (too short, or not C1 || C3 || C2)")
        try:
            return bytes(self._signer.decrypt(ciphertext))
        except (ValueError, MemoryError) as exc:
            raise ValueError("the SM2 ciphertext does not decrypt with this key") from exc


def generate() -> SM2PrivateKey:
    """A fresh key pair from the operating system's CSPRNG (``gmalglib``'s default)."""
    secret, _public = SM2().generate_keypair()
    return SM2PrivateKey(bytes(secret))


def algorithm_identifier() -> bytes:
    """The DER ``AlgorithmIdentifier`` of SM2-with-SM3 signatures (no parameters)."""
    return der.sequence(der.oid(SM2_WITH_SM3_OID))


def public_key_from_info(info: bytes) -> SM2PublicKey:
    """The SM2 key of a DER ``SubjectPublicKeyInfo``; ``ValueError`` if it holds another."""
    parts = der.elements(der.unwrap(info, der.SEQUENCE))
    if len(parts) != 2 or parts[0] != _ALGORITHM:
        raise ValueError("not an SM2 public key")
    bits = der.unwrap(parts[1], der.BIT_STRING)
    if bits[:1] != b"\x00":
        raise ValueError("an SM2 public key of a partial byte")
    return SM2PublicKey(bits[1:])


def private_key_der(key: SM2PrivateKey) -> bytes:
    """The PKCS#8 DER of ``key`` (RFC 5208 holding an RFC 5915 ``ECPrivateKey``)."""
    inner = der.sequence(
        der.integer(1),
        der.element(der.OCTET_STRING, key.secret),
        der.element(0xA1, der.bit_string(key.public.point)),
    )
    return der.sequence(der.integer(0), _ALGORITHM, der.element(der.OCTET_STRING, inner))


def private_key_from_der(data: bytes) -> SM2PrivateKey:
    """The key of a PKCS#8 DER made by :func:`private_key_der`; ``ValueError`` otherwise."""
    parts = der.elements(der.unwrap(data, der.SEQUENCE))
    if len(parts) < 3 or der.read_integer(parts[0]) != 0 or parts[1] != _ALGORITHM:
        raise ValueError("not a PKCS#8 SM2 private key")
    inner = der.elements(der.unwrap(der.unwrap(parts[2], der.OCTET_STRING), der.SEQUENCE))
    if len(inner) < 2 or der.read_integer(inner[0]) != 1:
        raise ValueError("not an SM2 ECPrivateKey")
    key = SM2PrivateKey(der.unwrap(inner[1], der.OCTET_STRING))
    for extra in inner[2:]:
        if extra[:1] == b"\xa1" and der.unwrap(der.unwrap(extra, 0xA1), der.BIT_STRING)[1:] != (
            key.public.point
        ):
            raise ValueError("the key file's public key is not that of its private key")
    return key
