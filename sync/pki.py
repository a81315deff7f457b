"""The province's PKI: the root CA, and node keys and certificates and their renewal.

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
CRL signed by the root whose CRL number only ever grows (:mod:`sync.revocation`).

**Renewal.** A node renews its certificate with a new key: ``new_node_key(keys_dir,
code, renew=True)`` writes ``node.key.new`` and a new ``node.csr`` while the node goes
on signing with ``node.key``; installing the certificate signed for the new key keeps
the old certificate in ``superseded/`` and replaces ``node.key`` (the old private key is
gone: nothing needs it any more). What the node signed before stays verifiable, because
:meth:`TrustStore.check_signer` judges a certificate at the change-set's signing time:
every change-set carries its signer's certificate in its seal, so a change-set still in
flight when its signer renewed, or when the superseded certificate expired, is accepted
as long as it was signed within that certificate's validity and the certificate is not
revoked. Nothing is re-signed, so change-set ids, the ``prev`` chain of every channel
and the receipts already on their way stay exactly as they were. The price is that an
expired certificate's key could still sign change-sets dated within its validity:
that is why renewal destroys the old key, and why revocation lists never drop an entry
(revoke the old certificate if its key may have leaked; a revoked certificate verifies
nothing, whenever it signed).

Foreign errors (``cryptography``'s ``ValueError``/``TypeError``/``InvalidSignature``,
``OSError``) are translated here into :class:`KeyMaterialError` (a key, request,
certificate or CA that cannot be used) or :class:`CertificateRejected` (a signer or
revocation list that must not be trusted).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from sync.certificates import (
    IDENTITY_OID,
    ORGANIZATION,
    ROLES,
    ROOT_CN_PREFIX,
    certificate_fingerprint,
    certificate_identity,
    certificate_pem,
    check_root,
    is_ca_certificate,
    is_node_code,
    name_attribute,
    parse_certificate,
    signed_by,
    subject_code,
    suite_public,
    utc_text,
)
from sync.clock import Clock
from sync.errors import (
    InputError,
    KeyMaterialError,
)
from sync.files import fsync_directory, write_atomic
from sync.revocation import (
    CRL_FILE,
    RevocationList,
    issue_crl,
    load_crl,
    reason_flag,
    revocation_entry,
    write_crl,
)
from sync.said import said
from sync.signing import (
    DEFAULT_SUITE,
    SignatureSuite,
    canonical_json,
    get_suite,
    suite_of_certificate,
)

__all__ = [
    "write_key_material",
    "CA_CERT",
    "CA_KEY",
    "ISSUED_DIR",
    "NODE_CERT",
    "NODE_CSR",
    "NODE_KEY",
    "NODE_KEY_PENDING",
    "SUPERSEDED_DIR",
    "NodeIdentity",
    "RootCA",
    "Signer",
    "describe_certificate",
    "init_root",
    "install_certificate",
    "issued_certificates",
    "issued_in",
    "load_root",
    "load_signer",
    "new_node_key",
    "revoke",
    "revoked_codes",
    "requested_code",
    "sign_csr",
]

CA_KEY = "ca.key"
CA_CERT = "ca.crt"
ISSUED_DIR = "issued"
NODE_KEY = "node.key"
NODE_KEY_PENDING = "node.key.new"
"""A renewal's new key, waiting for its certificate (the node signs with ``node.key``)."""
SUPERSEDED_DIR = "superseded"
"""Where a renewal keeps the node's earlier certificates, as ``<serial-hex>.crt``."""
NODE_CSR = "node.csr"
NODE_CERT = "node.crt"


def write_key_material(path: Path, data: bytes, mode: int, *, exclusive: bool = False) -> None:
    try:
        write_atomic(path, data, mode, exclusive=exclusive)
    except FileExistsError as exc:
        raise KeyMaterialError(said("key_file_exists", path=path)) from exc
    except OSError as exc:
        raise KeyMaterialError(
            said("key_file_unwritable", path=path, error=exc.strerror or str(exc))
        ) from exc


