"""fiscalsync's exception tree.

Every error that reaches an operator is one of these; foreign exceptions (SQLAlchemy,
cryptography, paramiko, socket, OS) are translated at the boundary where they occur with
``raise OurError(...) from exc``. The exit status of each family is its ``exit_code``::

    FiscalsyncError                      1   (schema.errors)
    ├── InputError                       3   bad input: malformed file, bad amount, unknown code
    │   └── ConfigError                  3   a settings or topology file that cannot be used
    │       └── TopologyError            6   a topology that fails its checks (lists every problem)
    ├── HomeError                        4   node home missing, not empty, locked, unknown node
    ├── LocalFailure                         this node could not do its part (schema.errors)
    │   ├── DatabaseError                5   (schema.errors)
    │   │   ├── DatabaseUnavailable      5   server unreachable, connection refused or lost
    │   │   ├── DatabaseBusy             5   another process held the database too long
    │   │   └── SchemaVersionError       9
    │   │       ├── SchemaTooNew         9   database migrated by a newer fiscalsync
    │   │       └── SchemaOutdated       9   database needs 'fiscalsync db upgrade'
    │   └── StorageError                74   a file of this node cannot be read or written
    ├── TransportError                   7   the parent or a mailbox could not be reached
    │   ├── TransportUnreachable         7   connection refused, timed out, authentication failed
    │   ├── HostKeyRejected              7   the server's host key is not the pinned one
    │   ├── TransferFailed               7   a transfer broke off or stalled (transient)
    │   └── RemoteFileMissing            7   the file asked for is not (or no longer) there
    ├── KeyMaterialError                 8   a key, CSR, certificate or CA that cannot be used
    ├── NotQuiet                        16   sync rounds ended with something still in flight
    ├── Inconsistent                    17   a check of a node home found problems (each one named)
    └── VerificationError               10   a change-set that must not be accepted
        ├── MalformedChangeSet          10   compression, framing or field syntax broken
        ├── IntegrityError              11   body hash or operation count does not match
        ├── SignatureInvalid            12   header signature does not verify
        ├── CertificateRejected         13   chain, validity, revocation or code/role binding
        │   └── CertificateNotYetBegun  13   begins after this node's clock: wait, not refuse
        ├── WrongRecipient              14   addressed to another node
        └── NotAuthorized               15   that origin's role may not send that kind there

Two families must never be confused while a change-set is taken. An :class:`InputError`
(or a :class:`VerificationError`) is a verdict on content that was read: the change-set is
refused, with a negative receipt or a quarantine entry. A :class:`LocalFailure` (and any
error of the database driver or the operating system, translated by
:func:`failure_message`) says nothing about the content: the transaction rolls back, no
receipt is signed, and the file stays to be taken again in a later round.
"""

from __future__ import annotations

from schema.engine import database_failure
from schema.errors import (
    DatabaseBusy,
    DatabaseError,
    DatabaseUnavailable,
    FiscalsyncError,
    LocalFailure,
    SchemaOutdated,
    SchemaTooNew,
    SchemaVersionError,
)

__all__ = [
    "CertificateNotYetBegun",
    "CertificateRejected",
    "ConfigError",
    "DatabaseBusy",
    "DatabaseError",
    "DatabaseUnavailable",
    "FiscalsyncError",
    "HomeError",
    "HostKeyRejected",
    "Inconsistent",
    "InputError",
    "IntegrityError",
    "KeyMaterialError",
    "LocalFailure",
    "MalformedChangeSet",
    "NotAuthorized",
    "NotQuiet",
    "RemoteFileMissing",
    "SchemaOutdated",
    "SchemaTooNew",
    "SchemaVersionError",
    "SignatureInvalid",
    "StorageError",
    "TopologyError",
    "TransferFailed",
    "TransportError",
    "TransportUnreachable",
    "VerificationError",
    "WrongRecipient",
    "failure_message",
]


class InputError(FiscalsyncError):
    """Input given by the operator cannot be used as it is."""

    exit_code = 3


