"""Backup keys: a node's own backup key and the province's recovery key.

Every backup is encrypted under a fresh data key, which is wrapped for two recipients
(:mod:`sync.backup.envelope`): the node's own backup key (``keys/backup.key``, made on
the node by its first backup, never sent anywhere) and the province's offline recovery
key (a county whose disk died has lost its own key). The recovery key's public half
reaches every node as a certificate signed by the province's root CA
(``keys/recovery.crt``), so a node never wraps for a key an attacker swapped in; its
private half stays offline in a *recovery kit*: one PEM file holding the private key,
the recovery certificate and the root certificate, which is all that ``restore`` needs
on a fresh machine to decrypt and to verify what it fetches.

**Key types.** In an Ed25519 network backup keys are X25519 (data keys wrapped by
X25519 + HKDF); in an SM2 network they are SM2 keys (data keys wrapped by SM2 public-key
encryption, GB/T 32918.4), their files PKCS#8 as the network's other SM2 keys, their
fingerprints SM3. A key is used as it was made: a node of an SM2 network that made an
X25519 backup key before keeps it, and backups wrapped for either kind stay readable.

Foreign errors of ``cryptography`` are translated here into :class:`KeyMaterialError`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.x509.oid import NameOID

from sync import sm2
from sync.errors import KeyMaterialError
from sync.files import write_atomic
from sync.said import said
from sync.signing import get_suite, suite_of_certificate

__all__ = [
    "BACKUP_KEY",
    "RECOVERY_CERT",
    "RECOVERY_OU",
    "BackupKey",
    "PrivateBackupKey",
    "PublicBackupKey",
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


PublicBackupKey = X25519PublicKey | sm2.SM2PublicKey
"""A key data keys are wrapped for: X25519 (Ed25519 networks) or SM2 (SM2 networks)."""
PrivateBackupKey = X25519PrivateKey | sm2.SM2PrivateKey


def public_bytes(key: PublicBackupKey) -> bytes:
    """The raw public key: 32 bytes of X25519, or the SM2 point ``04 || x || y``."""
    if isinstance(key, sm2.SM2PublicKey):
        return key.point
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(key: PublicBackupKey) -> str:
    """How a wrapped key names its recipient: the hex hash of the raw public key, SHA-256
    for X25519, SM3 for SM2."""
    if isinstance(key, sm2.SM2PublicKey):
        return get_suite("sm2").digest(key.point)
    return hashlib.sha256(public_bytes(key)).hexdigest()


@dataclass(frozen=True)
class BackupKey:
    """A private key that can unwrap data keys: a node's own, or the recovery key."""

    private: PrivateBackupKey = field(repr=False)

    @property
    def public(self) -> PublicBackupKey:
        if isinstance(self.private, sm2.SM2PrivateKey):
            return self.private.public
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


def _new_private(suite: str) -> PrivateBackupKey:
    """A fresh backup key for a network of signature ``suite``."""
    return sm2.generate() if suite == "sm2" else X25519PrivateKey.generate()


def _private_pem(key: PrivateBackupKey) -> bytes:
    if isinstance(key, sm2.SM2PrivateKey):
        return get_suite("sm2").private_key_pem(key)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_private(data: bytes, where: str) -> PrivateBackupKey:
    try:
        key = serialization.load_pem_private_key(data, None)
    except UnsupportedAlgorithm:  # the SM2 curve, which cryptography does not read
        return _sm2_private(data, where)
    except (ValueError, TypeError) as exc:
        raise KeyMaterialError(
            said("bk_key_unreadable", where=where), hint=said("bk_kit_hint")
        ) from exc
    if not isinstance(key, X25519PrivateKey):
        raise KeyMaterialError(said("bk_key_type", where=where, type=type(key).__name__))
    return key


def _sm2_private(data: bytes, where: str) -> sm2.SM2PrivateKey:
    try:
        key = get_suite("sm2").load_private_key_pem(data)
    except KeyMaterialError as exc:
        raise KeyMaterialError(
            said("bk_key_unreadable_because", where=where, error=exc.message),
            hint=said("bk_kit_hint"),
        ) from exc
    if not isinstance(key, sm2.SM2PrivateKey):  # pragma: no cover - the suite makes these
        raise KeyMaterialError(said("bk_key_unreadable", where=where))
    return key


def load_backup_key(path: Path) -> BackupKey:
    """The node's own backup key at ``path`` (KeyMaterialError if missing or unusable)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyMaterialError(
            said("bk_key_file_unreadable", path=path, error=exc.strerror or exc)
        ) from exc
    return BackupKey(_load_private(data, str(path)))


def load_or_create_backup_key(keys_dir: Path, suite: str = "ed25519") -> BackupKey:
    """This node's backup key, made (mode 0600) the first time it is needed, of the kind
    of its network's signature ``suite`` (SM2 for ``sm2``, else X25519)."""
    path = keys_dir / BACKUP_KEY
    if path.exists():
        return load_backup_key(path)
    key = _new_private(suite)
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
            said("bk_kit_unreadable", path=path, error=exc.strerror or exc),
            hint=said("bk_not_for_key_hint"),
        ) from exc
    key: PrivateBackupKey | None = None
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
            said("bk_no_private_key", path=path), hint=said("bk_not_for_key_hint")
        )
    return RecoveryKit(BackupKey(key), root)


def _certificate(data: bytes, where: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise KeyMaterialError(said("bk_cert_unreadable", where=where)) from exc


def issue_recovery(
    root_cert: x509.Certificate,
    root_key: Any,
    province: str,
    now: datetime,
    *,
    validity_days: int = 3650,
) -> tuple[bytes, bytes]:
    """Make the province's recovery key; return (kit PEM, certificate PEM).

    The certificate binds the public key (SM2 under an SM2 root, else X25519) to the
    province (``CN=recovery <province>, OU=recovery``) under the root CA; the kit holds
    the private key, the certificate and the root certificate, to be kept offline.
    """
    suite = suite_of_certificate(root_cert)
    key = _new_private(suite.name)
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
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if isinstance(key, sm2.SM2PrivateKey):
        cert = suite.sign_certificate(builder, root_key, key.public)
    else:
        cert = suite.sign_certificate(builder.public_key(key.public_key()), root_key)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    root_pem = root_cert.public_bytes(serialization.Encoding.PEM)
    return _private_pem(key) + cert_pem + root_pem, cert_pem


def load_recovery_certificate(data: bytes, root_pem: bytes, where: str) -> PublicBackupKey:
    """The recovery public key of a certificate, checked: signed by the root, for
    recovery, an X25519 or SM2 key. :class:`KeyMaterialError` names what is wrong."""
    cert = _certificate(data, where)
    root = _certificate(root_pem, "the root certificate")
    suite = suite_of_certificate(root)
    root_key = suite.certificate_public_key(root)
    if not suite.signs(root_key, cert.signature, cert.tbs_certificate_bytes):
        raise KeyMaterialError(
            said("bk_recovery_not_by_root", where=where), hint=said("bk_recovery_hint")
        )
    units = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    if [a.value for a in units] != [RECOVERY_OU]:
        raise KeyMaterialError(said("bk_not_recovery", where=where))
    national = get_suite("sm2")
    if national.owns(cert):
        found: Any = national.certificate_public_key(cert)
        return cast(sm2.SM2PublicKey, found)
    try:
        public = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyMaterialError(said("bk_recovery_key_unreadable", where=where)) from exc
    if not isinstance(public, X25519PublicKey):
        raise KeyMaterialError(said("bk_recovery_key_type", where=where))
    return public
