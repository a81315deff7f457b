"""The province's PKI: root CA, node certificates, revocation list and the trust check.

The province holds the root CA (``ca_dir``: ``ca.key``, ``ca.crt``, ``crl.pem`` and the
``issued/`` record of every certificate it signed). A node makes its own key pair, which
never leaves its ``keys_dir``, and sends the province a signing request; the province
returns a certificate that binds the node's code and role::

    node:      new_node_key(keys_dir, "410102")              -> keys_dir/node.csr
    province:  sign_csr(ca, csr_pem, "county", clock=clock)  -> certificate PEM
    node:      install_certificate(keys_dir, cert_pem, ca.cert_pem)
    node:      load_signer(keys_dir)                         -> Signer for change-sets

Node certificates carry subject ``CN=<code>, OU=<role>, O=fiscalsync`` and a non-critical
private extension (OID ``1.3.6.1.4.1.61131.1.1``) holding the RFC 8785 JSON
``{"code": ..., "role": ...}``; the two must agree. The chain is one level deep, so
:class:`TrustStore` checks it by hand rather than with a TLS path builder. Revocation is a
CRL signed by the root whose CRL number only ever grows.

Foreign errors (``cryptography``'s ``ValueError``/``TypeError``/``InvalidSignature``,
``OSError``) are translated here into :class:`KeyMaterialError` (a key, request,
certificate or CA that cannot be used) or :class:`CertificateRejected` (a signer or
revocation list that must not be trusted).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.x509.oid import NameOID

from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import (
    CertificateRejected,
    FiscalsyncError,
    InputError,
    KeyMaterialError,
)
from sync.files import write_atomic
from sync.signing import DEFAULT_SUITE, SignatureSuite, canonical_json, get_suite

__all__ = [
    "CA_CERT",
    "CA_KEY",
    "CRL_FILE",
    "IDENTITY_OID",
    "ISSUED_DIR",
    "NODE_CERT",
    "NODE_CSR",
    "NODE_KEY",
    "ORGANIZATION",
    "ROLES",
    "Certificate",
    "NodeIdentity",
    "RevocationList",
    "RootCA",
    "Signer",
    "SignerInfo",
    "TrustStore",
    "certificate_fingerprint",
    "certificate_public_key",
    "describe_certificate",
    "init_root",
    "install_certificate",
    "is_node_code",
    "load_crl",
    "load_root",
    "load_signer",
    "new_node_key",
    "parse_certificate",
    "revoke",
    "revoked_codes",
    "generate_ssh_key",
    "sign_csr",
]

Certificate = x509.Certificate

ROLES = ("province", "city", "county", "center")
ORGANIZATION = "fiscalsync"
IDENTITY_OID = x509.ObjectIdentifier("1.3.6.1.4.1.61131.1.1")
ROOT_CN_PREFIX = "fiscalsync root CA "

CA_KEY = "ca.key"
CA_CERT = "ca.crt"
CRL_FILE = "crl.pem"
ISSUED_DIR = "issued"
NODE_KEY = "node.key"
NODE_CSR = "node.csr"
NODE_CERT = "node.crt"

_NODE_CODE = re.compile(r"[0-9A-Za-z]+(?:-[0-9A-Za-z]+)*")
_NODE_CODE_MAX = 32


def is_node_code(code: object) -> bool:
    """Tell whether ``code`` is a usable node code: ``410000``, ``410000-dc``; never ``_``."""
    return (
        isinstance(code, str)
        and len(code) <= _NODE_CODE_MAX
        and _NODE_CODE.fullmatch(code) is not None
    )


def _write_key_material(path: Path, data: bytes, mode: int, *, exclusive: bool = False) -> None:
    try:
        write_atomic(path, data, mode, exclusive=exclusive)
    except FileExistsError as exc:
        raise KeyMaterialError(f"{path} already exists; refusing to overwrite it") from exc
    except OSError as exc:
        raise KeyMaterialError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _read(path: Path, what: str, hint: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyMaterialError(f"{what} {path} does not exist", hint=hint) from exc
    except OSError as exc:
        raise KeyMaterialError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


def _make_private_dir(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise KeyMaterialError(f"cannot create {directory}: {exc.strerror or exc}") from exc


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
            f"certificate of {_subject_code(cert)} holds an unsupported key ({exc})"
        ) from exc


def certificate_fingerprint(cert: x509.Certificate) -> str:
    """Return the SHA-256 hex digest of the certificate's DER encoding."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _utc_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1 or not isinstance(values[0].value, str):
        return None
    return values[0].value


