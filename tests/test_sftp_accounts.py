"""One SFTP account per child: ``fiscalsync sftp-config`` against a real OpenSSH sshd.

The city 郑州市 (410100) hosts the mailboxes of its counties 中原区 (410102) and 中牟县
(410122). Its ``sftp-config`` output is applied as an operator would (the generated
commands run as root: real system accounts, root-owned chroots, setgid mailboxes) and
Included by a real sshd; both counties then sync with the city over SFTP, each logged
in as its own account, and neither can list, read, write or delete the other's files.
The accounts are created and removed by the test, so it needs root (CI runs as root).
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import provinces
import pytest
from click.testing import CliRunner
from sshd_fixture import Sshd, SshdUnavailable, start_server, unavailable

from cli import cli
from nodes.network import Network, sync_network
from nodes.topology import Endpoint, load_topology, parse_topology
from sync.errors import (
    RemoteFileMissing,
    TopologyError,
    TransportError,
    TransportUnreachable,
)
from sync.transports.sftp import SftpTransport

ACCOUNTS_LOCK = Path("/run/fiscalsync-test-sftp-accounts.lock")
CITY = "410100"
COUNTIES = ("410102", "410122")
CODES = "codeset,year,code,name,parent,level\nfunc,2026,2059901,扩展项目,20599,3\n"


@dataclass
class Deployment:
    network: Network
    sshd: Sshd
    chroots: Path
    etc: Path
    endpoint: str

    def transport(self, url: str, key_of: str) -> SftpTransport:
        key = self.network.homes[key_of].keys / "ssh_ed25519"
        return SftpTransport(url, self.sshd.host_key, key, connect_timeout=5, auth_timeout=5)

    def login(self, code: str, root: str = "/", key_of: str | None = None) -> SftpTransport:
        """``code``'s account, with its own key unless ``key_of`` names another node's."""
        url = f"sftp://fs-{code}@{self.sshd.host}:{self.sshd.port}{root}"
        return self.transport(url, key_of or code)


def _remove_accounts() -> None:
    for code in COUNTIES:
        try:
            entry = pwd.getpwnam(f"fs-{code}")
        except KeyError:
            continue
        if entry.pw_gecos != f"fiscalsync {code}":  # not ours: never touch it
            pytest.fail(f"a system account fs-{code} exists already ({entry.pw_gecos!r})")
        subprocess.run(["userdel", f"fs-{code}"], check=True, capture_output=True)


@pytest.fixture
def deployment(db_url_template: str | None, demo_topology: Path) -> Iterator[Deployment]:
    if os.geteuid() != 0:
        unavailable("creating system accounts needs root")
    if shutil.which("useradd") is None:
        unavailable("no useradd")
    # Every folder above a ChrootDirectory must be root-owned and writable by no one else
    # (not /tmp or /dev/shm), and the chroots on the file system of the homes.
    Path("/srv").mkdir(mode=0o755, exist_ok=True)
    with open(ACCOUNTS_LOCK, "a") as lock:  # the accounts are the machine's: one test at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield from _deploy(db_url_template, demo_topology)


def _deploy(db_url_template: str | None, demo_topology: Path) -> Iterator[Deployment]:
    base = Path(tempfile.mkdtemp(prefix="fiscalsync-sftp-accounts-", dir="/srv"))
    base.chmod(0o755)
    sshd: Sshd | None = None
    try:
        _remove_accounts()  # left by an interrupted run
        network = provinces.make(base / "province", demo_topology, db_url_template)
        chroots, etc = base / "chroots", base / "etc"
        result = CliRunner().invoke(
            cli,
            [
                "--home", str(network.homes[CITY].path), "sftp-config",
                "-o", str(etc), "--chroots", str(chroots),
            ],
        )  # fmt: skip
        assert result.exit_code == 0, result.output + result.stderr
        subprocess.run(["sh", str(etc / "setup.sh")], check=True, capture_output=True)
        try:
            include = f"Include {etc / 'fiscalsync-sftp.conf'}"
            sshd = start_server(base / "sshd", [include], strict_modes=True)
        except SshdUnavailable as exc:
            unavailable(str(exc))
        endpoint = f"sftp://fs-{{code}}@{sshd.host}:{sshd.port}/"
        for code in COUNTIES:
            home = network.homes[code]
            topology = load_topology(home.topology_file)
            sftp = Endpoint("sftp", endpoint, sshd.host_key)
            home.topology_file.write_text(
                topology.with_endpoints({CITY: sftp}).to_toml(), encoding="utf-8"
            )
        yield Deployment(network, sshd, chroots, etc, endpoint)
    finally:
        if sshd is not None:
            sshd.stop()
        _remove_accounts()
        shutil.rmtree(base, ignore_errors=True)


def test_the_generated_config_confines_each_child(deployment: Deployment) -> None:
    conf = deployment.etc
    text = (conf / "fiscalsync-sftp.conf").read_text(encoding="utf-8")
    for code in COUNTIES:
        assert f"Match User fs-{code}\n    ChrootDirectory {deployment.chroots / code}\n" in text
        keys = (conf / "authorized_keys" / f"fs-{code}").read_text(encoding="utf-8")
        own = deployment.network.homes[code].keys / "ssh_ed25519.pub"
        assert keys == f"restrict {own.read_text(encoding='utf-8').strip()}\n"
        mailbox = deployment.chroots / code / code
        link = deployment.network.homes[CITY].mailboxes / code
        assert link.is_symlink() and link.resolve() == mailbox
        assert mailbox.stat().st_uid == pwd.getpwnam(f"fs-{code}").pw_uid
        assert (mailbox.stat().st_mode & 0o7777) == 0o2770
        assert (deployment.chroots / code).stat().st_uid == 0


def test_each_county_syncs_with_its_own_account(deployment: Deployment) -> None:
    network = deployment.network
    csv = network.path.parent / "codes.csv"
    csv.write_text(CODES, encoding="utf-8")
    runner = CliRunner()
    imported = runner.invoke(cli, ["--home", str(network.path / "410000"), "codes", "import", str(csv)])  # fmt: skip
    assert imported.exit_code == 0, imported.stderr
    result = sync_network(network.path, until_quiet=True, max_rounds=20)
    assert result.quiet
    home = str(network.path / "410000")
    outbox = runner.invoke(cli, ["--home", home, "outbox", "--all", "--lang", "en"])
    for code in COUNTIES:
        line = next(ln for ln in outbox.output.splitlines() if ln.startswith(code))
        assert "applied" in line, outbox.output
    log = deployment.sshd.log.read_text(errors="replace")
    for code in COUNTIES:
        assert f"Accepted publickey for fs-{code}" in log


def test_a_sibling_cannot_list_read_write_or_delete(deployment: Deployment, tmp_path: Path) -> None:
    mine, sibling = COUNTIES
    letter = tmp_path / "letter.fcs"
    letter.write_bytes(b"signed, not encrypted")
    with deployment.login(mine) as own:
        own.publish(f"{mine}/up", "letter.fcs", letter)
        assert [f.name for f in own.list(f"{mine}/up")] == ["letter.fcs"]
    delivered = deployment.chroots / mine / mine / "up" / "letter.fcs"
    assert delivered.stat().st_uid == pwd.getpwnam(f"fs-{mine}").pw_uid
    assert delivered.stat().st_mode & 0o777 == 0o660  # the parent's agent reads it by group
    with deployment.login(sibling) as other:
        # Inside its chroot the sibling's mailbox does not exist: SFTP says no such file.
        assert other.list(f"{mine}/up") == []
        with pytest.raises(RemoteFileMissing):
            other.fetch(f"{mine}/up", "letter.fcs", tmp_path / "stolen.fcs")
        other.remove(f"{mine}/up", "letter.fcs")  # no such file there: nothing happens
        with pytest.raises(TransportError, match="permission denied"):  # cannot mkdir in /
            other.publish(f"{mine}/up", "forged.fcs", letter)
        assert [p.name for p in (deployment.chroots / sibling).iterdir()] == [sibling]
    for root in (f"/{mine}", f"/../{mine}", str(delivered.parent)):
        with (
            deployment.login(sibling, root) as other,
            pytest.raises(TransportUnreachable, match="does not exist"),
        ):
            other.list("up")
    with (
        deployment.login(mine, key_of=sibling) as impostor,
        pytest.raises(TransportUnreachable, match="refused the login"),
    ):
        impostor.list("")
    assert delivered.read_bytes() == b"signed, not encrypted"
    assert not (tmp_path / "stolen.fcs").exists()
    assert not (deployment.chroots / mine / mine / "up" / "forged.fcs").exists()


def test_a_child_can_make_no_link_in_its_mailbox(deployment: Deployment, tmp_path: Path) -> None:
    """A link a child made in its mailbox would be read by the parent outside the
    child's chroot (an absolute target names any file of the parent's machine): the
    account refuses to make one (symbolic links; hard links alike, which paramiko cannot
    ask for), and its files are left as they were."""
    import paramiko

    (mine, _sibling), up = COUNTIES, deployment.chroots / COUNTIES[0] / COUNTIES[0] / "up"
    letter = tmp_path / "letter.fcs"
    letter.write_bytes(b"signed, not encrypted")
    with deployment.login(mine) as own:
        own.publish(f"{mine}/up", "letter.fcs", letter)
        session = own._session()
        for target, name in (
            ("/etc/passwd", "linked.fcs"),
            (f"/{mine}/up/letter.fcs", "again.fcs"),
        ):
            with pytest.raises((OSError, paramiko.SFTPError)):
                session.symlink(target, f"/{mine}/up/{name}")
    assert sorted(p.name for p in up.iterdir()) == ["letter.fcs"]


# -- without sshd: the endpoint's {code}, and what sftp-config refuses ------------------------

TOPOLOGY = """
[[node]]
code = "410000"
name = "河南省"
role = "province"
endpoint = "{endpoint}"
host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlHtte35ywaCCYPgzShLD4DBldluUacjXRuTNsEU9sz"

