"""Backups (备份) and restore (恢复): ``backup`` with list, verify, prune, drill and the
recovery key, and ``restore``."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from cli.app import _Command, _Group, _home, _in_language, _lang_option, _writing
from cli.options import _passphrase, _passphrase_option
from cli.render import LARGE_TRANSFER, _columns, _local, _mb, _pad
from nodes import Node, keys
from nodes.fiscal import tabular
from nodes.labels import labels, said, shown
from nodes.settings import load_settings
from sync.errors import InputError


@contextlib.contextmanager
def _bytes_bar(label: str, length: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on standard error for long work (nothing when it is short)."""
    if length is not None and length < LARGE_TRANSFER:
        yield lambda _n: None
        return
    with click.progressbar(length=length or 0, label=label, file=sys.stderr) as bar:
        yield bar.update


@click.group("backup", cls=_Group, invoke_without_command=True)
@click.option("--full", is_flag=True, help="Ship every chunk anew (no reuse of earlier backups).")
@_lang_option
@click.pass_context
def backup_group(ctx: click.Context, full: bool, lang: str) -> None:
    """Back this node up to the data center (备份): snapshot and journal, encrypted here.

    The database snapshot and the home's journal are cut into chunks; chunks not in the
    previous backup are encrypted (AES-256-GCM, a fresh data key wrapped for this node's
    backup key and the province's recovery key; SM4-GCM and SM2 key wrapping in an SM2
    network) and put into the data center's endpoint;
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
    from nodes.exchange import Exchange

    with _writing(ctx) as node:
        size = _database_size(node)
        with _bytes_bar(_in_language(said("backing_up")), size) as step:
            taken = backups.take_backup(node, full=full, progress=step)
        exchange = Exchange(node)
        try:
            with _bytes_bar(_in_language(said("uploading")), taken.new_bytes) as step:
                left, why = backups.upload(node, exchange.backup_way(), step)
        finally:
            exchange.close()
    words = labels(lang)
    click.echo(
        words["n.backup_taken"].format(
            number=taken.number,
            code=node.spec.code,
            at=_local(taken.taken_at, node.settings.time_zone),
            objects=taken.objects,
            size=_mb(taken.bytes),
            new_objects=taken.new_objects,
            new_size=_mb(taken.new_bytes),
            seconds=f"{taken.seconds:.1f}",
        )
    )
    if left:
        click.echo(words["n.backup_left"].format(count=left, why=shown(why, words)))
    click.echo(words["n.backup_manifest"].format(keeper=taken.keeper))


def _database_size(node: Node) -> int | None:
    if node.engine.dialect.name != "sqlite" or not node.engine.url.database:
        return None
    with contextlib.suppress(OSError):
        return Path(node.engine.url.database).stat().st_size
    return None


@backup_group.command("list")
@click.option("--node", "code", help="Only this node's backups.")
@_lang_option
@click.pass_context
def backup_list(ctx: click.Context, code: str | None, lang: str) -> None:
    """List the backups this node keeps for others (at the data center, or the province).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000-dc backup list --node 410102
    """
    from nodes import keeper

    words = labels(lang)
    with Node.open(_home(ctx)) as node:
        kept = keeper.kept(node, code)
        zone = node.settings.time_zone
    if not kept:
        click.echo(words["b.empty"])
        return
    columns = _columns(
        words,
        "b",
        [("node", "text"), ("number", "int"), ("taken", "text"), ("objects", "int"),
         ("size", "text"), ("verified", "text"), ("problem", "text")],
    )  # fmt: skip
    rows = [
        [
            row.node,
            row.number,
            _local(row.taken_at, zone),
            row.objects,
            _mb(row.bytes),
            _local(row.verified_at, zone) if row.verified_at else "-",
            row.problem or "-",
        ]
        for row in kept
    ]
    click.echo(tabular.render_text(columns, rows))


@backup_group.command("verify")
@click.option("--node", "code", help="Only this node's backups.")
@click.option("--read-data", is_flag=True, help="Also read every object and check its hash.")
@_lang_option
@click.pass_context
def backup_verify(ctx: click.Context, code: str | None, read_data: bool, lang: str) -> None:
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

    with _writing(ctx) as node:
        trust = keys.trust_store(node.home)
        with click.progressbar(
            length=0, label=_in_language(said("verifying")), file=sys.stderr, show_pos=True
        ) as bar:
            results = keeper.verify(
                node,
                trust,
                owner=code,
                read_data=read_data,
                max_age=timedelta(hours=node.settings.backup_max_age_hours),
                progress=bar.update if read_data else None,
            )
    bad = 0
    words = labels(lang)
    for item in results:
        latest = _local(item.latest, node.settings.time_zone) if item.latest else "-"
        state = words["m.verify_ok" if not item.problems else "m.verify_problem"]
        line = words["m.verify_line"].format(
            node=f"{item.node:<10}",
            backups=item.backups,
            latest=latest,
            objects=item.objects,
            size=_mb(item.bytes),
        )
        click.echo(
            _pad(state, 9)
            + line
            + (words["m.verify_read"].format(read=item.read) if read_data else "")
        )
        for problem in item.problems:
            click.echo(f"  {shown(problem, words)}")
        bad += bool(item.problems)
    if bad:
        from sync.backup.envelope import BackupDamaged

        raise BackupDamaged(
            said("backups_bad", bad=bad),
            hint=said("backups_bad_hint"),
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

    with _writing(ctx) as node:
        manifests, objects = keeper.prune(
            node, daily=node.settings.backup_keep_daily, monthly=node.settings.backup_keep_monthly
        )
    click.echo(_in_language(said("backups_pruned", manifests=manifests, objects=objects)))


@backup_group.command("drill")
@_lang_option
@click.pass_context
def backup_drill(ctx: click.Context, lang: str) -> None:
    """Take a backup, restore it from the data center into a scratch database, and
    compare it with the live one, table by table and by its reconciliation digests;
    report the restore time (恢复演练). Exit status 11 when they differ.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 backup drill
    """
    from nodes.drill import drill
    from sync.backup.envelope import BackupDamaged

    with _writing(ctx) as node:
        with _bytes_bar(_in_language(said("backing_up")), _database_size(node)) as step:
            result = drill(node, progress=step)
    drilled = said(
        "drill_done",
        number=result.number,
        backup=f"{result.backup_seconds:.1f}",
        restore=f"{result.restore_seconds:.1f}",
        size=_mb(result.bytes),
        tables=result.tables,
    )
    click.echo(_in_language(drilled))
    if result.passed:
        click.echo(_in_language(said("drill_passed")))
        return
    for difference in result.differences:
        click.echo(f"  {difference}")
    raise BackupDamaged(said("drill_failed", count=len(result.differences)))


@backup_group.group("recovery-key", cls=_Group)
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
@_passphrase_option
def recovery_key_new(ca_dir: Path, kit: Path, passphrase_file: Path | None) -> None:
    """(province) Make the recovery key: the kit (private key, its certificate, the root
    certificate) to keep offline, and CA/recovery.crt for every node to install.

    \b
    Example:
      fiscalsync backup recovery-key new --ca /secure/ca --out /offline/recovery-kit.pem
    """
    cert = keys.create_recovery(ca_dir, kit, _passphrase(passphrase_file))
    click.echo(_in_language(said("recovery_kit_written", kit=kit)))
    click.echo(_in_language(said("recovery_cert_install", cert=cert, name=cert.name)))


@recovery_key.command("install")
@click.argument("cert", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def recovery_key_install(ctx: click.Context, cert: Path) -> None:
    """Install the province's recovery certificate on this node, after checking it.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 backup recovery-key install recovery.crt
    """
    with _writing(ctx) as node:
        target = keys.install_recovery(node.home, cert)
    click.echo(
        f"Installed {target}: backups are now encrypted for the province's recovery key too."
    )


def _point_in_time(text: str) -> datetime:
    """``--at``: in UTC when it names a zone; without one it is left naive, to be read
    in the restored node's own [node] time_zone."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(
            said("time_bad", text=text),
            hint=said("time_bad_hint"),
        ) from exc
    return moment if moment.tzinfo is None else moment.astimezone(UTC)


