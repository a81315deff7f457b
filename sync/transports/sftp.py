"""The sftp transport: paramiko over the provincial network, with pinned host keys.

This is the only module that imports paramiko. What it promises beyond the contract of
:mod:`sync.transports.base`:

- **Pinned server.** The server must present the host key given in the topology
  (known_hosts form, ``"ssh-ed25519 AAAA..."``); an unknown or changed key is refused
  (``RejectPolicy``), never learned. No system or user known_hosts file is read.
- **Key login only.** The client logs in with its own Ed25519 key file; no agent, no
  ``~/.ssh`` keys, no password.
- **One connection, opened lazily** on first use and reused; a broken one is dropped,
  and the next call reconnects.
- **Atomic upload**: a temporary name, then ``posix-rename@openssh.com`` (which replaces
  an existing name atomically); missing folders are created (mkdir -p).
- **Resumable download** from the size of the local partial file, with up to 1 MiB of
  read requests in flight.
- **Watchdog**: every read and write on the SFTP channel times out after
  ``transfer_timeout`` seconds without progress, which aborts the transfer with
  ``TransferFailed``.

Errors are translated here: a changed host key gives ``HostKeyRejected``; a refused,
timed-out or failed connection or login gives ``TransportUnreachable``; anything that
breaks a transfer gives ``TransferFailed``; a missing file ``RemoteFileMissing``.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import errno
import posixpath
import socket
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import paramiko

from sync.errors import (
    ConfigError,
    HostKeyRejected,
    KeyMaterialError,
    RemoteFileMissing,
    TransferFailed,
    TransportError,
    TransportUnreachable,
)
from sync.said import said
from sync.transports.base import (
    Progress,
    RemoteFile,
    Transport,
    check_folder,
    check_name,
    is_temporary,
    temp_name,
)
from sync.transports.local import receive

__all__ = ["SftpTransport", "SftpUrl"]

SSH_PORT = 22
CHUNK = 32768  # the largest SFTP read or write request paramiko sends
READ_AHEAD = 32  # read requests in flight during a download (1 MiB)


@dataclass(frozen=True)
class SftpUrl:
    """``sftp://USER@HOST[:PORT]/PATH``: who logs in where, and the mailbox root there."""

    user: str
    host: str
    port: int
    root: str

    @classmethod
    def parse(cls, url: str) -> SftpUrl:
        try:
            parts = urlsplit(url)
            port = parts.port or SSH_PORT
        except ValueError as exc:
            raise ConfigError(said("sftp_bad_url_because", url=repr(url), error=str(exc))) from exc
        if parts.scheme != "sftp" or not parts.hostname or not parts.username:
            raise ConfigError(said("sftp_bad_url", url=repr(url)), hint=said("sftp_bad_url_hint"))
        if parts.password is not None or parts.query or parts.fragment:
            raise ConfigError(said("sftp_url_extras", url=repr(url)))
        root = posixpath.normpath(unquote(parts.path)) if parts.path else "."
        return cls(unquote(parts.username), parts.hostname, port, root)

    @property
    def address(self) -> str:
        """``host:port``, as messages name the server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        """The name OpenSSH (and paramiko) file the host key under."""
        if self.port == SSH_PORT:
            return self.host
        return f"[{self.host}]:{self.port}"


def _parse_host_key(host_key: str) -> Any:
    fields = host_key.split()
    if len(fields) < 2:
        raise ConfigError(said("host_key_form", key=repr(host_key)))
    try:
        return paramiko.PKey.from_type_string(fields[0], base64.b64decode(fields[1], validate=True))
    except (binascii.Error, ValueError, paramiko.SSHException, paramiko.UnknownKeyType) as exc:
        raise ConfigError(
            said("host_key_unusable", type=fields[0], key=fields[1][:16], error=str(exc))
        ) from exc


def _load_client_key(key_path: Path) -> Any:
    try:
        return paramiko.PKey.from_path(key_path)
    except OSError as exc:
        raise KeyMaterialError(
            said("client_key_unreadable", path=key_path, error=exc.strerror)
        ) from exc
    except (paramiko.SSHException, paramiko.UnknownKeyType, ValueError, TypeError) as exc:
        raise KeyMaterialError(
            said("client_key_not_openssh", path=key_path, error=str(exc))
        ) from exc


_SAID_ERRNO = {
    errno.ECONNREFUSED: "net_refused",
    errno.ECONNRESET: "net_reset",
    errno.EHOSTUNREACH: "net_host_unreachable",
    errno.ENETUNREACH: "net_unreachable",
    errno.ETIMEDOUT: "net_timed_out",
}


def _reason(exc: BaseException) -> str:
    """One line saying what went wrong, for messages: the common network failures said by
    key, anything else in the words of the library or the system."""
    if isinstance(exc, socket.gaierror):
        return said("net_unknown_host", error=exc.strerror or str(exc))
    if isinstance(exc, OSError) and exc.errno in _SAID_ERRNO:
        return said(_SAID_ERRNO[exc.errno])
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class SftpTransport(Transport):
    """A mailbox tree at ``url`` on an SSH server whose host key is ``host_key``.

    ``key_path`` is the client's private key (OpenSSH format, see
    :func:`sync.sshkeys.generate_ssh_key`). The timeouts are in seconds: TCP connect, SSH banner,
    authentication, and the watchdog of every transfer (no progress for that long
    aborts it).
    """

    def __init__(
        self,
        url: str,
        host_key: str,
        key_path: Path,
        *,
        connect_timeout: float = 10,
        banner_timeout: float = 10,
        auth_timeout: float = 10,
        transfer_timeout: float = 60,
    ) -> None:
        self.url = SftpUrl.parse(url)
        self.key_path = Path(key_path)
        self.connect_timeout = connect_timeout
        self.banner_timeout = banner_timeout
        self.auth_timeout = auth_timeout
        self.transfer_timeout = transfer_timeout
        self._host_key = _parse_host_key(host_key)
        self._client_key = _load_client_key(self.key_path)
        self._sock: socket.socket | None = None
        self._client: Any = None  # paramiko.SSHClient
        self._sftp: Any = None  # paramiko.SFTPClient

    def __repr__(self) -> str:
        u = self.url
        return f"SftpTransport('sftp://{u.user}@{u.address}{u.root}')"

    # -- connection ---------------------------------------------------------------------

    def _connect(self) -> Any:
        u = self.url
        try:
            sock = socket.create_connection((u.host, u.port), timeout=self.connect_timeout)
        except OSError as exc:
            raise TransportUnreachable(
                said("net_cannot_connect", address=u.address, error=_reason(exc))
            ) from exc
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.get_host_keys().add(u.known_hosts_name, self._host_key.get_name(), self._host_key)
        try:
            client.connect(
                u.host,
                port=u.port,
                username=u.user,
                pkey=self._client_key,
                sock=sock,
                timeout=self.connect_timeout,
                banner_timeout=self.banner_timeout,
                auth_timeout=self.auth_timeout,
                channel_timeout=self.connect_timeout,
                look_for_keys=False,
                allow_agent=False,
            )
            channel = client.get_transport().open_session(timeout=self.connect_timeout)
            channel.settimeout(self.connect_timeout)
            channel.invoke_subsystem("sftp")
            sftp = paramiko.SFTPClient(channel)
            channel.settimeout(self.transfer_timeout)
            root_is_folder = stat.S_ISDIR(sftp.stat(u.root).st_mode or 0)
        except BaseException as exc:
            client.close()
            sock.close()
            if isinstance(exc, Exception):
                raise self._connect_error(exc) from exc
            raise
        self._sock, self._client, self._sftp = sock, client, sftp
        if not root_is_folder:
            self._disconnect()
            raise TransportUnreachable(
                said("labelled", label=u.address, what=said("mailbox_root_not_folder", root=u.root))
            )
        return sftp

    def _connect_error(self, exc: Exception) -> TransportError:
        u = self.url
        if isinstance(exc, paramiko.BadHostKeyException):
            return HostKeyRejected(
                said(
                    "host_key_mismatch",
                    address=u.address,
                    found=f"{exc.key.get_name()} {exc.key.fingerprint}",
                    pinned=f"{self._host_key.get_name()} {self._host_key.fingerprint}",
                )
            )
        if isinstance(exc, paramiko.AuthenticationException):
            return TransportUnreachable(
                said(
                    "login_refused",
                    address=u.address,
                    user=u.user,
                    key=self.key_path,
                    error=_reason(exc),
                ),
                hint=said("login_refused_hint"),
            )
        if isinstance(exc, FileNotFoundError):
            return TransportUnreachable(
                said("labelled", label=u.address, what=said("mailbox_root_missing", root=u.root))
            )
        if isinstance(exc, TimeoutError):
            return TransportUnreachable(
                said("labelled", label=u.address, what=said("net_connect_timed_out"))
            )
        return TransportUnreachable(
            said("net_cannot_connect", address=u.address, error=_reason(exc))
        )

    def _session(self) -> Any:
        """The SFTP session, connecting (again) if there is none or it died."""
        if self._sftp is not None:
            transport = self._client.get_transport()
            if transport is not None and transport.is_active():
                return self._sftp
            self._disconnect()
        return self._connect()

    def _disconnect(self) -> None:
        sftp, client, sock = self._sftp, self._client, self._sock
        self._sftp = self._client = self._sock = None
        if sftp is not None:
            with suppress(Exception):  # the connection may already be broken
                sftp.close()
        if client is not None:
            client.close()
        if sock is not None:
            sock.close()

    def close(self) -> None:
        self._disconnect()

    @contextmanager
    def _using(self, path: str) -> Iterator[Any]:
        """Yield a live SFTP session; translate what breaks while using it for ``path``."""
        sftp = self._session()
        where = said("labelled", label=self.url.address, what=path)
        try:
            yield sftp
        except TransportError:
            raise
        except PermissionError as exc:
            raise TransportError(
                said("labelled", label=where, what=said("permission_denied")),
                hint=said("sftp_rights_hint"),
            ) from exc
        except TimeoutError as exc:
            self._disconnect()
            raise TransferFailed(
                said(
                    "labelled",
                    label=where,
                    what=said("transfer_stalled", seconds=f"{self.transfer_timeout:g}"),
                )
            ) from exc
        except (OSError, EOFError, paramiko.SSHException, paramiko.SFTPError) as exc:
            self._disconnect()
            raise TransferFailed(said("labelled", label=where, what=_reason(exc))) from exc

    def _abandon(self, remote: Any) -> None:
        """Drop the connection, then let go of ``remote`` without waiting on the server."""
        self._disconnect()
        remote.set_pipelined(False)  # nothing left to wait for
        with suppress(Exception):  # fails fast on the closed channel: nothing to report
            remote.close()

    def _path(self, folder: str, name: str | None = None) -> str:
        parts = [self.url.root, check_folder(folder)]
        if name is not None:
            parts.append(check_name(name))
        return posixpath.join(*[p for p in parts if p])

    # -- the contract -------------------------------------------------------------------

    def publish(self, folder: str, name: str, source: Path) -> None:
        final = self._path(folder, name)
        tmp = posixpath.join(posixpath.dirname(final), temp_name(name))
        with open(source, "rb") as src, self._using(final) as sftp:
            try:
                remote = sftp.open(tmp, "wb")
            except FileNotFoundError:
                self._make_folders(sftp, folder)
                remote = sftp.open(tmp, "wb")
            try:
                remote.set_pipelined(True)
                while block := src.read(CHUNK):
                    remote.write(block)
                remote.close()  # waits until every write is acknowledged
                sftp.posix_rename(tmp, final)
            except BaseException as exc:
                self._abandon(remote)
                if isinstance(exc, Exception) and not isinstance(exc, TimeoutError):
                    self._remove_quietly(tmp)
                raise

    def _make_folders(self, sftp: Any, folder: str) -> None:
        path = self.url.root
        for part in check_folder(folder).split("/"):
            path = posixpath.join(path, part)
            try:
                sftp.mkdir(path)
            except PermissionError:
                raise
            except OSError as exc:  # most likely there already; stat says
                if not stat.S_ISDIR(sftp.stat(path).st_mode or 0):
                    raise TransportError(
                        said(
                            "labelled",
                            label=self.url.address,
                            what=said("folder_is_file", path=path),
                        )
                    ) from exc

    def _remove_quietly(self, path: str) -> None:
        """Best effort, after a failed upload: a temporary file is never listed anyway."""
        with suppress(TransportError), self._using(path) as sftp, suppress(FileNotFoundError):
            sftp.remove(path)

    def list(self, folder: str) -> builtins.list[RemoteFile]:
        directory = self._path(folder)
        with self._using(directory) as sftp:
            try:
                entries = sftp.listdir_attr(directory)
            except FileNotFoundError:
                return []
        files = [
            RemoteFile(e.filename, e.st_size)
            for e in entries
            if stat.S_ISREG(e.st_mode or 0) and not is_temporary(e.filename)
        ]
        return sorted(files, key=lambda f: f.name)

    def fetch(self, folder: str, name: str, dest: Path, progress: Progress | None = None) -> None:
        path = self._path(folder, name)
        with self._using(path) as sftp:
            try:
                remote = sftp.open(path, "rb")
            except FileNotFoundError as exc:
                raise RemoteFileMissing(
                    said("labelled", label=self.url.address, what=said("remote_no_file", path=path))
                ) from exc
            try:
                size = remote.stat().st_size
                receive(dest, size, lambda offset: self._read(remote, path, offset, size), progress)
            except TransportError:  # our side failed (local disk): the session is fine
                try:
                    remote.close()
                except Exception:  # the original error matters more; start afresh next time
                    self._disconnect()
                raise
            except BaseException:
                self._abandon(remote)
                raise
            remote.close()

    def _read(self, remote: Any, path: str, offset: int, size: int) -> Iterator[bytes]:
        """The bytes of ``remote`` from ``offset`` to ``size``, READ_AHEAD requests at a time."""
        while offset < size:
            end = min(size, offset + CHUNK * READ_AHEAD)
            batch = [(o, min(CHUNK, end - o)) for o in range(offset, end, CHUNK)]
            for (_, length), block in zip(batch, remote.readv(batch), strict=True):
                if len(block) != length:
                    raise TransferFailed(
                        said("labelled", label=self.url.address, what=said("shrank", path=path))
                    )

                yield block
            offset = end

    def remove(self, folder: str, name: str) -> None:
        path = self._path(folder, name)
        with self._using(path) as sftp, suppress(FileNotFoundError):
            sftp.remove(path)
