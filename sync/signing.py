"""Signature suites: how change-set headers are signed and how their bodies are hashed.

A :class:`SignatureSuite` bundles a signature algorithm with the hash of a network: the
hash of change-set bodies and ids and of certificate fingerprints. It also makes and
reads the suite's keys and signs the province's X.509 structures (certificates, signing
requests, revocation lists), so that :mod:`sync.pki`, :mod:`sync.revocation` and
:mod:`sync.trust` never name an algorithm. A network has one suite, chosen when its
root CA is made (``pki init-root --suite``): the root certificate's key tells which
(:func:`suite_of_certificate`), and every change-set header names it. Two suites are
registered: :class:`Ed25519Suite` (``ed25519``: Ed25519 with SHA-256) and the national
commercial cryptography suite (``sm2``: SM2 with SM3, :mod:`sync.national`).

This module also owns :func:`canonical_json`, the RFC 8785 canonical form of whatever
gets signed or hashed, so that the ``rfc8785`` library is imported in one place.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import Any, Protocol

import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from sync.errors import KeyMaterialError, SignatureInvalid
from sync.said import said

__all__ = [
    "DEFAULT_SUITE",
    "Ed25519Suite",
    "Hasher",
    "SignatureSuite",
    "canonical_json",
    "get_suite",
    "register_suite",
    "registered_suites",
    "suite_of_certificate",
]

DEFAULT_SUITE = "ed25519"


class Hasher(Protocol):
    """The part of a :mod:`hashlib` hash object that fiscalsync uses."""

    @property
    def name(self) -> str: ...

    @property
    def digest_size(self) -> int: ...

    def update(self, data: bytes | bytearray, /) -> None: ...

    def digest(self) -> bytes: ...

    def hexdigest(self) -> str: ...


class SignatureSuite(ABC):
    """A signature algorithm plus the hash that change-set bodies are checked with.

    Keys are opaque objects to the callers: a suite makes them, signs with them and
    verifies with them. Every method is pure (no I/O, no state) and thread-safe.
    """

    name: str
    """The name written in change-set headers, e.g. ``"ed25519"``."""

    hash_name: str
    """The body hash's name, written as the prefix of the header's ``body`` field."""

    @abstractmethod
    def generate_private_key(self) -> Any:
        """Return a fresh private key drawn from the operating system's CSPRNG."""

    @abstractmethod
    def public_key_of(self, private_key: Any) -> Any:
        """Return the public half of ``private_key``.

        Raises :class:`KeyMaterialError` if the key does not belong to this suite.
        """

    @abstractmethod
    def sign(self, private_key: Any, message: bytes) -> bytes:
        """Return the signature of ``message``.

        Raises :class:`KeyMaterialError` if the key does not belong to this suite.
        """

    @abstractmethod
    def verify(self, public_key: Any, signature: bytes, message: bytes) -> None:
        """Return if ``signature`` is a valid signature of ``message``, else raise.

        Raises :class:`SignatureInvalid` (one line, naming the suite) when the signature
        does not verify or the key does not belong to this suite; never anything else.
        """

    @abstractmethod
    def new_hash(self) -> Hasher:
        """Return a new, empty hash object of this suite's body hash."""

    def digest(self, data: bytes) -> str:
        """The 64-hex-digit digest of change-set ids and certificate fingerprints.

        The file format fixes it at 32 bytes whatever the body hash; SHA-256 unless the
        suite says otherwise (the SM2 suite uses SM3).
        """
        return hashlib.sha256(data).hexdigest()

    def digest_bytes(self, data: bytes) -> bytes:
        """The 32 bytes of :meth:`digest` (a suite may compute them faster)."""
        return bytes.fromhex(self.digest(data))

    # --- keys and the province's X.509 structures ------------------------------------

    @abstractmethod
    def private_key_pem(self, private_key: Any, passphrase: bytes | None = None) -> bytes:
        """The PEM of ``private_key``, encrypted under ``passphrase`` when given."""

    @abstractmethod
    def load_private_key_pem(self, data: bytes, passphrase: bytes | None = None) -> Any:
        """The private key of a PEM made by :meth:`private_key_pem`.

        Raises :class:`KeyMaterialError` for anything else (another suite's key, a wrong
        passphrase, a damaged file).
        """

    @abstractmethod
    def public_bytes(self, public_key: Any) -> bytes:
        """The raw bytes of a public key of this suite, to compare two keys."""

    @abstractmethod
    def owns(self, cert: x509.Certificate) -> bool:
        """Whether ``cert`` holds a public key of this suite."""

    @abstractmethod
    def certificate_public_key(self, cert: x509.Certificate) -> Any:
        """The public key ``cert`` holds; :class:`KeyMaterialError` if not of this suite."""

    @abstractmethod
    def key_identifier(self, public_key: Any) -> bytes:
        """The subject (and authority) key identifier of a public key of this suite."""

    @abstractmethod
    def sign_certificate(
        self,
        builder: x509.CertificateBuilder,
        issuer_key: Any,
        subject_key: Any = None,
    ) -> x509.Certificate:
        """Sign ``builder`` with the issuer's private key of this suite.

        ``subject_key`` is the certified public key when it is of this suite (the
        builder must then hold none); otherwise the builder holds it already.
        """

    @abstractmethod
    def sign_request(
        self, builder: x509.CertificateSigningRequestBuilder, private_key: Any
    ) -> x509.CertificateSigningRequest:
        """A signing request for ``private_key``'s public half, signed with it."""

    @abstractmethod
    def request_public_key(self, csr: x509.CertificateSigningRequest) -> Any:
        """The key a request asks to certify, once its own signature verifies.

        Raises :class:`KeyMaterialError` if it holds another suite's key or its
        signature does not verify.
        """

    @abstractmethod
    def sign_revocation_list(
        self, builder: x509.CertificateRevocationListBuilder, issuer_key: Any
    ) -> x509.CertificateRevocationList:
        """Sign a revocation list with the issuer's private key."""

    def signs(self, public_key: Any, signature: bytes, message: bytes) -> bool:
        """Whether ``signature`` verifies (:meth:`verify` as a truth value)."""
        try:
            self.verify(public_key, signature, message)
        except SignatureInvalid:
            return False
        return True


