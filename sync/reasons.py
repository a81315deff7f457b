"""The reason a receipt gives for a refusal, as it travels and as the origin keeps it.

A negative receipt says why in English (``reason``: what every fiscalsync reads, never
changed) and, when the recipient said it by key, by key too (``reason_said``: the
message's key and values as JSON, :meth:`schema.said.Said.as_json`), so that the origin
shows it in its operator's language. ``reason_said`` is optional, like any field a
receipt's one operation adds: a fiscalsync before it ignores it (it reads the fields it
knows), and a receipt without it (signed by one before it) is shown in its English
text. The body hash covers it, so the recipient's signature does too.
"""

from __future__ import annotations

import json
from typing import Any

from schema.said import Said
from schema.types import storable
from sync.changeset.codec import encode_line

__all__ = ["MOST", "VERDICTS", "english", "in_receipt", "kept_from"]

MOST = 4096
"""The longest reason by key kept (its JSON, in bytes): a reason is a sentence, and
one nested deeper than a reader can follow is shown in its English text instead."""


VERDICTS = ("applied", "rejected")
"""What a receipt says of the change-set it acknowledges; a receipt saying anything else
is not well-formed."""


def english(body: dict[str, Any]) -> str | None:
    """The English reason of a receipt's operation ``body`` as a column keeps it: None, or
    its text with any NUL (which PostgreSQL's text cannot hold: the receipt would fail to
    be stored round after round) shown as U+FFFD."""
    reason = body.get("reason")
    return None if reason is None else storable(str(reason))


def in_receipt(reason: str | None) -> dict[str, Any]:
    """The fields of a receipt's operation that say ``reason``: ``reason`` in English
    (None when the change-set was applied), and ``reason_said`` when it was said by key."""
    if reason is None:
        return {"reason": None}
    fields: dict[str, Any] = {"reason": str(reason)}
    if isinstance(reason, Said):
        by_key = reason.as_json()
        try:  # only what its reader keeps: a receipt is signed whatever its reason holds
            if len(encode_line(by_key)) <= MOST:
                fields["reason_said"] = by_key
        except TypeError:  # a value JSON cannot carry here (an integer past 64 bits)
            pass
    return fields


def kept_from(body: dict[str, Any]) -> str | None:
    """The reason by key of a receipt's operation ``body``, as a column keeps it (JSON,
    read by ``nodes.labels.recalled``); None when the receipt says it only in English, or
    says by key something longer than :data:`MOST`."""
    found = body.get("reason_said")
    if not isinstance(found, dict) or not isinstance(body.get("reason"), str):
        return None
    try:
        if len(encode_line(found)) > MOST:
            return None
    except TypeError:  # nested deeper than JSON is written here
        return None
    return json.dumps(found, ensure_ascii=False)  # as schema.said.kept writes it
