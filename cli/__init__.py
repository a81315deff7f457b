"""The ``fiscalsync`` command: parse, one Node call, render.

The group, its language and its one path out of every failure are in :mod:`cli.app`;
each family of commands is a module of its own, and takes its place on the group here,
in the order ``fiscalsync --help`` lists them.
"""

from __future__ import annotations

from cli.app import Failure, _Group, _written_language, cli, main
from cli.appropriations import (
    adjust_command,
    allocate_command,
    appropriations_command,
    recover_command,
)
from cli.backups import backup_group, restore_command
from cli.books import budget_group, codes, ledger_group, year_group
from cli.demo import demo
from cli.exchange import (
    changeset,
    inbox_command,
    outbox_command,
    quarantine_group,
    sync_command,
)
from cli.network import network
from cli.pki import keys_group, pki, revocation
from cli.reconcile import reconcile_group
from cli.reports import report_group
from cli.service import (
    agent_command,
    install_service,
    purge_command,
    serve_command,
    serve_password,
)
from cli.setup import check_command, db, init, join, sftp_config, status, topology

__all__ = ["Failure", "_Group", "_written_language", "cli", "main"]

for command in (
    init,
    join,
    status,
    db,
    topology,
    network,
    pki,
    keys_group,
    sftp_config,
    changeset,
    sync_command,
    outbox_command,
    inbox_command,
    quarantine_group,
    check_command,
    codes,
    revocation,
    allocate_command,
    adjust_command,
    recover_command,
    reconcile_group,
    appropriations_command,
    ledger_group,
    agent_command,
    backup_group,
    restore_command,
    report_group,
    budget_group,
    demo,
    serve_command,
    serve_password,
    purge_command,
    install_service,
    year_group,
):
    cli.add_command(command)
