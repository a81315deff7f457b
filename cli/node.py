"""A node's own home: init, status, the database schema, keys, code sets,
revocation lists and the consistency check."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

import click

from cli.base import (
    Group,
    cli,
    describe,
    emit,
    local_time,
    megabytes,
    node_home,
    output_option,
    passphrase_option,
    progress_bar,
    read_passphrase,
    writing,
)
from nodes import (
    Node,
    init_node,
    keys,
    load_topology,
    retention,
)
from nodes.check import check_home
from nodes.fiscal import tabular
from nodes.fiscal.codes import import_codes
from nodes.fiscal.codes import items as code_items
from sync.errors import (
    Inconsistent,
)


@cli.command()
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
def init(home: Path, code: str, topology_file: Path, db_url: str | None) -> None:
    """Create a node home: settings, migrated database, folders for keys and spool.

    \b
    Example:
      fiscalsync init /srv/fiscalsync/410102 --node 410102 \\
          --topology config/topologies/henan.toml
      fiscalsync init /srv/fiscalsync/410100 --node 410100 \\
          --topology henan.toml --db postgresql://fiscal@db.local/fs_410100
    """
    created = init_node(home, code, topology_file, db_url)
    click.echo(f"Created node home {created.path} for {code}.")
    click.echo(
        _next_steps(created.path, code, load_topology(created.topology_file).node(code).role)
    )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show this node's identity, parent, children, database and schema version, its
    certificate and revocation list, and the alerts that need an operator: files parked
    after failing too many sync rounds, this node's own copies found damaged (never
    sent), files failing now, quarantine, a missing or stale revocation list, a
    certificate about to expire, and the problems the last 'fiscalsync check' found.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 status
      FISCALSYNC_HOME=/srv/fiscalsync/410102 fiscalsync status --json
    """
    with Node.open(node_home(ctx), check_schema=False) as node:
        report = node.status()
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    schema_state = "up to date" if report.schema_revision == report.schema_head else "OUTDATED"
    if report.schema_revision is None:
        schema_state = "empty"
    children = ", ".join(f"{c.code} {c.name}" for c in report.children) or "-"
    rows = [
        ("Node", f"{report.code} {report.name} ({report.role})"),
        ("Parent", describe(report.parent)),
        ("Children", children),
        ("Home", str(report.home)),
        ("Topology", f"{report.topology_name}, {report.topology_size} nodes"),
        ("Database", report.database_url),
        (
            "Schema",
            f"{report.schema_revision or '-'} ({schema_state}; code at {report.schema_head})",
        ),
        *_trust_rows(report.trust),
        ("Spool", f"{report.spool_bytes / 1e6:.1f} MB (fiscalsync purge)"),
    ]
    for label, value in rows:
        click.echo(f"{label:<11} {value}")
    if report.schema_revision == report.schema_head or report.alerts:
        click.echo(f"{'Alerts':<11} {len(report.alerts) or 'none'}")
    for alert in report.alerts:
        click.echo(f"  {alert.kind:<11} {alert.subject}: {alert.detail}")


def _trust_rows(trust: keys.TrustStatus) -> list[tuple[str, str]]:
    cert = trust.certificate
    certificate = "-"
    if cert is not None:
        certificate = (
            f"serial {cert.serial:x}, valid {local_time(cert.not_valid_before)} to "
            f"{local_time(cert.not_valid_after)}"
        )
        if trust.renewal_pending:
            certificate += " (renewal pending)"
    crl = trust.crl
    listing = "missing"
    if crl is not None:
        due = local_time(crl.next_update) if crl.next_update else "-"
        listing = (
            f"number {crl.number}, {len(crl.serials)} revoked, issued "
            f"{local_time(crl.last_update)}, next update by {due}: {trust.freshness}"
        )
    if trust.republished_by == "agent":
        listing += "; re-published by the agent"
    elif trust.republished_by == "hand":
        listing += f"; re-published by hand ({keys.PUBLISH_BY_HAND})"
    return [("Certificate", certificate), ("Revocation", listing)]


@cli.group(cls=Group)
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
    with writing(ctx, exclusive=True, check_schema=False) as node:
        before, after = node.upgrade_database()
    if before == after:
        click.echo(f"Database already at schema {after}.")
    else:
        click.echo(f"Database upgraded from schema {before or '(empty)'} to {after}.")


@cli.group(cls=Group, name="keys")
def keys_group() -> None:
    """This node's key pair and certificate.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 keys new
    """


