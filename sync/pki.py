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
            _read(self.ca_dir / CRL_FILE, said("what_crl"), said("restore_ca_folder_hint")),
            self.cert,
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
        raise InputError(said("not_node_code", code=repr(province_code)))
    if validity_days < 1:
        raise InputError(said("validity_days", days=validity_days))
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
    hint = said("ca_missing_hint", file=CA_KEY)
    key_pem = _read(ca_dir / CA_KEY, said("what_ca_key"), hint)
    cert_pem = _read(ca_dir / CA_CERT, said("what_ca_cert"), hint)
    cert = parse_certificate(cert_pem)
    suite, public = check_root(cert)
    encrypted = _ENCRYPTED_PEM.search(key_pem) is not None
    if encrypted and passphrase is None:
        raise KeyMaterialError(
            said("ca_key_encrypted", path=ca_dir / CA_KEY),
            hint=said("ca_key_encrypted_hint"),
        )
    if not encrypted and passphrase is not None:
        raise KeyMaterialError(
            said("ca_key_plain", path=ca_dir / CA_KEY),
            hint=said("ca_key_plain_hint"),
        )
    try:
        key = suite.load_private_key_pem(key_pem, passphrase)
    except KeyMaterialError as exc:
        if passphrase is not None:
            raise KeyMaterialError(
                said("ca_wrong_passphrase", path=ca_dir / CA_KEY),
                hint=said("ca_wrong_passphrase_hint"),
            ) from exc
        raise KeyMaterialError(
            said("not_readable_private_key", path=ca_dir / CA_KEY, suite=suite.name)
        ) from exc
    if suite.public_bytes(public) != suite.public_bytes(suite.public_key_of(key)):
        raise KeyMaterialError(said("cert_not_of_key", cert=ca_dir / CA_CERT, key=ca_dir / CA_KEY))
    common_name = name_attribute(cert.subject, NameOID.COMMON_NAME) or ""
    code = common_name.removeprefix(ROOT_CN_PREFIX)
    if not common_name.startswith(ROOT_CN_PREFIX) or not is_node_code(code):
        raise KeyMaterialError(said("not_root_ca", path=ca_dir / CA_CERT))
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
                said("own_cert_not_begun", now=utc_text(moment), begins=utc_text(begins)),
                hint=said("own_cert_not_begun_hint"),
            )
        if moment > ends:
            raise KeyMaterialError(
                said("own_cert_expired", ends=utc_text(ends)),
                hint=said("own_cert_expired_hint"),
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
        raise InputError(said("not_node_code", code=repr(code)))
    signature = _node_suite(keys_dir, suite)
    target = keys_dir / NODE_KEY
    if renew:
        target = _renewal_target(keys_dir, code)
    elif target.exists():
        raise KeyMaterialError(
            said("node_key_exists", path=target),
            hint=said("node_key_exists_hint"),
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
            said("network_suite", installed=installed.name, chosen=chosen.name),
            hint=said("network_suite_hint", installed=installed.name),
        )
    return chosen


def _renewal_target(keys_dir: Path, code: str) -> Path:
    """Where a renewal's key goes, once the node is known to hold a key and certificate."""
    if not (keys_dir / NODE_KEY).exists() or not (keys_dir / NODE_CERT).exists():
        raise KeyMaterialError(
            said("nothing_to_renew", folder=keys_dir),
            hint=said("nothing_to_renew_hint"),
        )
    installed = parse_certificate(_read(keys_dir / NODE_CERT, said("what_node_cert"), ""))
    if certificate_identity(installed, KeyMaterialError)[0] != code:
        raise KeyMaterialError(said("cert_not_of_code", path=keys_dir / NODE_CERT, code=code))
    pending = keys_dir / NODE_KEY_PENDING
    if pending.exists():
        raise KeyMaterialError(
            said("renewal_pending", path=pending),
            hint=said("renewal_pending_hint", name=pending.name),
        )
    return pending


def requested_code(csr_pem: bytes) -> str:
    """The node code a certificate signing request asks for (its subject CN), unchecked
    beyond being a node code: :func:`sign_csr` checks the request whole."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise KeyMaterialError(said("csr_unreadable", error=str(exc))) from exc
    code = name_attribute(csr.subject, NameOID.COMMON_NAME)
    if code is None or not is_node_code(code):
        raise KeyMaterialError(said("csr_cn", code=repr(code)))
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
        raise InputError(said("unknown_role", role=repr(role), roles=", ".join(ROLES)))
    if validity_days < 1:
        raise InputError(said("validity_days", days=validity_days))
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise KeyMaterialError(said("csr_unreadable", error=str(exc))) from exc
    suite = ca.suite
    try:
        public = suite.request_public_key(csr)
    except KeyMaterialError as exc:
        raise KeyMaterialError(
            said("csr_other_suite", error=exc.message, suite=suite.name),
            hint=said("csr_other_suite_hint", suite=suite.name),
        ) from exc
    code = name_attribute(csr.subject, NameOID.COMMON_NAME)
    if code is None or not is_node_code(code):
        raise KeyMaterialError(said("csr_cn", code=repr(code)))
    now = clock.now()
    root_end = ca.cert.not_valid_after_utc
    if now >= root_end:
        raise KeyMaterialError(said("root_expired", ends=utc_text(root_end)))
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
    data = _read(path, said("what_node_key"), said("node_key_missing_hint"))
    try:
        return suite.load_private_key_pem(data, None)
    except KeyMaterialError as exc:
        raise KeyMaterialError(said("not_readable_key", path=path, suite=suite.name)) from exc


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
            said("cert_not_by_given_root", code=subject_code(cert)),
            hint=said("cert_not_by_given_root_hint"),
        )
    if is_ca_certificate(cert):
        raise KeyMaterialError(said("cert_is_ca", who=said("cert_of", code=subject_code(cert))))
    suite, public = suite_public(cert, KeyMaterialError)
    if suite is not root_suite:
        raise KeyMaterialError(
            said(
                "cert_suite_not_root",
                code=subject_code(cert),
                suite=suite.name,
                root=root_suite.name,
            )
        )
    key = _load_node_key(keys_dir, suite)
    pending = keys_dir / NODE_KEY_PENDING
    renewing = not _holds(suite, key, public)
    if renewing and not (
        pending.exists()
        and _holds(suite, _load_node_key(keys_dir, suite, NODE_KEY_PENDING), public)
    ):
        keys = (
            said("key_or_pending", key=keys_dir / NODE_KEY, pending=pending.name)
            if pending.exists()
            else str(keys_dir / NODE_KEY)
        )
        raise KeyMaterialError(
            said("cert_other_key", code=subject_code(cert), keys=keys),
            hint=said("cert_other_key_hint"),
        )
    identity = describe_certificate(cert)
    existing_root = keys_dir / CA_CERT
    if existing_root.exists():
        current = parse_certificate(_read(existing_root, said("what_ca_cert"), ""))
        if current != root:
            raise KeyMaterialError(
                said("other_root_held", path=existing_root),
                hint=said("other_root_held_hint"),
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
        _read(keys_dir / NODE_CERT, said("what_node_cert"), said("renewal_needs_cert_hint"))
    )
    if certificate_identity(installed, KeyMaterialError)[0] != code:
        raise KeyMaterialError(said("cert_for_other_node", code=code, path=keys_dir / NODE_CERT))
    _make_private_dir(keys_dir / SUPERSEDED_DIR)
    kept = keys_dir / SUPERSEDED_DIR / f"{installed.serial_number:x}.crt"
    write_key_material(kept, certificate_pem(installed), 0o644)
    try:
        os.replace(keys_dir / NODE_KEY_PENDING, keys_dir / NODE_KEY)
        fsync_directory(keys_dir)
    except OSError as exc:
        raise KeyMaterialError(
            said("cannot_replace", path=keys_dir / NODE_KEY, error=exc.strerror)
        ) from exc


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


SIGNERS_KEPT = 1_024
"""Signers kept per process: more than the nodes of a province hosted in one folder
(177 for Henan), which ``network sync`` opens one after the other at every sync; fewer,
and the least recently used, the next node's, would always be the one let go."""


def load_signer(keys_dir: Path) -> Signer:
    """Load the node's key and certificate from ``keys_dir`` for signing change-sets."""
    cert_pem = _read(keys_dir / NODE_CERT, said("what_node_cert"), said("node_cert_missing_hint"))
    key_pem = _read(keys_dir / NODE_KEY, said("what_node_key"), said("node_key_missing_hint"))
    return _signer(keys_dir, cert_pem, key_pem)


@functools.lru_cache(maxsize=SIGNERS_KEPT)
def _signer(keys_dir: Path, cert_pem: bytes, key_pem: bytes) -> Signer:
    """The signer of these exact files (read every time: a renewal replaces them); kept,
    as parsing a key and checking that it holds the certificate's costs far more."""
    cert = parse_certificate(cert_pem)
    suite, public = suite_public(cert, KeyMaterialError)
    try:
        key = suite.load_private_key_pem(key_pem, None)
    except KeyMaterialError as exc:
        raise KeyMaterialError(
            said("not_readable_key", path=keys_dir / NODE_KEY, suite=suite.name)
        ) from exc
    if not _holds(suite, key, public):
        raise KeyMaterialError(
            said("cert_not_of_key", cert=keys_dir / NODE_CERT, key=keys_dir / NODE_KEY),
            hint=said("node_cert_not_of_key_hint"),
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
        raise KeyMaterialError(said("cannot_list", path=issued, error=exc.strerror or exc)) from exc
    certs = [parse_certificate(_read(record, said("what_issued_cert"), "")) for record in records]
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
        raise KeyMaterialError(said("never_issued", code=code))
    current = ca.crl()
    fresh = [cert for cert in certs if not current.is_revoked(cert.serial_number)]
    if not fresh:
        return current
    now = clock.now()
    entries = current.entries + [revocation_entry(c.serial_number, now, flag) for c in fresh]
    crl = issue_crl(ca.cert, ca.key, current.number + 1, entries, now)
    write_crl(ca.ca_dir / CRL_FILE, crl)
    return crl
