"""The header of a change-set, its seal, its canonical form and id, and its file name."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, NamedTuple

from sync.certificates import (
    Certificate,
    certificate_fingerprint,
    is_node_code,
    parse_certificate,
)
from sync.errors import (
    KeyMaterialError,
    MalformedChangeSet,
)
from sync.said import Said, said
from sync.signing import DEFAULT_SUITE, SignatureSuite, canonical_json, get_suite

FORMAT = 1
DOMAIN = b"fiscalsync-changeset-v1\x00"
SUFFIX = ".fcs"


_HEX64 = re.compile(r"[0-9a-f]{64}")
_KIND = re.compile(r"[a-z][a-z0-9-]{0,47}")
_CREATED = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.([0-9]{6})Z"
)
_FILENAME = re.compile(
    r"(?P<origin>[0-9A-Za-z-]+)_(?P<recipient>[0-9A-Za-z-]+)_(?P<seq>[0-9]{10})"
    r"_(?P<id>[0-9a-f]{64})\.fcs"
)
_MAX_SEQ = 10**10 - 1
_MAX_COUNT = 2**53 - 1  # the largest integer RFC 8785 (I-JSON) holds exactly
_HEADER_KEYS = frozenset(
    ("format", "origin", "recipient", "kind", "seq", "prev", "created", "count", "body")
    + ("suite", "signer")
)
_OPTIONAL_KEYS = frozenset(("epoch",))
_EPOCH = re.compile(r"[0-9a-f]{32}")
SEAL_KEYS = frozenset(("sig", "cert"))


# --- header -------------------------------------------------------------------------------


def _format_created(moment: datetime) -> str:
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}Z"
    )


def _parse_created(text: str) -> datetime | None:
    match = _CREATED.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, micro = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError:
        return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def channel_problem(
    origin: object, recipient: object, kind: object, seq: object, prev: object
) -> Said | None:
    """Return what is wrong with a change-set's channel fields, or None."""
    if not is_node_code(origin):
        return said("h_not_node_code", field="origin", value=repr(origin))
    if not is_node_code(recipient):
        return said("h_not_node_code", field="recipient", value=repr(recipient))
    if origin == recipient:
        return said("h_same_ends", code=origin)
    if not isinstance(kind, str) or _KIND.fullmatch(kind) is None:
        return said("h_kind", value=repr(kind))
    if not (isinstance(seq, int) and not isinstance(seq, bool) and 1 <= seq <= _MAX_SEQ):
        return said("h_seq", value=repr(seq), top=_MAX_SEQ)
    if not isinstance(prev, str):
        return said("h_not_string", field="prev", value=repr(prev))
    if seq == 1 and prev != "":
        return said("h_prev_first")
    if seq != 1 and _HEX64.fullmatch(prev) is None:
        return said("h_prev", value=repr(prev))
    return None


_DIGEST_SIZES: dict[str, int] = {}


def suite_of(name: str) -> SignatureSuite:
    suite = get_suite(name)
    if name not in _DIGEST_SIZES:
        _DIGEST_SIZES[name] = suite.new_hash().digest_size
    return suite