@keys_group.command("new")
@click.option(
    "--renew",
    is_flag=True,
    help="Renew the certificate: a new key waits beside the current one, which goes on "
    "signing until the new certificate is installed.",
)
@click.pass_context
def keys_new(ctx: click.Context, renew: bool) -> None:
    """Make this node's private key (it never leaves the node) and a signing request.

    With --renew (before the certificate expires, or to change keys) the new key waits
    in keys/node.key.new; `keys install` of its certificate makes it the node's key and
    keeps the old certificate in keys/superseded/. Change-sets the node signed before
    stay valid, even once the old certificate has expired.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 keys new
      fiscalsync --home /srv/fiscalsync/410102 keys new --renew
    """
    with writing(ctx, check_schema=False) as node:
        csr, ssh_public = keys.new_key(node.home, node.spec.code, renew=renew)
    if renew:
        click.echo(
            f"Wrote a new private key (pending, keys/node.key.new) and the signing request "
            f"{csr}; the node signs with its current key until the new certificate is installed."
        )
    else:
        click.echo(f"Wrote the private key and the signing request {csr}.")
    click.echo("Send the request to the province: fiscalsync pki sign node.csr --ca CA --role ROLE")
    click.echo("SSH key for the parent's authorized_keys (to reach its SFTP endpoint):")
    click.echo(f"  {ssh_public}")


@keys_group.command("install")
@click.argument("cert", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--ca-cert",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The province's ca.crt.",
)
@click.pass_context
def keys_install(ctx: click.Context, cert: Path, ca_cert: Path) -> None:
    """Install this node's certificate and the root certificate, after checking them.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 keys install 410102.crt --ca-cert ca.crt
    """
    with writing(ctx, check_schema=False) as node:
        identity, superseded = keys.install_certificate(node.home, cert, ca_cert)
        if identity.code != node.spec.code:
            raise click.UsageError(
                f"certificate is for {identity.code}, this node is {node.spec.code}"
            )
    click.echo(
        f"Installed certificate of {identity.code} ({identity.role}), serial {identity.serial:x}."
    )
    if superseded is not None:
        click.echo(
            f"Renewed: certificate {superseded.serial:x} is superseded (kept in "
            "keys/superseded/) and its key is gone; what it signed stays valid."
        )


