"""Setting up a node and looking after it: ``init``, ``join``, ``status``, ``db``,
``topology``, ``sftp-config`` and ``check``."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path

import click

from cli.app import _Command, _Group, _home, _in_language, _lang_option, _writing
from cli.render import _bar, _local, _pad
from nodes import Node, init_node, joining, keys, load_topology, sftp_accounts
from nodes.check import check_home
from nodes.fiscal import tabular
from nodes.labels import labels, said, say, shown
from nodes.topology import NodeSpec
from schema.migrate import is_known_revision
from sync.errors import Inconsistent
from sync.signing import DEFAULT_SUITE, registered_suites


@click.command(cls=_Command)
@click.argument("home", type=click.Path(file_okay=False, path_type=Path))
@click.option("--node", "code", required=True, help="This node's code, e.g. 410102.")
@click.option(
    "--topology",
    "topology_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Topology file listing every node.",
)
@click.option("--db", "db_url", help="Database URL (default: SQLite node.db in HOME).")
@_lang_option
def init(home: Path, code: str, topology_file: Path, db_url: str | None, lang: str) -> None:
    """Create a node home: settings, migrated database, folders for keys and spool.

    \b
    Example:
      fiscalsync init /srv/fiscalsync/410102 --node 410102 \\
          --topology config/topologies/henan.toml
      fiscalsync init /srv/fiscalsync/410100 --node 410100 \\
          --topology henan.toml --db postgresql://fiscal@db.local/fs_410100
    """
    created = init_node(home, code, topology_file, db_url)
    words = labels(lang)
    click.echo(words["n.home_created"].format(home=created.path, code=code))
    role = load_topology(created.topology_file).node(code).role
    click.echo(_next_steps(created.path, code, role, words))


@click.command(cls=_Command)
@click.argument("home", type=click.Path(file_okay=False, path_type=Path))
@click.option("--node", "code", required=True, help="This node's code, e.g. 410183.")
@click.option(
    "--topology",
    "topology_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The province's topology that lists this node ('network add-node' made it).",
)
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A new folder for the request to send (CODE.csr, CODE.pub).",
)
@click.option("--db", "db_url", help="Database URL (default: SQLite node.db in HOME).")
@click.option(
    "--suite",
    type=click.Choice(registered_suites()),
    default=DEFAULT_SUITE,
    show_default=True,
    help="Signature suite of the network.",
)
@_lang_option
def join(
    home: Path,
    code: str,
    topology_file: Path,
    out: Path,
    db_url: str | None,
    suite: str,
    lang: str,
) -> None:
    """Join the network on this machine (加入): make the node home and its keys, and
    write the request to send: CODE.csr to the province, CODE.pub to the parent.

    The province answers with 'network answer-join', and 'keys install ANSWER' here
    installs what comes back; then start the agent.

    \b
    Example:
      fiscalsync join /srv/fiscalsync/410183 --node 410183 --topology topology.toml \\
          -o /tmp/410183-request
    """
    made = joining.request(home, code, topology_file, out, database_url=db_url, suite=suite)
    parent = made.spec.parent
    words = labels(lang)
    role = say(words, "role", made.spec.role)
    click.echo(words["n.joined_home"].format(home=made.home.path, code=code, role=role))
    click.echo(words["n.joined_send_csr"].format(file=made.csr))
    click.echo(
        f"  fiscalsync --home PROVINCE_HOME network answer-join {out} --ca CA -o {code}-answer"
    )
    click.echo(words["n.joined_send_ssh"].format(file=made.ssh_public, parent=parent))
    click.echo(f"  fiscalsync --home PARENT_HOME sftp-config --keys FOLDER_OF_{code}.pub")
    click.echo(words["n.joined_then"].format(home=made.home.path))


@click.command(cls=_Command)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_lang_option
@click.pass_context
def status(ctx: click.Context, as_json: bool, lang: str) -> None:
    """Show this node's identity, parent, children, database and schema version, its
    certificate and revocation list, and the alerts that need an operator: files parked
    after failing too many sync rounds, this node's own copies found damaged (never
    sent), files failing now, quarantine, a missing or stale revocation list, a
    certificate about to expire, and the problems the last 'fiscalsync check' found.
    Times are in the node's zone ([node] time_zone); --json keeps its English keys.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 status
      fiscalsync --home /srv/fiscalsync/410102 status --lang en
      FISCALSYNC_HOME=/srv/fiscalsync/410102 fiscalsync status --json
    """
    with Node.open(_home(ctx), check_schema=False) as node:
        report = node.status()
        zone = node.settings.time_zone
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    words = labels(lang)
    schema_state = "current" if report.schema_revision == report.schema_head else "outdated"
    if report.schema_revision is None:
        schema_state = "empty"
    elif not is_known_revision(report.schema_revision):
        schema_state = "newer"  # migrated by a newer fiscalsync: upgrade the code, not the db
    children = ", ".join(f"{c.code} {c.name}" for c in report.children) or "-"
    rows = [
        ("st.node", f"{report.code} {report.name} ({say(words, 'role', report.role)})"),
        ("st.parent", _describe(report.parent, words)),
        ("st.children", children),
        ("st.home", str(report.home)),
        (
            "st.topology",
            words["st.topology_value"].format(name=report.topology_name, size=report.topology_size),
        ),
        ("st.database", report.database_url),
        (
            "st.schema",
            words["st.schema_value"].format(
                revision=report.schema_revision or "-",
                state=words[f"schema.{schema_state}"],
                head=report.schema_head,
            ),
        ),
        *_trust_rows(report.trust, words, zone),
        (
            "st.spool",
            words["st.spool_value"].format(size=f"{report.spool_bytes / 1e6:.1f} MB"),
        ),
    ]
    width = max(tabular.display_width(words[key]) for key, _ in rows) + 1
    for key, value in rows:
        click.echo(f"{_pad(words[key], width)}{value}")
    if report.schema_revision == report.schema_head or report.alerts:
        click.echo(f"{_pad(words['st.alerts'], width)}{len(report.alerts) or words['st.none']}")
    for alert in report.alerts:
        kind = _pad(say(words, "alert", alert.kind), 12)
        click.echo(f"  {kind}{shown(alert.subject, words)}: {shown(alert.detail, words)}")


def _describe(spec: NodeSpec | None, words: dict[str, str]) -> str:
    return f"{spec.code} {spec.name} ({say(words, 'role', spec.role)})" if spec else "-"


def _trust_rows(
    trust: keys.TrustStatus, words: dict[str, str], zone: tzinfo
) -> list[tuple[str, str]]:
    cert = trust.certificate
    certificate = "-"
    if cert is not None:
        certificate = words["st.certificate_value"].format(
            serial=f"{cert.serial:x}",
            start=_local(cert.not_valid_before, zone),
            end=_local(cert.not_valid_after, zone),
        )
        if trust.renewal_pending:
            certificate += words["st.renewal"]
    crl = trust.crl
    listing = words["st.missing"]
    if crl is not None:
        listing = words["st.revocation_value"].format(
            number=crl.number,
            revoked=len(crl.serials),
            issued=_local(crl.last_update, zone),
            due=_local(crl.next_update, zone) if crl.next_update else "-",
            freshness=say(words, "freshness", trust.freshness),
        )
    if trust.republished_by == "agent":
        listing += words["st.by_agent"]
    elif trust.republished_by == "hand":
        listing += words["st.by_hand"].format(command=keys.PUBLISH_BY_HAND)
    return [("st.certificate", certificate), ("st.revocation", listing)]


@click.group(cls=_Group)
def db() -> None:
    """The node database.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 db upgrade
    """


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply pending schema migrations (in one transaction).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 db upgrade
    """
    with _writing(ctx, exclusive=True, check_schema=False) as node:
        before, after = node.upgrade_database()
    if before == after:
        click.echo(_in_language(said("db_current", schema=after)))
    else:
        if before:
            click.echo(_in_language(said("db_upgraded", before=before, after=after)))
        else:
            click.echo(_in_language(said("db_created", after=after)))


