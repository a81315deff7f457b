"""The national commercial cryptography suite (商用密码, GB/T 39786): SM2 with SM3.

:class:`SM2Suite` (``sm2``) signs with SM2 (GB/T 32918, :mod:`sync.sm2`) under the
default identifier ``1234567812345678`` and hashes with SM3 (GB/T 32905): change-set
bodies (``"sm3:<hex>"``), change-set ids and certificate fingerprints. Backups of such a
network are sealed with SM4-GCM (GB/T 32907, :mod:`sync.backup.envelope`).

**Certificates.** The province's certificates, signing requests and revocation lists
stay X.509 (RFC 5280) in the GM/T 0015 profile: the public key is an id-ecPublicKey on
the SM2 curve (OID 1.2.156.10197.1.301), the signature algorithm SM2-with-SM3
(1.2.156.10197.1.501), the signature a DER ``SEQUENCE { r, s }``, and they carry the
very fields, extensions and identity binding of the Ed25519 network's. ``cryptography``
parses them but can neither encode an SM2 key nor sign with SM2, so this suite lets it
build each structure with a placeholder key, puts the SM2 key and algorithm in place of
the placeholder's in the to-be-signed part (:mod:`sync.der`), signs that with SM2 and
has ``cryptography`` parse the result. Key identifiers are the first 20 bytes of the
SM3 hash of the public key (RFC 7093 method 1, with SM3 for SHA-256).

OpenSSL verifies them given the identifier (``openssl verify -vfyopt
distid:1234567812345678 -CAfile ca.crt node.crt``). Its ``-check_ss_sig`` refuses the
root's self-signature all the same, as it refuses a root OpenSSL itself signs under that
identifier: the option does not reach the trust store's copy of the root, whose
self-signature it checks under an empty identifier.

**Key files** are PKCS#8 PEM (``PRIVATE KEY``). ``cryptography`` cannot encrypt an SM2
key, so a passphrase-protected one (the root CA's) is written as ``FISCALSYNC ENCRYPTED
SM2 PRIVATE KEY``: scrypt (N=2**15, r=8, p=1) of the passphrase keys SM4-GCM over the
PKCS#8 DER, with a fresh 16-byte salt and 12-byte nonce.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sync import der, sm2
from sync.errors import KeyMaterialError, SignatureInvalid
from sync.said import said
from sync.signing import Hasher, SignatureSuite, register_suite

__all__ = ["SM2Suite", "SM3Hash", "sm3"]

_PLAIN_LABEL = "PRIVATE KEY"
_SEALED_LABEL = "FISCALSYNC ENCRYPTED SM2 PRIVATE KEY"
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.S)
_Parsed = TypeVar("_Parsed")
_SCRYPT = {"n": 2**15, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024}


class SM3Hash:
    """An SM3 hash object with the :class:`~sync.signing.Hasher` interface."""

    name = "sm3"
    digest_size = 32

    def __init__(self, data: bytes = b"") -> None:
        self._hash = hashes.Hash(hashes.SM3())
        if data:
            self._hash.update(data)

    def update(self, data: bytes | bytearray, /) -> None:
        self._hash.update(data)

    def digest(self) -> bytes:
        return self._hash.copy().finalize()

    def hexdigest(self) -> str:
        return self.digest().hex()


def sm3(data: bytes) -> bytes:
    """The SM3 digest of ``data``."""
    hashed = hashes.Hash(hashes.SM3())
    hashed.update(data)
    return hashed.finalize()


def _pem(label: str, body: bytes) -> bytes:
    text = base64.b64encode(body).decode("ascii")
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return (
        "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n"
    ).encode()


def _sm4_gcm(key: bytes, nonce: bytes) -> Cipher[modes.GCM]:
    return Cipher(algorithms.SM4(key), modes.GCM(nonce))


def _passphrase_key(passphrase: bytes, salt: bytes) -> bytes:
    return hashlib.scrypt(passphrase, salt=salt, dklen=16, **_SCRYPT)


@cache
def _placeholder() -> Ed25519PrivateKey:
    """The key ``cryptography`` builds with before the SM2 key takes its place."""
    return Ed25519PrivateKey.generate()


def _tbs_offset(parts: list[bytes]) -> int:
    """1 when a certificate's to-be-signed part starts with its ``[0]`` version."""
    return 1 if parts and parts[0][:1] == b"\xa0" else 0