def _subject_code(cert: x509.Certificate) -> str:
    """Return the certificate's CN for messages, or a placeholder when it has none."""
    code = _attribute(cert.subject, NameOID.COMMON_NAME)
    return code if code is not None else "(no common name)"


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca


def _identity(cert: x509.Certificate, error: type[FiscalsyncError]) -> tuple[str, str]:
    """Return ``(code, role)`` bound by a node certificate, or raise ``error``.

    Subject CN and OU, the organisation and the private extension must all agree.
    """
    code = _attribute(cert.subject, NameOID.COMMON_NAME)
    role = _attribute(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    org = _attribute(cert.subject, NameOID.ORGANIZATION_NAME)
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


def _ed25519_public(cert: x509.Certificate, error: type[FiscalsyncError]) -> Ed25519PublicKey:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise error(f"certificate of {_subject_code(cert)} has an unreadable key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise error(f"certificate of {_subject_code(cert)} does not hold an ed25519 key")
    return key


def _signed_by(cert: x509.Certificate, issuer_key: Ed25519PublicKey) -> bool:
    try:
        issuer_key.verify(cert.signature, cert.tbs_certificate_bytes)
    except InvalidSignature:
        return False
    return True


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _check_root(cert: x509.Certificate) -> Ed25519PublicKey:
    key = _ed25519_public(cert, KeyMaterialError)
    if not _is_ca(cert) or cert.issuer != cert.subject or not _signed_by(cert, key):
        raise KeyMaterialError(
            f"{cert.subject.rfc4514_string()} is not a self-signed CA certificate",
            hint="use the province's ca.crt",
        )
    return key


# --- root CA ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RootCA:
    """The province's root CA, loaded with its private key."""

    ca_dir: Path
    province_code: str
    cert: x509.Certificate
    key: Ed25519PrivateKey = field(repr=False)

    @property
    def cert_pem(self) -> bytes:
        return _pem(self.cert)

    def crl(self) -> RevocationList:
        """Return the current revocation list, ``crl.pem``."""
        return load_crl(
            _read(self.ca_dir / CRL_FILE, "revocation list", "restore the CA folder"), self.cert
        )


def init_root(
    ca_dir: Path,
    province_code: str,
    *,
    passphrase: bytes | None = None,
    validity_days: int = 3650,
    clock: Clock,
) -> RootCA:
    """Create the province's root CA in ``ca_dir``, which must not hold one already.

    Writes ``ca.key`` (PKCS#8 PEM, mode 0600, encrypted when ``passphrase`` is given),
    ``ca.crt``, an empty ``crl.pem`` with CRL number 1, and the ``issued/`` folder.
    """
    if not is_node_code(province_code):
        raise InputError(f"{province_code!r} is not a node code")
    if validity_days < 1:
        raise InputError(f"validity_days must be at least 1, not {validity_days}")
    if passphrase is not None and not passphrase:
        raise KeyMaterialError("the CA passphrase must not be empty")
    for existing in (CA_KEY, CA_CERT):
        if (ca_dir / existing).exists():
            raise KeyMaterialError(
                f"{ca_dir} already holds a CA ({existing} exists)",
                hint="load the existing CA, or choose an empty folder for a new one",
            )
    _make_private_dir(ca_dir)
    _make_private_dir(ca_dir / ISSUED_DIR)

    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    now = clock.now()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, ROOT_CN_PREFIX + province_code),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, None)
    )
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    root = RootCA(ca_dir=ca_dir, province_code=province_code, cert=cert, key=key)
    _write_key_material(ca_dir / CA_KEY, key_pem, 0o600, exclusive=True)
    _write_key_material(ca_dir / CA_CERT, _pem(cert), 0o644, exclusive=True)
    crl = _build_crl(root, 1, [], now)
    _write_key_material(ca_dir / CRL_FILE, crl.pem, 0o644)
    return root