[[node]]
code = "410100"
name = "郑州市"
role = "city"
parent = "410000"
"""


def test_code_in_the_user_name_is_the_dialing_node(tmp_path: Path) -> None:
    text = TOPOLOGY.format(endpoint="sftp://fs-{code}@10.41.0.10:22/")
    endpoint = parse_topology(text, tmp_path / "t.toml").node("410000").endpoint
    assert endpoint is not None and endpoint.per_child
    assert endpoint.for_node("410100").location == "sftp://fs-410100@10.41.0.10:22/"
    shared = "sftp://fiscalsync@10.41.0.10:22/srv/fiscalsync/mailboxes"
    endpoint = parse_topology(TOPOLOGY.format(endpoint=shared), tmp_path / "s.toml").node("410000").endpoint  # fmt: skip
    assert endpoint is not None and endpoint.for_node("410100").location == shared
    for bad in ("sftp://fs@10.41.0.10:22/{code}", "sftp://fs-{code}-{code}@h/", "sftp://fs-{x}@h/"):
        with pytest.raises(TopologyError) as caught:
            parse_topology(TOPOLOGY.format(endpoint=bad), tmp_path / "b.toml")
        assert "{code} may stand once, in the user name only" in caught.value.problems[0]


def test_sftp_config_names_what_is_missing(province: Network, tmp_path: Path) -> None:
    runner = CliRunner()
    county = runner.invoke(cli, ["--home", str(province.homes["410102"].path), "sftp-config"])
    assert county.exit_code == 3
    assert county.stderr.splitlines()[0] == (
        "错误：410102 中原区 没有下级：没有节点登录其 SFTP 端点"
    )
    (province.homes["410122"].keys / "ssh_ed25519.pub").unlink()
    city = runner.invoke(
        cli, ["--home", str(province.homes[CITY].path), "sftp-config", "-o", str(tmp_path / "o")]
    )
    assert city.exit_code == 8
    assert city.stderr.startswith(f"错误：{province.path} 中没有 410122 的 SSH 公钥\n")
    assert "提示：向各节点索取 keys/ssh_ed25519.pub" in city.stderr
    assert not (tmp_path / "o").exists()
    keys = tmp_path / "keys"
    keys.mkdir()
    for code in COUNTIES:
        shutil.copy(province.homes["410102"].keys / "ssh_ed25519.pub", keys / f"{code}.pub")
    printed = runner.invoke(
        cli, ["--home", str(province.homes[CITY].path), "sftp-config", "--keys", str(keys)]
    )
    assert printed.exit_code == 0, printed.stderr
    assert printed.output.count("Match User fs-") == 2
    assert (
        "useradd --system --no-create-home --home-dir / --shell /usr/sbin/nologin" in printed.output
    )
