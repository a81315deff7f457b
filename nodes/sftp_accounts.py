"""SFTP accounts: one system account per node that dials this node, confined to its mailbox.

With one shared account every child could read or delete its siblings' mailboxes. Here
each node that logs in to this node's endpoint (its children; at the center, every node
but the province) gets an account ``fs-<code>`` whose sshd ``Match`` block chroots it
into a folder of its own, serving ``internal-sftp`` and nothing else. The layout, on the
SFTP server::

    CHROOTS/                    root:root 0755 (as every folder above it: sshd insists)
      410102/                   root:root 0755, the chroot of fs-410102
        410102/                 fs-410102:GROUP 2770, the mailbox (up/, down/ alike)
    HOME/mailboxes/410102  ->  CHROOTS/410102/410102    a symbolic link

Inside its chroot the child sees its mailbox at ``/410102``: the path it always used
below the endpoint's root, so its endpoint reads ``sftp://fs-{code}@HOST:PORT/``. A link
inside a chroot cannot lead out of it, but one outside may lead in: the parent's agent
(running as a member of GROUP, by default the group owning the home) reaches every
mailbox through the links in its ``mailboxes/`` folder. The setgid folders give every
file the group GROUP, ``internal-sftp -u 0007`` makes the child's files readable by the
group, and the agent's own files (umask 022) are readable by the child. No link can be
made in a mailbox (``-P symlink,hardlink``): the agent reads it outside the chroot, where
a link's target may be any file of the machine. CHROOTS must be on the file system of
the home: the agent takes arrived files into its spool by renaming.

Nothing here changes the system: :func:`plan_accounts` works out the plan, whose
:meth:`SftpPlan.commands` an operator runs as root after reading them.
"""

from __future__ import annotations

import grp
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from nodes import keys
from nodes.home import NodeHome
from nodes.labels import said
from nodes.topology import CODE_PLACEHOLDER, NodeSpec, Topology
from sync.errors import InputError, KeyMaterialError
from sync.files import write_atomic

__all__ = [
    "ACCOUNT_PREFIX",
    "DEFAULT_CHROOTS",
    "DEFAULT_CONFIG_DIR",
    "SftpAccount",
    "SftpPlan",
    "account_name",
    "plan_accounts",
]

ACCOUNT_PREFIX = "fs-"
DEFAULT_CHROOTS = Path("/srv/fiscalsync-sftp")
DEFAULT_CONFIG_DIR = Path("/etc/ssh/fiscalsync")
CONFIG_FILE = "fiscalsync-sftp.conf"
KEYS_FOLDER = "authorized_keys"
SCRIPT_FILE = "setup.sh"
_PUBLIC_KEY = re.compile(r"^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/=]+( .*)?$")


def account_name(code: str) -> str:
    """The system account node ``code`` logs in with: ``fs-410102``."""
    return ACCOUNT_PREFIX + code


@dataclass(frozen=True)
class SftpAccount:
    """One node's account, chroot, mailbox and authorized key."""

    spec: NodeSpec
    public_key: str
    chroot: Path
    authorized_keys: Path
    link: Path

    @property
    def user(self) -> str:
        return account_name(self.spec.code)

    @property
    def mailbox(self) -> Path:
        return self.chroot / self.spec.code

    @property
    def authorized_keys_line(self) -> str:
        """``restrict``: no terminal, no forwarding of any kind, whatever sshd allows."""
        return f"restrict {self.public_key}"


