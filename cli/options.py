"""Options and values several command families read alike: the signature suite, the CA's
passphrase file, an amount in 元."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cli.app import _in_language
from nodes.labels import said
from schema.types import parse_yuan
from sync.errors import InputError
from sync.signing import DEFAULT_SUITE, registered_suites

_suite_option = click.option(
    "--suite",
    type=click.Choice(registered_suites()),
    default=DEFAULT_SUITE,
    show_default=True,
    help="Signature suite of the network: ed25519, or sm2 (SM2/SM3/SM4, 国密).",
)


def _passphrase(passphrase_file: Path | None) -> bytes | None:
    """The CA passphrase: from a file, else $FISCALSYNC_CA_PASSPHRASE, else none."""
    if passphrase_file is not None:
        try:
            return passphrase_file.read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise click.BadParameter(
                _in_language(said("cannot_read", path=passphrase_file, error=exc.strerror))
            ) from exc
    value = os.environ.get("FISCALSYNC_CA_PASSPHRASE")
    return value.encode("utf-8") if value else None


_passphrase_option = click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the CA key's passphrase (default: $FISCALSYNC_CA_PASSPHRASE).",
)


def _yuan(value: str, field: str) -> int:
    try:
        return parse_yuan(value)
    except ValueError as exc:
        raise InputError(
            said("amount_bad", field=field, error=exc.args[0]), hint=said("amount_bad_hint")
        ) from exc