class Ed25519Suite(SignatureSuite):
    """Ed25519 signatures (RFC 8032) with SHA-256 body hashes."""

    name = "ed25519"
    hash_name = "sha256"

    def generate_private_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.generate()

    def public_key_of(self, private_key: Any) -> Ed25519PublicKey:
        return self._private(private_key).public_key()

    def sign(self, private_key: Any, message: bytes) -> bytes:
        return self._private(private_key).sign(message)

    def verify(self, public_key: Any, signature: bytes, message: bytes) -> None:
        if not isinstance(public_key, Ed25519PublicKey):
            raise SignatureInvalid(
                said("sig_key_type", type=type(public_key).__name__, suite="ed25519")
            )
        try:
            public_key.verify(signature, message)
        except InvalidSignature as exc:
            raise SignatureInvalid(said("sig_fails", suite="ed25519")) from exc

    def new_hash(self) -> Hasher:
        return hashlib.sha256()

    def private_key_pem(self, private_key: Any, passphrase: bytes | None = None) -> bytes:
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        return self._private(private_key).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def load_private_key_pem(self, data: bytes, passphrase: bytes | None = None) -> Any:
        try:
            key = serialization.load_pem_private_key(data, passphrase)
        except (TypeError, ValueError, UnsupportedAlgorithm) as exc:
            raise KeyMaterialError(said("private_key_unreadable", error=str(exc))) from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyMaterialError(said("not_suite_key", suite="ed25519"))
        return key

    def public_bytes(self, public_key: Any) -> bytes:
        if not isinstance(public_key, Ed25519PublicKey):
            raise KeyMaterialError(
                said("key_not_suite", type=type(public_key).__name__, suite="ed25519")
            )
        return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def owns(self, cert: x509.Certificate) -> bool:
        try:
            return isinstance(cert.public_key(), Ed25519PublicKey)
        except (ValueError, UnsupportedAlgorithm):
            return False

    def certificate_public_key(self, cert: x509.Certificate) -> Ed25519PublicKey:
        try:
            key = cert.public_key()
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise KeyMaterialError(
                said("cert_not_suite_because", suite="ed25519", error=str(exc))
            ) from exc
        if not isinstance(key, Ed25519PublicKey):
            raise KeyMaterialError(said("cert_not_suite", suite="ed25519"))
        return key

    def key_identifier(self, public_key: Any) -> bytes:
        return x509.SubjectKeyIdentifier.from_public_key(public_key).digest

    def sign_certificate(
        self,
        builder: x509.CertificateBuilder,
        issuer_key: Any,
        subject_key: Any = None,
    ) -> x509.Certificate:
        if subject_key is not None:
            builder = builder.public_key(subject_key)
        return builder.sign(self._private(issuer_key), None)

    def sign_request(
        self, builder: x509.CertificateSigningRequestBuilder, private_key: Any
    ) -> x509.CertificateSigningRequest:
        return builder.sign(self._private(private_key), None)

    def request_public_key(self, csr: x509.CertificateSigningRequest) -> Ed25519PublicKey:
        try:
            public = csr.public_key()
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise KeyMaterialError(
                said("csr_not_suite_because", suite="ed25519", error=str(exc))
            ) from exc
        if not isinstance(public, Ed25519PublicKey):
            raise KeyMaterialError(said("csr_not_suite", suite="ed25519"))
        if not csr.is_signature_valid:
            raise KeyMaterialError(said("csr_signature_fails"))
        return public

    def sign_revocation_list(
        self, builder: x509.CertificateRevocationListBuilder, issuer_key: Any
    ) -> x509.CertificateRevocationList:
        return builder.sign(self._private(issuer_key), None)

    def _private(self, private_key: Any) -> Ed25519PrivateKey:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise KeyMaterialError(
                said("cannot_sign_with", type=type(private_key).__name__, suite="ed25519")
            )
        return private_key


