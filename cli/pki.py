"""The province's certificate authority: root, certificates, revocation."""

from __future__ import annotations

from pathlib import Path

import click

from cli.base import Group, cli, node_home, passphrase_option, read_passphrase
from nodes import (
    NodeHome,
    keys,
    load_topology,
)


@cli.group(cls=Group)
def pki() -> None:
    """The province's root CA: certificates for nodes, and their revocation.

    \b
    Example:
      fiscalsync pki init-root /secure/ca --province 410000
    """


@pki.command("init-root")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--province", "province_code", required=True, help="The province's code, e.g. 410000."
)
@passphrase_option
def pki_init_root(directory: Path, province_code: str, passphrase_file: Path | None) -> None:
    """Create the province's root CA in DIRECTORY (key file mode 0600).

    With a passphrase (from --passphrase-file or $FISCALSYNC_CA_PASSPHRASE) the CA key
    is stored encrypted; keep the folder offline.

    \b
    Example:
      FISCALSYNC_CA_PASSPHRASE=... fiscalsync pki init-root /secure/ca --province 410000
    """
    passphrase = read_passphrase(passphrase_file)
    ca = keys.create_root(directory, province_code, passphrase)
    protected = "encrypted with the passphrase" if passphrase else "NOT encrypted"
    click.echo(f"Created root CA of {province_code} in {ca.ca_dir} (key {protected}).")
    click.echo(f"Distribute {ca.ca_dir / 'ca.crt'} to every node with its certificate.")


@pki.command("sign")
@click.argument("csr", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--ca",
    "ca_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Root CA folder.",
)
@click.option(
    "--role",
    required=True,
    type=click.Choice(["province", "city", "county", "center"]),
    help="The node's role.",
)
@click.option("--days", default=825, show_default=True, help="Validity in days.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Certificate file (default: CODE.crt beside CSR).",
)
@click.option(
    "--topology",
    "topology_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The topology the role is checked against (default: that of --home).",
)
@passphrase_option
@click.pass_context
def pki_sign(
    ctx: click.Context,
    csr: Path,
    ca_dir: Path,
    role: str,
    days: int,
    out: Path | None,
    topology_file: Path | None,
    passphrase_file: Path | None,
) -> None:
    """Issue a certificate binding a node's code and role to the key of its CSR.

    The node must have that role in the topology (--topology FILE, or the province's
    home given with --home): a county is never certified as a city.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 pki sign 410102.csr --ca /secure/ca --role county
      fiscalsync pki sign 410102.csr --ca /secure/ca --role county --topology henan.toml
    """
    if topology_file is not None:
        topology = load_topology(topology_file)
    elif ctx.find_root().params.get("home") is not None:
        topology = load_topology(NodeHome(node_home(ctx)).topology_file)
    else:
        raise click.UsageError(
            "the role is checked against the topology: give --topology FILE or --home DIR"
        )
    target, identity = keys.sign_request(
        csr,
        ca_dir,
        role,
        validity_days=days,
        passphrase=read_passphrase(passphrase_file),
        out=out,
        topology=topology,
    )
    until = identity.not_valid_after.strftime("%Y-%m-%d")
    click.echo(
        f"Issued certificate for {identity.code} ({identity.role}), serial {identity.serial:x}, valid until {until}: {target}"
    )


@pki.command("revoke")
@click.option(
    "--ca",
    "ca_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Root CA folder.",
)
@click.option(
    "--node", "code", required=True, help="Code of the node whose certificates are revoked."
)
@click.option("--reason", help="RFC 5280 reason, e.g. key_compromise, superseded.")
@passphrase_option
def pki_revoke(ca_dir: Path, code: str, reason: str | None, passphrase_file: Path | None) -> None:
    """Revoke every certificate of a node; the revocation list's number goes up.

    \b
    Example:
      fiscalsync pki revoke --ca /secure/ca --node 410102 --reason key_compromise
    """
    crl = keys.revoke_node(ca_dir, code, reason, read_passphrase(passphrase_file))
    click.echo(f"Revocation list number {crl.number}: {len(crl.serials)} certificate(s) revoked.")
