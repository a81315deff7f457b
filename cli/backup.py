"""Backups at the data center (备份) and restore (恢复)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import click

from cli.base import (
    LARGE_TRANSFER,
    Group,
    bytes_bar,
    cli,
    local_time,
    megabytes,
    node_home,
    passphrase_option,
    read_passphrase,
    utc_time,
    writing,
)
from nodes import (
    Node,
    keys,
)
from nodes.exchange import Exchange


@cli.group("backup", cls=Group, invoke_without_command=True)
@click.option("--full", is_flag=True, help="Ship every chunk anew (no reuse of earlier backups).")
@click.pass_context
def backup_group(ctx: click.Context, full: bool) -> None:
    """Back this node up to the data center (备份): snapshot and journal, encrypted here.

    The database snapshot and the home's journal are cut into chunks; chunks not in the
    previous backup are encrypted (AES-256-GCM, a fresh data key wrapped for this node's
    backup key and the province's recovery key) and put into the data center's endpoint;
    the signed manifest follows with the next sync. If the center cannot be reached, the
    sync rounds finish the upload later; nothing half-written is ever listed as a backup.
    The center's own backups go to the province.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 backup
      fiscalsync --home /srv/fiscalsync/410000-dc backup verify --read-data
    """
    if ctx.invoked_subcommand is not None:
        return
    from nodes import backups

    with writing(ctx) as node:
        size = _database_size(node)
        with bytes_bar("备份 backing up", size) as step:
            taken = backups.take_backup(node, full=full, progress=step)
        exchange = Exchange(node)
        try:
            with bytes_bar("uploading", taken.new_bytes) as step:
                left, why = backups.upload(node, exchange.backup_way(), step)
        finally:
            exchange.close()
    click.echo(
        f"Backup #{taken.number} of {node.spec.code} taken at {local_time(taken.taken_at)}: "
        f"{taken.objects} objects, {megabytes(taken.bytes)}; new {taken.new_objects} objects, "
        f"{megabytes(taken.new_bytes)} in {taken.seconds:.1f} s."
    )
    if left:
        click.echo(f"{left} object(s) not uploaded yet ({why}): the next sync resumes.")
    click.echo(f"Its manifest goes to {taken.keeper} with the next sync.")


def _database_size(node: Node) -> int | None:
    if node.engine.dialect.name != "sqlite" or not node.engine.url.database:
        return None
    with contextlib.suppress(OSError):
        return Path(node.engine.url.database).stat().st_size
    return None


@backup_group.command("list")
@click.option("--node", "code", help="Only this node's backups.")
@click.pass_context
def backup_list(ctx: click.Context, code: str | None) -> None:
    """List the backups this node keeps for others (at the data center, or the province).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000-dc backup list --node 410102
    """
    from nodes import keeper

    with Node.open(node_home(ctx)) as node:
        rows = keeper.kept(node, code)
    if not rows:
        click.echo("No backups kept here.")
        return
    click.echo("node        #  taken (Beijing)    objects        size  verified  problem")
    for row in rows:
        verified = local_time(row.verified_at) if row.verified_at else "-"
        click.echo(
            f"{row.node:<10} {row.number:>2}  {local_time(row.taken_at)}  {row.objects:>7}  "
            f"{megabytes(row.bytes):>10}  {verified}  {row.problem or '-'}"
        )


@backup_group.command("verify")
@click.option("--node", "code", help="Only this node's backups.")
@click.option("--read-data", is_flag=True, help="Also read every object and check its hash.")
@click.pass_context
def backup_verify(ctx: click.Context, code: str | None, read_data: bool) -> None:
    """Check the backups kept here, without any key (like restic check).

    Signatures and chains of the manifests, every object present and of its size, and
    with --read-data each object's SHA-256; a node whose latest backup is missing or
    older than [backup] max_age_hours is named. Exit status 11 when anything is wrong.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000-dc backup verify --read-data
    """
    from datetime import timedelta

    from nodes import keeper

    with writing(ctx) as node:
        trust = keys.trust_store(node.home)
        with click.progressbar(length=0, label="verifying", file=sys.stderr, show_pos=True) as bar:
            results = keeper.verify(
                node,
                trust,
                owner=code,
                read_data=read_data,
                max_age=timedelta(hours=node.settings.backup_max_age_hours),
                progress=bar.update if read_data else None,
            )
    bad = 0
    for item in results:
        latest = local_time(item.latest) if item.latest else "-"
        state = "OK" if not item.problems else "PROBLEM"
        click.echo(
            f"{state:<8} {item.node:<10} {item.backups} backup(s), latest {latest}, "
            f"{item.objects} objects, {megabytes(item.bytes)}"
            + (f", {item.read} read" if read_data else "")
        )
        for problem in item.problems:
            click.echo(f"  {problem}")
        bad += bool(item.problems)
    if bad:
        from sync.backup.envelope import BackupDamaged

        raise BackupDamaged(
            f"{bad} node(s) with a missing, stale or damaged backup",
            hint="take a backup at each node named (fiscalsync backup; --full if objects are lost)",
        )


@backup_group.command("prune")
@click.pass_context
def backup_prune(ctx: click.Context) -> None:
    """Apply the retention policy to the backups kept here ([backup] keep_daily,
    keep_monthly, and the last of every year), and delete objects no kept backup needs.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000-dc backup prune
    """
    from nodes import keeper

    with writing(ctx) as node:
        manifests, objects = keeper.prune(
            node, daily=node.settings.backup_keep_daily, monthly=node.settings.backup_keep_monthly
        )
    click.echo(f"Pruned {manifests} backup(s) and {objects} object(s) no kept backup needs.")


@backup_group.command("drill")
@click.pass_context
def backup_drill(ctx: click.Context) -> None:
    """Take a backup, restore it from the data center into a scratch database, and
    compare it with the live one, table by table and by its reconciliation digests;
    report the restore time (恢复演练). Exit status 11 when they differ.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 backup drill
    """
    from nodes.drill import drill
    from sync.backup.envelope import BackupDamaged

    with writing(ctx) as node:
        with bytes_bar("备份 backing up", _database_size(node)) as step:
            result = drill(node, progress=step)
    click.echo(
        f"Drill of backup #{result.number}: backup {result.backup_seconds:.1f} s, restore from "
        f"the center {result.restore_seconds:.1f} s ({megabytes(result.bytes)}), {result.tables} tables"
    )
    if result.passed:
        click.echo("The restored database equals the live one at the snapshot: PASSED.")
        return
    for difference in result.differences:
        click.echo(f"  {difference}")
    raise BackupDamaged(f"the drill found {len(result.differences)} difference(s): FAILED")


@backup_group.group("recovery-key", cls=Group)
def recovery_key() -> None:
    """The province's recovery key: every backup is also encrypted for it.

    \b
    Example:
      fiscalsync backup recovery-key new --ca /secure/ca --out /offline/recovery-kit.pem
      fiscalsync --home /srv/fiscalsync/410102 backup recovery-key install recovery.crt
    """


@recovery_key.command("new")
@click.option(
    "--ca",
    "ca_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The province's root CA folder.",
)
@click.option(
    "--out",
    "kit",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the recovery kit goes (keep it offline).",
)
@passphrase_option
def recovery_key_new(ca_dir: Path, kit: Path, passphrase_file: Path | None) -> None:
    """(province) Make the recovery key: the kit (private key, its certificate, the root
    certificate) to keep offline, and CA/recovery.crt for every node to install.

    \b
    Example:
      fiscalsync backup recovery-key new --ca /secure/ca --out /offline/recovery-kit.pem
    """
    cert = keys.create_recovery(ca_dir, kit, read_passphrase(passphrase_file))
    click.echo(f"Recovery kit written to {kit} (mode 0600): keep it offline.")
    click.echo(f"Install {cert} on every node: fiscalsync backup recovery-key install {cert.name}")


@recovery_key.command("install")
@click.argument("cert", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def recovery_key_install(ctx: click.Context, cert: Path) -> None:
    """Install the province's recovery certificate on this node, after checking it.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 backup recovery-key install recovery.crt
    """
    with writing(ctx) as node:
        target = keys.install_recovery(node.home, cert)
    click.echo(
        f"Installed {target}: backups are now encrypted for the province's recovery key too."
    )


@cli.command("restore")
@click.argument("home", type=click.Path(file_okay=False, path_type=Path))
@click.option("--node", "code", required=True, help="The node to restore, e.g. 410102.")
@click.option("--from", "keeper", help="The node keeping its backups (default: the data center).")
@click.option(
    "--topology",
    "topology_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The province's topology (to reach the keeper).",
)
@click.option(
    "--at",
    "at_text",
    help="Restore to this time: the latest snapshot at or before it, then its journal up to it.",
)
@click.option(
    "--recovery-key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The province's recovery kit, or this node's own keys/backup.key.",
)
@click.option(
    "--ca-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The root certificate, if the key file holds none.",
)
@click.option("--db-url", help="A new, empty database to restore into (default: SQLite in HOME).")
@click.option(
    "--ssh-key", type=click.Path(dir_okay=False, path_type=Path), help="SSH key for an sftp keeper."
)
def restore_command(
    home: Path,
    code: str,
    keeper: str | None,
    topology_file: Path,
    at_text: str | None,
    key_file: Path,
    ca_cert: Path | None,
    db_url: str | None,
    ssh_key: Path | None,
) -> None:
    """Restore a node from its backups into HOME, on a fresh machine (恢复).

    Fetches the node's manifests from the data center, verifies every signature, chain
    link and object hash, decrypts with the recovery kit, and builds the home and its
    database; then the node rejoins: it asks its peers for what it lost and sends
    nothing new until each has answered (see 'status'). HOME must be new or empty.

    \b
    Example:
      fiscalsync restore /srv/fiscalsync/410102 --node 410102 --from 410000-dc \\
          --topology henan.toml --recovery-key /offline/recovery-kit.pem
      fiscalsync restore /srv/fiscalsync/410100 --node 410100 --topology henan.toml \\
          --recovery-key kit.pem --at '2026-11-20 18:00' \\
          --db-url postgresql://fiscal@db.local/fs_410100
    """
    from nodes.restore import restore

    at = utc_time(at_text) if at_text else None
    total: list[int] = []
    with contextlib.ExitStack() as stack:
        bar: list[Any] = []

        def on_total(size: int) -> None:
            total.append(size)
            if size >= LARGE_TRANSFER:
                bar.append(
                    stack.enter_context(
                        click.progressbar(length=size, label="恢复 restoring", file=sys.stderr)
                    )
                )

        def step(size: int) -> None:
            if bar:
                bar[0].update(size)

        done = restore(
            code,
            topology_file,
            home,
            key_file,
            keeper=keeper,
            at=at,
            db_url=db_url,
            ca_cert=ca_cert,
            ssh_key=ssh_key,
            progress=step,
            on_total=on_total,
        )
    click.echo(
        f"Restored {done.node} from backup #{done.number} taken {local_time(done.taken_at)} "
        f"({done.files} files, {megabytes(done.bytes)}) in {done.seconds:.1f} s into {done.home}."
    )
    if done.replayed is not None and done.journal_from is not None and at is not None:
        click.echo(
            f"Replayed the journal of backup #{done.journal_from} up to {local_time(at)}: took back "
            f"{done.replayed.own} change-set(s) of its own and took {done.replayed.taken} again"
            + (f" (the last at {local_time(done.replayed.last)})." if done.replayed.last else ".")
        )
    elif at is not None:
        click.echo(
            f"No backup after #{done.number} holds a journal to replay up to {local_time(at)}."
        )
    click.echo(
        f"Rejoining: asked {len(done.peers)} peer(s) ({', '.join(done.peers)}) for what it "
        "lost; it sends nothing new until all have answered."
    )
    click.echo(f"Next: fiscalsync --home {done.home} sync   (or start the agent), then status")
