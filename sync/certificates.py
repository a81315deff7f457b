"""X.509 certificates of the province's PKI, read and checked: what a node's certificate
says (its code and role, in its subject and in a private extension that must agree), its
public key, its fingerprint, and whether it was signed by the root.

Keys, signatures and fingerprints go through the network's signature suite, which the
certificate's own key names (:func:`~sync.signing.suite_of_certificate`): Ed25519 with
SHA-256 fingerprints, or SM2 with SM3 fingerprints.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from sync.errors import (
    FiscalsyncError,
    KeyMaterialError,
)
from sync.said import said
from sync.signing import SignatureSuite, canonical_json, suite_of_certificate

__all__ = [
    "certificate_pem",
    "name_attribute",
    "Certificate",
    "IDENTITY_OID",
    "ORGANIZATION",
    "ROLES",
    "ROOT_CN_PREFIX",
    "certificate_fingerprint",
    "certificate_identity",
    "certificate_public_key",
    "check_root",
    "suite_public",
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
        raise KeyMaterialError(said("cert_unreadable", error=str(exc))) from exc


def certificate_public_key(cert: x509.Certificate) -> Any:
    """Return the certificate's public key; KeyMaterialError if its type is unsupported."""
    return suite_public(cert, KeyMaterialError)[1]


def certificate_fingerprint(cert: x509.Certificate) -> str:
    """Return the hex digest of the certificate's DER encoding under its suite's hash
    (SHA-256 for Ed25519, SM3 for SM2; SHA-256 for a key of no known suite)."""
    data = cert.public_bytes(serialization.Encoding.DER)
    try:
        return suite_of_certificate(cert).digest(data)
    except KeyMaterialError:
        return hashlib.sha256(data).hexdigest()


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
    who = said("cert_of", code=code) if code else said("cert_plain")
    if not is_node_code(code):
        raise error(said("cert_no_code", who=who))
    if org != ORGANIZATION:
        raise error(said("cert_not_ours", who=who, org=org))
    if role not in ROLES:
        raise error(said("cert_no_role", who=who, role=role))
    try:
        ext = cert.extensions.get_extension_for_oid(IDENTITY_OID)
    except x509.ExtensionNotFound:
        raise error(said("cert_no_identity", who=who, oid=IDENTITY_OID.dotted_string)) from None
    except ValueError as exc:  # duplicate extensions
        raise error(said("cert_extensions_unreadable", who=who, error=str(exc))) from exc
    value = ext.value
    if not isinstance(value, x509.UnrecognizedExtension):
        raise error(said("cert_identity_unreadable", who=who))
    try:
        bound = json.loads(value.value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise error(said("cert_identity_not_json", who=who)) from exc
    if bound != {"code": code, "role": role} or value.value != canonical_json(bound):
        raise error(
            said(
                "cert_identity_mismatch",
                who=who,
                identity=value.value.decode("utf-8", "replace"),
                code=code,
                role=role,
            )
        )
    assert code is not None and role is not None  # for mypy: checked above
    return code, role


def suite_public(
    cert: x509.Certificate, error: type[FiscalsyncError]
) -> tuple[SignatureSuite, Any]:
    """The certificate's signature suite and public key, or raise ``error``."""
    try:
        suite = suite_of_certificate(cert)
        return suite, suite.certificate_public_key(cert)
    except KeyMaterialError as exc:
        raise error(
            said("labelled", label=said("cert_of", code=subject_code(cert)), what=exc.message)
        ) from exc


def signed_by(cert: x509.Certificate, suite: SignatureSuite, issuer_key: Any) -> bool:
    """Whether ``issuer_key`` (a key of ``suite``) signed ``cert``."""
    return suite.signs(issuer_key, cert.signature, cert.tbs_certificate_bytes)


@functools.lru_cache(maxsize=16)
def check_root(cert: x509.Certificate) -> tuple[SignatureSuite, Any]:
    """The suite and key of a self-signed CA certificate; KeyMaterialError otherwise.

    A certificate (equal by its bytes) that passed is not checked again: every node of a
    province hosted in one folder trusts the same root.
    """
    suite, key = suite_public(cert, KeyMaterialError)
    if (
        not is_ca_certificate(cert)
        or cert.issuer != cert.subject
        or not signed_by(cert, suite, key)
    ):
        raise KeyMaterialError(
            said("not_self_signed_ca", subject=cert.subject.rfc4514_string()),
            hint=said("not_self_signed_ca_hint"),
        )
    return suite, key
