"""The network as a whole (``fiscalsync network``): create it, add, move and retire nodes,
answer a join, and sync or reconcile every node of a local province."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cli.app import _Group, _home, _in_language, _lang_option, _usage, _writing
from cli.exchange import _summary_line
from cli.options import _passphrase, _passphrase_option, _suite_option
from cli.reconcile import _session_columns, _session_rows
from cli.render import _pad
from nodes import Node, init_network, joining, load_topology, membership
from nodes.exchange import RoundSummary
from nodes.fiscal import reconcile, tabular
from nodes.labels import labels, said, say, shown
from nodes.network import add_node, move_node, retire_node, sync_network
from sync.errors import NotQuiet


@click.group(cls=_Group)
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
@_suite_option
def network_init(
    directory: Path, topology_file: Path, db_url_template: str | None, suite: str
) -> None:
    """Create one node home per topology node under DIRECTORY/<code>/.

    \b
    Example:
      fiscalsync network init /tmp/province --topology config/topologies/demo.toml
      fiscalsync network init /tmp/province-gm --topology config/topologies/demo.toml \\
          --suite sm2
      fiscalsync network init /tmp/henan --topology config/topologies/henan.toml \\
          --db-url-template 'postgresql://127.0.0.1/fs_{code}'
    """
    total = len(load_topology(topology_file))
    with click.progressbar(
        length=total, label=_in_language(said("creating_homes")), file=sys.stderr, show_pos=True
    ) as bar:
        created = init_network(
            directory, topology_file, db_url_template, lambda _: bar.update(1), suite=suite
        )
    click.echo(_in_language(said("homes_created", count=len(created.homes), path=created.path)))


@network.command("add-node")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--code", required=True, help="Region code of the node that joins, e.g. 410183.")
@click.option("--parent", required=True, help="Code of its fiscal parent (province or city).")
@click.option("--name", help="Its name (default: the region list's).")
@click.option("--role", type=click.Choice(["county", "city"]), default="county", show_default=True)
@click.option("--abbreviation", help="What its document numbers start with, e.g. 新财.")
@click.option("--db-url", help="Its database URL (default: SQLite in its home).")
@_lang_option
@click.pass_context
def network_add_node(
    ctx: click.Context,
    directory: Path | None,
    code: str,
    parent: str,
    name: str | None,
    role: str,
    abbreviation: str | None,
    db_url: str | None,
    lang: str,
) -> None:
    """Add a node to the network (加入 join), at the province.

    The province sends the next topology version to every node, and the new node gets
    first the topology, the province's code-set extensions and the revocation list.
    On a province hosted under DIRECTORY, the new node's home is made too, with a key
    and certificate from DIRECTORY/ca as 'network init' gives them, and the next
    'network sync' delivers everything. Without DIRECTORY it runs in the province's
    home (--home); the new machine is set up as the README says.

    \b
    Example:
      fiscalsync network add-node /srv/province --code 410183 --parent 410100
      fiscalsync --home /srv/fiscalsync/410000 network add-node --code 410183 --parent 410100
    """
    if directory is not None:
        published = add_node(
            directory,
            code,
            parent,
            name=name,
            role=role,
            abbreviation=abbreviation,
            database_url=db_url,
        )
    else:
        if db_url is not None:
            raise _usage("db_url_makes_home")
        with Node.open(_home(ctx)) as node:
            published = membership.publish(
                node,
                lambda current: membership.added(
                    current, code, parent, name=name, role=role, abbreviation=abbreviation
                ),
                joining=code,
            )
    spec = published.topology.node(code)
    click.echo(
        labels(lang)["n.added"].format(
            code=code,
            name=spec.name,
            parent=parent,
            version=published.topology.version,
            count=published.changesets,
        )
    )
    _file_later(published, lang)


def _file_later(published: membership.Published, lang: str) -> None:
    """Say that the province's topology file waits for the next round, if it does."""
    if published.note is not None:
        click.echo(shown(published.note, labels(lang)), err=True)


@network.command("move-node")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--code", required=True, help="Code of the node to move, e.g. 410122.")
@click.option("--parent", required=True, help="Code of its new fiscal parent, e.g. 410000.")
@_lang_option
@click.pass_context
def network_move_node(
    ctx: click.Context, directory: Path | None, code: str, parent: str, lang: str
) -> None:
    """Move a node under another parent, e.g. a county to provincial management (省直管).

    Run at the province: in its home (--home), or on a province hosted under DIRECTORY.
    The next topology version goes to every node; what the old parent issued to the node
    is still adjusted and reconciled there.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 network move-node --code 410122 --parent 410000
      fiscalsync network move-node /srv/province --code 410122 --parent 410000
    """
    if directory is not None:
        published = move_node(directory, code, parent)
    else:
        with Node.open(_home(ctx)) as node:
            published = membership.publish(
                node, lambda current: membership.moved(current, code, parent)
            )
    spec = published.topology.node(code)
    click.echo(
        labels(lang)["n.moved"].format(
            code=code,
            name=spec.name,
            parent=parent,
            version=published.topology.version,
            count=published.changesets,
        )
    )
    _file_later(published, lang)


