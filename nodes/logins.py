"""The logins of the data wall: user names and scrypt-hashed passwords kept in a file.

One line per user, ``name:scrypt$n$r$p$salt$hash`` (salt and hash in base64); blank
lines and lines starting with ``#`` are ignored. ``fiscalsync serve-password`` writes a
line. A password is never stored nor compared in clear: :meth:`Logins.check` hashes the
one given with the stored salt and parameters and compares in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from nodes.labels import said
from sync.errors import ConfigError, InputError

__all__ = ["Logins", "hash_password", "load_logins"]

SCHEME = "scrypt"
N, R, P = 2**14, 8, 1
_NOBODY = b"\0" * 16
"""The salt a password given for no user is hashed with."""
MIN_PASSWORD = 10


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)


def hash_password(name: str, password: str) -> str:
    """The line of a logins file for ``name`` with ``password``."""
    if not name or ":" in name or any(c.isspace() for c in name):
        raise InputError(said("login_name_bad", name=name))
    if len(password) < MIN_PASSWORD:
        raise InputError(said("login_password_short", least=MIN_PASSWORD))
    salt = os.urandom(16)
    digest = _scrypt(password, salt, N, R, P)
    b64 = base64.b64encode
    return f"{name}:{SCHEME}${N}${R}${P}${b64(salt).decode()}${b64(digest).decode()}"


@dataclass(frozen=True)
class Logins:
    """Who may log in, with their hashed passwords."""

    users: dict[str, tuple[int, int, int, bytes, bytes]]

    def check(self, name: str, password: str) -> bool:
        entry = self.users.get(name)
        if entry is None:  # hashed all the same: how long it takes names no user
            _scrypt(password, _NOBODY, N, R, P)
            return False
        n, r, p, salt, digest = entry
        return hmac.compare_digest(_scrypt(password, salt, n, r, p), digest)


def load_logins(path: Path) -> Logins:
    """Read a logins file; a malformed line is a :class:`ConfigError` naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(said("logins_unreadable", path=path, error=str(exc))) from exc
    users = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, stored = line.partition(":")
        parts = stored.split("$")
        try:
            if parts[0] != SCHEME or len(parts) != 6:
                raise ValueError(parts[0])
            n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
            salt, digest = base64.b64decode(parts[4]), base64.b64decode(parts[5])
        except (ValueError, IndexError) as exc:
            raise ConfigError(
                said("logins_line_bad", path=path, number=number),
                hint=said("logins_line_bad_hint"),
            ) from exc
        users[name] = (n, r, p, salt, digest)
    if not users:
        raise ConfigError(said("logins_empty", path=path))
    return Logins(users)