@click.command("restore", cls=_Command)
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
    help="Restore to this time: the latest snapshot at or before it, then its journal up to it. "
    "A time without a zone is in the node's own [node] time_zone (from its backup).",
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
@_lang_option
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
    lang: str,
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

    at = _point_in_time(at_text) if at_text else None
    total: list[int] = []
    with contextlib.ExitStack() as stack:
        bar: list[Any] = []

        def on_total(size: int) -> None:
            total.append(size)
            if size >= LARGE_TRANSFER:
                bar.append(
                    stack.enter_context(
                        click.progressbar(
                            length=size, label=_in_language(said("restoring")), file=sys.stderr
                        )
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
    zone = load_settings(done.home).time_zone
    at = done.at
    words = labels(lang)
    click.echo(
        words["n.restored"].format(
            code=done.node,
            number=done.number,
            at=_local(done.taken_at, zone),
            files=done.files,
            size=_mb(done.bytes),
            seconds=f"{done.seconds:.1f}",
            home=done.home,
        )
    )
    if done.replayed is not None and done.journal_from is not None and at is not None:
        replayed = words["n.replayed_last" if done.replayed.last else "n.replayed"]
        click.echo(
            replayed.format(
                number=done.journal_from,
                at=_local(at, zone),
                own=done.replayed.own,
                taken=done.replayed.taken,
                last=_local(done.replayed.last, zone) if done.replayed.last else "",
            )
        )
    elif at is not None:
        click.echo(words["n.no_journal"].format(number=done.number, at=_local(at, zone)))
    click.echo(words["n.rejoining"].format(count=len(done.peers), peers=", ".join(done.peers)))
    click.echo(words["n.restore_next"].format(home=done.home))