def _read(path: Path, what: str, hint: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyMaterialError(said("key_file_missing", what=what, path=path), hint=hint) from exc
    except OSError as exc:
        raise KeyMaterialError(
            said("key_file_unreadable", what=what, path=path, error=exc.strerror or str(exc))
        ) from exc


def _make_private_dir(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise KeyMaterialError(
            said("key_folder_unmade", path=directory, error=exc.strerror or str(exc))
        ) from exc


# --- root CA ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RootCA:
    """The province's root CA, loaded with its private key."""

    ca_dir: Path
    province_code: str
    cert: x509.Certificate
    key: Any = field(repr=False)

    @property
    def cert_pem(self) -> bytes:
        return certificate_pem(self.cert)

    @property
    def suite(self) -> SignatureSuite:
        """The network's signature suite, which the root's key names."""
        return suite_of_certificate(self.cert)

    def crl(self) -> RevocationList:
        """Return the current revocation list, ``crl.pem``."""
        return load_crl(
            _read(self.ca_dir / CRL_FILE, "revocation list", "restore the CA folder"), self.cert
        )

    def publish_crl(self, crl: RevocationList) -> None:
        """Make ``crl`` the CA's current list, ``crl.pem``."""
        write_crl(self.ca_dir / CRL_FILE, crl)


def init_root(
    ca_dir: Path,
    province_code: str,
    *,
    passphrase: bytes | None = None,
    validity_days: int = 3650,
    suite: str = DEFAULT_SUITE,
    clock: Clock,
) -> RootCA:
    """Create the province's root CA in ``ca_dir``, which must not hold one already.

    ``suite`` is the network's signature suite (``ed25519`` or ``sm2``): the root's key
    is of that suite, and so is every certificate it issues. Writes ``ca.key`` (PEM,
    mode 0600, encrypted when ``passphrase`` is given), ``ca.crt``, an empty ``crl.pem``
    with CRL number 1, and the ``issued/`` folder.
    """
    signature = get_suite(suite)
    if not is_node_code(province_code):
        raise InputError(f"{province_code!r} is not a node code")
    if validity_days < 1:
        raise InputError(f"validity_days must be at least 1, not {validity_days}")
    if passphrase is not None and not passphrase:
        raise KeyMaterialError(said("ca_passphrase_empty"))
    for existing in (CA_KEY, CA_CERT):
        if (ca_dir / existing).exists():
            raise KeyMaterialError(
                said("ca_exists", folder=ca_dir, file=existing), hint=said("ca_exists_hint")
            )
    _make_private_dir(ca_dir)
    _make_private_dir(ca_dir / ISSUED_DIR)

    key = signature.generate_private_key()
    public = signature.public_key_of(key)
    now = clock.now()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, ROOT_CN_PREFIX + province_code),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier(signature.key_identifier(public)), critical=False)
    )
    cert = signature.sign_certificate(builder, key, public)
    key_pem = signature.private_key_pem(key, passphrase)
    root = RootCA(ca_dir=ca_dir, province_code=province_code, cert=cert, key=key)
    write_key_material(ca_dir / CA_KEY, key_pem, 0o600, exclusive=True)
    write_key_material(ca_dir / CA_CERT, certificate_pem(cert), 0o644, exclusive=True)
    root.publish_crl(issue_crl(cert, key, 1, [], now))
    return root