def _signed(tbs: bytes, key: sm2.SM2PrivateKey) -> bytes:
    """``SEQUENCE { tbs, SM2-with-SM3, BIT STRING signature }``."""
    return der.sequence(tbs, sm2.algorithm_identifier(), der.bit_string(key.sign(tbs)))


class SM2Suite(SignatureSuite):
    """SM2 signatures (GB/T 32918, default identifier) with SM3 hashes (GB/T 32905)."""

    name = "sm2"
    hash_name = "sm3"

    def generate_private_key(self) -> sm2.SM2PrivateKey:
        return sm2.generate()

    def public_key_of(self, private_key: Any) -> sm2.SM2PublicKey:
        return self._private(private_key).public

    def sign(self, private_key: Any, message: bytes) -> bytes:
        return self._private(private_key).sign(message)

    def verify(self, public_key: Any, signature: bytes, message: bytes) -> None:
        if not isinstance(public_key, sm2.SM2PublicKey):
            raise SignatureInvalid(
                said("sig_key_type", type=type(public_key).__name__, suite="sm2")
            )
        if not public_key.verify(signature, message):
            raise SignatureInvalid(said("sig_fails", suite="sm2"))

    def new_hash(self) -> Hasher:
        return SM3Hash()

    def digest(self, data: bytes) -> str:
        return sm3(data).hex()

    def digest_bytes(self, data: bytes) -> bytes:
        return sm3(data)

    def private_key_pem(self, private_key: Any, passphrase: bytes | None = None) -> bytes:
        plain = sm2.private_key_der(self._private(private_key))
        if not passphrase:
            return _pem(_PLAIN_LABEL, plain)
        salt, nonce = os.urandom(16), os.urandom(12)
        encryptor = _sm4_gcm(_passphrase_key(passphrase, salt), nonce).encryptor()
        sealed = encryptor.update(plain) + encryptor.finalize() + encryptor.tag
        return _pem(_SEALED_LABEL, salt + nonce + sealed)

    def load_private_key_pem(self, data: bytes, passphrase: bytes | None = None) -> Any:
        match = _PEM.search(data)
        if match is None:
            raise KeyMaterialError(said("not_pem_key"))
        label = match[1].decode("ascii")
        try:
            body = base64.b64decode(b"".join(match[2].split()), validate=True)
        except ValueError as exc:
            raise KeyMaterialError(said("pem_not_base64")) from exc
        if label == _SEALED_LABEL:
            if not passphrase:
                raise KeyMaterialError(said("key_needs_passphrase"))
            if len(body) < 16 + 12 + 16:
                raise KeyMaterialError(said("sm2_key_too_short"))
            salt, nonce, sealed = body[:16], body[16:28], body[28:]
            decryptor = _sm4_gcm(_passphrase_key(passphrase, salt), nonce).decryptor()
            try:
                body = decryptor.update(sealed[:-16]) + decryptor.finalize_with_tag(sealed[-16:])
            except InvalidTag as exc:
                raise KeyMaterialError(said("sm2_wrong_passphrase")) from exc
        elif label != _PLAIN_LABEL:
            raise KeyMaterialError(said("pem_other_label", label=label))
        try:
            return sm2.private_key_from_der(body)
        except ValueError as exc:
            raise KeyMaterialError(said("not_sm2_key", error=str(exc))) from exc

    def public_bytes(self, public_key: Any) -> bytes:
        if not isinstance(public_key, sm2.SM2PublicKey):
            raise KeyMaterialError(
                said("key_not_suite", type=type(public_key).__name__, suite="sm2")
            )
        return public_key.point

    def owns(self, cert: x509.Certificate) -> bool:
        try:
            self.certificate_public_key(cert)
        except KeyMaterialError:
            return False
        return True

    def certificate_public_key(self, cert: x509.Certificate) -> sm2.SM2PublicKey:
        try:
            parts = der.elements(der.unwrap(cert.tbs_certificate_bytes, der.SEQUENCE))
            return sm2.public_key_from_info(parts[_tbs_offset(parts) + 5])
        except (ValueError, IndexError) as exc:
            raise KeyMaterialError(said("cert_not_suite", suite="sm2")) from exc

    def key_identifier(self, public_key: Any) -> bytes:
        return sm3(self.public_bytes(public_key))[:20]

    def sign_certificate(
        self,
        builder: x509.CertificateBuilder,
        issuer_key: Any,
        subject_key: Any = None,
    ) -> x509.Certificate:
        key = self._private(issuer_key)
        if subject_key is not None:
            builder = builder.public_key(_placeholder().public_key())
        draft = builder.sign(_placeholder(), None)
        parts = der.elements(der.unwrap(draft.tbs_certificate_bytes, der.SEQUENCE))
        at = _tbs_offset(parts)
        parts[at + 1] = sm2.algorithm_identifier()
        if subject_key is not None:
            if not isinstance(subject_key, sm2.SM2PublicKey):
                raise KeyMaterialError(
                    said("key_not_suite", type=type(subject_key).__name__, suite="sm2")
                )
            parts[at + 5] = subject_key.info()
        return self._parse(x509.load_der_x509_certificate, _signed(der.sequence(*parts), key))

    def sign_request(
        self, builder: x509.CertificateSigningRequestBuilder, private_key: Any
    ) -> x509.CertificateSigningRequest:
        key = self._private(private_key)
        draft = builder.sign(_placeholder(), None)
        parts = der.elements(der.unwrap(draft.tbs_certrequest_bytes, der.SEQUENCE))
        parts[2] = key.public.info()
        return self._parse(x509.load_der_x509_csr, _signed(der.sequence(*parts), key))

    def request_public_key(self, csr: x509.CertificateSigningRequest) -> sm2.SM2PublicKey:
        try:
            parts = der.elements(der.unwrap(csr.tbs_certrequest_bytes, der.SEQUENCE))
            public = sm2.public_key_from_info(parts[2])
        except (ValueError, IndexError) as exc:
            raise KeyMaterialError(said("csr_not_suite", suite="sm2")) from exc
        if csr.signature_algorithm_oid.dotted_string != sm2.SM2_WITH_SM3_OID or not (
            public.verify(csr.signature, csr.tbs_certrequest_bytes)
        ):
            raise KeyMaterialError(said("csr_signature_fails"))
        return public

    def sign_revocation_list(
        self, builder: x509.CertificateRevocationListBuilder, issuer_key: Any
    ) -> x509.CertificateRevocationList:
        key = self._private(issuer_key)
        draft = builder.sign(_placeholder(), None)
        parts = der.elements(der.unwrap(draft.tbs_certlist_bytes, der.SEQUENCE))
        at = 1 if parts and parts[0][:1] == bytes([der.INTEGER]) else 0
        parts[at] = sm2.algorithm_identifier()
        return self._parse(x509.load_der_x509_crl, _signed(der.sequence(*parts), key))

    def _parse(self, load: Callable[[bytes], _Parsed], data: bytes) -> _Parsed:
        try:
            return load(data)
        except ValueError as exc:  # pragma: no cover - what we just built parses
            raise KeyMaterialError(said("signed_unreadable", error=str(exc))) from exc

    def _private(self, private_key: Any) -> sm2.SM2PrivateKey:
        if not isinstance(private_key, sm2.SM2PrivateKey):
            raise KeyMaterialError(
                said("cannot_sign_with", type=type(private_key).__name__, suite="sm2")
            )
        return private_key


register_suite(SM2Suite())
