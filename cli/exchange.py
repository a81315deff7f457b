"""Change-sets on their way: inspect and verify one, sync rounds, outbox, inbox,
quarantine, and the scheduled agent."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

import click

from cli.base import LARGE_TRANSFER, Group, cli, node_home, writing
from nodes import (
    Node,
    agent,
)
from nodes.exchange import Exchange, RoundSummary
from nodes.node import inspect_changeset
from sync.errors import (
    TransportError,
)


@cli.group(cls=Group)
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
def changeset_inspect(file: Path, limit: int, as_json: bool) -> None:
    """Print a change-set's header and its first operations (nothing is verified).

    \b
    Example:
      fiscalsync changeset inspect 410000_410100_0000000001_ab12...fcs --ops 3
    """
    view = inspect_changeset(file, limit)
    if as_json:
        click.echo(json.dumps(view.as_dict(), ensure_ascii=False, indent=2))
        return
    for label, value in view.header_rows():
        click.echo(f"{label:<10} {value}")
    shown = len(view.operations)
    click.echo(f"operations (first {shown} of {view.header.count}):")
    for op in view.operations:
        click.echo("  " + json.dumps(op, ensure_ascii=False))


@changeset.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def changeset_verify(ctx: click.Context, file: Path) -> None:
    """Verify a change-set for this node: framing, body, signature, certificate, rights.

    Prints OK and the change-set id, or the precise reason with its own exit status
    (10 malformed, 11 integrity, 12 signature, 13 certificate, 14 not for this node,
    15 not authorized).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 changeset verify 410000_410100_...fcs
    """
    with Node.open(node_home(ctx), check_schema=False) as node:
        verified = node.verify_changeset(file)
    header = verified.header
    click.echo(f"OK {verified.id}")
    click.echo(
        f"   {header.kind} {header.origin} -> {header.recipient}, seq {header.seq}, {header.count} operations, signed by {verified.signer.code} ({verified.signer.role})"
    )


def _summary_line(summary: RoundSummary) -> str:
    line = (
        f"sent {summary.sent}, received {summary.received}, applied {summary.applied}, "
        f"rejected {summary.rejected}, duplicates {summary.duplicates}, "
        f"waiting {summary.waiting}, quarantined {summary.quarantined}, "
        f"relayed {summary.relayed}, receipts in {summary.receipts_received} / "
        f"out {summary.receipts_sent}"
    )
    trouble = [
        f"{label} {count}"
        for label, count in (
            ("failed", summary.failed),
            ("parked", summary.parked),
            ("damaged", summary.damaged),
        )
        if count
    ]
    return line + (f"; {', '.join(trouble)}" if trouble else "")


@cli.command("sync")
@click.option("--retransmit-now", is_flag=True, help="Resend every unacknowledged change-set now.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def sync_command(ctx: click.Context, retransmit_now: bool, as_json: bool) -> None:
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
    with Node.open(node_home(ctx)) as node, contextlib.ExitStack() as bars:

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
        click.echo(_summary_line(summary))
        click.echo(f"awaiting receipts: {summary.pending_receipts}")
        for note in summary.notes:
            click.echo(note)
        if summary.problems:
            click.echo(f"could not take or send {len(summary.problems)} file(s):")
            for problem in summary.problems:
                click.echo(f"  {problem}")
    if summary.errors:
        raise TransportError("; ".join(summary.errors))


@cli.command("outbox")
@click.option("--all", "include_all", is_flag=True, help="Include acknowledged change-sets.")
@click.pass_context
def outbox_command(ctx: click.Context, include_all: bool) -> None:
    """List change-sets this node sent that still wait for their receipt.

    A change-set whose stored copy is damaged is marked DAMAGED: it is not sent (a
    damaged copy would only be refused), and it is named in 'status' until repaired.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 outbox
    """
    with Node.open(node_home(ctx)) as node:
        entries = node.outbox(include_acknowledged=include_all)
        damaged = node.damaged_copies()
    if not entries:
        click.echo("Outbox empty: every change-set has its receipt.")
        return
    click.echo(f"{'recipient':<10} {'kind':<14} {'seq':>6} {'tries':>5}  {'receipt':<9} id")
    for e in entries:
        receipt = e.receipt_verdict or "-"
        click.echo(
            f"{e.recipient:<10} {e.kind:<14} {e.seq:>6} {e.attempts:>5}  {receipt:<9} {e.id[:16]}"
        )
        if e.filename in damaged:
            click.echo(f"  DAMAGED, not sent: {e.filename}: {damaged[e.filename]}")


@cli.command("inbox")
@click.pass_context
def inbox_command(ctx: click.Context) -> None:
    """List change-sets that arrived early and wait for their predecessors.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 inbox
    """
    with Node.open(node_home(ctx)) as node:
        items = node.waiting()
    if not items:
        click.echo("Inbox empty: nothing waits.")
        return
    for item in items:
        click.echo(
            f"{item.origin:<10} {item.kind:<14} seq {item.seq} (channel expects {item.expected})  {item.filename}"
        )


@cli.group("quarantine", cls=Group, invoke_without_command=True)
@click.option("--all", "include_all", is_flag=True, help="Include released and dropped entries.")
@click.pass_context
def quarantine_group(ctx: click.Context, include_all: bool) -> None:
    """List refused and parked files and why; show, release or drop one.

    One entry per file content: a copy that arrives again is counted (xN), not added.
    Entries released or dropped longer ago than [quarantine] retention_days (node.toml,
    90 by default) are purged by the sync round.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 quarantine
      fiscalsync --home /srv/fiscalsync/410102 quarantine show 3
    """
    if ctx.invoked_subcommand is not None:
        return
    with Node.open(node_home(ctx)) as node:
        entries = node.quarantined(include_closed=include_all)
    if not entries:
        click.echo("Quarantine empty.")
        return
    for e in entries:
        seen = (
            f" (x{e.seen_count}, last {e.last_seen_at:%Y-%m-%d %H:%M}Z)" if e.seen_count > 1 else ""
        )
        click.echo(
            f"{e.id:>4}  {e.received_at:%Y-%m-%d %H:%M:%S}Z  {e.reason:<13} {e.detail}{seen}"
        )


@quarantine_group.command("show")
@click.argument("entry_id", type=int)
@click.pass_context
def quarantine_show(ctx: click.Context, entry_id: int) -> None:
    """Show one quarantine entry in full.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 quarantine show 3
    """
    with Node.open(node_home(ctx)) as node:
        e = node.quarantine_entry(entry_id)
    for label in (
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
    ):
        value = e._mapping[label]
        click.echo(f"{label:<13} {value if value is not None else '-'}")


@quarantine_group.command("release")
@click.argument("entry_id", type=int)
@click.pass_context
def quarantine_release(ctx: click.Context, entry_id: int) -> None:
    """Put a quarantined file back to be verified and taken again at the next sync.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 quarantine release 3
    """
    with writing(ctx) as node:
        target = node.release(entry_id)
    click.echo(f"Released {entry_id}: {target.name} will be taken at the next sync.")


@quarantine_group.command("drop")
@click.argument("entry_id", type=int)
@click.pass_context
def quarantine_drop(ctx: click.Context, entry_id: int) -> None:
    """Delete a quarantined file for good (its entry stays, marked dropped).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 quarantine drop 3
    """
    with writing(ctx) as node:
        node.drop(entry_id)
    click.echo(f"Dropped {entry_id}.")


@cli.command("agent")
@click.option("--once", is_flag=True, help="Run every job once now and exit (for cron and tests).")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    help="Serve the node's metrics (Prometheus) on 127.0.0.1 at this port.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines as text or JSON, each naming the node.",
)
@click.pass_context
def agent_command(
    ctx: click.Context, once: bool, metrics_port: int | None, log_format: str
) -> None:
    """Run this node's scheduled jobs until stopped: sync with the parent, reports on
    their period boundaries, and every day at 03:30 (Beijing time) 'fiscalsync check
    --read-data', whose problems 'status' shows.

    Jobs are kept in the node database; SIGTERM or Ctrl-C stops the agent after the
    running job. Only one agent may run on a home. At the province, when node.toml names
    the CA folder ([revocation] ca), the agent also re-publishes the revocation list once
    half its validity is over; --once does it too when it is due.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 agent
      fiscalsync --home /srv/fiscalsync/410102 agent --once
      fiscalsync --home /srv/fiscalsync/410102 agent --metrics-port 9470 --log-format json
    """
    home = node_home(ctx)
    if once:
        runs = agent.run_once(home)
        failed = []
        for run in runs:
            if run.summary is None:
                click.echo(f"{run.job}: {run.note}")
                continue
            click.echo(f"{run.job}: {_summary_line(run.summary)}")
            failed.extend(run.summary.errors)
        if failed:
            raise TransportError("; ".join(failed))
        return
    agent.run_agent(
        home,
        on_start=lambda jobs: click.echo("Agent started: " + ", ".join(jobs)),
        metrics_port=metrics_port,
        log_format=log_format,
    )
    click.echo("Agent stopped.")
