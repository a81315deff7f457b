"""Systemd units of a node: its ``agent`` and its data wall (``serve``), written by
``fiscalsync install-service``.

Each unit runs as an unprivileged user with the node's home as its only writable place
(``ProtectSystem=strict``, ``ReadWritePaths``), no new privileges, no capabilities, a
private ``/tmp`` and devices, the kernel and control groups out of reach, and only the
Unix and IP socket families; it is restarted on failure, and stopped with SIGTERM, which
the agent obeys after its running job (``TimeoutStopSec`` leaves it the time). The agent
logs JSON lines naming the node to the journal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nodes.labels import said
from sync.errors import InputError
from sync.files import write_atomic

__all__ = ["Unit", "units", "write_units"]

HARDENING = """\
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
ReadWritePaths={home}
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
CapabilityBoundingSet=
AmbientCapabilities=
UMask=0077
"""


HIDDEN = ("/tmp", "/var/tmp", "/home", "/root", "/run/user")
"""Where ``PrivateTmp`` and ``ProtectHome`` leave the service nothing: no home there."""
VOLATILE = ("/dev/shm", "/run")
"""File systems in memory, emptied at every restart: no home there either."""


@dataclass(frozen=True)
class Unit:
    """One unit file: its name and text."""

    name: str
    text: str


def _unit(description: str, user: str, home: Path, command: str, stop_seconds: int) -> str:
    return (
        "[Unit]\n"
        f"Description={description}\n"
        "After=network-online.target postgresql.service\n"
        "Wants=network-online.target\n"
        "\n[Service]\n"
        "Type=simple\n"
        f"User={user}\n"
        f"Group={user}\n"
        f"Environment=FISCALSYNC_HOME={home}\n"
        f"WorkingDirectory={home}\n"
        f"ExecStart={command}\n"
        "Restart=on-failure\n"
        "RestartSec=10s\n"
        "KillSignal=SIGTERM\n"
        f"TimeoutStopSec={stop_seconds}\n"
        + HARDENING.format(home=home)
        + "\n[Install]\nWantedBy=multi-user.target\n"
    )


def units(
    code: str,
    name: str,
    home: Path,
    executable: Path,
    *,
    user: str = "fiscalsync",
    port: int = 8470,
    metrics_port: int | None = None,
) -> list[Unit]:
    """The units of node ``code`` at ``home``, running ``executable`` (``fiscalsync``)."""
    if not home.is_absolute() or not executable.is_absolute():
        raise InputError(said("service_not_absolute"))
    hidden = next((p for p in HIDDEN if home == Path(p) or Path(p) in home.parents), None)
    if hidden is not None:
        raise InputError(
            said("service_home_hidden", home=home, hidden=hidden),
            hint=said("service_home_move_hint"),
        )
    volatile = next((p for p in VOLATILE if Path(p) in home.parents), None)
    if volatile is not None:
        raise InputError(
            said("service_home_volatile", home=home, volatile=volatile),
            hint=said("service_home_move_hint"),
        )
    if not user or any(c.isspace() for c in user):
        raise InputError(said("service_user_bad", user=user))
    agent = f"{executable} agent --log-format json"
    if metrics_port is not None:
        agent += f" --metrics-port {metrics_port}"
    return [
        Unit(
            f"fiscalsync-agent-{code}.service",
            _unit(f"fiscalsync agent of node {code} ({name})", user, home, agent, 600),
        ),
        Unit(
            f"fiscalsync-serve-{code}.service",
            _unit(
                f"fiscalsync data wall of node {code} ({name})",
                user,
                home,
                f"{executable} serve --port {port}",
                30,
            ),
        ),
    ]


def write_units(folder: Path, made: list[Unit]) -> list[Path]:
    """Write the units into ``folder`` (each atomically, readable by all); return them."""
    if not folder.is_dir():
        raise InputError(
            said("service_no_folder", folder=folder), hint=said("service_no_folder_hint")
        )
    written = []
    for unit in made:
        path = folder / unit.name
        write_atomic(path, unit.text.encode("utf-8"), 0o644)
        written.append(path)
    return written
