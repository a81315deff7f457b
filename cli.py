"""The ``fiscalsync`` command: parse, one Node call, render.

Every user-facing failure leaves through :func:`main`: ``Error: <what>`` and a hint on
standard error, with the exit status of its family (listed in ``fiscalsync --help``).
"""

from __future__ import annotations

import errno
import json
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from nodes import Node, init_network, init_node, load_topology, run_demo
from nodes.topology import NodeSpec
from schema.errors import FiscalsyncError
from sync.errors import TopologyError

EXIT_STATUS = """\b
Exit status:
  0   success
  1   unexpected failure (a bug: please report it with its traceback)
  2   wrong command-line usage
  3   bad input: malformed file, unknown node code, bad amount
  4   node home missing, not empty, or not this node's
  5   database unreachable or unusable
  6   topology fails its checks (every problem is listed)
  7   parent or mailbox unreachable (nothing lost; the next sync resumes)
  8   key, certificate or CA unusable
  9   database schema newer or older than this fiscalsync
  10-15  change-set refused: 10 malformed, 11 integrity, 12 signature,
         13 certificate, 14 wrong recipient, 15 not authorized
  74  disk or file-system failure (e.g. disk full); nothing half-written
"""

HOME_OPTION_HELP = "Node home folder (default: $FISCALSYNC_HOME)."


class Failure(click.ClickException):
    """A fiscalsync error on its way out: ``Error: <what>`` and a hint, its own status."""

    def __init__(self, message: str, hint: str = "", details: Sequence[str] = (), code: int = 1):
        super().__init__(message)
        self.hint = hint
        self.details = list(details)
        self.exit_code = code

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.message}", err=True)
        for line in self.details:
            click.echo(f"  {line}", err=True)
        if self.hint:
            click.echo(f"Hint: {self.hint}", err=True)


class _Group(click.Group):
    """Lists commands in declared order and translates our errors into :class:`Failure`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FiscalsyncError as exc:
            details = exc.problems if isinstance(exc, TopologyError) else ()
            raise Failure(exc.message, exc.hint, details, exc.exit_code) from exc
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            hint = "free disk space and run the command again" if exc.errno == errno.ENOSPC else ""
            raise Failure(f"{exc.strerror or exc}{where}", hint, code=74) from exc


def _home(ctx: click.Context) -> Path:
    home = ctx.find_root().params.get("home")
    if home is None:
        raise click.UsageError("no node home: pass --home DIR or set FISCALSYNC_HOME")
    return Path(home)


def _pad(text: str, width: int) -> str:
    """Left-align text in a terminal column; CJK characters take two cells."""
    cells = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(width - cells, 1)


def _describe(spec: NodeSpec | None) -> str:
    return f"{spec.code} {spec.name} ({spec.role})" if spec else "-"


@click.group(
    cls=_Group, epilog=EXIT_STATUS, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="FISCALSYNC_HOME",
    help=HOME_OPTION_HELP,
)
@click.version_option(package_name="fiscalsync")
def cli(home: Path | None) -> None:
    """fiscalsync: province → city → county sync of budget appropriations (预算指标),
    receipts, reports and reconciliation, as signed change-sets.

    \b
    Example:
      fiscalsync demo
      fiscalsync --home /srv/fiscalsync/410102 status
    """


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
    click.echo(f"Next: fiscalsync --home {created.path} status")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show this node's identity, parent, children, database and schema version.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 status
      FISCALSYNC_HOME=/srv/fiscalsync/410102 fiscalsync status --json
    """
    with Node.open(_home(ctx), check_schema=False) as node:
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
        ("Parent", _describe(report.parent)),
        ("Children", children),
        ("Home", str(report.home)),
        ("Topology", f"{report.topology_name}, {report.topology_size} nodes"),
        ("Database", report.database_url),
        (
            "Schema",
            f"{report.schema_revision or '-'} ({schema_state}; code at {report.schema_head})",
        ),
    ]
    for label, value in rows:
        click.echo(f"{label:<9} {value}")


