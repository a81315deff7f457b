"""The exchange of change-sets: ``sync`` rounds, ``outbox``, ``inbox``, ``quarantine`` and
``changeset`` inspect and verify."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import click

from cli.app import _Command, _Group, _home, _lang_option, _writing
from cli.render import LARGE_TRANSFER, _columns, _local, _pad
from nodes import Node
from nodes.exchange import Exchange, RoundSummary
from nodes.fiscal import tabular
from nodes.labels import joined, labels, recalled, say, shown
from nodes.node import inspect_changeset
from sync.errors import TransportError


@click.group(cls=_Group)
def changeset() -> None:
    """Change-set files: look inside one, or verify it against this node's trust.

    \b
    Example:
      fiscalsync changeset inspect 410000_410100_0000000001_ab12...fcs
    """


@changeset.command("inspect")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--ops", "limit", default=10, show_default=True, help="How many operations to show.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_lang_option
def changeset_inspect(file: Path, limit: int, as_json: bool, lang: str) -> None:
    """Print a change-set's header and its first operations (nothing is verified).

    \b
    Example:
      fiscalsync changeset inspect 410000_410100_0000000001_ab12...fcs --ops 3
    """
    view = inspect_changeset(file, limit)
    if as_json:
        click.echo(json.dumps(view.as_dict(), ensure_ascii=False, indent=2))
        return
    words = labels(lang)
    for label, value in view.header_rows():
        click.echo(f"{_pad(words[f'cs.{label}'], 11)}{value}")
    click.echo(words["cs.operations"].format(shown=len(view.operations), count=view.header.count))
    for op in view.operations:
        click.echo("  " + json.dumps(op, ensure_ascii=False))


@changeset.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_lang_option
@click.pass_context
def changeset_verify(ctx: click.Context, file: Path, lang: str) -> None:
    """Verify a change-set for this node: framing, body, signature, certificate, rights.

    Prints OK (核验通过) and the change-set id, or the precise reason with its own exit status
    (10 malformed, 11 integrity, 12 signature, 13 certificate, 14 not for this node,
    15 not authorized).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 changeset verify 410000_410100_...fcs --lang en
    """
    with Node.open(_home(ctx), check_schema=False) as node:
        verified = node.verify_changeset(file)
    header, words = verified.header, labels(lang)
    click.echo(words["cs.verified"].format(id=verified.id))
    click.echo(
        words["cs.verified_detail"].format(
            kind=say(words, "kind", header.kind),
            origin=header.origin,
            recipient=header.recipient,
            seq=header.seq,
            count=header.count,
            signer=verified.signer.code,
            role=say(words, "role", verified.signer.role),
        )
    )


def _summary_line(summary: RoundSummary, lang: str = "en") -> str:
    words = labels(lang)
    line = words["m.sync_summary"].format(
        sent=summary.sent,
        received=summary.received,
        applied=summary.applied,
        rejected=summary.rejected,
        duplicates=summary.duplicates,
        waiting=summary.waiting,
        quarantined=summary.quarantined,
        relayed=summary.relayed,
        receipts_in=summary.receipts_received,
        receipts_out=summary.receipts_sent,
    )
    trouble = [
        words[f"m.sync_{label}"].format(n=count)
        for label, count in (
            ("failed", summary.failed),
            ("parked", summary.parked),
            ("damaged", summary.damaged),
        )
        if count
    ]
    return line + (f"; {', '.join(trouble)}" if trouble else "")


@click.command("sync", cls=_Command)
@click.option("--retransmit-now", is_flag=True, help="Resend every unacknowledged change-set now.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@_lang_option
@click.pass_context
def sync_command(ctx: click.Context, retransmit_now: bool, as_json: bool, lang: str) -> None:
    """Run one sync round with the parent (and the center).

    Delivers the due outbox and the receipts, collects and applies what waits for this
    node, and relays what is for others. If the parent cannot be reached the rest of
    the round still runs, nothing is lost, and the command exits with status 7. A file
    that cannot be taken, relayed or sent is named under "could not take or send" and tried
    again next round; after 5 failed rounds it is parked in quarantine (see 'status').

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 sync
    """
    with Node.open(_home(ctx)) as node, contextlib.ExitStack() as bars:

        def progress_for(name: str, size: int) -> Callable[[int], None] | None:
            if size < LARGE_TRANSFER:
                return None
            label = f"fetching {name[:32]}… ({size / 1e6:.1f} MB)"
            bar = bars.enter_context(click.progressbar(length=size, label=label, file=sys.stderr))
            return bar.update

        exchange = Exchange(node, on_transfer=progress_for)
        try:
            summary = exchange.run_round(retransmit_now=retransmit_now)
        finally:
            exchange.close()
    if as_json:
        click.echo(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2))
    else:
        words = labels(lang)
        click.echo(_summary_line(summary, lang))
        click.echo(words["m.sync_awaiting"].format(n=summary.pending_receipts))
        for note in summary.notes:
            click.echo(shown(note, words))
        if summary.problems:
            click.echo(words["m.sync_problems"].format(n=len(summary.problems)))
            for problem in summary.problems:
                click.echo(f"  {shown(problem, words)}")
    if summary.errors:
        raise TransportError(joined(summary.errors))


@click.command("outbox", cls=_Command)
@click.option("--all", "include_all", is_flag=True, help="Include acknowledged change-sets.")
@_lang_option
@click.pass_context
def outbox_command(ctx: click.Context, include_all: bool, lang: str) -> None:
    """List change-sets this node sent that still wait for their receipt (发件箱).

    A change-set whose stored copy is damaged is marked DAMAGED (已损坏): it is not sent
    (a damaged copy would only be refused), and it is named in 'status' until repaired.
    Times are in the node's zone ([node] time_zone).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 outbox
      fiscalsync --home /srv/fiscalsync/410000 outbox --all --lang en
    """
    words = labels(lang)
    with Node.open(_home(ctx)) as node:
        entries = node.outbox(include_acknowledged=include_all)
        damaged = node.damaged_copies()
        zone = node.settings.time_zone
    if not entries:
        click.echo(words["outbox.empty"])
        return
    columns = _columns(
        words,
        "c",
        [("recipient", "text"), ("kind", "text"), ("seq", "int"), ("tries", "int"),
         ("receipt", "text"), ("created", "text"), ("id", "text")],
    )  # fmt: skip
    rows = [
        [
            e.recipient,
            say(words, "kind", e.kind),
            e.seq,
            e.attempts,
            say(words, "verdict", e.receipt_verdict),
            _local(e.created_at, zone),
            e.id[:16],
        ]
        for e in entries
    ]
    lines = tabular.render_text(columns, rows).split("\n")
    click.echo("\n".join(lines[:2]))
    for e, line in zip(entries, lines[2:], strict=True):
        click.echo(line)
        if e.filename in damaged:
            error = shown(damaged[e.filename], words)
            message = words["outbox.damaged"].format(file=e.filename, error=error)
            click.echo(f"  {message}")


@click.command("inbox", cls=_Command)
@_lang_option
@click.pass_context
def inbox_command(ctx: click.Context, lang: str) -> None:
    """List change-sets that arrived early and wait for their predecessors (收件箱).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 inbox
    """
    words = labels(lang)
    with Node.open(_home(ctx)) as node:
        items = node.waiting()
        zone = node.settings.time_zone
    if not items:
        click.echo(words["inbox.empty"])
        return
    columns = _columns(
        words,
        "c",
        [("origin", "text"), ("kind", "text"), ("seq", "int"), ("expects", "int"),
         ("created", "text"), ("file", "text")],
    )  # fmt: skip
    rows = [
        [
            item.origin,
            say(words, "kind", item.kind),
            item.seq,
            item.expected,
            _local(item.created, zone),
            item.filename,
        ]
        for item in items
    ]
    click.echo(tabular.render_text(columns, rows))


@click.group("quarantine", cls=_Group, invoke_without_command=True)
@click.option("--all", "include_all", is_flag=True, help="Include released and dropped entries.")
@_lang_option
@click.pass_context
def quarantine_group(ctx: click.Context, include_all: bool, lang: str) -> None:
    """List refused and parked files and why (隔离区); show, release or drop one.

    One entry per file content: a copy that arrives again is counted, not added.
    Entries released or dropped longer ago than [quarantine] retention_days (node.toml,
    90 by default) are purged by the sync round. Times are in the node's zone.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 quarantine
      fiscalsync --home /srv/fiscalsync/410102 quarantine show 3
    """
    if ctx.invoked_subcommand is not None:
        return
    words = labels(lang)
    with Node.open(_home(ctx)) as node:
        entries = node.quarantined(include_closed=include_all)
        zone = node.settings.time_zone
    if not entries:
        click.echo(words["quarantine.empty"])
        return
    columns = _columns(
        words,
        "c",
        [("id", "int"), ("received_at", "text"), ("reason", "text"), ("state", "text"),
         ("detail", "text")],
    )  # fmt: skip
    rows = [
        [
            e.id,
            _local(e.received_at, zone),
            say(words, "reason", e.reason),
            words[
                "quarantine.dropped"
                if e.dropped_at
                else "quarantine.released"
                if e.released_at
                else "quarantine.open"
            ],
            shown(recalled(e.detail, e.detail_said), words)
            + (
                words["quarantine.seen"].format(n=e.seen_count, last=_local(e.last_seen_at, zone))
                if e.seen_count > 1
                else ""
            ),
        ]
        for e in entries
    ]
    click.echo(tabular.render_text(columns, rows))


@quarantine_group.command("show")
@click.argument("entry_id", type=int)
@_lang_option
@click.pass_context
def quarantine_show(ctx: click.Context, entry_id: int, lang: str) -> None:
    """Show one quarantine entry in full.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 quarantine show 3
    """
    words = labels(lang)
    with Node.open(_home(ctx)) as node:
        e = node.quarantine_entry(entry_id)
        zone = node.settings.time_zone
    keys_shown = (
        "id",
        "filename",
        "changeset_id",
        "origin",
        "recipient",
        "reason",
        "detail",
        "received_at",
        "last_seen_at",
        "seen_count",
        "sha256",
        "released_at",
        "dropped_at",
    )
    width = max(tabular.display_width(words[f"q.{key}"]) for key in keys_shown) + 2
    for key in keys_shown:
        value = e._mapping[key]
        if isinstance(value, datetime):
            value = _local(value, zone)
        elif key == "reason":
            value = say(words, "reason", value)
        elif key == "detail":
            value = shown(recalled(e.detail, e.detail_said), words)
        click.echo(f"{_pad(words[f'q.{key}'], width)}{value if value is not None else '-'}")


@quarantine_group.command("release")
@click.argument("entry_id", type=int)
@_lang_option
@click.pass_context
def quarantine_release(ctx: click.Context, entry_id: int, lang: str) -> None:
    """Put a quarantined file back to be verified and taken again at the next sync.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 quarantine release 3
    """
    with _writing(ctx) as node:
        target = node.release(entry_id)
    words = labels(lang)
    click.echo(words["quarantine.released_msg"].format(id=entry_id, name=target.name))


@quarantine_group.command("drop")
@click.argument("entry_id", type=int)
@_lang_option
@click.pass_context
def quarantine_drop(ctx: click.Context, entry_id: int, lang: str) -> None:
    """Delete a quarantined file for good (its entry stays, marked dropped).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 quarantine drop 3
    """
    with _writing(ctx) as node:
        node.drop(entry_id)
    click.echo(labels(lang)["quarantine.dropped_msg"].format(id=entry_id))
