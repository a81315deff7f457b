"""The node's SSH client key, with which it logs in to its parent's SFTP endpoint.

It is an Ed25519 key of its own, apart from the signing key of the node's certificate:
the SFTP server lists its public line in ``authorized_keys`` (see the sftp transport).
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.pki import write_key_material

__all__ = ["generate_ssh_key"]


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
    write_key_material(path, private, 0o600, exclusive=True)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return f"{public.decode('ascii')} {comment}".rstrip()
