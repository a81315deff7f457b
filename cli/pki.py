"""Keys and certificates: the CA (``pki``), a node's own key (``keys``), and the revocation
list (``revocation``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.app import _Group, _home, _in_language, _lang_option, _usage, _writing
from cli.options import _passphrase, _passphrase_option, _suite_option
from cli.render import _local
from nodes import NodeHome, joining, keys, load_topology
from nodes.labels import labels, said, say
from sync.signing import registered_suites


@click.group(cls=_Group)
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
@_passphrase_option
@_suite_option
@_lang_option
def pki_init_root(
    directory: Path, province_code: str, passphrase_file: Path | None, suite: str, lang: str
) -> None:
    """Create the province's root CA in DIRECTORY (key file mode 0600).

    With a passphrase (from --passphrase-file or $FISCALSYNC_CA_PASSPHRASE) the CA key
    is stored encrypted; keep the folder offline. The CA's suite is the network's:
    every node key, certificate and change-set of the province uses it (sm2: SM2/SM3
    national commercial cryptography, 国密).

    \b
    Example:
      FISCALSYNC_CA_PASSPHRASE=... fiscalsync pki init-root /secure/ca --province 410000
      fiscalsync pki init-root /secure/ca --province 410000 --suite sm2
    """
    passphrase = _passphrase(passphrase_file)
    ca = keys.create_root(directory, province_code, passphrase, suite)
    words = labels(lang)
    protected = words["n.key_encrypted" if passphrase else "n.key_plain"]
    click.echo(
        words["n.root_created"].format(
            province=province_code, folder=ca.ca_dir, suite=ca.suite.name, key=protected
        )
    )
    click.echo(words["n.root_distribute"].format(file=ca.ca_dir / "ca.crt"))


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
@_passphrase_option
@_lang_option
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
    lang: str,
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
        topology = load_topology(NodeHome(_home(ctx)).topology_file)
    else:
        raise _usage("sign_needs_topology")
    target, identity = keys.sign_request(
        csr,
        ca_dir,
        role,
        validity_days=days,
        passphrase=_passphrase(passphrase_file),
        out=out,
        topology=topology,
    )
    until = identity.not_valid_after.strftime("%Y-%m-%d")
    words = labels(lang)
    click.echo(
        words["n.cert_issued"].format(
            code=identity.code,
            role=say(words, "role", identity.role),
            serial=f"{identity.serial:x}",
            until=until,
            file=target,
        )
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
@_passphrase_option
@_lang_option
def pki_revoke(
    ca_dir: Path, code: str, reason: str | None, passphrase_file: Path | None, lang: str
) -> None:
    """Revoke every certificate of a node; the revocation list's number goes up.

    \b
    Example:
      fiscalsync pki revoke --ca /secure/ca --node 410102 --reason key_compromise
    """
    crl = keys.revoke_node(ca_dir, code, reason, _passphrase(passphrase_file))
    click.echo(labels(lang)["n.crl_numbered"].format(number=crl.number, count=len(crl.serials)))


@click.group(cls=_Group, name="keys")
def keys_group() -> None:
    """This node's key pair and certificate.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 keys new
    """


@keys_group.command("new")
@click.option(
    "--renew",
    is_flag=True,
    help="Renew the certificate: a new key waits beside the current one, which goes on "
    "signing until the new certificate is installed.",
)
@click.option(
    "--suite",
    type=click.Choice(registered_suites()),
    default=None,
    help="Signature suite of the network (default: the installed root's, else ed25519).",
)
@_lang_option
@click.pass_context
def keys_new(ctx: click.Context, renew: bool, suite: str | None, lang: str) -> None:
    """Make this node's private key (it never leaves the node) and a signing request.

    With --renew (before the certificate expires, or to change keys) the new key waits
    in keys/node.key.new; `keys install` of its certificate makes it the node's key and
    keeps the old certificate in keys/superseded/. Change-sets the node signed before
    stay valid, even once the old certificate has expired.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 keys new
      fiscalsync --home /srv/fiscalsync/410102 keys new --suite sm2
      fiscalsync --home /srv/fiscalsync/410102 keys new --renew
    """
    with _writing(ctx, check_schema=False) as node:
        csr, ssh_public = keys.new_key(node.home, node.spec.code, renew=renew, suite=suite)
    words = labels(lang)
    click.echo(words["n.key_renewing" if renew else "n.key_made"].format(csr=csr))
    click.echo(words["n.key_send_csr"])
    click.echo(words["n.key_ssh"])
    click.echo(f"  {ssh_public}")


@keys_group.command("install")
@click.argument("cert", type=click.Path(path_type=Path))
@click.option(
    "--ca-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The province's ca.crt (with a certificate file).",
)
@_lang_option
@click.pass_context
def keys_install(ctx: click.Context, cert: Path, ca_cert: Path | None, lang: str) -> None:
    """Install this node's certificate and the root certificate, after checking them.

    Given the folder the province's 'network answer-join' wrote, it installs the
    certificate and root certificate in it, and its revocation list and recovery
    certificate when this home has none yet.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 keys install 410102.crt --ca-cert ca.crt
      fiscalsync --home /srv/fiscalsync/410183 keys install /tmp/410183-answer
    """
    words = labels(lang)
    if cert.is_dir():
        with _writing(ctx, check_schema=False) as node:
            done = joining.install(node.home, node.spec.code, cert)
            node.settle_suite()
        click.echo(_installed(done.identity, words))
        if done.crl_number is not None:
            click.echo(words["n.crl_installed"].format(number=done.crl_number))
        if done.recovery:
            click.echo(words["n.recovery_installed"])
        return
    if ca_cert is None:
        raise _usage("install_needs_ca_cert")
    with _writing(ctx, check_schema=False) as node:
        identity, superseded = keys.install_certificate(node.home, cert, ca_cert)
        if identity.code != node.spec.code:
            raise _usage("certificate_not_ours", code=identity.code, me=node.spec.code)
        node.settle_suite()
    click.echo(_installed(identity, words))
    if superseded is not None:
        click.echo(words["n.cert_superseded"].format(serial=f"{superseded.serial:x}"))


def _installed(identity: Any, words: dict[str, str]) -> str:
    """The line that says which certificate ``keys install`` installed."""
    return words["n.cert_installed"].format(
        code=identity.code, role=say(words, "role", identity.role), serial=f"{identity.serial:x}"
    )


@click.group(cls=_Group)
def revocation() -> None:
    """Certificate revocation lists, distributed down the tree.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 revocation publish --ca /secure/ca
    """


@revocation.command("publish")
@click.option(
    "--ca",
    "ca_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Root CA folder.",
)
@_passphrase_option
@click.pass_context
def revocation_publish(ctx: click.Context, ca_dir: Path, passphrase_file: Path | None) -> None:
    """Issue the CA's revocation list afresh and send it to every node (at the province).

    The list is signed again with a new number and a new validity ([revocation]
    validity_days of node.toml, 7 days by default), and must be published again before
    it lapses: the province's agent does it when node.toml names the CA folder
    ([revocation] ca); `fiscalsync status` says when it is due.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 revocation publish --ca /secure/ca
    """
    with _writing(ctx) as node:
        number, sent = keys.publish_revocation(node, ca_dir, _passphrase(passphrase_file))
    click.echo(_in_language(said("crl_queued", number=number, count=sent)))


@revocation.command("install")
@click.argument("file", type=click.Path(path_type=Path))
@_lang_option
@click.pass_context
def revocation_install(ctx: click.Context, file: Path, lang: str) -> None:
    """Install the province's revocation list (crl.pem) on this node, after checking it.

    A node takes nothing in without one. It must be signed by the installed root CA and
    be no older than the list the node holds; later lists arrive by sync.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 revocation install crl.pem
      fiscalsync --home /srv/fiscalsync/410183 revocation install /tmp/410183-answer
    """
    if file.is_dir():  # the answer to a join
        file = file / "crl.pem"
    with _writing(ctx, exclusive=True, check_schema=False) as node:  # not during a round
        crl = keys.install_crl(node.home, file)
        zone = node.settings.time_zone
    due = _local(crl.next_update, zone) if crl.next_update else "-"
    click.echo(
        f"Installed revocation list {crl.number} ({len(crl.serials)} revoked, "
        f"next update by {due})."
    )
