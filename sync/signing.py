"""Signature suites: how change-set headers are signed and how their bodies are hashed.

A :class:`SignatureSuite` bundles a signature algorithm with the hash used for change-set
bodies. Suites are registered by name, and a change-set header names its suite, so a
national-cryptography suite (SM2 signatures over SM3 hashes) can be added beside
:class:`Ed25519Suite` without changing the file format: it registers itself under a new
name and its body hashes are written as ``"sm3:<hex>"`` instead of ``"sha256:<hex>"``.

This module also owns :func:`canonical_json`, the RFC 8785 canonical form of whatever
gets signed or hashed, so that the ``rfc8785`` library is imported in one place.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import Any, Protocol

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from sync.errors import KeyMaterialError, SignatureInvalid

__all__ = [
    "DEFAULT_SUITE",
    "Ed25519Suite",
    "Hasher",
    "SignatureSuite",
    "canonical_json",
    "get_suite",
    "register_suite",
    "registered_suites",
]

DEFAULT_SUITE = "ed25519"


class Hasher(Protocol):
    """The part of a :mod:`hashlib` hash object that fiscalsync uses."""

    @property
    def name(self) -> str: ...

    @property
    def digest_size(self) -> int: ...

    def update(self, data: bytes, /) -> None: ...

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
                f"the signer's key is a {type(public_key).__name__}, not an ed25519 key"
            )
        try:
            public_key.verify(signature, message)
        except InvalidSignature as exc:
            raise SignatureInvalid("ed25519 signature does not verify") from exc

    def new_hash(self) -> Hasher:
        return hashlib.sha256()

    def _private(self, private_key: Any) -> Ed25519PrivateKey:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise KeyMaterialError(
                f"a {type(private_key).__name__} cannot sign with the ed25519 suite"
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
            f"unknown signature suite {name!r} (known: {known})",
            hint="upgrade fiscalsync on this node to one that knows this suite",
        ) from None


def registered_suites() -> tuple[str, ...]:
    """Return the names of the registered suites, sorted."""
    return tuple(sorted(_SUITES))


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