@cli.group(cls=_Group)
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
    with Node.open(_home(ctx), check_schema=False) as node:
        before, after = node.upgrade_database()
    if before == after:
        click.echo(f"Database already at schema {after}.")
    else:
        click.echo(f"Database upgraded from schema {before or '(empty)'} to {after}.")


@cli.group(cls=_Group)
def topology() -> None:
    """Topology files: every node, its role, parent and endpoint.

    \b
    Example:
      fiscalsync topology check config/topologies/henan.toml
    """


@topology.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def topology_check(file: Path) -> None:
    """Check a topology file and report every problem at once, with its line.

    \b
    Example:
      fiscalsync topology check config/topologies/henan.toml
    """
    checked = load_topology(file)
    counts: dict[str, int] = {}
    for spec in checked:
        counts[spec.role] = counts.get(spec.role, 0) + 1
    direct = [n for n in checked if n.role == "county" and n.parent == checked.province.code]
    summary = ", ".join(
        f"{counts[r]} {r}" for r in ("province", "city", "county", "center") if r in counts
    )
    click.echo(f"OK {file}: {len(checked)} nodes ({summary})")
    if direct:
        click.echo(f"   {len(direct)} counties managed directly by the province (省直管县)")


@cli.group(cls=_Group)
def network() -> None:
    """A whole province hosted on one machine (local folder transport).

    \b
    Example:
      fiscalsync network init /srv/province --topology config/topologies/henan.toml
    """


@network.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--topology",
    "topology_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Topology file listing every node.",
)
@click.option(
    "--db-url-template",
    help="Database URL per node, with {code}; default SQLite in each home.",
)
def network_init(directory: Path, topology_file: Path, db_url_template: str | None) -> None:
    """Create one node home per topology node under DIRECTORY/<code>/.

    \b
    Example:
      fiscalsync network init /tmp/province --topology config/topologies/demo.toml
      fiscalsync network init /tmp/henan --topology config/topologies/henan.toml \\
          --db-url-template 'postgresql://127.0.0.1/fs_{code}'
    """
    total = len(load_topology(topology_file))
    with click.progressbar(
        length=total, label="Creating node homes", file=sys.stderr, show_pos=True
    ) as bar:
        created = init_network(directory, topology_file, db_url_template, lambda _: bar.update(1))
    click.echo(f"Created {len(created.homes)} node homes under {created.path}.")


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def demo(directory: Path | None) -> None:
    """Run the product's main job on the demo province, on SQLite.

    Creates the demo province (a province, two cities, four counties, one of them
    managed directly by the province, and the data center) under DIRECTORY, or a new
    temporary folder, and prints what it did.

    \b
    Example:
      fiscalsync demo
      fiscalsync demo /tmp/demo-province
    """
    result = run_demo(directory)
    net = result.network
    click.echo(f"Demo province {net.topology.name!r} created under {net.path}")
    click.echo("")
    widths = (11, 20, 10, 8)
    header = ("code", "name", "role", "parent")
    click.echo("".join(_pad(h, w) for h, w in zip(header, widths, strict=True)) + "mailboxes")
    for spec in net.topology:
        endpoint = spec.endpoint.location if spec.endpoint else "-"
        cells = (spec.code, spec.name, spec.role, spec.parent or "-")
        click.echo("".join(_pad(c, w) for c, w in zip(cells, widths, strict=True)) + endpoint)
    click.echo("")
    click.echo(
        f"{len(net.homes)} node homes, each with its own SQLite database, in {result.seconds:.1f} s."
    )
    province = net.homes[net.topology.province.code].path
    click.echo(f"Try: fiscalsync --home {province} status")


def main(argv: Sequence[str] | None = None) -> Any:
    """Entry point of the ``fiscalsync`` console script."""
    return cli.main(args=list(argv) if argv is not None else None, prog_name="fiscalsync")


if __name__ == "__main__":
    main()
