"""What sync/ refuses reaches an operator in the operator's language: a tampered
change-set, a server that is down or shows another host key, a damaged backup object.
Chinese by default (错误：…，提示：…), English with ``--lang en``; what is stored (a
quarantine entry's detail) keeps the English text. Through the real ``fiscalsync``
command line, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from test_sync_sftp import COUNTY, county_dials_by_sftp, import_codes, province_round

from cli import cli
from nodes import Node
from nodes.network import Network
from schema.channels import quarantine
from sync import said
from sync.changeset.framing import TRAILER

if TYPE_CHECKING:
    from sshd_fixture import Sshd

CHINESE = {"LANG": "zh_CN.UTF-8", "LC_ALL": None, "LC_MESSAGES": None}


def run(*args: str | Path) -> Result:
    """``fiscalsync ARGS`` for an operator whose locale is Chinese."""
    return CliRunner(env=CHINESE).invoke(cli, [str(a) for a in args])


def test_every_sync_message_is_english_as_text_and_no_key_is_said_twice() -> None:
    from nodes import refusals_en, refusals_sync_zh

    below = set(said.ENGLISH)
    assert len(below) > 250
    assert below <= set(refusals_en.MESSAGES)
    key_material = {  # said in Chinese before the rest of sync/, in nodes/refusals_zh.py
        f"m.{k}"
        for k in ("key_file_missing", "key_file_unreadable", "key_file_unwritable",
                  "key_file_exists", "key_folder_unmade", "ca_passphrase_empty", "ca_exists",
                  "ca_exists_hint")
    }  # fmt: skip
    assert below - set(refusals_sync_zh.SYNC_MESSAGES) == key_material
    nodes_own = Path(refusals_en.__file__).read_text("utf-8")
    assert not [k for k in below if f'"{k}":' in nodes_own]  # no key overridden by nodes/


@pytest.fixture
def outgoing(province: Network, tmp_path: Path) -> Path:
    """A real change-set of the province to Zhengzhou (a code set), in the mailbox."""
    csv = tmp_path / "codes.csv"
    csv.write_text(
        "codeset,year,code,name,parent,level\nfunc,2026,2059901,扩展项目,20599,3\n", "utf-8"
    )
    assert run("--home", province.path / "410000", "codes", "import", csv).exit_code == 0
    assert run("--home", province.path / "410000", "sync").exit_code == 0
    down = province.path / "410000" / "mailboxes" / "410100" / "down"
    return next(down.glob("410000_410100_*.fcs"))


def test_a_tampered_change_set_is_refused_in_either_language(
    province: Network, outgoing: Path
) -> None:
    data = bytearray(outgoing.read_bytes())
    data[-TRAILER.size] ^= 0x01  # the body's CRC-32: it inflates, then fails its checksum
    outgoing.write_bytes(bytes(data))
    english = f"{outgoing.name}: the body member fails its gzip checksum (file altered or damaged)"
    home = province.path / "410100"

    chinese = run("--home", home, "changeset", "verify", outgoing)
    assert chinese.exit_code == 10, chinese.output
    assert chinese.stderr.splitlines()[0] == (
        f"错误：{outgoing.name}：正文段的 gzip 校验和不符（文件被改动或损坏）"
    )
    refused = run("--home", home, "changeset", "verify", outgoing, "--lang", "en")
    assert refused.exit_code == 10
    assert refused.stderr.splitlines()[0] == f"Error: {english}"

    # Taken by a sync round: quarantined, its detail kept as the English text.
    taken = run("--home", home, "sync")
    assert taken.exit_code == 0, taken.stderr
    assert "隔离 1" in taken.output, taken.output
    with Node.open(home) as node, node.engine.connect() as conn:
        (entry,) = conn.execute(sa.select(quarantine.c.reason, quarantine.c.detail)).all()
    assert entry.reason == "malformed"
    assert type(entry.detail) is str and entry.detail == english


def test_a_revoked_signer_is_refused_in_either_language(province: Network, outgoing: Path) -> None:
    assert run("pki", "revoke", "--ca", province.ca_dir, "--node", "410000").exit_code == 0
    crl = (province.ca_dir / "crl.pem").read_bytes()
    (province.path / "410100" / "keys" / "crl.pem").write_bytes(crl)
    verify = ["--home", province.path / "410100", "changeset", "verify", outgoing]
    chinese = run(*verify)
    assert chinese.exit_code == 13
    assert chinese.stderr.startswith(f"错误：{outgoing.name}：410000 的证书已被吊销（序列号 ")
    assert "吊销列表第 2 号）" in chinese.stderr
    english = run(*verify, "--lang", "en")
    assert english.stderr.startswith(f"Error: {outgoing.name}: certificate of 410000 is revoked")


@pytest.fixture
def sftp_province(
    tmp_path: Path, db_url_template: str | None, demo_topology: Path, sshd: Sshd
) -> Network:
    """The demo province whose county 巩义市 reaches the province by SFTP (a real sshd)."""
    import provinces

    network = provinces.make(tmp_path / "province", demo_topology, db_url_template)
    return county_dials_by_sftp(network, sshd)


def test_a_server_down_or_with_another_host_key_is_said_in_either_language(
    sftp_province: Network, sshd: Sshd
) -> None:
    import_codes(sftp_province, "2059901")
    province_round(sftp_province)
    county = ["--home", sftp_province.path / COUNTY, "sync"]
    address = sshd.url().split("@", 1)[1].split("/", 1)[0]

    sshd.stop()
    down = run(*county)
    assert down.exit_code == 7, down.output
    assert down.stderr.startswith(f"错误：无法连接上级：无法连接 {address}：连接被拒绝")
    assert "\n提示：检查到上级的网络路径；下次同步从中断处继续" in down.stderr
    english = run(*county, "--lang", "en")
    assert english.stderr.startswith(
        f"Error: parent unreachable: cannot connect to {address}: Connection refused"
    )
    sshd.start()

    sshd.change_host_key()
    impostor = run(*county)
    assert impostor.exit_code == 7
    first, hint = impostor.stderr.splitlines()[:2]
    assert first.startswith(f"错误：无法连接上级：{address} 出示的主机密钥为 ssh-ed25519 ")
    assert "，不是登记的 ssh-ed25519 " in first
    assert hint == "提示：检查到上级的网络路径；下次同步从中断处继续"
    english = run(*county, "--lang", "en")
    assert f"Error: parent unreachable: {address} presented host key ssh-ed25519 " in (
        english.stderr
    )
    assert ", not the pinned ssh-ed25519 " in english.stderr
    assert not any((sftp_province.homes[COUNTY].spool / "incoming").iterdir())


def test_a_damaged_backup_object_is_refused_in_either_language(
    province: Network, tmp_path: Path
) -> None:
    assert run("--home", province.path / "410102", "backup").exit_code == 0
    result = run("network", "sync", province.path, "--until-quiet")
    assert result.exit_code == 0, result.output
    store = province.path / "410000-dc" / "mailboxes" / "410102" / "backup"
    victim = max((store / "objects").iterdir(), key=lambda p: p.stat().st_size)
    original = victim.read_bytes()
    victim.write_bytes(original[:100] + bytes([original[100] ^ 1]) + original[101:])
    with Node.open(province.path / "410102") as node:
        live = node.settings.database_url
    restore = ["restore", tmp_path / "restored", "--node", "410102"]
    restore += ["--topology", province.path / "topology.toml"]
    restore += ["--recovery-key", province.ca_dir / "recovery-kit.pem"]
    if live.startswith("postgresql"):
        restore += ["--db-url", f"{live}_restored"]

    chinese = run(*restore)
    assert chinese.exit_code == 11, chinese.output + chinese.stderr
    first = chinese.stderr.splitlines()[0]
    assert first.startswith(f"错误：对象 {victim.name[:16]}… 在第 "), first
    assert "段认证失败（被改动、截断、重排，或不是索引所指的数据块）" in first
    english = run(*restore, "--lang", "en")
    assert english.exit_code == 11
    assert english.stderr.startswith(f"Error: object {victim.name[:16]}… fails authentication")
    assert not (tmp_path / "restored").exists() or not any((tmp_path / "restored").iterdir())


def test_a_damaged_copy_in_the_outbox_is_named_by_check_in_either_language(
    province: Network, outgoing: Path
) -> None:
    home = province.path / "410000"
    copy = home / "spool" / "outbox" / outgoing.name
    data = bytearray(copy.read_bytes())
    data[-TRAILER.size] ^= 0x01
    copy.write_bytes(bytes(data))
    chinese = run("--home", home, "check", "--read-data")
    assert chinese.exit_code == 17, chinese.output + chinese.stderr
    assert "正文段的 gzip 校验和不符（文件被改动或损坏）" in chinese.output, chinese.output
    assert "body member fails" not in chinese.output
    english = run("--home", home, "check", "--read-data", "--lang", "en")
    assert "the body member fails its gzip checksum (file altered or damaged)" in english.output
