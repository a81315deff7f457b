"""Running a node: the ``agent``, the data wall (``serve``, ``serve-password``, 金财数据墙),
retention (``purge``) and the service units (``install-service``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cli.app import _Command, _current_language, _home, _in_language, _lang_option, _usage, _writing
from cli.exchange import _summary_line
from cli.render import _local, _mb
from nodes import Node, NodeHome, agent, hosting, retention, service, web
from nodes.labels import joined, named, said
from nodes.logins import hash_password, load_logins
from sync.errors import TransportError


@click.command("agent", cls=_Command)
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
@click.option(
    "--homes",
    "homes_folders",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Run every node home under this folder (or this home) in one agent, instead of "
    "--home; may be given more than once (市级集中部署: a city's servers host its counties).",
)
@click.option(
    "--retry-seconds",
    type=click.IntRange(5, 86400),
    default=hosting.RETRY_SECONDS,
    show_default=True,
    help="With --homes: how often a home that could not be opened is tried again.",
)
@_lang_option
@click.pass_context
def agent_command(
    ctx: click.Context,
    once: bool,
    metrics_port: int | None,
    log_format: str,
    homes_folders: tuple[Path, ...],
    retry_seconds: int,
    lang: str,
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
      fiscalsync agent --homes /srv/fiscalsync --log-format json

    With --homes, every node home under the folder runs in this one agent: each with
    its own database, keys, jobs, lock and worker thread, its log lines naming it; a home
    that cannot be opened is logged and tried again, and never stops the others.
    """
    if homes_folders:
        if once:
            raise _usage("once_one_home")
        hosting.run_homes(
            list(homes_folders),
            on_start=lambda jobs: click.echo(
                _in_language(said("agent_started", jobs=joined(jobs)))
            ),
            metrics_port=metrics_port,
            log_format=log_format,
            retry_seconds=retry_seconds,
        )
        click.echo(_in_language(said("agent_stopped")))
        return
    home = _home(ctx)
    if once:
        runs = agent.run_once(home)
        failed = []
        for run in runs:
            job = named("agent_job", run.job)
            if run.summary is None:
                click.echo(_in_language(said("agent_ran", job=job, note=run.note)))
                continue
            line = _summary_line(run.summary, _current_language())
            click.echo(_in_language(said("agent_ran", job=job, note=line)))
            failed.extend(run.summary.errors)
        if failed:
            raise TransportError(joined(failed))
        return
    agent.run_agent(
        home,
        on_start=lambda jobs: click.echo(
            _in_language(said("agent_started", jobs=joined(jobs, "listed")))
        ),
        metrics_port=metrics_port,
        log_format=log_format,
    )
    click.echo(_in_language(said("agent_stopped")))


