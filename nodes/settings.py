"""Node settings (``node.toml``), parsed once at the edge into a frozen object.

``FISCALSYNC_DATABASE_URL`` overrides the database URL (all overrides share the
``FISCALSYNC_`` prefix; the home itself comes from ``--home`` or ``FISCALSYNC_HOME``).
"""

from __future__ import annotations

import functools
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from nodes.labels import said
from schema.engine import sqlite_url
from schema.types import is_node_code
from sync.errors import ConfigError

__all__ = [
    "DATABASE_FILE",
    "DEFAULT_CRL_VALIDITY_DAYS",
    "DEFAULT_MONTHLY_DEADLINE_DAY",
    "DEFAULT_QUARANTINE_RETENTION_DAYS",
    "DEFAULT_SYNC_INTERVAL",
    "DEFAULT_TENDAY_DEADLINE_DAYS",
    "LOCAL_TIME",
    "SETTINGS_FILE",
    "Settings",
    "load_settings",
    "render_settings",
]

SETTINGS_FILE = "node.toml"
DATABASE_FILE = "node.db"
ENV_PREFIX = "FISCALSYNC_"
DEFAULT_SYNC_INTERVAL = {"province": 300, "city": 300, "county": 300, "center": 600}
DEFAULT_MONTHLY_DEADLINE_DAY = 5
DEFAULT_TENDAY_DEADLINE_DAYS = 3
DEFAULT_QUARANTINE_RETENTION_DAYS = 90
DEFAULT_RECONCILE_DAYS = {"unacknowledged_days": 3, "late_receipt_days": 3, "breakdown_days": 30}
DEFAULT_CRL_VALIDITY_DAYS = 7
DEFAULT_HELD_DAYS = 30
LOCAL_TIME = ZoneInfo("Asia/Shanghai")
"""The zone of every node (Beijing time): times are stored in UTC and shown in it, and
report days begin and end in it."""


@dataclass(frozen=True)
class Settings:
    """What ``node.toml`` says, checked."""

    home: Path
    code: str
    topology: Path
    database_url: str
    sync_interval_seconds: int
    monthly_deadline_day: int = DEFAULT_MONTHLY_DEADLINE_DAY
    """A monthly report (月报) is due by this day of the next month."""
    tenday_deadline_days: int = DEFAULT_TENDAY_DEADLINE_DAYS
    """A ten-day report (旬报) is due this many days after its period's last day."""
    quarantine_retention_days: int = DEFAULT_QUARANTINE_RETENTION_DAYS
    time_zone: ZoneInfo = LOCAL_TIME
    """[node] time_zone: the zone times are shown in (报送日期 of a report, say); times
    are stored in UTC, and report periods and deadlines stay on Beijing days."""
    agent_submits: tuple[str, ...] = ("monthly", "tenday")
    """[reports] agent_submits: the kinds of report the agent generates and submits by
    itself when their period ends; ``[]`` leaves every submission to an operator."""
    reconcile_days: tuple[tuple[str, int], ...] = tuple(DEFAULT_RECONCILE_DAYS.items())
    """[reconcile]: after how many days a receipt is missing or late, and a breakdown late
    (超时下达; the Budget Law's 30 days), as (key, days)."""
    """Quarantine entries released or dropped this many days ago are purged by the round."""
    revocation_ca: Path | None = None
    """(province) The root CA folder, for the agent to re-publish the revocation list."""
    revocation_passphrase_file: Path | None = None
    """(province) The file holding the CA key's passphrase, if the key is encrypted."""
    crl_validity_days: int = DEFAULT_CRL_VALIDITY_DAYS
    """(province) How long each revocation list it publishes is valid."""
    year_close: str = "carry"
    """[year] close: what accepting a recipient's year-end statement does with its
    balances: ``carry`` them over into the next year (结转), or ``recover`` them (收回)."""
    backup_max_age_hours: int = 36
    """A node's latest backup older than this is an alert (at the node and its keeper)."""
    backup_keep_daily: int = 30
    """(keeper) The last backup of each of this many days is kept."""
    backup_keep_monthly: int = 12
    """(keeper) The last backup of each of this many months is kept (and of every year)."""
    backup_hour: int = 1
    """The hour (Beijing time) the agent takes the nightly backup; the keeper verifies at
    this hour plus two."""
    held_days: int = DEFAULT_HELD_DAYS
    """[relay] held_days: a change-set for another node held here longer than this (by this
    node's clock; a node that retired or never came) goes to quarantine (:mod:`sync.held`)."""
    retention_days: int = 400
    """[retention] days: acknowledged change-sets' files older than this (and never
    younger than the backup retention) are purged (:mod:`nodes.retention`)."""