@click.group(cls=_Group)
def topology() -> None:
    """Topology files: every node, its role, parent and endpoint.

    \b
    Example:
      fiscalsync topology check config/topologies/henan.toml
    """


@topology.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_lang_option
def topology_check(file: Path, lang: str) -> None:
    """Check a topology file and report every problem at once, with its line.

    \b
    Example:
      fiscalsync topology check config/topologies/henan.toml
      fiscalsync topology check config/topologies/henan.toml --lang en
    """
    checked = load_topology(file)
    counts: dict[str, int] = {}
    for spec in checked:
        counts[spec.role] = counts.get(spec.role, 0) + 1
    direct = [n for n in checked if n.role == "county" and n.parent == checked.province.code]
    words = labels(lang)
    summary = words["m.list_sep"].join(
        words["m.topology_role_count"].format(count=counts[r], role=say(words, "role", r))
        for r in ("province", "city", "county", "center")
        if r in counts
    )
    click.echo(_in_language(said("topology_ok", file=file, count=len(checked), summary=summary)))
    if direct:
        click.echo(_in_language(said("topology_direct", count=len(direct))))


@click.command("sftp-config", cls=_Command)
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(file_okay=False, path_type=Path),
    help="写入此目录 (sshd 片段、authorized_keys、setup.sh), 并以它为 AuthorizedKeysFile 所在目录 "
    f"(default: print, for {sftp_accounts.DEFAULT_CONFIG_DIR}).",
)
@click.option(
    "--chroots",
    type=click.Path(file_okay=False, path_type=Path),
    default=sftp_accounts.DEFAULT_CHROOTS,
    show_default=True,
    help="各下级 chroot 的上级目录: root 所有, 与节点目录同一文件系统.",
)
@click.option(
    "--keys",
    "keys_from",
    type=click.Path(file_okay=False, path_type=Path),
    help="下级 SSH 公钥所在目录: CODE.pub 或 CODE/keys/ssh_ed25519.pub (default: the folder "
    "holding the home).",
)
@click.option("--group", help="本节点 agent 的用户组 (default: the group owning the home).")
@click.pass_context
def sftp_config(
    ctx: click.Context,
    output: Path | None,
    chroots: Path,
    keys_from: Path | None,
    group: str | None,
) -> None:
    """为每个下级生成独立的 SFTP 账户 (one SFTP account per child).

    在上级节点的目录运行. 对每个连入本节点的下级, 给出系统账户 fs-CODE 及其创建命令
    (useradd --system --no-create-home --shell /usr/sbin/nologin), sshd_config 片段
    (每个下级一个 Match User 块: ChrootDirectory 只含它自己的邮箱, ForceCommand
    internal-sftp, 禁止转发和终端), 以及带 restrict 的 authorized_keys. 命令只打印,
    不执行: 由运维人员审阅后以 root 执行. 下级看到的邮箱仍是 /CODE, 其拓扑中本节点的
    endpoint 写作 sftp://fs-{code}@HOST:PORT/ .

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 sftp-config --keys /srv/keys
      fiscalsync --home /srv/fiscalsync/410100 sftp-config -o /etc/ssh/fiscalsync
    """
    with Node.open(_home(ctx), check_schema=False) as node:
        plan = sftp_accounts.plan_accounts(
            node.home,
            node.topology,
            node.spec.code,
            chroots=chroots,
            config_dir=output if output is not None else sftp_accounts.DEFAULT_CONFIG_DIR,
            keys_from=keys_from,
            group=group,
        )
    if output is None:
        click.echo(f"# ==== {sftp_accounts.SCRIPT_FILE}: 账户与目录 (accounts and folders) ====")
        click.echo(plan.commands())
        click.echo(f"# ==== {plan.config_file}: sshd_config ====")
        click.echo(plan.sshd_config())
        for account in plan.accounts:
            click.echo(f"# ==== {account.authorized_keys} ====")
            click.echo(account.authorized_keys_line)
        click.echo("")
        click.echo(
            "# 将以上各段存为所示文件, 或用 -o DIR 直接写入 (save each part as the file it names)."
        )
        for number, step in enumerate(plan.next_steps(), 1):
            click.echo(f"# {number}. {step}")
        return
    for path in plan.write(output):
        click.echo(f"已写入 (wrote) {path}")
    for number, step in enumerate(plan.next_steps(), 1):
        click.echo(f"{number}. {step}")


