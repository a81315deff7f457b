"""What a text field of a batch's row may hold (an appropriation line, a ledger entry):
at most as many characters as its column, and no NUL, which no database stores
(PostgreSQL refuses it; a row naming it is refused by its row, not by the database)."""

from __future__ import annotations

from nodes.labels import Said, named, said

__all__ = ["field_problems"]


def field_problems(what: str, text: str, limit: int) -> list[Said]:
    """Why ``text``, the field named ``what`` (a ``field.`` word), cannot be stored in a
    column of ``limit`` characters; none if it can."""
    found = []
    if len(text) > limit:
        found.append(said("rows_too_long", what=named("field", what), limit=limit))
    if "\0" in text:
        found.append(said("fit_nul", column=named("field", what)))
    return found
