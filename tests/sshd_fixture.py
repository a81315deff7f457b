"""A real OpenSSH server on 127.0.0.1 for the sftp transport's tests: the ``sshd`` fixture.

One ``sshd -D -e`` per test session, on a free port, with its own Ed25519 host key,
accepting one generated client key and nothing else (no password, no PAM), serving
``internal-sftp``. Each test gets it running, with its original host key and a fresh
empty root folder; a test may stop and start it, break or freeze its sessions, or give
it a new host key.

A test that needs a server of its own (more configuration, such as the ``Match`` blocks
of ``fiscalsync sftp-config``) starts one with :func:`start_server` and stops it.

The server must be installed (``apt-get install -y openssh-server``). When it cannot be
started the tests that need it skip, unless ``FISCALSYNC_TEST_REQUIRE`` names ``sshd``:
then they fail, so that CI never passes by skipping.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import quote

import pytest

from sync.errors import TransportError
from sync.sshkeys import generate_ssh_key as generate_client_key
from sync.transports.sftp import SftpTransport

SSHD = shutil.which("sshd", path=f"/usr/sbin:/usr/local/sbin:{os.environ.get('PATH', '')}")
PRIVSEP_DIR = Path("/run/sshd")
REQUIRED = {
    s.strip() for s in os.environ.get("FISCALSYNC_TEST_REQUIRE", "").split(",") if s.strip()
}


class SshdUnavailable(Exception):
    """sshd could not be started here."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``: sshd's session processes and their children."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