def load_root(ca_dir: Path, passphrase: bytes | None = None) -> RootCA:
    """Load the root CA from ``ca_dir``; a wrong or missing passphrase is a KeyMaterialError."""
    hint = f"create it with init_root, or point to the folder holding {CA_KEY}"
    key_pem = _read(ca_dir / CA_KEY, "CA key", hint)
    cert_pem = _read(ca_dir / CA_CERT, "CA certificate", hint)
    try:
        key = serialization.load_pem_private_key(key_pem, passphrase)
    except TypeError as exc:
        if passphrase is None:
            raise KeyMaterialError(
                f"{ca_dir / CA_KEY} is encrypted and no passphrase was given",
                hint="give the CA passphrase",
            ) from exc
        raise KeyMaterialError(
            f"{ca_dir / CA_KEY} is not encrypted but a passphrase was given",
            hint="load it without a passphrase",
        ) from exc
    except ValueError as exc:
        if passphrase is not None:
            raise KeyMaterialError(
                f"wrong passphrase for {ca_dir / CA_KEY} (or the key file is damaged)",
                hint="check the CA passphrase",
            ) from exc
        raise KeyMaterialError(f"{ca_dir / CA_KEY} is not a readable private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyMaterialError(f"{ca_dir / CA_KEY} is not an ed25519 key")
    cert = parse_certificate(cert_pem)
    public = _check_root(cert)
    if _raw_public(public) != _raw_public(key.public_key()):
        raise KeyMaterialError(f"{ca_dir / CA_CERT} does not belong to {ca_dir / CA_KEY}")
    common_name = _attribute(cert.subject, NameOID.COMMON_NAME) or ""
    code = common_name.removeprefix(ROOT_CN_PREFIX)
    if not common_name.startswith(ROOT_CN_PREFIX) or not is_node_code(code):
        raise KeyMaterialError(f"{ca_dir / CA_CERT} is not a fiscalsync root CA certificate")
    return RootCA(ca_dir=ca_dir, province_code=code, cert=cert, key=key)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


# --- node keys and certificates -----------------------------------------------------------


@dataclass(frozen=True)
class SignerInfo:
    """Who signed a change-set, as established by :meth:`TrustStore.check_signer`."""

    code: str
    role: str
    serial: int
    fingerprint: str


@dataclass(frozen=True)
class NodeIdentity:
    """The certificate a node holds, as installed by :func:`install_certificate`."""

    code: str
    role: str
    serial: int
    fingerprint: str
    not_valid_before: datetime
    not_valid_after: datetime


@dataclass(frozen=True)
class Signer:
    """A node's private key with its certificate: what signs its change-sets."""

    code: str
    role: str
    certificate: x509.Certificate
    fingerprint: str
    suite: SignatureSuite
    private_key: Any = field(repr=False)

    @property
    def certificate_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def sign(self, message: bytes) -> bytes:
        """Return this node's signature of ``message`` under its suite."""
        return self.suite.sign(self.private_key, message)


def new_node_key(keys_dir: Path, code: str) -> Path:
    """Make the node's key pair and signing request; return the path of ``node.csr``.

    ``node.key`` (unencrypted PKCS#8 PEM, mode 0600) never leaves ``keys_dir``; an
    existing key is never overwritten.
    """
    if not is_node_code(code):
        raise InputError(f"{code!r} is not a node code")
    if (keys_dir / NODE_KEY).exists():
        raise KeyMaterialError(
            f"{keys_dir / NODE_KEY} already exists; refusing to replace this node's key",
            hint="a node keeps its key; move the old one away only if it is compromised",
        )
    _make_private_dir(keys_dir)
    key = Ed25519PrivateKey.generate()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, code)]))
        .sign(key, None)
    )
    _write_key_material(keys_dir / NODE_KEY, key_pem, 0o600, exclusive=True)
    csr_path = keys_dir / NODE_CSR
    _write_key_material(csr_path, csr.public_bytes(serialization.Encoding.PEM), 0o644)
    return csr_path


