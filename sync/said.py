"""Messages said by key in sync/ (which does not depend on nodes/): :class:`Said` (built on
:class:`schema.said.Said`) is a message's English text, what logs, receipts, quarantine
rows and JSON keep, kept with its key and the values it names, so that where an operator
reads it (cli.py's error handler) it is shown in the operator's language from the word
tables of nodes/.

The English texts of the messages said here are in :data:`ENGLISH`, gathered by concept
from :mod:`sync.said_en`; nodes/words_en.py takes them in, and nodes/words_zh.py says each
in Chinese under the same key.
"""

from __future__ import annotations

from typing import Any

from schema import said as below
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


class Said(below.Said):
    """A message for people said in sync/ (:class:`schema.said.Said`, with the English
    texts of :data:`ENGLISH`)."""

    @classmethod
    def english(cls, key: str) -> str:
        return ENGLISH[f"m.{key}"]


def unlabelled(message: str, *labels: object) -> str:
    """``message`` without the ``LABEL: `` it starts with, when LABEL is one of ``labels``
    (a file's path or name); a message said by key stays said by key."""
    names = [str(label) for label in labels]
    if isinstance(message, below.Said) and message.key == "labelled":
        values = dict(message.values)
        if str(values["label"]) in names:
            return values["what"]  # type: ignore[no-any-return]
    for name in names:
        message = message.removeprefix(f"{name}: ")
    return message


def said(key: str, /, **values: Any) -> Said:
    """The message ``m.<key>`` naming ``values``: ``said("ca_exists", folder=..., file=...)``."""
    return Said(key, tuple(values.items()))