def render_settings(code: str, database_url: str | None, sync_interval_seconds: int) -> str:
    """The text of a new ``node.toml``; without a URL the database is ``node.db`` here."""

    def s(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)

    url_line = (
        f"url = {s(database_url)}"
        if database_url
        else f'# url = "sqlite:///PATH"  (default: {DATABASE_FILE} in this folder)'
    )
    return (
        "# fiscalsync node settings. Environment variables FISCALSYNC_* override them.\n"
        "\n[node]\n"
        f"code = {s(code)}\n"
        '# The topology this node belongs to, relative to this folder.\ntopology = "topology.toml"\n'
        "# The time zone times are shown in (stored in UTC; report days stay Beijing days).\n"
        'time_zone = "Asia/Shanghai"\n'
        "\n[database]\n"
        "# sqlite:///PATH (embedded default) or postgresql://USER@HOST:PORT/DBNAME\n"
        f"{url_line}\n"
        "\n[sync]\n"
        "# How often `fiscalsync agent` syncs with the parent.\n"
        f"interval_seconds = {sync_interval_seconds}\n"
        "\n[reports]\n"
        "# Deadlines, Beijing time (a submission on the last day allowed is on time).\n"
        "# The monthly report (月报) is due by this day of the next month (1 to 28).\n"
        f"monthly_deadline_day = {DEFAULT_MONTHLY_DEADLINE_DAY}\n"
        "# A ten-day report (旬报) is due this many days after its period's last day (1 to 10).\n"
        f"tenday_deadline_days = {DEFAULT_TENDAY_DEADLINE_DAYS}\n"
        "# The reports the agent generates and submits by itself when their period ends:\n"
        '# "monthly" (月报), "tenday" (旬报); [] leaves every submission to an operator.\n'
        'agent_submits = ["monthly", "tenday"]\n'
        "\n[quarantine]\n"
        "# Entries released or dropped more than this many days ago are purged, with any file\n"
        "# of theirs, by the sync round (open entries are kept until an operator closes them).\n"
        f"retention_days = {DEFAULT_QUARANTINE_RETENTION_DAYS}\n"
        "\n[relay]\n"
        "# A change-set held here for a node this one does not know yet (one joining) goes to\n"
        "# quarantine when it has waited this many days, by this node's clock (1 to 3650).\n"
        f"held_days = {DEFAULT_HELD_DAYS}\n"
        "\n[reconcile]\n"
        "# A change-set with no receipt after this many days, a receipt back later than this,\n"
        "# and a breakdown (分解) made this long after its appropriation arrived are findings.\n"
        f"unacknowledged_days = {DEFAULT_RECONCILE_DAYS['unacknowledged_days']}\n"
        f"late_receipt_days = {DEFAULT_RECONCILE_DAYS['late_receipt_days']}\n"
        f"breakdown_days = {DEFAULT_RECONCILE_DAYS['breakdown_days']}\n"
        "\n[revocation]\n"
        "# (province) The root CA folder: with it the agent re-publishes the revocation list\n"
        "# at half its validity; without it, run `fiscalsync revocation publish --ca DIR`.\n"
        '# ca = "/secure/ca"\n'
        '# passphrase_file = "/secure/ca.passphrase"   (if the CA key is encrypted)\n'
        "# How long each published list is valid, in days (1 to 60).\n"
        f"validity_days = {DEFAULT_CRL_VALIDITY_DAYS}\n"
        "\n[backup]\n"
        "# The agent backs the node up every night at this hour (Beijing time) to the data\n"
        "# center; the center verifies what it keeps two hours later.\n"
        "hour = 1\n"
        "# A latest backup older than this many hours is an alert.\n"
        "max_age_hours = 36\n"
        "# (center) Kept: the last backup of each of the last daily days, of each of the last\n"
        "# monthly months, and of every year.\n"
        "keep_daily = 30\n"
        "keep_monthly = 12\n"
        "\n[retention]\n"
        "# The files of change-sets acknowledged (sent) or answered (taken) more than this many\n"
        "# days ago are purged by the agent every day and by `fiscalsync purge`; never sooner\n"
        "# than the backup retention above (keep_daily days, keep_monthly months).\n"
        "days = 400\n"
    )


