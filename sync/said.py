"""Messages said by key in sync/ (which does not depend on nodes/): :class:`Said` (built on
:class:`schema.said.Said`) is a message's English text, what logs, receipts, quarantine
rows and JSON keep, kept with its key and the values it names, so that where an operator
reads it (cli.py's error handler) it is shown in the operator's language from the word
tables of nodes/.

The English texts of the messages said here are in :data:`ENGLISH`; nodes/words_en.py
takes them in, and nodes/words_zh.py says each in Chinese under the same key.
"""

from __future__ import annotations

from typing import Any

from schema import said as below

__all__ = ["ENGLISH", "Said", "said"]

ENGLISH: dict[str, str] = {
    # key material (sync/pki.py)
    "m.key_file_missing": "{what} {path} does not exist",
    "m.key_file_unreadable": "cannot read {what} {path}: {error}",
    "m.key_file_unwritable": "cannot write {path}: {error}",
    "m.key_file_exists": "{path} already exists; refusing to overwrite it",
    "m.key_folder_unmade": "cannot create {path}: {error}",
    "m.ca_passphrase_empty": "the CA passphrase must not be empty",
    "m.ca_exists": "{folder} already holds a CA ({file} exists)",
    "m.ca_exists_hint": "load the existing CA, or choose an empty folder for a new one",
}


class Said(below.Said):
    """A message for people said in sync/ (:class:`schema.said.Said`, with the English
    texts of :data:`ENGLISH`)."""

    @classmethod
    def english(cls, key: str) -> str:
        return ENGLISH[f"m.{key}"]


def said(key: str, /, **values: Any) -> Said:
    """The message ``m.<key>`` naming ``values``: ``said("ca_exists", folder=..., file=...)``."""
    return Said(key, tuple(values.items()))