def sign_csr(
    ca: RootCA,
    csr_pem: bytes,
    role: str,
    *,
    validity_days: int = 825,
    clock: Clock,
) -> bytes:
    """Issue a certificate for the node that made ``csr_pem``; return it as PEM.

    The request's own signature must verify and its subject CN must be a node code. The
    certificate never outlives the root. It is recorded as ``issued/<serial-hex>.pem``.
    """
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    if validity_days < 1:
        raise InputError(f"validity_days must be at least 1, not {validity_days}")
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise KeyMaterialError(f"not a PEM certificate signing request ({exc})") from exc
    if not csr.is_signature_valid:
        raise KeyMaterialError("the signing request's signature does not verify (damaged?)")
    code = _attribute(csr.subject, NameOID.COMMON_NAME)
    if code is None or not is_node_code(code):
        raise KeyMaterialError(f"the signing request's CN {code!r} is not a node code")
    public = csr.public_key()
    if not isinstance(public, Ed25519PublicKey):
        raise KeyMaterialError(f"the signing request of {code} does not hold an ed25519 key")
    now = clock.now()
    root_end = ca.cert.not_valid_after_utc
    if now >= root_end:
        raise KeyMaterialError(f"the root CA certificate expired on {_utc_text(root_end)}")
    not_after = min(now + timedelta(days=validity_days), root_end)
    root_public = ca.key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, code),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                ]
            )
        )
        .issuer_name(ca.cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_public), critical=False
        )
        .add_extension(
            x509.UnrecognizedExtension(IDENTITY_OID, canonical_json({"code": code, "role": role})),
            critical=False,
        )
        .sign(ca.key, None)
    )
    pem = _pem(cert)
    record = ca.ca_dir / ISSUED_DIR / f"{cert.serial_number:x}.pem"
    _write_key_material(record, pem, 0o644, exclusive=True)
    return pem


