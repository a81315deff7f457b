"""The root of fiscalsync's exception tree and the database family.

The whole tree is drawn in :mod:`sync.errors`; this module holds the part that the
database layer needs, because ``schema`` imports nothing else of ours.
"""

from __future__ import annotations


class FiscalsyncError(Exception):
    """Base of every error fiscalsync raises on purpose.

    ``exit_code`` is the process exit status when the error reaches the command line;
    ``hint`` is one line telling the operator what to do about it. Either may be said by
    key (:class:`schema.said.Said`): its English text, with the key and the values it
    names, which the command line shows in the operator's language.
    """

    exit_code = 1
    default_hint = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint


class LocalFailure(FiscalsyncError):
    """This node could not do its part (its database, its disk): nothing was judged.

    Never a verdict on what was being read: a change-set being taken when one occurs is
    not refused; its transaction rolls back and the file is taken again in a later round.
    """


class DatabaseError(LocalFailure):
    """The node database could not be used."""

    exit_code = 5


class DatabaseUnavailable(DatabaseError):
    """The database server cannot be reached or refused the connection."""

    default_hint = "check the database URL and that the server is running"


class DatabaseBusy(DatabaseError):
    """Another process held the database (or the rows needed) for too long; nothing changed."""

    default_hint = "another operator or the agent is writing; run the command again shortly"


class SchemaVersionError(DatabaseError):
    """The database schema does not match this version of fiscalsync."""

    exit_code = 9


class SchemaTooNew(SchemaVersionError):
    """The database was migrated by a newer fiscalsync than this one."""

    default_hint = "upgrade fiscalsync on this machine before using this database"


class SchemaOutdated(SchemaVersionError):
    """The database needs migrations this fiscalsync has and it lacks."""

    default_hint = "run 'fiscalsync db upgrade'"