class RowsRefused(InputError):
    """A file or batch has bad rows; ``problems`` names every one (row and field)."""

    def __init__(self, message: str, problems: list[str], *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems


class ConfigError(InputError):
    """A settings or topology file cannot be used."""


class TopologyError(ConfigError):
    """A topology fails its checks; ``problems`` lists every one, with its line."""

    exit_code = 6

    default_hint = "run 'fiscalsync topology check FILE' and fix every problem it lists"

    def __init__(self, message: str, problems: list[str], *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems


class HomeError(FiscalsyncError):
    """A node home is missing, already in use, or does not fit the request."""

    exit_code = 4


class StorageError(LocalFailure):
    """A file of this node cannot be read or written (I/O error, disk full, file gone)."""

    exit_code = 74
    default_hint = "check the disk and the file's permissions; nothing was judged or lost"

    @classmethod
    def reading(cls, what: str, exc: OSError) -> StorageError:
        """The error for ``exc``, raised while reading ``what``."""
        return cls(f"{what}: cannot read ({exc.strerror or exc})")


def failure_message(exc: BaseException) -> str:
    """One line naming what went wrong, for any error (ours, the database's, the OS's, a bug).

    Used where one file's failure is recorded and the round goes on.
    """
    if isinstance(exc, FiscalsyncError):
        return exc.message  # said by key (its English text as a str), or a text
    translated = database_failure(exc)
    if translated is not None:
        return translated.message
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    return f"{type(exc).__name__}: {exc}"


class TransportError(FiscalsyncError):
    """A mailbox could not be reached or a transfer failed; nothing was lost."""

    exit_code = 7
    default_hint = "check the network path to the parent; the next sync resumes where this stopped"


class TransportUnreachable(TransportError):
    """The endpoint could not be reached, or refused the connection or the login."""


class HostKeyRejected(TransportError):
    """The server presented a host key other than the one pinned in the topology."""

    default_hint = (
        "the server's host key changed: confirm the new key with the province's operators "
        "and update host_key in the topology; nothing was sent"
    )


class TransferFailed(TransportError):
    """A transfer broke off or stalled; retrying may succeed."""


class RemoteFileMissing(TransportError):
    """The file asked for is not (or no longer) in the mailbox."""

    default_hint = "list the mailbox again; another round may have collected the file"


class KeyMaterialError(FiscalsyncError):
    """A private key, signing request, certificate or CA cannot be used."""

    exit_code = 8


class NotQuiet(FiscalsyncError):
    """Sync rounds ended with change-sets or files still in flight (each one was named)."""

    exit_code = 16
    default_hint = (
        "look at 'fiscalsync status', 'outbox', 'inbox' and 'quarantine' of the nodes named"
    )


class Inconsistent(FiscalsyncError):
    """A check of a node home found problems (each one was named, with what to do)."""

    exit_code = 17
    default_hint = (
        "do what each problem above says; 'fiscalsync check --repair' fixes the safe ones"
    )


class VerificationError(FiscalsyncError):
    """A change-set must not be accepted. ``reason`` is a stable machine-readable word."""

    exit_code = 10
    reason = "malformed"


class MalformedChangeSet(VerificationError):
    """Compression, framing or field syntax is broken."""

    exit_code = 10
    reason = "malformed"


class IntegrityError(VerificationError):
    """The body does not match the body hash or operation count in the header."""

    exit_code = 11
    reason = "integrity"


class SignatureInvalid(VerificationError):
    """The header signature does not verify under the signer's certificate."""

    exit_code = 12
    reason = "signature"


class CertificateRejected(VerificationError):
    """The signer's certificate is not acceptable for this origin."""

    exit_code = 13
    reason = "certificate"


class CertificateNotYetBegun(CertificateRejected):
    """The signer's certificate begins after this node's clock reads, though the change-set
    is dated within it: this node's clock runs slow (the province signed the certificate by
    its own, a renewal hours ago). Nothing is wrong with the file: it is taken once this
    node's clock has caught up, neither refused nor quarantined."""


class WrongRecipient(VerificationError):
    """The change-set is addressed to another node."""

    exit_code = 14
    reason = "recipient"


class NotAuthorized(VerificationError):
    """The origin's role may not send this kind of change-set to this recipient."""

    exit_code = 15
    reason = "authorization"
