"""Backup keys (X25519): a node's own backup key and the province's recovery key.

Every backup is encrypted under a fresh data key, which is wrapped for two recipients
(:mod:`sync.backup.envelope`): the node's own backup key (``keys/backup.key``, made on
the node by its first backup, never sent anywhere) and the province's offline recovery
key (a county whose disk died has lost its own key). The recovery key's public half
reaches every node as a certificate signed by the province's root CA
(``keys/recovery.crt``), so a node never wraps for a key an attacker swapped in; its
private half stays offline in a *recovery kit*: one PEM file holding the private key,
the recovery certificate and the root certificate, which is all that ``restore`` needs
on a fresh machine to decrypt and to verify what it fetches.

Foreign errors of ``cryptography`` are translated here into :class:`KeyMaterialError`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.x509.oid import NameOID

from sync.errors import KeyMaterialError
from sync.files import write_atomic
from sync.signing import suite_of_certificate

__all__ = [
    "BACKUP_KEY",
    "RECOVERY_CERT",
    "RECOVERY_OU",
    "BackupKey",
    "RecoveryKit",
    "fingerprint",
    "issue_recovery",
    "load_backup_key",
    "load_kit",
    "load_or_create_backup_key",
    "load_recovery_certificate",
    "public_bytes",
]

BACKUP_KEY = "backup.key"
RECOVERY_CERT = "recovery.crt"
RECOVERY_OU = "recovery"
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----\s*", re.S)


def public_bytes(key: X25519PublicKey) -> bytes:
    """The 32 raw bytes of an X25519 public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(key: X25519PublicKey) -> str:
    """SHA-256 hex of the raw public key: how a wrapped key names its recipient."""
    return hashlib.sha256(public_bytes(key)).hexdigest()


@dataclass(frozen=True)
class BackupKey:
    """An X25519 private key that can unwrap data keys: a node's own, or the recovery key."""

    private: X25519PrivateKey = field(repr=False)

    @property
    def public(self) -> X25519PublicKey:
        return self.private.public_key()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)


@dataclass(frozen=True)
class RecoveryKit:
    """What ``restore`` needs on a fresh machine: a key that unwraps, and, when the file
    holds it, the province's root certificate to verify manifests with."""

    key: BackupKey
    root_pem: bytes | None


def _private_pem(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_private(data: bytes, where: str) -> X25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, None)
    except (ValueError, TypeError) as exc:
        raise KeyMaterialError(
            f"{where} holds no readable backup key", hint="give the recovery kit (PEM) file"
        ) from exc
    if not isinstance(key, X25519PrivateKey):
        raise KeyMaterialError(f"{where} holds a {type(key).__name__}, not an X25519 backup key")
    return key


def load_backup_key(path: Path) -> BackupKey:
    """The node's own backup key at ``path`` (KeyMaterialError if missing or unusable)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyMaterialError(f"cannot read the backup key {path}: {exc.strerror or exc}") from exc
    return BackupKey(_load_private(data, str(path)))


def load_or_create_backup_key(keys_dir: Path) -> BackupKey:
    """This node's backup key, made (mode 0600) the first time it is needed."""
    path = keys_dir / BACKUP_KEY
    if path.exists():
        return load_backup_key(path)
    key = X25519PrivateKey.generate()
    try:
        write_atomic(path, _private_pem(key), 0o600, exclusive=True)
    except FileExistsError:
        return load_backup_key(path)  # made by a backup running at the same time
    return BackupKey(key)


def load_kit(path: Path) -> RecoveryKit:
    """A recovery kit (or a node's own ``backup.key``): the private key, and the root
    certificate when the file holds one."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyMaterialError(
            f"cannot read the key file {path}: {exc.strerror or exc}",
            hint="give the province's recovery kit, or this node's keys/backup.key",
        ) from exc
    key: X25519PrivateKey | None = None
    root: bytes | None = None
    for block in _PEM_BLOCK.finditer(data):
        label = block.group(1)
        if label == b"PRIVATE KEY":
            key = _load_private(block.group(0), str(path))
        elif label == b"CERTIFICATE" and root is None:
            cert = _certificate(block.group(0), str(path))
            if cert.issuer == cert.subject:
                root = block.group(0)
    if key is None:
        raise KeyMaterialError(
            f"{path} holds no private key",
            hint="give the province's recovery kit, or this node's keys/backup.key",
        )
    return RecoveryKit(BackupKey(key), root)


def _certificate(data: bytes, where: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise KeyMaterialError(f"{where} holds an unreadable certificate") from exc


def issue_recovery(
    root_cert: x509.Certificate,
    root_key: Any,
    province: str,
    now: datetime,
    *,
    validity_days: int = 3650,
) -> tuple[bytes, bytes]:
    """Make the province's recovery key; return (kit PEM, certificate PEM).

    The certificate binds the X25519 public key to the province (``CN=recovery
    <province>, OU=recovery``) under the root CA; the kit holds the private key, the
    certificate and the root certificate, to be kept offline.
    """
    key = X25519PrivateKey.generate()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"fiscalsync recovery {province}"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, RECOVERY_OU),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fiscalsync"),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(root_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    cert = suite_of_certificate(root_cert).sign_certificate(builder, root_key)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    root_pem = root_cert.public_bytes(serialization.Encoding.PEM)
    return _private_pem(key) + cert_pem + root_pem, cert_pem


def load_recovery_certificate(data: bytes, root_pem: bytes, where: str) -> X25519PublicKey:
    """The recovery public key of a certificate, checked: signed by the root, for
    recovery, an X25519 key. :class:`KeyMaterialError` names what is wrong."""
    cert = _certificate(data, where)
    root = _certificate(root_pem, "the root certificate")
    suite = suite_of_certificate(root)
    root_key = suite.certificate_public_key(root)
    if not suite.signs(root_key, cert.signature, cert.tbs_certificate_bytes):
        raise KeyMaterialError(
            f"{where} is not signed by this province's root CA",
            hint="install the recovery certificate the province issued (ca/recovery.crt)",
        )
    units = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    if [a.value for a in units] != [RECOVERY_OU]:
        raise KeyMaterialError(f"{where} is not a recovery certificate")
    public = cert.public_key()
    if not isinstance(public, X25519PublicKey):
        raise KeyMaterialError(f"{where} does not hold an X25519 key")
    return public