@cli.command("check")
@click.option(
    "--read-data", is_flag=True, help="Also read every stored change-set whole and verify it."
)
@click.option("--repair", is_flag=True, help="Delete what is safe to delete; say what it did.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_context
def check_command(ctx: click.Context, read_data: bool, repair: bool, as_json: bool) -> None:
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
    with Node.open(node_home(ctx)) as node, contextlib.ExitStack() as bars:

        def progress(total: int) -> Callable[[int], None]:
            bar = bars.enter_context(progress_bar(total, "Reading stored change-sets"))
            return bar.update

        report = check_home(node, read_data=read_data, repair=repair, on_read=progress)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(
            f"Checked {report.node}: {report.entries} outbox entries, {report.logged} "
            f"change-sets taken, {report.channels} channels, {report.files_read} files read whole."
        )
        for finding in report.repaired:
            click.echo(f"repaired {finding.kind:<18} {finding.subject}: deleted")
        problems = report.problems
        click.echo(f"{len(problems)} problem(s):" if problems else "No problems found.")
        for finding in problems:
            click.echo(
                f"  {finding.kind:<18} {finding.subject}: {finding.problem} → {finding.action}"
            )
    if report.problems:
        raise Inconsistent(f"{len(report.problems)} problem(s) in the home of {report.node}")


@cli.group(cls=Group)
def codes() -> None:
    """Code sets (基础数据规范): classification codes, fund and transfer types.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 codes import extensions.csv
    """


@codes.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def codes_import(ctx: click.Context, file: Path) -> None:
    """Import the province's code-set extensions and send them to every node.

    FILE is a CSV with the columns codeset,year,code,name,parent,level. Every bad row is
    reported and nothing is imported unless all are good.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 codes import extensions.csv
    """
    with writing(ctx) as node:
        items, sent = import_codes(node, file)
    click.echo(f"Imported {items} code(s); {sent} signed change-set(s) queued for the other nodes.")


@cli.group(cls=Group)
def revocation() -> None:
    """Certificate revocation lists, distributed down the tree.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 revocation publish --ca /secure/ca
    """


@revocation.command("publish")
@click.option(
    "--ca",
    "ca_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Root CA folder.",
)
@passphrase_option
@click.pass_context
def revocation_publish(ctx: click.Context, ca_dir: Path, passphrase_file: Path | None) -> None:
    """Issue the CA's revocation list afresh and send it to every node (at the province).

    The list is signed again with a new number and a new validity ([revocation]
    validity_days of node.toml, 7 days by default), and must be published again before
    it lapses: the province's agent does it when node.toml names the CA folder
    ([revocation] ca); `fiscalsync status` says when it is due.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 revocation publish --ca /secure/ca
    """
    with writing(ctx) as node:
        number, sent = keys.publish_revocation(node, ca_dir, read_passphrase(passphrase_file))
    click.echo(f"Revocation list {number} queued for {sent} node(s).")


@revocation.command("install")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def revocation_install(ctx: click.Context, file: Path) -> None:
    """Install the province's revocation list (crl.pem) on this node, after checking it.

    A node takes nothing in without one. It must be signed by the installed root CA and
    be no older than the list the node holds; later lists arrive by sync.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 revocation install crl.pem
    """
    with writing(ctx, exclusive=True, check_schema=False) as node:  # not during a round
        crl = keys.install_crl(node.home, file)
    due = local_time(crl.next_update) if crl.next_update else "-"
    click.echo(
        f"Installed revocation list {crl.number} ({len(crl.serials)} revoked, "
        f"next update by {due})."
    )


@cli.command("purge")
@click.option("--dry-run", is_flag=True, help="Say what would go, delete nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON.")
@click.pass_context
def purge_command(ctx: click.Context, dry_run: bool, as_json: bool) -> None:
    """Purge the spool: the files of change-sets acknowledged (sent) or answered (taken)
    longer ago than [retention] days, never sooner than the backup retention, and
    closed quarantine entries. The rows stay, marked purged; the agent does it daily.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 purge --dry-run
      fiscalsync --home /srv/fiscalsync/410000 purge
    """
    with writing(ctx) as node:
        done = retention.purge(node, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(done.as_dict(), ensure_ascii=False, indent=2))
        return
    verb = "Would purge" if dry_run else "Purged"
    click.echo(
        f"{verb} the files of {done.sent} sent and {done.taken} taken change-set(s) "
        f"acknowledged before {local_time(done.cutoff)} ({done.files} file(s), {megabytes(done.bytes)}) "
        f"and {done.quarantine} closed quarantine entries."
    )
    click.echo(
        f"Spool now {megabytes(done.spool_bytes)}."
        if not dry_run
        else f"Spool {megabytes(done.spool_bytes)}."
    )


def _next_steps(home: Path, code: str, role: str) -> str:
    """What an operator does after ``init``: a key, the province's certificate, the
    revocation list, then status."""
    h = f"fiscalsync --home {home}"
    return "\n".join(
        [
            "Next steps (下一步):",
            f"  1. {h} keys new                      # here: the key and node.csr",
            f"  2. fiscalsync --home PROVINCE pki sign {home}/keys/node.csr --ca CA_DIR "
            f"--role {role}   # at the province",
            f"  3. {h} keys install {code}.crt --ca-cert ca.crt   # here, with the root certificate",
            f"  4. {h} revocation install crl.pem     # the province's revocation list",
            f"  5. {h} status",
        ]
    )


@codes.command("list")
@click.option(
    "--codeset",
    default="func",
    show_default=True,
    help="func, econ, fund, transfer, revenue or region.",
)
@click.option("--year", type=int, help="Only this year.")
@output_option
@click.pass_context
def codes_list(
    ctx: click.Context, codeset: str, year: int | None, fmt: str, output: Path | None
) -> None:
    """List the codes known here (national code sets and the province's extensions).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 codes list --codeset func --year 2026
    """
    with Node.open(node_home(ctx)) as node:
        found = code_items(node, codeset, year)
    columns = [
        tabular.Column("year", "year", "int"),
        tabular.Column("code", "code (编码)"),
        tabular.Column("name", "name (名称)"),
        tabular.Column("parent", "parent"),
        tabular.Column("tier", "tier (层次)", "int"),
        tabular.Column("extension", "extension (扩展)"),
    ]
    rows = [
        [i.year, "  " * (i.level - 1) + i.code if fmt == "table" else i.code, i.name,
         i.parent or "", i.level, "扩展" if i.extension else ""]
        for i in found
    ]  # fmt: skip
    emit(columns, rows, fmt, output, title=f"codes {codeset}", empty="No codes.")
