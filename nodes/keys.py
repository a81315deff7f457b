"""A node's keys and trust: its private key and certificate, the province's root CA.

The private key is made on the node and never leaves it (``keys new`` writes the key
and a signing request); the province signs the request (``pki sign``) and the node
installs the certificate beside the root certificate (``keys install``). A province
hosted on one machine (``network init``) gets its root CA in ``DIR/ca`` and every node
its key and certificate in one go.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from nodes.home import NodeHome
from nodes.topology import NodeSpec
from sync import pki
from sync.clock import Clock, SystemClock
from sync.errors import KeyMaterialError
from sync.files import write_atomic

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = [
    "CA_FOLDER",
    "SSH_KEY",
    "adopt_crl",
    "create_root",
    "install_certificate",
    "issue",
    "new_key",
    "publish_revocation",
    "revoke_node",
    "sign_request",
    "ssh_key",
    "trust_store",
]

CA_FOLDER = "ca"
SSH_KEY = "ssh_ed25519"
"""The node's SSH client key for reaching its parent's SFTP endpoint (OpenSSH format)."""


def new_key(home: NodeHome, code: str) -> tuple[Path, str]:
    """Make this node's signing key and request, and its SSH client key.

    Returns the request's path and the SSH public key line, which the parent's SFTP
    server must list in its ``authorized_keys``.
    """
    csr = pki.new_node_key(home.keys, code)
    ssh_public = ssh_key(home, code)
    return csr, ssh_public


def ssh_key(home: NodeHome, code: str) -> str:
    """The node's SSH public key line, making the key pair on first use."""
    private = home.keys / SSH_KEY
    public = home.keys / f"{SSH_KEY}.pub"
    if not private.exists():
        line = pki.generate_ssh_key(private, f"fiscalsync-{code}")
        write_atomic(public, (line + "\n").encode("ascii"))
    return public.read_text(encoding="ascii").strip()


def install_certificate(home: NodeHome, cert_file: Path, ca_cert_file: Path) -> pki.NodeIdentity:
    """Install the node's certificate with the root certificate, after checking both."""
    return pki.install_certificate(
        home.keys, _read(cert_file, "certificate"), _read(ca_cert_file, "CA certificate")
    )


def trust_store(home: NodeHome, clock: Clock | None = None) -> pki.TrustStore:
    """What this node trusts: the installed root certificate and revocation list."""
    return pki.TrustStore.load(home.keys, clock=clock or SystemClock())


def issue(ca: pki.RootCA, spec: NodeSpec, home: NodeHome, clock: Clock | None = None) -> None:
    """Give a node hosted beside its CA a key, a certificate for its role, and the CRL.

    Used where the province hosts the nodes itself (``network init``); elsewhere the
    key is made on the node with ``keys new`` and only the request travels.
    """
    csr = pki.new_node_key(home.keys, spec.code)
    cert = pki.sign_csr(ca, csr.read_bytes(), spec.role, clock=clock or SystemClock())
    pki.install_certificate(home.keys, cert, ca.cert_pem)
    write_atomic(home.keys / pki.CRL_FILE, ca.crl().pem)
    ssh_key(home, spec.code)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyMaterialError(f"cannot read {what} {path}: {exc.strerror}") from exc


def create_root(ca_dir: Path, province_code: str, passphrase: bytes | None) -> pki.RootCA:
    """``pki init-root``: the province's root CA, its key optionally passphrase-protected."""
    return pki.init_root(ca_dir, province_code, passphrase=passphrase, clock=SystemClock())


def sign_request(
    csr_file: Path,
    ca_dir: Path,
    role: str,
    *,
    validity_days: int,
    passphrase: bytes | None,
    out: Path | None,
) -> tuple[Path, pki.NodeIdentity]:
    """``pki sign``: issue a certificate for a node's signing request; return where it went."""
    ca = pki.load_root(ca_dir, passphrase)
    cert_pem = pki.sign_csr(
        ca,
        _read(csr_file, "signing request"),
        role,
        validity_days=validity_days,
        clock=SystemClock(),
    )
    cert = pki.parse_certificate(cert_pem)
    identity = pki.describe_certificate(cert)
    target = out or csr_file.with_name(f"{identity.code}.crt")
    write_atomic(target, cert_pem)
    return target, identity


def revoke_node(
    ca_dir: Path, code: str, reason: str | None, passphrase: bytes | None
) -> pki.RevocationList:
    """``pki revoke``: revoke every certificate of ``code``; return the new list."""
    ca = pki.load_root(ca_dir, passphrase)
    return pki.revoke(ca, code, reason, clock=SystemClock())


def adopt_crl(home: NodeHome, trust: pki.TrustStore, crl: pki.RevocationList) -> bool:
    """Make ``crl`` the node's revocation list, in memory and in ``keys/crl.pem``.

    Returns False when it is the list already held; an older list is refused
    (:class:`CertificateRejected`), since revocation never goes backwards.
    """
    if not trust.update_crl(crl):
        return False
    write_atomic(home.keys / pki.CRL_FILE, crl.pem)
    return True


def publish_revocation(node: Node, ca_dir: Path, passphrase: bytes | None) -> tuple[int, int]:
    """Send the CA's current revocation list down the tree; return (number, change-sets).

    The province adopts it itself first; a list older than the one in use is refused.
    Revoked nodes are left out: they could no longer sign a receipt for it.
    """
    if node.spec.role != "province":
        raise KeyMaterialError(f"only the province publishes revocations, not {node.spec.role}")
    ca = pki.load_root(ca_dir, passphrase)
    crl = ca.crl()
    adopt_crl(node.home, trust_store(node.home), crl)
    written = node.broadcast(
        "revocation",
        [{"op": "crl", "pem": crl.pem.decode("ascii")}],
        exclude=pki.revoked_codes(ca),
    )
    return crl.number, len(written)