def _load_node_key(keys_dir: Path) -> Ed25519PrivateKey:
    data = _read(
        keys_dir / NODE_KEY,
        "node key",
        "make the node's key first (new_node_key) and have the province sign its node.csr",
    )
    try:
        key = serialization.load_pem_private_key(data, None)
    except (TypeError, ValueError) as exc:
        raise KeyMaterialError(f"{keys_dir / NODE_KEY} is not a readable private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyMaterialError(f"{keys_dir / NODE_KEY} is not an ed25519 key")
    return key


def install_certificate(keys_dir: Path, cert_pem: bytes, ca_cert_pem: bytes) -> NodeIdentity:
    """Install the node's certificate and the province's root certificate in ``keys_dir``.

    The certificate must be signed by that root and hold the public half of ``node.key``.
    A ``keys_dir`` that already trusts a different root is refused. Idempotent.
    """
    key = _load_node_key(keys_dir)
    cert = parse_certificate(cert_pem)
    root = parse_certificate(ca_cert_pem)
    root_public = _check_root(root)
    if cert.issuer != root.subject or not _signed_by(cert, root_public):
        raise KeyMaterialError(
            f"certificate of {_subject_code(cert)} is not issued by the given root CA",
            hint="install the certificate together with the ca.crt of the CA that signed it",
        )
    if _is_ca(cert):
        raise KeyMaterialError(f"certificate of {_subject_code(cert)} is a CA certificate")
    public = _ed25519_public(cert, KeyMaterialError)
    if _raw_public(public) != _raw_public(key.public_key()):
        raise KeyMaterialError(
            f"certificate of {_subject_code(cert)} is for another key than {keys_dir / NODE_KEY}",
            hint="install the certificate issued for this node's own node.csr",
        )
    identity = describe_certificate(cert)
    existing_root = keys_dir / CA_CERT
    if existing_root.exists():
        current = parse_certificate(_read(existing_root, "CA certificate", ""))
        if current != root:
            raise KeyMaterialError(
                f"{existing_root} already holds a different root CA",
                hint="remove it by hand only if the province really replaced its root CA",
            )
    _write_key_material(keys_dir / NODE_CERT, _pem(cert), 0o644)
    _write_key_material(existing_root, _pem(root), 0o644)
    return identity


def describe_certificate(cert: x509.Certificate) -> NodeIdentity:
    """Return the code, role, serial, fingerprint and validity a node certificate binds.

    Raises :class:`KeyMaterialError` if it is not a consistent fiscalsync node certificate.
    Nothing about its issuer, validity or revocation is checked: see :class:`TrustStore`.
    """
    code, role = _identity(cert, KeyMaterialError)
    return NodeIdentity(
        code=code,
        role=role,
        serial=cert.serial_number,
        fingerprint=certificate_fingerprint(cert),
        not_valid_before=cert.not_valid_before_utc,
        not_valid_after=cert.not_valid_after_utc,
    )


def load_signer(keys_dir: Path) -> Signer:
    """Load the node's key and certificate from ``keys_dir`` for signing change-sets."""
    key = _load_node_key(keys_dir)
    cert = parse_certificate(
        _read(
            keys_dir / NODE_CERT,
            "node certificate",
            "have the province sign node.csr, then install the certificate",
        )
    )
    public = _ed25519_public(cert, KeyMaterialError)
    if _raw_public(public) != _raw_public(key.public_key()):
        raise KeyMaterialError(f"{keys_dir / NODE_CERT} does not belong to {keys_dir / NODE_KEY}")
    code, role = _identity(cert, KeyMaterialError)
    return Signer(
        code=code,
        role=role,
        certificate=cert,
        fingerprint=certificate_fingerprint(cert),
        suite=get_suite(DEFAULT_SUITE),
        private_key=key,
    )


# --- revocation ---------------------------------------------------------------------------


class RevocationList:
    """A certificate revocation list signed by the root; load it with :func:`load_crl`."""

    def __init__(self, crl: x509.CertificateRevocationList) -> None:
        try:
            number_ext = crl.extensions.get_extension_for_class(x509.CRLNumber)
        except x509.ExtensionNotFound:
            raise CertificateRejected("revocation list has no CRL number") from None
        self._crl = crl
        self._number = number_ext.value.crl_number
        self._serials = frozenset(entry.serial_number for entry in crl)

    @property
    def number(self) -> int:
        """The CRL number: every new list has a higher one."""
        return self._number

    @property
    def last_update(self) -> datetime:
        return self._crl.last_update_utc

    @property
    def serials(self) -> frozenset[int]:
        """Serial numbers of every revoked certificate."""
        return self._serials

    @property
    def pem(self) -> bytes:
        return self._crl.public_bytes(serialization.Encoding.PEM)

    @property
    def x509(self) -> x509.CertificateRevocationList:
        return self._crl

    def is_revoked(self, serial: int) -> bool:
        return serial in self._serials

    def __repr__(self) -> str:
        return f"RevocationList(number={self._number}, revoked={len(self._serials)})"


def load_crl(pem: bytes, root_cert: x509.Certificate) -> RevocationList:
    """Parse a PEM CRL and check that ``root_cert`` signed it; else CertificateRejected."""
    try:
        crl = x509.load_pem_x509_crl(pem)
    except ValueError as exc:
        raise CertificateRejected(f"not a readable PEM revocation list ({exc})") from exc
    return _checked_crl(crl, root_cert)


def _checked_crl(crl: x509.CertificateRevocationList, root: x509.Certificate) -> RevocationList:
    root_public = _ed25519_public(root, KeyMaterialError)
    if crl.issuer != root.subject or not crl.is_signature_valid(root_public):
        raise CertificateRejected(
            "revocation list is not signed by this province's root CA",
            hint="take the revocation list from the province that issued this node's certificate",
        )
    return RevocationList(crl)


_REASONS = {flag.value: flag for flag in x509.ReasonFlags} | {
    flag.name: flag for flag in x509.ReasonFlags
}


def _build_crl(
    ca: RootCA,
    number: int,
    entries: list[x509.RevokedCertificate],
    now: datetime,
) -> RevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now)
        .next_update(max(ca.cert.not_valid_after_utc, now + timedelta(days=1)))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    for entry in entries:
        builder = builder.add_revoked_certificate(entry)
    return RevocationList(builder.sign(ca.key, None))


