"""Topologies and a whole province in one folder: check, init, sync."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cli.base import Group, cli
from cli.exchange import _summary_line
from nodes import (
    init_network,
    load_topology,
)
from nodes.exchange import RoundSummary
from nodes.network import sync_network
from sync.errors import (
    NotQuiet,
)


@cli.group(cls=Group)
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


@cli.group(cls=Group)
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


@network.command("sync")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--until-quiet", is_flag=True, help="Repeat rounds until nothing is in flight.")
@click.option("--max-rounds", default=100, show_default=True, help="Stop after this many rounds.")
def network_sync(directory: Path, until_quiet: bool, max_rounds: int) -> None:
    """Run sync rounds over every node of a province hosted under DIRECTORY.

    With --until-quiet, rounds go on until nothing is in flight anywhere, or until they
    stop making progress. It then ends with everything that did not go quiet, node by
    node and channel by channel, with why: unacknowledged, damaged (the origin's copy;
    never sent), waiting (for a predecessor), relaying, retrying or parked (failed too
    many rounds). Exit status: 0 quiet, 16 not quiet, 7 a mailbox unreachable.

    \b
    Example:
      fiscalsync network sync /tmp/province --until-quiet
    """

    def show(number: int, summary: RoundSummary) -> None:
        click.echo(f"round {number}: {_summary_line(summary)}", err=True)

    result = sync_network(directory, until_quiet=until_quiet, max_rounds=max_rounds, on_round=show)
    state = "quiet" if result.quiet else "NOT quiet"
    if not until_quiet:
        state = f"{result.unacknowledged} change-set(s) still unacknowledged"
    click.echo(f"{result.rounds} round(s); {state}.")
    click.echo(_summary_line(result.totals))
    if not until_quiet or result.quiet:
        return
    click.echo(f"Still in flight ({len(result.unsettled)}):")
    for item in result.unsettled:
        click.echo(f"  {item.node:<10} {item.channel:<22} {item.state:<15} {item.detail}")
    nodes = sorted({item.node for item in result.unsettled})
    raise NotQuiet(
        f"the province did not go quiet in {result.rounds} round(s): "
        f"{len(result.unsettled)} thing(s) in flight at {', '.join(nodes) or 'no node'}"
    )