def load_settings(home: Path, environ: Mapping[str, str] = os.environ) -> Settings:
    """Read ``HOME/node.toml``; environment overrides apply on top."""
    path = home / SETTINGS_FILE
    try:
        document = _document(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(
            said("not_a_home", home=home, file=SETTINGS_FILE),
            hint=said("not_a_home_hint"),
        ) from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            said("cannot_read", path=path, error=exc), hint=said("cannot_read_hint")
        ) from exc

    def get(section: str, key: str, kind: type, default: Any = None) -> Any:
        value = document.get(section, {}).get(key, default)
        if value is None:
            raise ConfigError(said("settings_missing", path=path, section=section, key=key))
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(
                said("settings_wrong_kind", path=path, section=section, key=key, kind=kind.__name__)
            )
        return value

    code = get("node", "code", str)
    if not is_node_code(code):
        raise ConfigError(said("settings_code_bad", path=path, code=code))
    topology = home / get("node", "topology", str, "topology.toml")
    zone_name = get("node", "time_zone", str, "Asia/Shanghai")
    try:
        zone = ZoneInfo(zone_name)
    except (ValueError, KeyError, OSError) as exc:  # not found is a KeyError
        raise ConfigError(
            said("settings_time_zone", path=path, zone_name=zone_name),
            hint=said("settings_time_zone_hint"),
        ) from exc
    url = environ.get(ENV_PREFIX + "DATABASE_URL") or document.get("database", {}).get("url")
    if url is None:
        url = sqlite_url(home / DATABASE_FILE)
    elif not isinstance(url, str):
        raise ConfigError(said("settings_database_url", path=path))
    interval = get("sync", "interval_seconds", int, 300)
    if interval < 10:
        raise ConfigError(said("settings_interval", path=path))
    monthly_day = get("reports", "monthly_deadline_day", int, DEFAULT_MONTHLY_DEADLINE_DAY)
    if not 1 <= monthly_day <= 28:
        raise ConfigError(said("settings_monthly_deadline", path=path))
    tenday_days = get("reports", "tenday_deadline_days", int, DEFAULT_TENDAY_DEADLINE_DAYS)
    if not 1 <= tenday_days <= 10:
        raise ConfigError(said("settings_tenday_deadline", path=path))
    submits = get("reports", "agent_submits", list, ["monthly", "tenday"])
    if not all(kind in ("monthly", "tenday") for kind in submits):
        raise ConfigError(said("settings_agent_submits", path=path, submits=submits))
    retention = get("quarantine", "retention_days", int, DEFAULT_QUARANTINE_RETENTION_DAYS)
    if not 1 <= retention <= 36_500:
        raise ConfigError(said("settings_quarantine_days", path=path))
    ca = get("revocation", "ca", str, "")
    passphrase_file = get("revocation", "passphrase_file", str, "")
    crl_days = get("revocation", "validity_days", int, DEFAULT_CRL_VALIDITY_DAYS)
    if not 1 <= crl_days <= 60:
        raise ConfigError(said("settings_crl_days", path=path))
    backup_hour = get("backup", "hour", int, 1)
    max_age = get("backup", "max_age_hours", int, 36)
    keep_daily = get("backup", "keep_daily", int, 30)
    keep_monthly = get("backup", "keep_monthly", int, 12)
    if not 0 <= backup_hour <= 23:
        raise ConfigError(said("settings_backup_hour", path=path))
    if not 1 <= max_age <= 24 * 366:
        raise ConfigError(said("settings_backup_age", path=path))
    if not 1 <= keep_daily <= 3660 or not 0 <= keep_monthly <= 1200:
        raise ConfigError(said("settings_backup_keep", path=path))
    year_close = get("year", "close", str, "carry")
    if year_close not in ("carry", "recover"):
        raise ConfigError(said("settings_year_close", path=path, year_close=year_close))
    held_days = get("relay", "held_days", int, DEFAULT_HELD_DAYS)
    if not 1 <= held_days <= 3_650:
        raise ConfigError(said("settings_held_days", path=path))
    retention_days = get("retention", "days", int, 400)
    if not 1 <= retention_days <= 36_500:
        raise ConfigError(said("settings_retention_days", path=path))
    return Settings(
        home.resolve(),
        code,
        topology,
        url,
        interval,
        monthly_day,
        tenday_days,
        quarantine_retention_days=retention,
        time_zone=zone,
        agent_submits=tuple(kind for kind in ("monthly", "tenday") if kind in submits),
        revocation_ca=(home / ca).resolve() if ca else None,
        revocation_passphrase_file=(home / passphrase_file).resolve() if passphrase_file else None,
        crl_validity_days=crl_days,
        reconcile_days=tuple(
            (key, _days(get("reconcile", key, int, default), path, key))
            for key, default in DEFAULT_RECONCILE_DAYS.items()
        ),
        backup_max_age_hours=max_age,
        backup_keep_daily=keep_daily,
        backup_keep_monthly=keep_monthly,
        backup_hour=backup_hour,
        held_days=held_days,
        retention_days=retention_days,
        year_close=year_close,
    )


@functools.lru_cache(maxsize=1024)
def _document(text: str) -> dict[str, Any]:
    """The TOML document of a settings text, parsed once per text in a process that
    opens the same homes again and again (``network sync`` of a province hosted in one
    folder): only read, never changed."""
    return tomllib.loads(text)


def _days(value: int, path: Path, key: str) -> int:
    if not 1 <= value <= 3_650:
        raise ConfigError(said("settings_reconcile_days", path=path, key=key))
    return value
