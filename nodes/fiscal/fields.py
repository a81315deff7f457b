"""What a text field of a batch's row may hold (an appropriation line, a ledger entry):
at most as many characters as its column, and no NUL, which no database stores
(PostgreSQL refuses it; a row naming it is refused by its row, not by the database)."""

from __future__ import annotations

from nodes.labels import Said, named, said

__all__ = ["field_problems", "unusable"]


def unusable(*texts: object) -> bool:
    """Whether any of ``texts`` (values a batch's row is looked up by: an appropriation's
    id, a 文号) cannot be put into a query: not text, holding a NUL or a lone surrogate.
    Such a row is
    named by :func:`field_problems`; the batch is refused before anything is looked up."""
    return any(
        t is not None and (type(t) is not str or "\0" in t or _not_unicode(t)) for t in texts
    )


def _not_unicode(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (a byte a terminal could not decode)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def field_problems(what: str, text: str, limit: int) -> list[Said]:
    """Why ``text``, the field named ``what`` (a ``field.`` word), cannot be stored in a
    column of ``limit`` characters; none if it can."""
    if type(text) is not str:  # given through the API
        return [said("rows_not_text", what=named("field", what), kind=type(text).__name__)]
    found = []
    if len(text) > limit:
        found.append(said("rows_too_long", what=named("field", what), limit=limit))
    if "\0" in text:
        found.append(said("fit_nul", column=named("field", what)))
    return found