def _issued_to(ca: RootCA, code: str) -> list[x509.Certificate]:
    issued = ca.ca_dir / ISSUED_DIR
    try:
        records = sorted(issued.glob("*.pem"))
    except OSError as exc:
        raise KeyMaterialError(f"cannot list {issued}: {exc.strerror or exc}") from exc
    certs = []
    for record in records:
        cert = parse_certificate(_read(record, "issued certificate", ""))
        if _attribute(cert.subject, NameOID.COMMON_NAME) == code:
            certs.append(cert)
    return certs


def generate_ssh_key(path: Path, comment: str = "fiscalsync") -> str:
    """Write a new Ed25519 private key to ``path`` (OpenSSH format, mode 0600).

    Returns the public key line for the server's ``authorized_keys``
    (``"ssh-ed25519 AAAA... comment"``). An existing file is never overwritten.
    """
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    _write_key_material(path, private, 0o600, exclusive=True)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return f"{public.decode('ascii')} {comment}".rstrip()


def revoked_codes(ca: RootCA) -> frozenset[str]:
    """Codes of the nodes whose every issued certificate is revoked."""
    revoked = ca.crl().serials
    by_code: dict[str, list[int]] = {}
    for record in sorted((ca.ca_dir / ISSUED_DIR).glob("*.pem")):
        cert = parse_certificate(_read(record, "issued certificate", ""))
        code = _attribute(cert.subject, NameOID.COMMON_NAME)
        if code is not None:
            by_code.setdefault(code, []).append(cert.serial_number)
    return frozenset(c for c, serials in by_code.items() if all(s in revoked for s in serials))


def revoke(ca: RootCA, code: str, reason: str | None, clock: Clock) -> RevocationList:
    """Revoke every certificate ever issued to ``code`` and publish the next ``crl.pem``.

    The new list keeps every earlier entry and has the next CRL number. If every
    certificate of ``code`` is already revoked the current list is returned unchanged.
    ``reason`` is an RFC 5280 reason (``keyCompromise`` or ``key_compromise``) or None.
    """
    flag = None
    if reason is not None:
        flag = _REASONS.get(reason)
        if flag is None:
            raise InputError(
                f"unknown revocation reason {reason!r}; reasons are "
                + ", ".join(f.value for f in x509.ReasonFlags)
            )
    certs = _issued_to(ca, code)
    if not certs:
        raise KeyMaterialError(f"no certificate was ever issued to {code} by this CA")
    current = ca.crl()
    fresh = [cert for cert in certs if not current.is_revoked(cert.serial_number)]
    if not fresh:
        return current
    now = clock.now()
    entries = list(current.x509)
    for cert in fresh:
        entry = (
            x509.RevokedCertificateBuilder().serial_number(cert.serial_number).revocation_date(now)
        )
        if flag is not None:
            entry = entry.add_extension(x509.CRLReason(flag), critical=False)
        entries.append(entry.build())
    crl = _build_crl(ca, current.number + 1, entries, now)
    _write_key_material(ca.ca_dir / CRL_FILE, crl.pem, 0o644)
    return crl


# --- trust --------------------------------------------------------------------------------

_KNOWN_CRITICAL = {x509.BasicConstraints.oid, x509.KeyUsage.oid}


