"""The node database: tables, value types, engines and migrations.

This package imports nothing else of fiscalsync's.
"""

from schema.backups import backup_catalogue, rejoin_fence, rejoin_peer, restore_log
from schema.channels import (
    changeset_log,
    channel_head,
    check_finding,
    check_run,
    file_attempt,
    outbox,
    quarantine,
    relay_log,
)
from schema.digests import digest_bucket
from schema.engine import (
    database_failure,
    drop_database,
    ensure_database,
    open_engine,
    reading,
    redact,
)
from schema.errors import (
    DatabaseBusy,
    DatabaseError,
    DatabaseUnavailable,
    FiscalsyncError,
    LocalFailure,
    SchemaOutdated,
    SchemaTooNew,
)
from schema.limits import misfit, misfit_many
from schema.migrate import check_schema, current_revision, head_revision, upgrade
from schema.tables import (
    appropriation,
    appropriation_event,
    code_item,
    ledger_entry,
    metadata,
    node_identity,
    topology_file,
    topology_node,
)
from schema.types import format_yuan, is_node_code, is_region_code, parse_yuan, utcnow

__all__ = [
    "DatabaseBusy",
    "DatabaseError",
    "DatabaseUnavailable",
    "FiscalsyncError",
    "LocalFailure",
    "SchemaOutdated",
    "SchemaTooNew",
    "appropriation",
    "appropriation_event",
    "backup_catalogue",
    "changeset_log",
    "channel_head",
    "check_finding",
    "check_run",
    "check_schema",
    "code_item",
    "current_revision",
    "digest_bucket",
    "database_failure",
    "drop_database",
    "ensure_database",
    "file_attempt",
    "format_yuan",
    "head_revision",
    "is_node_code",
    "is_region_code",
    "ledger_entry",
    "metadata",
    "misfit",
    "misfit_many",
    "node_identity",
    "open_engine",
    "outbox",
    "parse_yuan",
    "quarantine",
    "reading",
    "redact",
    "rejoin_fence",
    "rejoin_peer",
    "restore_log",
    "relay_log",
    "topology_file",
    "topology_node",
    "upgrade",
    "utcnow",
]
