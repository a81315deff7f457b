"""Backups, domain-free: keys, the encryption envelope, chunking, the manifest.

What a node backs up, how it ships it and how it is restored is the runtime's
(:mod:`nodes.backups`, :mod:`nodes.restore`, :mod:`nodes.restore_objects`); this package
knows bytes, keys and manifests only.
"""

from sync.backup.envelope import BackupDamaged, DataKey, Wrap, decrypt_object, encrypt_object
from sync.backup.manifest import KIND, Chunk, Index, Manifest, Part, ReadManifest, read_manifest

__all__ = [
    "KIND",
    "BackupDamaged",
    "Chunk",
    "DataKey",
    "Index",
    "Manifest",
    "Part",
    "ReadManifest",
    "Wrap",
    "decrypt_object",
    "encrypt_object",
    "read_manifest",
]