def load_root(ca_dir: Path, passphrase: bytes | None = None) -> RootCA:
    """Load the root CA from ``ca_dir``; a wrong or missing passphrase is a KeyMaterialError."""
    hint = f"create it with init_root, or point to the folder holding {CA_KEY}"
    key_pem = _read(ca_dir / CA_KEY, "CA key", hint)
    cert_pem = _read(ca_dir / CA_CERT, "CA certificate", hint)
    cert = parse_certificate(cert_pem)
    suite, public = check_root(cert)
    encrypted = _ENCRYPTED_PEM.search(key_pem) is not None
    if encrypted and passphrase is None:
        raise KeyMaterialError(
            f"{ca_dir / CA_KEY} is encrypted and no passphrase was given",
            hint="give the CA passphrase",
        )
    if not encrypted and passphrase is not None:
        raise KeyMaterialError(
            f"{ca_dir / CA_KEY} is not encrypted but a passphrase was given",
            hint="load it without a passphrase",
        )
    try:
        key = suite.load_private_key_pem(key_pem, passphrase)
    except KeyMaterialError as exc:
        if passphrase is not None:
            raise KeyMaterialError(
                f"wrong passphrase for {ca_dir / CA_KEY} (or the key file is damaged)",
                hint="check the CA passphrase",
            ) from exc
        raise KeyMaterialError(
            f"{ca_dir / CA_KEY} is not a readable {suite.name} private key"
        ) from exc
    if suite.public_bytes(public) != suite.public_bytes(suite.public_key_of(key)):
        raise KeyMaterialError(f"{ca_dir / CA_CERT} does not belong to {ca_dir / CA_KEY}")
    common_name = name_attribute(cert.subject, NameOID.COMMON_NAME) or ""
    code = common_name.removeprefix(ROOT_CN_PREFIX)
    if not common_name.startswith(ROOT_CN_PREFIX) or not is_node_code(code):
        raise KeyMaterialError(f"{ca_dir / CA_CERT} is not a fiscalsync root CA certificate")
    return RootCA(ca_dir=ca_dir, province_code=code, cert=cert, key=key)


_ENCRYPTED_PEM = re.compile(rb"-----BEGIN [A-Z0-9 ]*ENCRYPTED[A-Z0-9 ]*-----")


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

    def require_valid(self, moment: datetime) -> None:
        """Refuse (:class:`KeyMaterialError`) to sign at ``moment``, by this node's clock,
        outside its certificate's validity: every recipient would refuse what it signed."""
        begins = self.certificate.not_valid_before_utc
        ends = self.certificate.not_valid_after_utc
        if moment < begins:
            raise KeyMaterialError(
                f"this node's clock says {utc_text(moment)}, before its certificate is valid "
                f"(from {utc_text(begins)}): nothing it signs now would be accepted",
                hint="set the node's clock right (the province issued the certificate by its own)",
            )
        if moment > ends:
            raise KeyMaterialError(
                f"this node's certificate expired on {utc_text(ends)}: nothing it signs now "
                "would be accepted",
                hint="renew it: fiscalsync keys new --renew, have the province sign node.csr, "
                "then fiscalsync keys install",
            )


def new_node_key(
    keys_dir: Path, code: str, *, renew: bool = False, suite: str | None = None
) -> Path:
    """Make the node's key pair and signing request; return the path of ``node.csr``.

    ``node.key`` (unencrypted PKCS#8 PEM, mode 0600) never leaves ``keys_dir``; an
    existing key is never overwritten. With ``renew`` the node already holds a key and
    a certificate: the new key waits in ``node.key.new`` until its certificate is
    installed (:func:`install_certificate`), and the node goes on signing meanwhile.
    The key is of ``suite``; by default of the network's (the installed root's, the
    installed certificate's on renewal), else ``ed25519``. A suite other than the
    installed root's is refused: a network has one suite.
    """
    if not is_node_code(code):
        raise InputError(f"{code!r} is not a node code")
    signature = _node_suite(keys_dir, suite)
    target = keys_dir / NODE_KEY
    if renew:
        target = _renewal_target(keys_dir, code)
    elif target.exists():
        raise KeyMaterialError(
            f"{target} already exists; refusing to replace this node's key",
            hint="to renew the certificate with a new key, run 'fiscalsync keys new --renew'",
        )
    _make_private_dir(keys_dir)
    key = signature.generate_private_key()
    key_pem = signature.private_key_pem(key)
    csr = signature.sign_request(
        x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, code)])
        ),
        key,
    )
    write_key_material(target, key_pem, 0o600, exclusive=True)
    csr_path = keys_dir / NODE_CSR
    write_key_material(csr_path, csr.public_bytes(serialization.Encoding.PEM), 0o644)
    return csr_path


