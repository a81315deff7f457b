"""X.509 certificates of the province's PKI, read and checked: what a node's certificate
says (its code and role, in its subject and in a private extension that must agree), its
public key, its fingerprint, and whether it was signed by the root.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PublicKey,
)
from cryptography.x509.oid import NameOID

from sync.errors import (
    FiscalsyncError,
    KeyMaterialError,
)
from sync.signing import canonical_json

__all__ = [
    "certificate_pem",
    "name_attribute",
    "raw_public_key",
    "Certificate",
    "IDENTITY_OID",
    "ORGANIZATION",
    "ROLES",
    "ROOT_CN_PREFIX",
    "certificate_fingerprint",
    "certificate_identity",
    "certificate_public_key",
    "check_root",
    "ed25519_public",
    "is_ca_certificate",
    "is_node_code",
    "parse_certificate",
    "signed_by",
    "subject_code",
    "utc_text",
]

Certificate = x509.Certificate

ROLES = ("province", "city", "county", "center")
ORGANIZATION = "fiscalsync"
IDENTITY_OID = x509.ObjectIdentifier("1.3.6.1.4.1.61131.1.1")
ROOT_CN_PREFIX = "fiscalsync root CA "


_NODE_CODE = re.compile(r"[0-9A-Za-z]+(?:-[0-9A-Za-z]+)*")
_NODE_CODE_MAX = 32


def is_node_code(code: object) -> bool:
    """Tell whether ``code`` is a usable node code: ``410000``, ``410000-dc``; never ``_``."""
    return (
        isinstance(code, str)
        and len(code) <= _NODE_CODE_MAX
        and _NODE_CODE.fullmatch(code) is not None
    )


# --- certificates -------------------------------------------------------------------------


def parse_certificate(data: bytes) -> x509.Certificate:
    """Parse a certificate given as PEM or DER; raise :class:`KeyMaterialError` otherwise."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise KeyMaterialError(f"not a readable X.509 certificate ({exc})") from exc


def certificate_public_key(cert: x509.Certificate) -> Any:
    """Return the certificate's public key; KeyMaterialError if its type is unsupported."""
    try:
        return cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyMaterialError(
            f"certificate of {subject_code(cert)} holds an unsupported key ({exc})"
        ) from exc


def certificate_fingerprint(cert: x509.Certificate) -> str:
    """Return the SHA-256 hex digest of the certificate's DER encoding."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def certificate_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def utc_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def name_attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1 or not isinstance(values[0].value, str):
        return None
    return values[0].value


def subject_code(cert: x509.Certificate) -> str:
    """Return the certificate's CN for messages, or a placeholder when it has none."""
    code = name_attribute(cert.subject, NameOID.COMMON_NAME)
    return code if code is not None else "(no common name)"


def is_ca_certificate(cert: x509.Certificate) -> bool:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca


def certificate_identity(cert: x509.Certificate, error: type[FiscalsyncError]) -> tuple[str, str]:
    """Return ``(code, role)`` bound by a node certificate, or raise ``error``.

    Subject CN and OU, the organisation and the private extension must all agree.
    """
    code = name_attribute(cert.subject, NameOID.COMMON_NAME)
    role = name_attribute(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    org = name_attribute(cert.subject, NameOID.ORGANIZATION_NAME)
    who = f"certificate of {code}" if code else "certificate"
    if not is_node_code(code):
        raise error(f"{who} does not name a node code in its subject CN")
    if org != ORGANIZATION:
        raise error(f"{who} is not a fiscalsync certificate (O={org})")
    if role not in ROLES:
        raise error(f"{who} has no known role in its subject OU (OU={role})")
    try:
        ext = cert.extensions.get_extension_for_oid(IDENTITY_OID)
    except x509.ExtensionNotFound:
        raise error(
            f"{who} lacks the fiscalsync identity extension {IDENTITY_OID.dotted_string}"
        ) from None
    except ValueError as exc:  # duplicate extensions
        raise error(f"{who} has unreadable extensions ({exc})") from exc
    value = ext.value
    if not isinstance(value, x509.UnrecognizedExtension):
        raise error(f"{who} has an unreadable identity extension")
    try:
        bound = json.loads(value.value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise error(f"{who} has an identity extension that is not JSON") from exc
    if bound != {"code": code, "role": role} or value.value != canonical_json(bound):
        raise error(
            f"{who} has an identity extension {value.value.decode('utf-8', 'replace')} "
            f"that does not match its subject (code {code}, role {role})"
        )
    assert code is not None and role is not None  # for mypy: checked above
    return code, role


def ed25519_public(cert: x509.Certificate, error: type[FiscalsyncError]) -> Ed25519PublicKey:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise error(f"certificate of {subject_code(cert)} has an unreadable key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise error(f"certificate of {subject_code(cert)} does not hold an ed25519 key")
    return key


def signed_by(cert: x509.Certificate, issuer_key: Ed25519PublicKey) -> bool:
    try:
        issuer_key.verify(cert.signature, cert.tbs_certificate_bytes)
    except InvalidSignature:
        return False
    return True


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def check_root(cert: x509.Certificate) -> Ed25519PublicKey:
    key = ed25519_public(cert, KeyMaterialError)
    if not is_ca_certificate(cert) or cert.issuer != cert.subject or not signed_by(cert, key):
        raise KeyMaterialError(
            f"{cert.subject.rfc4514_string()} is not a self-signed CA certificate",
            hint="use the province's ca.crt",
        )
    return key
