"""Certificate revocation lists: what the province's root CA has revoked, and until when.

A list (CRL, RFC 5280) is signed by the root CA. It carries a CRL number that only ever
grows, an entry for every certificate ever revoked (entries are never dropped, so a
key that leaks long after its certificate expired can still be refused), the time it
was issued (``last_update``) and the time by which a newer list is due
(``next_update``): :data:`DEFAULT_VALIDITY`, a week, after issue. Before a list lapses
the province issues the same entries again under the next number with fresh times
(:func:`renewed`) and sends it down the tree: its agent does so at half-life when its
``node.toml`` names the CA folder, otherwise the operator runs
``fiscalsync revocation publish --ca DIR`` (and ``fiscalsync status`` says when).

**Freshness policy.** A node's list (``keys/crl.pem``) is in one of three states:

- *missing*: nothing verifies. :class:`~sync.trust.TrustStore` refuses every signer with
  :class:`CertificateRejected` naming the missing file: a node that cannot tell a
  revoked certificate from a good one must not act as if it could.
- *stale* (past ``next_update``): an alert in ``fiscalsync status``, and verification
  goes on with the list held. Refusing instead would turn a province that is offline
  for a week (or whose agent stopped) into a halt of every county's sync, appropriations
  and receipts included: a province-wide outage to guard against a revocation that the
  province, being offline, could not have published anyway. The stale list still
  refuses every certificate revoked up to its issue, and the next list the province
  publishes reaches every node with the next sync, whatever the state of the old one.
- *fresh*: nothing to say.

Foreign errors (``cryptography``'s ``ValueError``, ``OSError``) are translated into
:class:`CertificateRejected` (a list that must not be trusted) or
:class:`KeyMaterialError` (a list file or CA that cannot be used).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sync.errors import CertificateRejected, InputError, KeyMaterialError
from sync.files import write_atomic
from sync.said import said
from sync.signing import SignatureSuite, suite_of_certificate

__all__ = [
    "CRL_FILE",
    "DEFAULT_VALIDITY",
    "Freshness",
    "RevocationList",
    "checked_crl",
    "issue_crl",
    "load_crl",
    "read_crl",
    "reason_flag",
    "renewed",
    "revocation_entry",
    "write_crl",
]

CRL_FILE = "crl.pem"
DEFAULT_VALIDITY = timedelta(days=7)
"""How long a list is relied on before a newer one is due (its ``next_update``)."""
_SHORTEST = timedelta(hours=1)
_LONGEST = timedelta(days=366)


class Freshness(StrEnum):
    """The state of a node's revocation list; see the module docstring for the policy."""

    FRESH = "fresh"
    STALE = "stale"
    MISSING = "missing"


class RevocationList:
    """A revocation list whose root signature was checked; made by :func:`load_crl`."""

    def __init__(self, crl: x509.CertificateRevocationList) -> None:
        try:
            number_ext = crl.extensions.get_extension_for_class(x509.CRLNumber)
        except x509.ExtensionNotFound:
            raise CertificateRejected(said("crl_no_number")) from None
        except ValueError as exc:  # duplicate or unreadable extensions
            raise CertificateRejected(said("crl_extensions", error=str(exc))) from exc
        self._crl = crl
        self._number = number_ext.value.crl_number
        self._serials = frozenset(entry.serial_number for entry in crl)

    @property
    def number(self) -> int:
        """The CRL number: every newer list has a higher one."""
        return self._number

    @property
    def last_update(self) -> datetime:
        """When the list was issued (UTC)."""
        return self._crl.last_update_utc

    @property
    def next_update(self) -> datetime | None:
        """When a newer list is due (UTC); None if the list does not say (then it is stale)."""
        return self._crl.next_update_utc

    @property
    def serials(self) -> frozenset[int]:
        """Serial numbers of every revoked certificate."""
        return self._serials

    @property
    def entries(self) -> list[x509.RevokedCertificate]:
        """Every entry, with its revocation date and reason, as the list holds it."""
        return list(self._crl)

    @property
    def pem(self) -> bytes:
        return self._crl.public_bytes(serialization.Encoding.PEM)

    @property
    def x509(self) -> x509.CertificateRevocationList:
        return self._crl

    def is_revoked(self, serial: int) -> bool:
        return serial in self._serials

    def freshness(self, now: datetime) -> Freshness:
        """``stale`` once ``now`` is past ``next_update`` (or the list names none)."""
        due = self.next_update
        return Freshness.STALE if due is None or now > due else Freshness.FRESH

    def __repr__(self) -> str:
        return f"RevocationList(number={self._number}, revoked={len(self._serials)})"


def _root_key(root: x509.Certificate) -> tuple[SignatureSuite, Any]:
    try:
        suite = suite_of_certificate(root)
        return suite, suite.certificate_public_key(root)
    except KeyMaterialError as exc:
        raise KeyMaterialError(
            said("labelled", label=said("root_ca_cert"), what=exc.message)
        ) from exc