def _node_suite(keys_dir: Path, name: str | None) -> SignatureSuite:
    """The suite of a node's new key: ``name``, else its network's, else the default."""
    installed: SignatureSuite | None = None
    for held in (NODE_CERT, CA_CERT):
        if (keys_dir / held).exists():
            installed = suite_of_certificate(parse_certificate(_read(keys_dir / held, held, "")))
            break
    if name is None:
        return installed or get_suite(DEFAULT_SUITE)
    chosen = get_suite(name)
    if installed is not None and chosen is not installed:
        raise KeyMaterialError(
            f"this node's network signs with {installed.name}, not {chosen.name}",
            hint=f"leave --suite out, or give --suite {installed.name}",
        )
    return chosen


def _renewal_target(keys_dir: Path, code: str) -> Path:
    """Where a renewal's key goes, once the node is known to hold a key and certificate."""
    if not (keys_dir / NODE_KEY).exists() or not (keys_dir / NODE_CERT).exists():
        raise KeyMaterialError(
            f"nothing to renew: {keys_dir} holds no installed key and certificate",
            hint="make the node's first key with 'fiscalsync keys new'",
        )
    installed = parse_certificate(_read(keys_dir / NODE_CERT, "node certificate", ""))
    if certificate_identity(installed, KeyMaterialError)[0] != code:
        raise KeyMaterialError(f"{keys_dir / NODE_CERT} is not a certificate of {code}")
    pending = keys_dir / NODE_KEY_PENDING
    if pending.exists():
        raise KeyMaterialError(
            f"a renewal is already pending: {pending} waits for its certificate",
            hint="install the certificate signed for node.csr (fiscalsync keys install), "
            f"or delete {pending.name} to start the renewal again",
        )
    return pending


