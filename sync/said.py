"""Messages said by key below nodes/ (which sync does not depend on): :class:`Said` is a
message's English text, what logs, receipts, quarantine rows and JSON keep, kept with
its key and the values it names, so that where an operator reads it (cli.py's error
handler) it is shown in the operator's language from the word tables of nodes/.

The English texts of the messages said here are in :data:`ENGLISH`; nodes/words_en.py
takes them in, and nodes/words_zh.py says each in Chinese under the same key.
"""

from __future__ import annotations

from typing import Any, Self

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


def said(key: str, /, **values: Any) -> Said:
    """The message ``m.<key>`` naming ``values``: ``said("ca_exists", folder=..., file=...)``."""
    return Said(key, tuple(values.items()))