@network.command("answer-join")
@click.argument("request", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--ca",
    "ca_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The root CA folder (default: [revocation] ca of node.toml).",
)
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A new folder for the answer to send back.",
)
@_passphrase_option
@_lang_option
@click.pass_context
def network_answer_join(
    ctx: click.Context,
    request: Path,
    ca_dir: Path | None,
    out: Path,
    passphrase_file: Path | None,
    lang: str,
) -> None:
    """Answer a node joining on its own machine, at the province: sign the request
    'fiscalsync join' wrote, for the role the topology gives it, and write what goes
    back: CODE.crt, ca.crt, crl.pem, recovery.crt and topology.toml.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 network answer-join /tmp/410183-request \\
          --ca /secure/ca -o /tmp/410183-answer
    """
    with Node.open(_home(ctx)) as node:
        ca = ca_dir or node.settings.revocation_ca
        if ca is None:
            raise _usage("needs_ca_dir")
        secret = passphrase_file or node.settings.revocation_passphrase_file
        answered = joining.answer(node, request, ca, _passphrase(secret), out)
    words = labels(lang)
    click.echo(
        words["n.join_answered"].format(
            code=answered.code,
            role=say(words, "role", answered.role),
            folder=answered.folder,
            files=", ".join(answered.files),
        )
    )


@network.command("retire-node")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--code", required=True, help="Code of the node to retire, e.g. 410322.")
@click.option("--no-drain", is_flag=True, help="Do not sync until quiet first.")
@click.option(
    "--ca",
    "ca_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Without DIRECTORY: the root CA folder (default: [revocation] ca of node.toml).",
)
@_passphrase_option
@_lang_option
@click.pass_context
def network_retire_node(
    ctx: click.Context,
    directory: Path | None,
    code: str,
    no_drain: bool,
    ca_dir: Path | None,
    passphrase_file: Path | None,
    lang: str,
) -> None:
    """Retire a node (撤销 retire), at the province.

    Every certificate of it is revoked, the revocation list published, and the next
    topology version, without it, sent to every node. What was still in flight with it
    is closed at each node, with a statement in HOME/statements/. Its home stays, and its
    backups stay at the center. On a province hosted under DIRECTORY, sync rounds drain
    its channels first (unless --no-drain); without DIRECTORY it runs in the province's
    home (--home) with its root CA (--ca, or [revocation] ca of node.toml), and the
    province's change-sets to it still without a receipt are closed and counted.

    \b
    Example:
      fiscalsync network retire-node /srv/province --code 410322
      fiscalsync --home /srv/fiscalsync/410000 network retire-node --code 410322 --ca /secure/ca
    """
    words = labels(lang)
    if directory is not None:
        retired = retire_node(directory, code, drain=not no_drain)
        published, number, drained = retired.published, retired.crl_number, retired.drained
    else:
        with _writing(ctx) as node:
            ca = ca_dir or node.settings.revocation_ca
            if ca is None:
                raise _usage("needs_ca_dir")
            secret = passphrase_file or node.settings.revocation_passphrase_file
            done = membership.retire(node, code, ca, _passphrase(secret))
        published, number, drained = done.published, done.crl_number, not done.in_flight
    if number is None:
        shape = published.topology
        never = said(
            "retired_uncertified", code=code, version=shape.version, count=published.changesets
        )
        click.echo(shown(never, words))
    else:
        click.echo(
            words["n.retired"].format(
                code=code,
                crl=number,
                version=published.topology.version,
                count=published.changesets,
            )
        )
    if not drained:
        click.echo(words["n.not_drained"])
    _file_later(published, lang)


@network.command("reconcile")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--full", is_flag=True, help="Recompute every side's digests from its records.")
@_lang_option
def network_reconcile(directory: Path, full: bool, lang: str) -> None:
    """Reconcile every edge of a province hosted in one folder, and print its summary.

    \b
    Example:
      fiscalsync network reconcile /srv/province
    """
    statements, result = reconcile.rounds.reconcile_network(directory, full=full)
    words = labels(lang)
    rows = _session_rows((statement.session for statement in statements), words)
    click.echo(tabular.render_text(_session_columns(words), rows) if rows else words["r.nothing"])
    differ = sum(1 for st in statements if st.session.discrepancies)
    click.echo(
        words["r.network"].format(
            edges=len(statements),
            rounds=result.rounds,
            agree=len(statements) - differ,
            differ=differ,
        )
    )


@network.command("sync")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--until-quiet", is_flag=True, help="Repeat rounds until nothing is in flight.")
@click.option("--max-rounds", default=100, show_default=True, help="Stop after this many rounds.")
@_lang_option
def network_sync(directory: Path, until_quiet: bool, max_rounds: int, lang: str) -> None:
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

    words = labels(lang)

    def show(number: int, summary: RoundSummary) -> None:
        line = _summary_line(summary, lang)
        click.echo(words["m.net_round"].format(number=number, summary=line), err=True)

    result = sync_network(directory, until_quiet=until_quiet, max_rounds=max_rounds, on_round=show)
    state = words["m.net_quiet" if result.quiet else "m.net_not_quiet"]
    if not until_quiet:
        state = words["m.net_unacknowledged"].format(n=result.unacknowledged)
    click.echo(words["m.net_rounds"].format(rounds=result.rounds, state=state))
    click.echo(_summary_line(result.totals, lang))
    if not until_quiet or result.quiet:
        return
    click.echo(words["m.net_in_flight"].format(n=len(result.unsettled)))
    for item in result.unsettled:
        flight = _pad(say(words, "flight", item.state), 15)
        detail = shown(item.detail, words)
        click.echo(f"  {item.node:<10} {item.channel:<22} {flight}{detail}")
    nodes = sorted({item.node for item in result.unsettled})
    raise NotQuiet(
        said(
            "not_quiet",
            rounds=result.rounds,
            count=len(result.unsettled),
            names=", ".join(nodes) or "no node",
        )
    )
