"""A node as a service: the data wall (金财数据墙) and its logins, systemd units."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cli.base import cli, node_home
from nodes import (
    Node,
    service,
    web,
)
from nodes.logins import hash_password, load_logins


@cli.command("serve")
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
@click.pass_context
def serve_command(
    ctx: click.Context,
    host: str,
    port: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    logins: Path | None,
) -> None:
    """Serve the data wall (金财数据墙) of this node, read-only, from its own database:
    every node of the province with its last contact, channel lag, quarantine, report
    submission, reconciliation, backup and the money totals, refreshed live; a node's
    detail on click; '?lang=en' for English. Also /api/wall, /api/nodes/CODE (JSON) and
    /metrics (Prometheus).

    It binds to 127.0.0.1 unless told otherwise; another address needs both TLS
    (--tls-cert, --tls-key) and --logins.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 serve --port 8470
      fiscalsync --home /srv/fiscalsync/410000-dc serve --host 0.0.0.0 \\
          --tls-cert wall.crt --tls-key wall.key --logins wall.logins
    """
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("give both --tls-cert and --tls-key, or neither")
    tls = (tls_cert, tls_key) if tls_cert is not None and tls_key is not None else None
    users = load_logins(logins) if logins is not None else None
    web.check_binding(host, tls, users)
    with Node.open(node_home(ctx)) as node:
        web.serve(
            web.Serving(node, logins=users),
            host,
            port,
            tls,
            on_start=lambda url: click.echo(f"Data wall of {node.spec.code} on {url}"),
        )


@cli.command("serve-password")
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


@cli.command("install-service")
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
    home = node_home(ctx).resolve()
    with Node.open(home, check_schema=False) as node:
        code, name = node.spec.code, node.spec.name
    executable = Path(sys.argv[0]).resolve()
    if executable.name != "fiscalsync":
        executable = Path(sys.executable).parent / "fiscalsync"
    made = service.units(
        code, name, home, executable, user=user, port=port, metrics_port=metrics_port
    )
    for path in service.write_units(folder, made):
        click.echo(f"Wrote {path}")