_CHECKED: dict[tuple[bytes, bytes, x509.Certificate], RevocationList] = {}
_CHECKED_KEPT = 64
"""Lists checked, by their signed bytes, signature and root: every node of a province
hosted in one folder holds the same list, and ``network sync`` opens each at every sync."""


def checked_crl(crl: x509.CertificateRevocationList, root: x509.Certificate) -> RevocationList:
    """Return ``crl`` as a :class:`RevocationList` if ``root`` signed it; else CertificateRejected.

    A list of the same bytes found signed by the same root before is not checked again
    (only one that passed is kept).
    """
    signed = (crl.tbs_certlist_bytes, crl.signature, root)
    kept = _CHECKED.get(signed)
    if kept is not None:
        return kept
    suite, key = _root_key(root)
    if crl.issuer != root.subject or not suite.signs(key, crl.signature, crl.tbs_certlist_bytes):
        raise CertificateRejected(said("crl_not_by_root"), hint=said("crl_not_by_root_hint"))
    checked = RevocationList(crl)
    if len(_CHECKED) >= _CHECKED_KEPT:
        _CHECKED.clear()
    _CHECKED[signed] = checked
    return checked


def load_crl(pem: bytes, root: x509.Certificate) -> RevocationList:
    """Parse a PEM list and check that ``root`` signed it; else CertificateRejected."""
    try:
        crl = x509.load_pem_x509_crl(pem)
    except ValueError as exc:
        raise CertificateRejected(said("crl_unreadable", error=str(exc))) from exc
    return checked_crl(crl, root)


def read_crl(path: Path, root: x509.Certificate) -> RevocationList | None:
    """The list in ``path`` checked against ``root``; None when there is no such file."""
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyMaterialError(
            said("path_unreadable", path=path, error=exc.strerror or exc)
        ) from exc
    try:
        return load_crl(pem, root)
    except CertificateRejected as exc:
        hint = exc.hint or said("crl_install_again_hint")
        raise CertificateRejected(
            said("labelled", label=path, what=exc.message), hint=hint
        ) from exc


def write_crl(path: Path, crl: RevocationList) -> None:
    """Write ``crl`` to ``path`` atomically and durably."""
    try:
        write_atomic(path, crl.pem, 0o644)
    except OSError as exc:
        raise KeyMaterialError(
            said("key_file_unwritable", path=path, error=exc.strerror or exc)
        ) from exc


_REASONS = {flag.value: flag for flag in x509.ReasonFlags} | {
    flag.name: flag for flag in x509.ReasonFlags
}


def reason_flag(reason: str | None) -> x509.ReasonFlags | None:
    """The RFC 5280 reason named ``keyCompromise`` or ``key_compromise``; None for None."""
    if reason is None:
        return None
    flag = _REASONS.get(reason)
    if flag is None:
        raise InputError(
            said(
                "crl_unknown_reason",
                reason=repr(reason),
                reasons=", ".join(f.value for f in x509.ReasonFlags),
            )
        )
    return flag


def revocation_entry(
    serial: int, now: datetime, reason: x509.ReasonFlags | None
) -> x509.RevokedCertificate:
    """An entry revoking ``serial`` at ``now``, for ``reason`` (see :func:`reason_flag`)."""
    entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now)
    if reason is not None:
        entry = entry.add_extension(x509.CRLReason(reason), critical=False)
    return entry.build()


def _check_validity(validity: timedelta) -> None:
    if not _SHORTEST <= validity <= _LONGEST:
        raise InputError(said("crl_validity", validity=validity), hint=said("crl_validity_hint"))


def issue_crl(
    issuer: x509.Certificate,
    key: Any,
    number: int,
    entries: Iterable[x509.RevokedCertificate],
    now: datetime,
    validity: timedelta = DEFAULT_VALIDITY,
) -> RevocationList:
    """Sign a list of ``entries`` under ``number``, issued ``now``, due again after ``validity``."""
    _check_validity(validity)
    suite = suite_of_certificate(issuer)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(now)
        .next_update(now + validity)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier(suite.key_identifier(suite.public_key_of(key)), None, None),
            critical=False,
        )
    )
    for entry in entries:
        builder = builder.add_revoked_certificate(entry)
    return RevocationList(suite.sign_revocation_list(builder, key))


def renewed(
    current: RevocationList,
    issuer: x509.Certificate,
    key: Any,
    now: datetime,
    validity: timedelta = DEFAULT_VALIDITY,
    *,
    above: int = 0,
) -> RevocationList:
    """The same entries as ``current``, issued again ``now`` for ``validity``.

    A re-issued list is a new list: it takes a number higher than ``current``'s and than
    ``above`` (the number of a list already published from elsewhere, e.g. the one a
    node holds), because nodes refuse a different list under a number they already hold.
    """
    return issue_crl(issuer, key, max(current.number, above) + 1, current.entries, now, validity)