@dataclass(frozen=True, kw_only=True)
class Header:
    """The signed first line of a change-set; validated on construction.

    ``created`` is an aware UTC datetime with microseconds (written as
    ``YYYY-MM-DDTHH:MM:SS.ffffffZ``); ``body`` is ``"<hash name>:<hex digest>"`` of the
    decompressed body bytes; ``signer`` is the hex hash of the signer's DER certificate
    under the suite's hash. Construction raises :class:`MalformedChangeSet` on any bad field.
    """

    format: int = FORMAT
    origin: str
    recipient: str
    kind: str
    seq: int
    prev: str
    created: datetime
    count: int
    body: str
    suite: str = DEFAULT_SUITE
    signer: str
    epoch: str | None = None
    """The origin's epoch since it was last restored from a backup (32 hex digits), or None
    for a node never restored: a peer that answered its rejoin takes nothing of its
    channels beyond what it gave back unless it names that epoch (:mod:`nodes.rejoin`)."""

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem is not None:
            raise MalformedChangeSet(said("h_invalid", problem=problem))
        object.__setattr__(self, "created", self.created.astimezone(UTC))

    def _problem(self) -> str | None:
        if not _is_int(self.format) or self.format != FORMAT:
            return said("h_format", value=repr(self.format), format=FORMAT)
        problem = channel_problem(self.origin, self.recipient, self.kind, self.seq, self.prev)
        if problem is not None:
            return problem
        created = self.created
        if not isinstance(created, datetime) or created.utcoffset() is None:
            return said("h_created_naive", value=repr(created))
        if not _is_int(self.count) or not 0 <= self.count <= _MAX_COUNT:
            return said("h_count", value=repr(self.count))
        if not isinstance(self.suite, str):
            return said("h_not_string", field="suite", value=repr(self.suite))
        try:
            suite = suite_of(self.suite)
        except KeyMaterialError as exc:
            return exc.message
        if not isinstance(self.body, str):
            return said("h_not_string", field="body", value=repr(self.body))
        hash_name, _, digest = self.body.partition(":")
        if hash_name != suite.hash_name or not _is_hex(digest, _DIGEST_SIZES[self.suite]):
            return said("h_body", value=repr(self.body), hash=suite.hash_name)
        if not isinstance(self.signer, str) or _HEX64.fullmatch(self.signer) is None:
            return said("h_signer", value=repr(self.signer))
        if self.epoch is not None and (
            not isinstance(self.epoch, str) or _EPOCH.fullmatch(self.epoch) is None
        ):
            return said("h_epoch", value=repr(self.epoch))
        return None

    def to_dict(self) -> dict[str, Any]:
        """Return the header as the JSON object written in the file."""
        return {
            "format": self.format,
            "origin": self.origin,
            "recipient": self.recipient,
            "kind": self.kind,
            "seq": self.seq,
            "prev": self.prev,
            "created": _format_created(self.created),
            "count": self.count,
            "body": self.body,
            "suite": self.suite,
            "signer": self.signer,
        } | ({} if self.epoch is None else {"epoch": self.epoch})

    @classmethod
    def from_dict(cls, data: object) -> Header:
        """Build a header from its JSON object; any deviation is MalformedChangeSet."""
        if not isinstance(data, dict):
            raise MalformedChangeSet(said("h_invalid", problem=said("h_not_object")))
        keys = set(data)
        if not _HEADER_KEYS <= keys <= _HEADER_KEYS | _OPTIONAL_KEYS:
            missing = ", ".join(sorted(_HEADER_KEYS - keys)) or "none"
            known = _HEADER_KEYS | _OPTIONAL_KEYS
            extra = ", ".join(sorted(str(key) for key in keys - known)) or "none"
            raise MalformedChangeSet(
                said("h_invalid", problem=said("h_fields", missing=missing, extra=extra))
            )
        if "epoch" in data and data["epoch"] is None:
            raise MalformedChangeSet(said("h_invalid", problem=said("h_epoch_null")))
        created_text = data["created"]
        created = _parse_created(created_text) if isinstance(created_text, str) else None
        if created is None:
            raise MalformedChangeSet(
                said("h_invalid", problem=said("h_created", value=repr(created_text)))
            )
        return cls(**{**data, "created": created})

    def canonical(self) -> bytes:
        """Return the RFC 8785 canonical bytes of the header: what is hashed and signed."""
        return self._canonical

    @cached_property
    def _canonical(self) -> bytes:
        return canonical_json(self.to_dict())

    @cached_property
    def id(self) -> str:
        """The change-set id: hex hash of the canonical header under the header's suite
        (SHA-256 for ``ed25519``, SM3 for ``sm2``)."""
        return suite_of(self.suite).digest(self._canonical)

    @property
    def filename(self) -> str:
        return f"{self.origin}_{self.recipient}_{self.seq:010d}_{self.id}{SUFFIX}"

    @property
    def body_digest(self) -> str:
        """The hex digest part of :attr:`body`."""
        return self.body.partition(":")[2]


def _is_hex(text: str, size: int) -> bool:
    return len(text) == 2 * size and all(c in "0123456789abcdef" for c in text)


def signing_message(header: Header) -> bytes:
    """Return the bytes the origin signs for ``header`` (domain-separated)."""
    return (
        DOMAIN
        + header.kind.encode("ascii")
        + b"\x00"
        + header.recipient.encode("ascii")
        + b"\x00"
        + header.canonical()
    )


@dataclass(frozen=True)
class Seal:
    """The second line of a change-set: the header signature and the signer's certificate."""

    signature: bytes
    certificate_der: bytes = field(repr=False)

    @property
    def fingerprint(self) -> str:
        """The embedded certificate's fingerprint, under the hash of its key's suite."""
        try:
            return certificate_fingerprint(parse_certificate(self.certificate_der))
        except KeyMaterialError:
            return hashlib.sha256(self.certificate_der).hexdigest()

    def certificate(self) -> Certificate:
        """Parse the embedded certificate; raise KeyMaterialError if it is unreadable."""
        return parse_certificate(self.certificate_der)

    def to_dict(self) -> dict[str, str]:
        return {
            "sig": base64.b64encode(self.signature).decode("ascii"),
            "cert": base64.b64encode(self.certificate_der).decode("ascii"),
        }


class ChangeSetName(NamedTuple):
    """What a change-set's file name says."""

    origin: str
    recipient: str
    seq: int
    id: str


def parse_filename(name: str) -> ChangeSetName:
    """Split ``<origin>_<recipient>_<seq:010d>_<id>.fcs``; MalformedChangeSet otherwise."""
    match = _FILENAME.fullmatch(name)
    if match is None or int(match["seq"]) < 1:
        raise MalformedChangeSet(said("labelled", label=name, what=said("cs_not_a_name")))

    return ChangeSetName(match["origin"], match["recipient"], int(match["seq"]), match["id"])


def b64(value: object) -> bytes:
    if not isinstance(value, str):
        raise TypeError("not a string")
    decoded = base64.b64decode(value, validate=True)
    if base64.b64encode(decoded).decode("ascii") != value or not decoded:
        raise ValueError("not canonical base64")
    return decoded