class TrustStore:
    """What a node trusts: its province's root certificate and latest revocation list.

    :meth:`check_signer` decides whether a certificate may sign change-sets now.
    """

    def __init__(
        self,
        root_cert: x509.Certificate,
        crl: RevocationList | None,
        clock: Clock,
        skew: timedelta = timedelta(minutes=5),
    ) -> None:
        self._root = root_cert
        self._root_public = _check_root(root_cert)
        self._clock = clock
        self._skew = skew
        self._crl: RevocationList | None = None
        if crl is not None:
            self._crl = _checked_crl(crl.x509, root_cert)

    @classmethod
    def load(
        cls,
        keys_dir: Path,
        crl_pem: bytes | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        skew: timedelta = timedelta(minutes=5),
    ) -> TrustStore:
        """Trust the ``ca.crt`` in ``keys_dir`` and ``crl_pem`` (else ``keys_dir/crl.pem``)."""
        root = parse_certificate(
            _read(keys_dir / CA_CERT, "CA certificate", "install the node's certificate first")
        )
        if crl_pem is None and (keys_dir / CRL_FILE).exists():
            crl_pem = _read(keys_dir / CRL_FILE, "revocation list", "")
        crl = load_crl(crl_pem, root) if crl_pem is not None else None
        return cls(root, crl, clock, skew)

    @property
    def root(self) -> x509.Certificate:
        return self._root

    @property
    def crl(self) -> RevocationList | None:
        return self._crl

    def update_crl(self, crl: RevocationList) -> bool:
        """Adopt a newer revocation list; return False if it is the one already held.

        A list of a lower number, or a different list under the same number, is refused
        with :class:`CertificateRejected`: revocation never goes backwards.
        """
        checked = _checked_crl(crl.x509, self._root)
        current = self._crl
        if current is not None:
            if checked.number < current.number:
                raise CertificateRejected(
                    f"revocation list number {checked.number} is older than the one in use "
                    f"({current.number}); revocation never goes backwards"
                )
            if checked.number == current.number:
                if checked.pem == current.pem:
                    return False
                raise CertificateRejected(
                    f"a different revocation list with the same number {checked.number} "
                    "as the one in use; refusing it"
                )
        self._crl = checked
        return True

    def check_signer(self, cert: x509.Certificate) -> SignerInfo:
        """Return who ``cert`` identifies if it may sign now, else raise CertificateRejected.

        Checks, each with its own message: issued and signed by the root, not a CA,
        no unknown critical extension, within its validity (and the root's) allowing
        ``skew``, not revoked, and a code/role binding that agrees with the subject.
        """
        who = f"certificate of {_subject_code(cert)}"
        if cert.issuer != self._root.subject:
            raise CertificateRejected(f"{who} is not issued by this province's root CA")
        if not _signed_by(cert, self._root_public):
            raise CertificateRejected(
                f"{who} is not signed by this province's root CA (signature does not verify)"
            )
        try:
            extensions = cert.extensions
        except ValueError as exc:
            raise CertificateRejected(f"{who} has unreadable extensions ({exc})") from exc
        if _is_ca(cert):
            raise CertificateRejected(f"{who} is a CA certificate, not a node certificate")
        try:
            usage = extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            usage = None
        if usage is not None and not usage.digital_signature:
            raise CertificateRejected(f"{who} is not allowed to sign (key usage)")
        for ext in extensions:
            if ext.critical and ext.oid not in _KNOWN_CRITICAL:
                raise CertificateRejected(
                    f"{who} carries an unknown critical extension {ext.oid.dotted_string}"
                )
        now = self._clock.now()
        for subject, holder in ((who, cert), ("the root CA certificate", self._root)):
            if now + self._skew < holder.not_valid_before_utc:
                raise CertificateRejected(
                    f"{subject} is not valid before {_utc_text(holder.not_valid_before_utc)}"
                )
            if now - self._skew > holder.not_valid_after_utc:
                raise CertificateRejected(
                    f"{subject} expired on {_utc_text(holder.not_valid_after_utc)}"
                )
        if self._crl is not None and self._crl.is_revoked(cert.serial_number):
            raise CertificateRejected(
                f"{who} is revoked (serial {cert.serial_number:x}, "
                f"revocation list {self._crl.number})"
            )
        code, role = _identity(cert, CertificateRejected)
        _ed25519_public(cert, CertificateRejected)
        return SignerInfo(
            code=code,
            role=role,
            serial=cert.serial_number,
            fingerprint=certificate_fingerprint(cert),
        )