@click.command("check", cls=_Command)
@click.option(
    "--read-data", is_flag=True, help="Also read every stored change-set whole and verify it."
)
@click.option("--repair", is_flag=True, help="Delete what is safe to delete; say what it did.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@_lang_option
@click.pass_context
def check_command(
    ctx: click.Context, read_data: bool, repair: bool, as_json: bool, lang: str
) -> None:
    """Check that this node's database and spool agree; name every problem, with what to do.

    Compares the outbox with its files and receipts, the change-sets taken with their
    signed receipts, the incoming files with the channel heads, each channel head with
    its history, and the quarantine with its files; finds temporary files left by a
    crash. --read-data also reads every stored change-set whole (signature, body hash).
    --repair deletes only what is safe: orphans left by a rolled-back transaction,
    stale temporary files, files already taken, files of dropped quarantine entries;
    never the only copy of anything unacknowledged or unapplied. Runs beside the agent
    and operators (it waits for a sync round to end); the agent runs it every day and
    'status' shows what the last check found. Exit status: 0 consistent, 17 problems.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 check
      fiscalsync --home /srv/fiscalsync/410100 check --read-data --repair
    """
    with Node.open(_home(ctx)) as node, contextlib.ExitStack() as bars:

        def progress(total: int) -> Callable[[int], None]:
            bar = bars.enter_context(_bar(total, _in_language(said("reading_stored"))))
            return bar.update

        report = check_home(node, read_data=read_data, repair=repair, on_read=progress)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        words = labels(lang)
        click.echo(
            words["m.check_done"].format(
                node=report.node,
                entries=report.entries,
                logged=report.logged,
                channels=report.channels,
                files=report.files_read,
            )
        )
        for finding in report.repaired:
            click.echo(
                words["m.check_repaired"].format(
                    kind=f"{finding.kind:<18}", subject=shown(finding.subject, words)
                )
            )
        problems = report.problems
        click.echo(
            words["m.check_problems"].format(n=len(problems))
            if problems
            else words["m.check_clean"]
        )
        for finding in problems:
            problem, action = shown(finding.problem, words), shown(finding.action, words)
            subject = shown(finding.subject, words)
            click.echo(f"  {finding.kind:<18} {subject}: {problem} → {action}")
    if report.problems:
        raise Inconsistent(said("home_problems", count=len(report.problems), node=report.node))


def _next_steps(home: Path, code: str, role: str, words: dict[str, str]) -> str:
    """What an operator does after ``init``: a key, the province's certificate, the
    revocation list, then status."""
    h = f"fiscalsync --home {home}"
    return "\n".join(
        [
            words["n.next_steps"],
            f"  1. {h} keys new                      # {words['n.step_key']}",
            f"  2. fiscalsync --home PROVINCE pki sign {home}/keys/node.csr --ca CA_DIR "
            f"--role {role}   # {words['n.step_sign']}",
            f"  3. {h} keys install {code}.crt --ca-cert ca.crt   # {words['n.step_install']}",
            f"  4. {h} revocation install crl.pem     # {words['n.step_crl']}",
            f"  5. {h} status",
        ]
    )
