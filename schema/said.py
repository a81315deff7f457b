"""Messages said by key, at the bottom of the tree: :class:`Said` is a message's English
text (what logs, receipts and ``str()`` keep) with its key and the values it names, so
that where an operator reads it (cli.py's error handler, a listing) it is shown in the
operator's language from the word tables of nodes/. ``sync.said`` and ``nodes.labels``
build on it; a database error of this package carries its message this way
(``DatabaseError(said("db_url_bad", url=...))``), its key and values beside its text.

The English texts of the messages said here are in :data:`ENGLISH`; nodes/words_en.py
takes them in, and nodes/refusals_zh.py says each in Chinese under the same key.
"""

from __future__ import annotations

import json
from typing import Any, Self

__all__ = ["ENGLISH", "Rendered", "Said", "kept", "rendered", "said"]

ENGLISH: dict[str, str] = {
    # database URLs and connections (schema/engine.py)
    "m.db_url_bad": "{url!r} is not a database URL",
    "m.db_url_hint": "use sqlite:///PATH or postgresql://HOST/DBNAME",
    "m.db_backend_unsupported": "database {backend!r} is not supported",
    "m.db_cannot_open": "cannot open database {url}: {error}",
    "m.db_folder_missing": "cannot open database {url}: folder {folder} does not exist",
    "m.db_folder_missing_hint": "create the folder or correct the path in the URL",
    "m.db_busy": "the database is busy: {error}",
    "m.db_disk_full": "the database cannot write: {error}",
    "m.db_disk_full_hint": "free disk space and run the command again",
    "m.db_connection_lost": "the database connection was lost: {error}",
    "m.db_unusable": "the database cannot be used: {error}",
    "m.db_refused": "the database refused an operation: {error}",
    "m.db_url_no_name": "{url} names no database",
    "m.db_url_no_name_hint": "end the URL with /DBNAME",
    "m.db_cannot_create": "cannot create database {url}: {error}",
    "m.db_cannot_drop": "cannot drop database {url}: {error}",
    "m.db_name_quoted": "database name {name!r} contains a quote",
    # schema revisions (schema/migrate.py)
    "m.schema_unreadable": "cannot read the schema version: {error}",
    "m.schema_newer": "the database is at schema revision {revision}, newer than this "
    "fiscalsync (which knows up to {head})",
    "m.schema_older": "the database is at schema revision {revision}, this fiscalsync at {head}",
    "m.schema_none": "the database has no fiscalsync schema",
    "m.schema_none_hint": "run 'fiscalsync init'",
    "m.migration_broken_keys": "migration failed, nothing was changed: {count} row(s) would "
    "break a foreign key, the first in table {table}",
    "m.migration_failed": "migration failed, nothing was changed: {error}",
    "m.schema_present": "the database already has schema revision {revision}",
    "m.schema_creation_failed": "creating the schema failed, nothing was changed: {error}",
    # snapshots of a database (schema/snapshot.py)
    "m.snapshot_no_file": "the SQLite database has no file to back up",
    "m.snapshot_failed": "cannot take a snapshot of {database}: {error}",
    "m.export_failed": "cannot export {url}: {error}",
    "m.restore_target_not_empty": "the database {url} is not empty",
    "m.restore_target_not_empty_hint": "restore into a new, empty database (a restore "
    "killed part-way leaves its tables: drop the database and run it again)",
    "m.snapshot_unknown_table": "the snapshot holds a table {table!r} this fiscalsync lacks",
    # amounts and times (schema/types.py)
    "m.amount_not_yuan": "{text!r} is not an amount in yuan with at most two decimals",
    "m.amount_too_large": "{text} is more than the largest amount of one line, {largest} 元",
    "m.time_no_zone": "{text!r} has no time zone",
    # what a column can hold (schema/limits.py)
    "m.fit_missing": "{column} is missing",
    "m.fit_not_bool": "{column} {value!r} is not true or false",
    "m.fit_not_whole": "{column} {value!r} is not a whole number",
    "m.fit_too_many_bits": "{column} {value} does not fit in {bits} bits",
    "m.fit_not_time": "{column} {value!r} is not a time with its zone",
    "m.fit_not_date": "{column} {value!r} is not a date",
    "m.fit_not_text": "{column} {value!r} is not text",
    "m.fit_too_long": "{column} is {length} characters long; at most {most} fit",
    "m.fit_nul": "{column} holds a NUL character",
    "m.fit_surrogate": "{column} is not valid Unicode (a lone surrogate)",
}


class Said(str):
    """A message for people: its English text (what it is as a ``str``), kept with its
    key (``m.<key>`` in the word tables) and the values it names; a value may itself be
    a :class:`Said`."""

    key: str
    values: tuple[tuple[str, Any], ...]

    def __new__(cls, key: str, values: tuple[tuple[str, Any], ...] = ()) -> Self:
        text = cls.english(key).format(**dict(values))
        made = super().__new__(cls, text)
        made.key, made.values = key, values
        return made

    @classmethod
    def english(cls, key: str) -> str:
        """The English text of ``key``, with its ``{value}`` fields."""
        return ENGLISH[f"m.{key}"]

    def __getnewargs__(self) -> tuple[str, tuple[tuple[str, Any], ...]]:  # type: ignore[override]
        return self.key, self.values

    def said_in(self, words: dict[str, str]) -> str:
        """The message in the language of ``words`` (a table of ``m.<key>`` texts)."""
        values = {k: v.said_in(words) if isinstance(v, Said) else v for k, v in self.values}
        return words[f"m.{self.key}"].format(**values)

    def as_json(self) -> dict[str, Any]:
        """The message as JSON values, to be kept: its key and values (nested ones too)."""
        return {"m": self.key, "v": {k: _as_json(v) for k, v in self.values}}


def _as_json(value: Any) -> Any:
    if isinstance(value, Said):
        return value.as_json()
    family = getattr(value, "family", None)
    if isinstance(value, str) and isinstance(family, str):  # an enumerated value, to label
        return {"family": family, "value": str(value)}
    if value is None or type(value) in (int, bool, str):
        return value
    # a path, a Decimal, bytes, a foreign error: its text and its repr, for ``!r``
    return {"text": str(value), "repr": repr(value)}


class Rendered(str):
    """A value of a message kept as its text and its repr (:meth:`Said.as_json`), taken
    back: its text as a ``str``, its repr under ``!r``, so that the message said again
    is the text it was (``seq Decimal('1.5') is not a whole number``)."""

    shown_as: str

    def __new__(cls, text: str, shown_as: str) -> Self:
        made = super().__new__(cls, text)
        made.shown_as = shown_as
        return made

    def __repr__(self) -> str:
        return self.shown_as

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]
        return str(self), self.shown_as


def rendered(kept: object) -> Rendered | None:
    """The value :func:`_as_json` kept as text and repr; None when ``kept`` is not one."""
    if isinstance(kept, dict) and set(kept) == {"text", "repr"}:
        text, shown_as = kept["text"], kept["repr"]
        if isinstance(text, str) and isinstance(shown_as, str):
            return Rendered(text, shown_as)
    return None


def kept(text: object) -> str | None:
    """``text`` kept by key beside its English text (a column of JSON): the JSON of a
    :class:`Said`, None for anything else (a foreign error's own text)."""
    if not isinstance(text, Said):
        return None
    return json.dumps(text.as_json(), ensure_ascii=False)


def said(key: str, /, **values: Any) -> Said:
    """The message ``m.<key>`` naming ``values``: ``said("db_url_bad", url=...)``."""
    return Said(key, tuple(values.items()))
