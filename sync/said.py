"""Messages said by key below nodes/ (which sync does not depend on): :class:`Said` is a
message's English text, what logs, receipts, quarantine rows and JSON keep, kept with
its key and the values it names, so that where an operator reads it (cli.py's error
handler) it is shown in the operator's language from the word tables of nodes/.

The English texts of the messages said here are in :data:`ENGLISH`, gathered by concept
from :mod:`sync.said_en`; nodes/words_en.py takes them in, and nodes/words_zh.py says each
in Chinese under the same key.
"""

from __future__ import annotations

from typing import Any, Self

from sync import said_en

__all__ = ["ENGLISH", "Said", "said", "unlabelled"]

ENGLISH: dict[str, str] = {
    **said_en.KEYS,
    **said_en.CHANGESETS,
    **said_en.TRUST,
    **said_en.TRANSPORTS,
    **said_en.FILES,
    **said_en.BACKUPS,
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


def unlabelled(message: str, *labels: object) -> str:
    """``message`` without the ``LABEL: `` it starts with, when LABEL is one of ``labels``
    (a file's path or name); a message said by key stays said by key."""
    names = [str(label) for label in labels]
    if isinstance(message, Said) and message.key == "labelled":
        values = dict(message.values)
        if str(values["label"]) in names:
            return values["what"]  # type: ignore[no-any-return]
    for name in names:
        message = message.removeprefix(f"{name}: ")
    return message


def said(key: str, /, **values: Any) -> Said:
    """The message ``m.<key>`` naming ``values``: ``said("ca_exists", folder=..., file=...)``."""
    return Said(key, tuple(values.items()))