_SUITES: dict[str, SignatureSuite] = {}


def register_suite(suite: SignatureSuite) -> None:
    """Make ``suite`` available under ``suite.name``; registering a name twice is refused.

    Re-registering the very same object is a no-op, so importing a plug-in twice is safe.
    """
    existing = _SUITES.get(suite.name)
    if existing is suite:
        return
    if existing is not None:
        raise KeyMaterialError(f"signature suite {suite.name!r} is already registered")
    if not suite.name or not suite.hash_name or ":" in suite.hash_name:
        raise KeyMaterialError(f"signature suite {suite.name!r} has an unusable name or hash")
    _SUITES[suite.name] = suite


def get_suite(name: str) -> SignatureSuite:
    """Return the suite registered as ``name``; unknown names raise :class:`KeyMaterialError`."""
    try:
        return _SUITES[name]
    except KeyError:
        known = ", ".join(sorted(_SUITES))
        raise KeyMaterialError(
            said("suite_unknown", name=repr(name), known=known), hint=said("suite_unknown_hint")
        ) from None


def registered_suites() -> tuple[str, ...]:
    """Return the names of the registered suites, sorted."""
    return tuple(sorted(_SUITES))


def suite_of_certificate(cert: x509.Certificate) -> SignatureSuite:
    """The suite whose key ``cert`` holds: the suite of the network a root belongs to.

    Raises :class:`KeyMaterialError` when no registered suite owns the key.
    """
    for name in sorted(_SUITES):
        if _SUITES[name].owns(cert):
            return _SUITES[name]
    raise KeyMaterialError(said("cert_no_suite", known=", ".join(sorted(_SUITES))))


def canonical_json(value: Any) -> bytes:
    """Return the RFC 8785 (JSON Canonicalization Scheme) UTF-8 bytes of ``value``.

    Raises ``ValueError`` for values JSON cannot hold exactly (integers beyond 2**53,
    NaN, non-string keys).
    """
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise ValueError(str(exc)) from exc


register_suite(Ed25519Suite())

# The national commercial cryptography suite registers itself on import.
from sync import national  # noqa: E402, F401