def requested_code(csr_pem: bytes) -> str:
    """The node code a certificate signing request asks for (its subject CN), unchecked
    beyond being a node code: :func:`sign_csr` checks the request whole."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise KeyMaterialError(f"not a PEM certificate signing request ({exc})") from exc
    code = name_attribute(csr.subject, NameOID.COMMON_NAME)
    if code is None or not is_node_code(code):
        raise KeyMaterialError(f"the signing request's CN {code!r} is not a node code")
    return code


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
    suite = ca.suite
    try:
        public = suite.request_public_key(csr)
    except KeyMaterialError as exc:
        raise KeyMaterialError(
            f"{exc.message} (this network's suite is {suite.name})",
            hint="make the key with the network's suite: fiscalsync keys new --suite " + suite.name,
        ) from exc
    code = name_attribute(csr.subject, NameOID.COMMON_NAME)
    if code is None or not is_node_code(code):
        raise KeyMaterialError(f"the signing request's CN {code!r} is not a node code")
    now = clock.now()
    root_end = ca.cert.not_valid_after_utc
    if now >= root_end:
        raise KeyMaterialError(f"the root CA certificate expired on {utc_text(root_end)}")
    not_after = min(now + timedelta(days=validity_days), root_end)
    root_public = suite.public_key_of(ca.key)
    builder = (
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
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier(suite.key_identifier(public)), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier(suite.key_identifier(root_public), None, None),
            critical=False,
        )
        .add_extension(
            x509.UnrecognizedExtension(IDENTITY_OID, canonical_json({"code": code, "role": role})),
            critical=False,
        )
    )
    cert = suite.sign_certificate(builder, ca.key, public)
    pem = certificate_pem(cert)
    record = ca.ca_dir / ISSUED_DIR / f"{cert.serial_number:x}.pem"
    write_key_material(record, pem, 0o644, exclusive=True)
    return pem


def _load_node_key(keys_dir: Path, suite: SignatureSuite, name: str = NODE_KEY) -> Any:
    path = keys_dir / name
    data = _read(
        path,
        "node key",
        "make the node's key first (new_node_key) and have the province sign its node.csr",
    )
    try:
        return suite.load_private_key_pem(data, None)
    except KeyMaterialError as exc:
        raise KeyMaterialError(f"{path} is not a readable {suite.name} key") from exc


def _holds(suite: SignatureSuite, key: Any, public: Any) -> bool:
    return suite.public_bytes(public) == suite.public_bytes(suite.public_key_of(key))


def install_certificate(keys_dir: Path, cert_pem: bytes, ca_cert_pem: bytes) -> NodeIdentity:
    """Install the node's certificate and the province's root certificate in ``keys_dir``.

    The certificate must be signed by that root and hold the public half of ``node.key``,
    or, during a renewal, of the pending ``node.key.new``, and then name the same node as
    the installed certificate. A renewal keeps the installed certificate as
    ``superseded/<serial-hex>.crt``, makes the pending key ``node.key`` (the old key is
    gone) and writes the new ``node.crt``; a crash in between leaves the new key with the
    old certificate, and installing the same certificate again completes it. A
    ``keys_dir`` that already trusts a different root is refused. Idempotent.
    """
    cert = parse_certificate(cert_pem)
    root = parse_certificate(ca_cert_pem)
    root_suite, root_public = check_root(root)
    if cert.issuer != root.subject or not signed_by(cert, root_suite, root_public):
        raise KeyMaterialError(
            f"certificate of {subject_code(cert)} is not issued by the given root CA",
            hint="install the certificate together with the ca.crt of the CA that signed it",
        )
    if is_ca_certificate(cert):
        raise KeyMaterialError(f"certificate of {subject_code(cert)} is a CA certificate")
    suite, public = suite_public(cert, KeyMaterialError)
    if suite is not root_suite:
        raise KeyMaterialError(
            f"certificate of {subject_code(cert)} holds an {suite.name} key, but its root "
            f"signs with {root_suite.name}"
        )
    key = _load_node_key(keys_dir, suite)
    pending = keys_dir / NODE_KEY_PENDING
    renewing = not _holds(suite, key, public)
    if renewing and not (
        pending.exists()
        and _holds(suite, _load_node_key(keys_dir, suite, NODE_KEY_PENDING), public)
    ):
        keys = f"{keys_dir / NODE_KEY}" + (f" or {pending.name}" if pending.exists() else "")
        raise KeyMaterialError(
            f"certificate of {subject_code(cert)} is for another key than {keys}",
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
    if renewing:
        _supersede(keys_dir, identity.code)
    write_key_material(keys_dir / NODE_CERT, certificate_pem(cert), 0o644)
    write_key_material(existing_root, certificate_pem(root), 0o644)
    return identity


def _supersede(keys_dir: Path, code: str) -> None:
    """Keep the installed certificate in ``superseded/`` and make the pending key the
    node's key (replacing, and so destroying, the old one)."""
    installed = parse_certificate(
        _read(keys_dir / NODE_CERT, "node certificate", "a renewal needs the installed one")
    )
    if certificate_identity(installed, KeyMaterialError)[0] != code:
        raise KeyMaterialError(
            f"the certificate is for {code}, but {keys_dir / NODE_CERT} is of another node"
        )
    _make_private_dir(keys_dir / SUPERSEDED_DIR)
    kept = keys_dir / SUPERSEDED_DIR / f"{installed.serial_number:x}.crt"
    write_key_material(kept, certificate_pem(installed), 0o644)
    try:
        os.replace(keys_dir / NODE_KEY_PENDING, keys_dir / NODE_KEY)
        fsync_directory(keys_dir)
    except OSError as exc:
        raise KeyMaterialError(f"cannot replace {keys_dir / NODE_KEY}: {exc.strerror}") from exc


def describe_certificate(cert: x509.Certificate) -> NodeIdentity:
    """Return the code, role, serial, fingerprint and validity a node certificate binds.

    Raises :class:`KeyMaterialError` if it is not a consistent fiscalsync node certificate.
    Nothing about its issuer, validity or revocation is checked: see :class:`TrustStore`.
    """
    code, role = certificate_identity(cert, KeyMaterialError)
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
    cert_pem = _read(
        keys_dir / NODE_CERT,
        "node certificate",
        "have the province sign node.csr, then install the certificate",
    )
    key_pem = _read(
        keys_dir / NODE_KEY,
        "node key",
        "make the node's key first (new_node_key) and have the province sign its node.csr",
    )
    return _signer(keys_dir, cert_pem, key_pem)