@dataclass(frozen=True)
class SftpPlan:
    """The accounts of the nodes that dial ``node``, and how to set them up."""

    node: NodeSpec
    accounts: list[SftpAccount]
    chroots: Path
    config_dir: Path
    group: str
    spool: Path
    endpoint: str

    @property
    def config_file(self) -> Path:
        return self.config_dir / CONFIG_FILE

    def sshd_config(self) -> str:
        """One ``Match User`` block per account, to Include at the end of sshd_config."""
        lines = [
            f"# fiscalsync sftp-config: {self.node.code} {self.node.name}",
            "# 每个下级一个账户, 只能看到自己的邮箱 (one account per child, its own mailbox only).",
            f"# Include it as the LAST line of /etc/ssh/sshd_config: Include {self.config_file}",
        ]
        for account in self.accounts:
            lines += [
                "",
                f"# {account.spec.code} {account.spec.name}",
                f"Match User {account.user}",
                f"    ChrootDirectory {account.chroot}",
                "    ForceCommand internal-sftp -u 0007 -P symlink,hardlink",
                f"    AuthorizedKeysFile {account.authorized_keys}",
                "    PubkeyAuthentication yes",
                "    PasswordAuthentication no",
                "    KbdInteractiveAuthentication no",
                "    AllowTcpForwarding no",
                "    AllowStreamLocalForwarding no",
                "    AllowAgentForwarding no",
                "    X11Forwarding no",
                "    PermitTunnel no",
                "    PermitTTY no",
            ]
        return "\n".join(lines) + "\n"

    def commands(self) -> str:
        """The shell commands that create the accounts and folders (run as root); sshd
        itself is left to the operator (:meth:`next_steps`)."""
        q = shlex.quote
        chroots = q(str(self.chroots))
        lines = [
            "#!/bin/sh",
            f"# fiscalsync sftp-config: {self.node.code} {self.node.name}",
            "# 以 root 在 SFTP 服务器上执行 (run as root on the SFTP server, after reading it).",
            "set -eu",
            f"install -d -o root -g root -m 0755 {chroots}",
            f'if [ "$(stat -c %d {chroots})" != "$(stat -c %d {q(str(self.spool))})" ]; then',
            f'    echo "{self.chroots} must be on the file system of {self.spool}" >&2; exit 1',
            "fi",
        ]
        conf, keys_folder = self.config_dir, self.config_dir / KEYS_FOLDER
        key_files = " ".join(q(str(a.authorized_keys)) for a in self.accounts)
        lines += [
            "# sshd reads these only if root owns them and no one else may write them",
            f"chown root:root {q(str(conf))} {q(str(keys_folder))} {q(str(self.config_file))} "
            f"{key_files}",
            f"chmod 0755 {q(str(conf))} {q(str(keys_folder))}",
            f"chmod 0644 {q(str(self.config_file))} {key_files}",
        ]
        for a in self.accounts:
            user, mailbox, link = q(a.user), q(str(a.mailbox)), q(str(a.link))
            owner = f"{user}:{q(self.group)}"
            lines += [
                "",
                f"# {a.spec.code} {a.spec.name}",
                f"id -u {user} > /dev/null 2>&1 || useradd --system --no-create-home "
                f"--home-dir / --shell /usr/sbin/nologin --user-group "
                f"--comment {q('fiscalsync ' + a.spec.code)} {user}",
                f"usermod -p '*' {user}  # no password, yet not locked (sshd without PAM)",
                f"install -d -o root -g root -m 0755 {q(str(a.chroot))}",
                f"if [ -d {link} ] && [ ! -L {link} ]; then",
                f"    [ ! -e {mailbox} ] || {{ echo 'both {a.link} and {a.mailbox} exist: "
                "merge them by hand' >&2; exit 1; }",
                f"    mv {link} {mailbox}",
                "fi",
                f"install -d -o {user} -g {q(self.group)} -m 2770 "
                f"{mailbox} {mailbox}/up {mailbox}/down",
                f"chown -R {owner} {mailbox}",
                f"ln -sfn {mailbox} {link}",
            ]
        return "\n".join(lines) + "\n"

    def next_steps(self) -> list[str]:
        """What the operator does once the files are in ``config_dir``."""
        return [
            f"以 root 检查并执行 (run as root): sh {self.config_dir / SCRIPT_FILE}",
            f"在 /etc/ssh/sshd_config 末行加入 (as its last line): Include {self.config_file}",
            "sshd -t && systemctl reload ssh",
            f'各下级拓扑中本节点的 endpoint 改为 (in the topology): endpoint = "{self.endpoint}"',
        ]

    def write(self, folder: Path) -> list[Path]:
        """Write the snippet, each authorized_keys file and the commands under
        ``folder``; return the files written."""
        written = [folder / CONFIG_FILE, folder / SCRIPT_FILE]
        (folder / KEYS_FOLDER).mkdir(parents=True, exist_ok=True)
        write_atomic(written[0], self.sshd_config().encode("utf-8"), 0o644)
        write_atomic(written[1], self.commands().encode("utf-8"), 0o700)
        for a in self.accounts:
            path = folder / KEYS_FOLDER / a.user
            write_atomic(path, (a.authorized_keys_line + "\n").encode("utf-8"), 0o644)
            written.append(path)
        return written


def plan_accounts(
    home: NodeHome,
    topology: Topology,
    code: str,
    *,
    chroots: Path = DEFAULT_CHROOTS,
    config_dir: Path = DEFAULT_CONFIG_DIR,
    keys_from: Path | None = None,
    group: str | None = None,
) -> SftpPlan:
    """The accounts for every node that dials ``code``, each with the SSH public key
    found in ``keys_from`` (``CODE.pub``, or a network's ``CODE/keys/ssh_ed25519.pub``;
    by default the folder that holds the home). ``group`` is the agent's group (by
    default the home's). Every node whose key is missing is named at once."""
    spec = topology.node(code)
    dialers = topology.dialers(code)
    if not dialers:
        raise InputError(
            said("sftp_no_children", code=code, name=spec.name),
            hint=said("sftp_no_children_hint"),
        )
    keys_from = keys_from if keys_from is not None else home.path.resolve().parent
    chroots, config_dir = chroots.absolute(), config_dir.absolute()
    accounts, missing = [], []
    for child in dialers:
        public_key = _public_key(keys_from, child.code)
        if public_key is None:
            missing.append(child.code)
            continue
        accounts.append(
            SftpAccount(
                child,
                public_key,
                chroots / child.code,
                config_dir / KEYS_FOLDER / account_name(child.code),
                home.mailboxes.absolute() / child.code,
            )
        )
    if missing:
        raise KeyMaterialError(
            said("sftp_keys_missing", folder=keys_from, codes=", ".join(missing)),
            hint=said("sftp_keys_missing_hint"),
        )
    return SftpPlan(
        spec,
        accounts,
        chroots,
        config_dir,
        group if group is not None else _group_of(home.path),
        home.spool.absolute(),
        _endpoint(spec),
    )


def _public_key(folder: Path, code: str) -> str | None:
    for path in (folder / f"{code}.pub", folder / code / "keys" / f"{keys.SSH_KEY}.pub"):
        try:
            line = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyMaterialError(said("sftp_key_unreadable", path=path, error=str(exc))) from exc
        if not _PUBLIC_KEY.match(line) or "\n" in line:
            raise KeyMaterialError(said("sftp_key_bad", path=path), hint=said("sftp_key_bad_hint"))
        return line
    return None


def _group_of(path: Path) -> str:
    gid = path.stat().st_gid
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _endpoint(spec: NodeSpec) -> str:
    """The endpoint line for the topology: the current host and port, one account each."""
    host = "HOST:22"
    if spec.endpoint is not None and spec.endpoint.kind == "sftp":
        host = urlsplit(spec.endpoint.location).netloc.rpartition("@")[2]
    return f"sftp://{ACCOUNT_PREFIX}{CODE_PLACEHOLDER}@{host}/"
