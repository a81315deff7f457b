"""Labels for people (标签), in Chinese (中文, the default) and English: the words of
reports, listings and messages that an operator reads, and of the values they show
(transfer types, states, kinds of change-set).

Keys are stable English words; a key with a dot names an enumerated value,
``<family>.<value>`` (``transfer.general``), looked up with :func:`say`, which gives the
value itself back when it has no label. Machine output (``--format json``, csv) keeps
its keys and values and never goes through here.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from typing import Any

from nodes import words_en, words_zh
from schema import said as below
from sync.errors import InputError

__all__ = [
    "LANGUAGES",
    "Named",
    "Said",
    "display_width",
    "joined",
    "vouched",
    "labels",
    "named",
    "recalled",
    "said",
    "say",
    "shown",
]

LANGUAGES = ("zh", "en")


_LABELS = {"zh": words_zh.LABELS, "en": words_en.LABELS}
_LISTINGS = {
    "zh": {**words_zh.LISTINGS, **words_zh.MESSAGES},
    "en": {**words_en.LISTINGS, **words_en.MESSAGES},
}


def labels(lang: str = "zh") -> dict[str, str]:
    """Labels of sections, columns, levels, states and messages, in Chinese (``zh``) or
    English (``en``)."""
    try:
        return {**_LABELS[lang], **_LISTINGS[lang]}
    except KeyError:
        raise InputError(f"no labels in {lang!r}", hint="use --lang en or --lang zh") from None


class Said(below.Said):
    """A message for people: its English text (what logs, JSON and scripts read, and
    what it is as a ``str``), kept with its key (labels ``m.<key>``) and the values it
    names, so that :func:`shown` gives it in the reader's language. A value may itself
    be a :class:`Said`, or one said below nodes/ (:class:`sync.said.Said`,
    :class:`schema.said.Said`); :meth:`as_json` keeps it, :meth:`from_json` takes it back."""

    @classmethod
    def english(cls, key: str) -> str:
        return _LISTINGS["en"][f"m.{key}"]

    def said_in(self, words: dict[str, str]) -> str:
        values = {k: shown(v, words) for k, v in self.values}
        return words[f"m.{self.key}"].format(**values)

    @classmethod
    def from_json(cls, kept: object) -> Said | None:
        """A message kept by :meth:`as_json`; None when it is not one this version knows."""
        if not isinstance(kept, dict) or not isinstance(kept.get("v"), dict):
            return None
        values = []
        for k, v in kept["v"].items():
            if isinstance(v, dict) and isinstance(v.get("family"), str):
                v = named(v["family"], v.get("value"))
            elif (value := below.rendered(v)) is not None:
                v = value
            elif isinstance(v, dict):
                v = cls.from_json(v)
                if v is None:
                    return None
            values.append((k, v))
        try:
            return cls(str(kept.get("m")), tuple(values))
        except (KeyError, IndexError, ValueError):
            return None


class Named(str):
    """An enumerated value named in a message (``kind`` ``appropriation``): the value
    itself as a ``str``, its label (:func:`say`) when the message is :func:`shown`."""

    family: str

    def __new__(cls, family: str, value: str) -> Named:
        made = super().__new__(cls, value)
        made.family = family
        return made

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]
        return self.family, str(self)


def named(family: str, value: object) -> Named:
    """``value`` of the enumeration ``family``, to be said in a message:
    ``said("in_flight", kind=named("kind", "appropriation"))``."""
    return Named(family, "-" if value is None else str(value))


def said(key: str, /, **values: Any) -> Said:
    """The message ``m.<key>`` naming ``values``: ``said("backup_refused", reason=...)``."""
    return Said(key, tuple(values.items()))


def joined(parts: Sequence[str], key: str = "and_then") -> str:
    """``parts`` said as one, each after the other: ``a; b`` (``and_then``), ``a, b``
    (``listed``). Joined by halves, so that a message of thousands of parts nests only as
    deep as their logarithm (saying a message is recursive); the text is the same."""
    if len(parts) == 1:
        return parts[0]
    half = len(parts) // 2
    return said(key, first=joined(parts[:half], key), then=joined(parts[half:], key))


def vouched(text: str, by_key: object) -> str:
    """What a peer signed as its English ``text`` and by key as ``by_key`` (the JSON form
    of a message, as a notice or a rejoin answer carries it): the message by key, to be
    shown in the reader's language, when this version knows it and it says exactly
    ``text``; else ``text``. A peer's key never shows a reader another message than the
    English it signed, and one far longer than its text is not read at all."""
    try:
        small = len(json.dumps(by_key, ensure_ascii=False)) <= 16 * len(text) + 4096
    except (TypeError, ValueError, RecursionError):
        return text
    found = Said.from_json(by_key) if small else None
    return found if found is not None and str(found) == text else text


def recalled(text: str, kept: str | None) -> str:
    """A message stored as its English ``text`` and, beside it, ``kept``: the JSON of
    :func:`schema.said.kept` (a quarantine entry's detail, a refusal's reason). The
    message by key, to be :func:`shown` in the reader's language, when it was said by key
    and this version knows it; else ``text`` as it is (rows from before, a foreign error)."""
    if not kept:
        return text
    try:
        by_key = json.loads(kept)
    except ValueError:
        return text
    # by key only as the English text it was kept beside says (a peer's receipt could
    # carry a key of another message, or a later release word it otherwise)
    return vouched(text, by_key)


def shown(text: object, words: dict[str, str]) -> Any:
    """``text`` for people in the language of ``words``: a :class:`Said` in their words,
    a :class:`Named` value by its label, anything else as it is (a foreign error's own
    text, a number)."""
    if isinstance(text, Named):
        return say(words, text.family, text)
    return text.said_in(words) if isinstance(text, below.Said) else text


def say(words: dict[str, str], family: str, value: object) -> str:
    """The label of ``value`` of an enumeration (``say(words, "transfer", "general")``:
    一般性转移支付), or the value itself when it has none."""
    text = "-" if value is None else str(value)
    return words.get(f"{family}.{text}", text)


"""Words of the listings and messages outside reports (the same keys in each language)."""


def display_width(text: str) -> int:
    """How many terminal cells ``text`` takes: a CJK character two, a combining mark none."""
    return sum(
        0 if unicodedata.combining(char) else 2 if unicodedata.east_asian_width(char) in "WF" else 1
        for char in text
    )