@functools.lru_cache(maxsize=64)
def _signer(keys_dir: Path, cert_pem: bytes, key_pem: bytes) -> Signer:
    """The signer of these exact files (read every time: a renewal replaces them); kept,
    as parsing a key and checking that it holds the certificate's costs far more."""
    cert = parse_certificate(cert_pem)
    suite, public = suite_public(cert, KeyMaterialError)
    try:
        key = suite.load_private_key_pem(key_pem, None)
    except KeyMaterialError as exc:
        raise KeyMaterialError(f"{keys_dir / NODE_KEY} is not a readable {suite.name} key") from exc
    if not _holds(suite, key, public):
        raise KeyMaterialError(
            f"{keys_dir / NODE_CERT} does not belong to {keys_dir / NODE_KEY}",
            hint="install the certificate signed for this key (fiscalsync keys install CERT "
            "--ca-cert ca.crt); after an interrupted renewal, install the new one again",
        )
    code, role = certificate_identity(cert, KeyMaterialError)
    return Signer(
        code=code,
        role=role,
        certificate=cert,
        fingerprint=certificate_fingerprint(cert),
        suite=suite,
        private_key=key,
    )


# --- revocation ---------------------------------------------------------------------------


def issued_certificates(ca: RootCA, code: str | None = None) -> list[x509.Certificate]:
    """Every certificate the CA issued (its ``issued/`` record), or only those of ``code``."""
    return issued_in(ca.ca_dir, code)


def issued_in(ca_dir: Path, code: str | None = None) -> list[x509.Certificate]:
    """Every certificate the CA folder ``ca_dir`` records as issued (no key is needed),
    or only those of ``code``."""
    issued = ca_dir / ISSUED_DIR
    try:
        records = sorted(issued.glob("*.pem"))
    except OSError as exc:
        raise KeyMaterialError(f"cannot list {issued}: {exc.strerror or exc}") from exc
    certs = [parse_certificate(_read(record, "issued certificate", "")) for record in records]
    if code is None:
        return certs
    return [cert for cert in certs if name_attribute(cert.subject, NameOID.COMMON_NAME) == code]


def revoked_codes(ca: RootCA) -> frozenset[str]:
    """Codes of the nodes whose every issued certificate is revoked."""
    revoked = ca.crl().serials
    by_code: dict[str, list[int]] = {}
    for cert in issued_certificates(ca):
        code = name_attribute(cert.subject, NameOID.COMMON_NAME)
        if code is not None:
            by_code.setdefault(code, []).append(cert.serial_number)
    return frozenset(c for c, serials in by_code.items() if all(s in revoked for s in serials))


def revoke(ca: RootCA, code: str, reason: str | None, clock: Clock) -> RevocationList:
    """Revoke every certificate ever issued to ``code`` and write the next ``crl.pem``.

    The new list keeps every earlier entry, has the next CRL number and a fresh
    validity. If every certificate of ``code`` is already revoked the current list is
    returned unchanged. ``reason`` is an RFC 5280 reason (``keyCompromise`` or
    ``key_compromise``) or None.
    """
    flag = reason_flag(reason)
    certs = issued_certificates(ca, code)
    if not certs:
        raise KeyMaterialError(f"no certificate was ever issued to {code} by this CA")
    current = ca.crl()
    fresh = [cert for cert in certs if not current.is_revoked(cert.serial_number)]
    if not fresh:
        return current
    now = clock.now()
    entries = current.entries + [revocation_entry(c.serial_number, now, flag) for c in fresh]
    crl = issue_crl(ca.cert, ca.key, current.number + 1, entries, now)
    write_crl(ca.ca_dir / CRL_FILE, crl)
    return crl