class Sshd:
    """A running (or stopped) sshd and what a client needs to reach it."""

    host = "127.0.0.1"

    def __init__(
        self, workdir: Path, extra_config: Sequence[str] = (), *, strict_modes: bool = False
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.extra_config = list(extra_config)  # after the fixture's own lines
        self.strict_modes = strict_modes  # sshd checks who owns and may write the key files
        self.port = _free_port()
        self.user = getpass.getuser()
        self.client_key = workdir / "client_key"
        self.client_public_key = generate_client_key(self.client_key, "fiscalsync-test")
        self.authorized_keys = workdir / "authorized_keys"
        self.authorized_keys.write_text(self.client_public_key + "\n")
        self.host_key_file = workdir / "host_key"
        self.host_key = self._new_host_key()
        self.original_host_key = self.host_key
        self._original_host_key_bytes = self.host_key_file.read_bytes()
        self.root = workdir / "root"
        self.log = workdir / "sshd.log"
        self.config = workdir / "sshd_config"
        self._process: subprocess.Popen[bytes] | None = None

    # -- for clients ----------------------------------------------------------------------

    def url(self, root: Path | None = None) -> str:
        """``sftp://USER@127.0.0.1:PORT/ROOT``, by default this test's root folder."""
        path = quote(str(root or self.root))
        return f"sftp://{self.user}@{self.host}:{self.port}{path}"

    def transport(self, root: Path | None = None, **options: float) -> SftpTransport:
        """An SftpTransport to this server, with short timeouts unless told otherwise."""
        timeouts = {"connect_timeout": 5.0, "banner_timeout": 5.0, "auth_timeout": 5.0}
        timeouts.update(options)
        return SftpTransport(self.url(root), self.host_key, self.client_key, **timeouts)

    # -- control --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        self._write_config()
        with open(self.log, "ab") as log:
            self._process = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                raise SshdUnavailable(f"sshd exited at start: {self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as probe:
                    if probe.recv(4) == b"SSH-":
                        return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise SshdUnavailable(f"sshd did not answer on port {self.port}: {self.log_tail()}")

    def stop(self) -> None:
        """Stop listening and kill every session: the server is down."""
        if self._process is None:
            return
        self.drop_sessions()
        self._process.terminate()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def drop_sessions(self) -> None:
        """Kill the live sessions (their connections break) but keep listening."""
        if self._process is None:
            return
        sessions = _descendants(self._process.pid)
        _signal(sessions, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and set(sessions) & set(_descendants(self._process.pid)):
            time.sleep(0.01)  # until sshd has reaped them

    @contextlib.contextmanager
    def frozen_sessions(self) -> Iterator[None]:
        """Freeze the live sessions (SIGSTOP): connections stay open, nothing moves."""
        assert self._process is not None
        sessions = _descendants(self._process.pid)
        _signal(sessions, signal.SIGSTOP)
        try:
            yield
        finally:
            _signal(sessions, signal.SIGCONT)

    def change_host_key(self) -> str:
        """Restart with a new host key, as a reinstalled server would; return its line."""
        self.stop()
        self.host_key = self._new_host_key()
        self.start()
        return self.host_key

    def reset(self, root: Path) -> None:
        """Running, with the original host key, serving the empty folder ``root``."""
        if self.host_key != self.original_host_key:
            self.stop()
            self.host_key_file.unlink()
            self.host_key_file.write_bytes(self._original_host_key_bytes)
            self.host_key_file.chmod(0o600)
            self.host_key = self.original_host_key
        self.start()
        root.mkdir(parents=True, exist_ok=True)
        self.root = root

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(text[-lines:]) or "(empty log)"

    # -- setup ----------------------------------------------------------------------------

    def _new_host_key(self) -> str:
        self.host_key_file.unlink(missing_ok=True)
        return generate_client_key(self.host_key_file, "fiscalsync-test-host")

    def _write_config(self) -> None:
        lines = [
            f"Port {self.port}",
            f"ListenAddress {self.host}",
            f"HostKey {self.host_key_file}",
            f"PidFile {self.workdir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            f"StrictModes {'yes' if self.strict_modes else 'no'}",
            "PermitRootLogin prohibit-password",
            "Subsystem sftp internal-sftp",
            "UseDNS no",
            "MaxStartups 100",
            "LogLevel VERBOSE",
        ]
        # OpenSSH 9.8+ penalises sources that fail often, which our tests do on purpose.
        for extra in (["PerSourcePenalties no"], []):
            self.config.write_text("\n".join(lines + extra + self.extra_config) + "\n")
            check = subprocess.run(
                [str(SSHD), "-t", "-f", str(self.config)], capture_output=True, text=True
            )
            if check.returncode == 0:
                return
        raise SshdUnavailable(f"sshd rejects its configuration: {check.stderr.strip()}")


def unavailable(reason: str) -> None:
    """Skip, or fail when sshd is required (CI)."""
    if "sshd" in REQUIRED:
        pytest.fail(f"sshd is required (FISCALSYNC_TEST_REQUIRE) but {reason}")
    pytest.skip(f"sshd not available: {reason}")


def start_server(
    workdir: Path, extra_config: Sequence[str] = (), *, strict_modes: bool = False
) -> Sshd:
    """A running sshd whose configuration ends with ``extra_config``; the caller stops it.
    Raises :class:`SshdUnavailable` when it cannot be started here."""
    if SSHD is None:
        raise SshdUnavailable("no sshd binary; install it: apt-get install -y openssh-server")
    try:
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    except OSError as exc:
        raise SshdUnavailable(f"cannot create {PRIVSEP_DIR}: {exc.strerror}") from exc
    for attempt in range(3):  # another program may take the free port before sshd does
        server = Sshd(workdir / f"try{attempt}", extra_config, strict_modes=strict_modes)
        try:
            server.start()
            break
        except SshdUnavailable:
            if attempt == 2:
                raise
    server.root.mkdir()
    try:  # a real login, so that a refused account shows here and not in every test
        with server.transport() as probe:
            probe.list("")
    except TransportError as exc:
        server.stop()
        raise SshdUnavailable(f"login failed: {exc} ({server.log_tail()})") from exc
    return server


@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """The session's sshd (prefer ``sshd``, which also resets it for each test)."""
    try:
        server = start_server(tmp_path_factory.mktemp("sshd"))
    except SshdUnavailable as exc:
        unavailable(str(exc))
    yield server
    server.stop()


@pytest.fixture
def sshd(sshd_server: Sshd, tmp_path: Path) -> Sshd:
    """A running sshd with its original host key and an empty root folder for this test."""
    try:
        sshd_server.reset(tmp_path / "sshd-root")
    except SshdUnavailable as exc:
        pytest.fail(f"sshd could not be restarted: {exc}")
    return sshd_server