@click.command("serve", cls=_Command)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind to.")
@click.option("--port", default=8470, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--tls-cert", type=click.Path(dir_okay=False, path_type=Path), help="TLS certificate (PEM)."
)
@click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path), help="Its key (PEM).")
@click.option(
    "--logins",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Users and hashed passwords (fiscalsync serve-password) for HTTP basic login.",
)
@click.option(
    "--client-certs",
    is_flag=True,
    help="Log in by client certificate (with TLS): one the province's root CA issued and "
    "the revocation list (keys/crl.pem, read at start) does not name.",
)
@click.option(
    "--homes",
    "homes_from",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Serve every node home under this folder (repeatable), as 'agent --homes' runs "
    "them: each home's wall under /home/CODE/.",
)
@click.pass_context
def serve_command(
    ctx: click.Context,
    host: str,
    port: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    logins: Path | None,
    client_certs: bool,
    homes_from: tuple[Path, ...],
) -> None:
    """Serve the data wall (金财数据墙) of this node, read-only, from its own database:
    every node of the province with its last contact, channel lag, quarantine, report
    submission, reconciliation, backup and the money totals, refreshed live; a node's
    detail on click; '?lang=en' for English. Also /api/wall, /api/nodes/CODE (JSON) and
    /metrics (Prometheus).

    With --homes (a city's data center hosting its counties, 市级集中部署), the page
    shows every hosted home as its own wall tells it, each home's wall under
    /home/CODE/, /api/homes as JSON and /metrics labelled by node; a home that cannot
    be opened is named and left out. The folders are scanned again before a request (at
    most every second): a home added there is served, one removed let go, without a
    restart.

    It binds to 127.0.0.1 unless told otherwise; another address needs both TLS
    (--tls-cert, --tls-key) and a login: --logins, or --client-certs (any certificate of
    the province's PKI not revoked, e.g. a node's; SM2 certificates are not offered by
    browsers' TLS).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 serve --port 8470
      fiscalsync serve --homes /srv/fiscalsync --port 8471
      fiscalsync --home /srv/fiscalsync/410000 serve --host 0.0.0.0 \\
          --tls-cert wall.crt --tls-key wall.key --client-certs
      fiscalsync --home /srv/fiscalsync/410000-dc serve --host 0.0.0.0 \\
          --tls-cert wall.crt --tls-key wall.key --logins wall.logins
    """
    if (tls_cert is None) != (tls_key is None):
        raise _usage("tls_pair")
    tls = (tls_cert, tls_key) if tls_cert is not None and tls_key is not None else None
    users = load_logins(logins) if logins is not None else None
    clients = None
    if client_certs:
        found = hosting.find_homes(list(homes_from)) if homes_from else [_home(ctx)]
        keys_dir = NodeHome(found[0]).keys
        clients = web.ClientCertificates(keys_dir / "ca.crt", keys_dir / "crl.pem")
    web.check_binding(host, tls, users, clients)
    if homes_from:
        hosting.find_homes(list(homes_from))  # none there is refused at once
        hosted = web.Hosted(
            {},
            logins=users,
            scan=lambda: hosting.find_homes(list(homes_from), none_ok=True),
            on_problem=lambda path, why: click.echo(
                _in_language(said("wall_left_out", path=path, why=why)), err=True
            ),
        )
        hosted.refresh()
        try:
            web.serve_app(
                web.hosted_app(hosted),
                host,
                port,
                tls,
                on_start=lambda url: click.echo(
                    _in_language(said("wall_homes_on", count=len(hosted.servings), url=url))
                ),
                clients=clients,
            )
        finally:
            hosted.close()
        return
    with Node.open(_home(ctx)) as node:
        web.serve(
            web.Serving(node, logins=users),
            host,
            port,
            tls,
            on_start=lambda url: click.echo(
                _in_language(said("wall_on", code=node.spec.code, url=url))
            ),
            clients=clients,
        )


@click.command("serve-password", cls=_Command)
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def serve_password(name: str, password_stdin: bool) -> None:
    """Print a line for the logins file of 'serve' (the password hashed with scrypt).

    \b
    Example:
      fiscalsync serve-password wang >> /srv/fiscalsync/wall.logins
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    click.echo(hash_password(name, password))


@click.command("purge", cls=_Command)
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
    with _writing(ctx) as node:
        done = retention.purge(node, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(done.as_dict(), ensure_ascii=False, indent=2))
        return
    values = {
        "sent": done.sent,
        "taken": done.taken,
        "before": _local(done.cutoff, node.settings.time_zone),
        "files": done.files,
        "size": _mb(done.bytes),
        "quarantine": done.quarantine,
        "spool": _mb(done.spool_bytes),
    }
    for key in ("purge_would", "purge_spool") if dry_run else ("purged", "purged_spool"):
        click.echo(_in_language(said(key, **values)))


@click.command("install-service", cls=_Command)
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/etc/systemd/system"),
    show_default=True,
    help="Where to write the unit files.",
)
@click.option("--user", default="fiscalsync", show_default=True, help="The user the units run as.")
@click.option("--port", default=8470, show_default=True, type=click.IntRange(1, 65535))
@click.option("--metrics-port", type=click.IntRange(1, 65535), help="The agent's metrics port.")
@click.pass_context
def install_service(
    ctx: click.Context, folder: Path, user: str, port: int, metrics_port: int | None
) -> None:
    """Write systemd units for this node's agent and data wall (serve): run as --user,
    restarted on failure, hardened (read-only system, only the home writable, no new
    privileges nor capabilities). Then: systemctl daemon-reload; systemctl enable --now
    the units.

    \b
    Example:
      sudo fiscalsync --home /srv/fiscalsync/410102 install-service --user fiscalsync
      sudo systemctl daemon-reload
      sudo systemctl enable --now fiscalsync-agent-410102 fiscalsync-serve-410102
    """
    home = _home(ctx).resolve()
    with Node.open(home, check_schema=False) as node:
        code, name = node.spec.code, node.spec.name
    executable = Path(sys.argv[0]).resolve()
    if executable.name != "fiscalsync":
        executable = Path(sys.executable).parent / "fiscalsync"
    made = service.units(
        code, name, home, executable, user=user, port=port, metrics_port=metrics_port
    )
    for path in service.write_units(folder, made):
        click.echo(_in_language(said("unit_written", path=path)))
