"""Locks on a node home, so that processes sharing one home never step on each other.

Three advisory locks (``flock``), each a file in the home:

- ``home.lock``: every command that writes to the home holds it *shared* (operators
  allocating, recording, reporting, releasing from quarantine, a sync round); what must
  be alone with the home (``db upgrade``, a restore, ``check --repair`` while it
  deletes) holds it *exclusive*.
- ``sync.lock``: a sync round holds it exclusive (the agent's job, ``fiscalsync sync``,
  ``network sync``): two rounds on one home would take the same files twice.
  ``fiscalsync check`` holds it too, so that no round moves files under it.
- ``agent.lock``: the agent holds it for as long as it runs; a second agent is refused.
- ``backup.lock``: a backup being taken holds it; a second one waits, then follows it.

And ``topology.lock`` in the province's home, held exclusive while the topology is read,
changed and sent down as its next version (``network add-node``, ``move-node``,
``retire-node``): two changes at once would lose one of them.

And one in the province's CA folder: ``ca.lock``, held exclusive by whatever issues a
revocation list from it (``pki revoke``, ``revocation publish``, the agent's
re-publication), each of which reads the current list and writes the next: two at once
would give two lists one number, or lose a revocation.

A lock that is busy is waited for a bounded time (30 seconds, or
``FISCALSYNC_LOCK_WAIT`` seconds), then refused with a message naming its holder when
that is known. Money itself is protected by row locks in the database
(:mod:`schema.locks`), not by these.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nodes.labels import Said, said
from sync.errors import ConfigError, HomeError

__all__ = [
    "AGENT_LOCK",
    "BACKUP_LOCK",
    "CA_LOCK",
    "HOME_LOCK",
    "SYNC_LOCK",
    "agent_lock",
    "backup_lock",
    "ca_lock",
    "home_lock",
    "sync_lock",
    "topology_lock",
]

HOME_LOCK = "home.lock"
SYNC_LOCK = "sync.lock"
AGENT_LOCK = "agent.lock"
BACKUP_LOCK = "backup.lock"
CA_LOCK = "ca.lock"
TOPOLOGY_LOCK = "topology.lock"
WAIT_SECONDS = 30.0
WAIT_VARIABLE = "FISCALSYNC_LOCK_WAIT"
_POLL_SECONDS = 0.05


def _wait() -> float:
    text = os.environ.get(WAIT_VARIABLE)
    if text is None:
        return WAIT_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86_400:
        raise ConfigError(
            said("lock_wait_bad", variable=WAIT_VARIABLE, text=text),
            hint=said("lock_wait_bad_hint", variable=WAIT_VARIABLE, seconds=f"{WAIT_SECONDS:g}"),
        )
    return seconds


@contextmanager
def _held(
    path: Path, *, exclusive: bool, wait: float | None, busy: Said, hint: Said
) -> Iterator[None]:
    try:
        handle = path.open("a+")
    except OSError as exc:
        raise HomeError(
            said("lock_cannot_open", path=path, error=exc.strerror or str(exc)),
            hint=said("lock_cannot_open_hint"),
        ) from exc
    with handle:
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        deadline = time.monotonic() + (_wait() if wait is None else wait)
        while True:
            try:
                fcntl.flock(handle, mode)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip()
                    held = said("lock_held_by", busy=busy, holder=holder) if holder else busy
                    raise HomeError(held, hint=hint) from None
                time.sleep(_POLL_SECONDS)
        if exclusive:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}: {' '.join(sys.argv[:3]) or 'fiscalsync'}")
            handle.flush()
        try:
            yield
        finally:
            if exclusive:
                handle.seek(0)
                handle.truncate()
                handle.flush()


@contextmanager
def home_lock(home: Path, *, exclusive: bool = False, wait: float | None = None) -> Iterator[None]:
    """Hold the home lock: shared to write, exclusive to be alone with the home."""
    with _held(
        home / HOME_LOCK,
        exclusive=exclusive,
        wait=wait,
        busy=said("lock_home_busy" if exclusive else "lock_home_maintenance", home=home),
        hint=said("lock_home_busy_hint"),
    ):
        yield


@contextmanager
def sync_lock(home: Path, *, wait: float | None = None) -> Iterator[None]:
    """Hold the sync lock for one round: one round at a time on a home."""
    with _held(
        home / SYNC_LOCK,
        exclusive=True,
        wait=wait,
        busy=said("lock_sync_busy", home=home),
        hint=said("lock_sync_busy_hint"),
    ):
        yield


@contextmanager
def backup_lock(home: Path) -> Iterator[None]:
    """Hold the backup lock while a backup is taken: two at once would both follow the
    same previous manifest, and the keeper takes only one of them."""
    with _held(
        home / BACKUP_LOCK,
        exclusive=True,
        wait=None,
        busy=said("lock_backup_busy", home=home),
        hint=said("lock_backup_busy_hint"),
    ):
        yield


@contextmanager
def agent_lock(home: Path) -> Iterator[None]:
    """Hold the agent lock, or refuse at once: two agents must never run on one home."""
    with _held(
        home / AGENT_LOCK,
        exclusive=True,
        wait=0.0,
        busy=said("lock_agent_busy", home=home),
        hint=said("lock_agent_busy_hint"),
    ):
        yield


@contextmanager
def ca_lock(ca_dir: Path) -> Iterator[None]:
    """Hold the CA folder's lock while a revocation list is read and the next written."""
    with _held(
        ca_dir / CA_LOCK,
        exclusive=True,
        wait=None,
        busy=said("lock_ca_busy", ca=ca_dir),
        hint=said("lock_ca_busy_hint"),
    ):
        yield


@contextmanager
def topology_lock(home: Path) -> Iterator[None]:
    """Hold the province's topology lock while it changes the topology and sends it."""
    with _held(
        home / TOPOLOGY_LOCK,
        exclusive=True,
        wait=None,
        busy=said("lock_topology_busy", home=home),
        hint=said("lock_topology_busy_hint"),
    ):
        yield
