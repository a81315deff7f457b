"""References between tables that a database does not enforce itself, and their check.

A foreign key declared with ``.ddl_if(dialect=...)`` is built only on the databases it
names (:data:`~schema.tables.appropriation_event`'s reference to its appropriation is
built on SQLite only). Where it is not built, the writers check the reference, and what
the writers did not write (a snapshot loaded) is checked here: :func:`dangling` finds the
rows whose reference points at nothing, with one anti-join per reference.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schema.tables import metadata

__all__ = ["dangling", "enforced", "unenforced"]


def enforced(constraint: sa.Constraint, dialect: str) -> bool:
    """Whether ``constraint`` is built on a database of kind ``dialect``."""
    condition = constraint._ddl_if
    if condition is None or condition.dialect is None:
        return True
    named = condition.dialect
    return dialect in ((named,) if isinstance(named, str) else tuple(named))


def unenforced(dialect: str) -> list[sa.ForeignKeyConstraint]:
    """The declared foreign keys a database of kind ``dialect`` does not hold."""
    return [
        fk
        for table in metadata.sorted_tables
        for fk in sorted(table.foreign_key_constraints, key=lambda fk: str(fk.name))
        if not enforced(fk, dialect)
    ]


def dangling(conn: Connection, limit: int = 5) -> list[str]:
    """Up to ``limit`` rows (per reference) whose unenforced reference points at no row,
    each named as ``table.column = value``; empty when every reference holds."""
    found: list[str] = []
    for fk in unenforced(conn.dialect.name):
        (element,) = fk.elements  # single-column references only
        child, parent = element.parent, element.column
        query = (
            sa.select(child)
            .where(child.is_not(None), ~sa.exists().where(parent == child))
            .distinct()
            .limit(limit)
        )
        found += [f"{fk.table.name}.{child.name} = {v}" for v in conn.execute(query).scalars()]
    return found
