"""What a node trusts, and the check every change-set's signer goes through.

A node trusts its province's root certificate (``keys/ca.crt``) and holds the latest
revocation list the province published (``keys/crl.pem``, see :mod:`sync.revocation`).
:meth:`TrustStore.check_signer` decides whether a certificate may have signed a
change-set: chained to the root, a node certificate, not revoked, and valid *at the
change-set's signing time* (its header's ``created``), allowing a few minutes of clock
difference:

- a change-set signed before its certificate's ``notBefore`` is refused: a node with a
  slow clock cannot date its work before it was allowed to sign;
- one signed after ``notAfter`` is refused: an expired certificate signs nothing new;
- one signed within the validity of a certificate that has since expired, or was
  superseded by a renewal (``keys new --renew``), is accepted: a change-set still in
  flight when its signer renewed keeps its id, its place in its channel's ``prev``
  chain and its receipt, and nothing has to be re-signed (see :mod:`sync.pki`).

A revoked certificate verifies nothing, whenever it signed; without a revocation list
nothing verifies at all, and a stale list is used but reported. One exception: history
that a trusted peer vouches for (the files a restored node's peer returns inside its
signed rejoin answer, which that peer took when they verified) is checked under
:meth:`TrustStore.vouched`, for everything but revocation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509

from sync.certificates import (
    certificate_fingerprint,
    certificate_identity,
    check_root,
    is_ca_certificate,
    parse_certificate,
    signed_by,
    subject_code,
    suite_public,
    utc_text,
)
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import CertificateNotYetBegun, CertificateRejected, KeyMaterialError
from sync.pki import CA_CERT
from sync.revocation import (
    CRL_FILE,
    RevocationList,
    checked_crl,
    load_crl,
    read_crl,
)
from sync.said import said
from sync.signing import SignatureSuite

__all__ = ["DEFAULT_SKEW", "LONGEST_WAIT", "SignerInfo", "TrustStore"]


def _read_root(path: Path) -> x509.Certificate:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyMaterialError(
            said("ca_cert_missing", path=path), hint=said("ca_cert_missing_hint")
        ) from exc
    except OSError as exc:
        raise KeyMaterialError(said("ca_cert_unreadable", path=path, error=exc.strerror)) from exc
    return parse_certificate(data)


LONGEST_WAIT = timedelta(days=7)
"""How far this node's clock may run behind a certificate's start for a change-set signed
within it to wait (:class:`CertificateNotYetBegun`) rather than be quarantined, where an
operator sees it: a day slow is a clock to wait for, a week is one to set right."""


@dataclass(frozen=True)
class SignerInfo:
    """Who signed a change-set, as established by :meth:`TrustStore.check_signer`."""

    code: str
    role: str
    serial: int
    fingerprint: str


_KNOWN_CRITICAL = {x509.BasicConstraints.oid, x509.KeyUsage.oid}
DEFAULT_SKEW = timedelta(minutes=5)
"""Clock difference between two nodes that validity checks tolerate."""


def _before(moment: datetime, limit: datetime, skew: timedelta) -> bool:
    """``moment`` is more than ``skew`` before ``limit`` (no arithmetic on ``moment``)."""
    return moment < limit and limit - moment > skew


def _after(moment: datetime, limit: datetime, skew: timedelta) -> bool:
    """``moment`` is more than ``skew`` after ``limit`` (no arithmetic on ``moment``)."""
    return moment > limit and moment - limit > skew


class TrustStore:
    """What a node trusts: its province's root certificate and latest revocation list.

    :meth:`check_signer` decides whether a certificate may have signed a change-set.
    Without a revocation list nothing is trusted (:meth:`require_crl`); a stale list is
    still used (see :mod:`sync.revocation` for why).
    """

    def __init__(
        self,
        root_cert: x509.Certificate,
        crl: RevocationList | None,
        clock: Clock,
        skew: timedelta = DEFAULT_SKEW,
        *,
        crl_file: Path | None = None,
        revocation: bool = True,
    ) -> None:
        """``revocation=False`` checks no revocation list (``restore`` on a fresh machine,
        which has none yet: the restored node checks every signer again as it goes on)."""
        self._revocation = revocation
        self._vouched = False
        self._root = root_cert
        self._suite, self._root_public = check_root(root_cert)
        self._clock = clock
        self._skew = skew
        self._crl_file = crl_file
        self._crl: RevocationList | None = None
        # What a certificate's bytes settle once and for all, kept for those that passed:
        # the root signed it and its extensions are a node's; who it binds.
        self._root_signed: set[x509.Certificate] = set()
        self._identified: dict[x509.Certificate, SignerInfo] = {}
        if crl is not None:
            self._crl = checked_crl(crl.x509, root_cert)

    @classmethod
    def load(
        cls,
        keys_dir: Path,
        crl_pem: bytes | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        skew: timedelta = DEFAULT_SKEW,
    ) -> TrustStore:
        """Trust the ``ca.crt`` in ``keys_dir`` and ``crl_pem`` (else ``keys_dir/crl.pem``).

        A missing ``crl.pem`` is not an error here: the store then refuses every signer,
        naming the file, so that the node can still say what is wrong with it.
        """
        root = _read_root(keys_dir / CA_CERT)
        crl_file = keys_dir / CRL_FILE
        crl = read_crl(crl_file, root) if crl_pem is None else load_crl(crl_pem, root)
        return cls(root, crl, clock, skew, crl_file=crl_file)

    def vouched(self) -> TrustStore:
        """This store, for files a trusted signer vouches for: every check but revocation.

        A restored node's peer returns, inside an answer it signed (checked in full, under
        the newest list), the files it took from the node and sent to it: each verified
        when it was taken, and a fact of the network since (money moved on it). One whose
        signer was revoked after that (the usual reason to restore is a stolen server)
        is still what happened; refusing it would leave the channel forked for good.
        """
        twin = TrustStore(self._root, self._crl, self._clock, self._skew, crl_file=self._crl_file)
        twin._revocation = self._revocation
        twin._vouched = True
        return twin

    def revoked(self, serial: int) -> bool:
        """Whether the list held revokes the certificate ``serial`` (False without one)."""
        return self._crl is not None and self._crl.is_revoked(serial)

    @property
    def root(self) -> x509.Certificate:
        return self._root

    @property
    def suite(self) -> SignatureSuite:
        """The network's signature suite, which the root's key names."""
        return self._suite

    @property
    def crl(self) -> RevocationList | None:
        return self._crl

    def require_crl(self) -> RevocationList:
        """The revocation list; without one, :class:`CertificateRejected` naming the file."""
        if self._crl is not None:
            return self._crl
        where = (
            said("crl_file_missing", file=self._crl_file)
            if self._crl_file
            else said("crl_none_given")
        )
        raise CertificateRejected(said("crl_missing", where=where), hint=said("crl_missing_hint"))

    def update_crl(self, crl: RevocationList) -> bool:
        """Adopt a newer revocation list; return False if it is the one already held.

        A list of a lower number, a different list under the same number, or one that
        drops a certificate the held list revokes, is refused with
        :class:`CertificateRejected`: revocation never goes backwards.
        """
        checked = self.newer_crl(crl)
        if checked is None:
            return False
        self._crl = checked
        return True

    def newer_crl(self, crl: RevocationList) -> RevocationList | None:
        """``crl`` checked as :meth:`update_crl` checks it, not adopted: None when it is
        the list already held. Whoever keeps the list on disk writes it first, and
        adopts it once written: a list held in memory and not on disk would be lost
        with the process, and never written again (it is the one held)."""
        checked = checked_crl(crl.x509, self._root)
        current = self._crl
        if current is not None:
            if checked.number < current.number:
                raise CertificateRejected(
                    said("crl_older", number=checked.number, current=current.number)
                )
            if checked.number == current.number:
                if checked.pem == current.pem:
                    return None
                raise CertificateRejected(said("crl_same_number", number=checked.number))
            dropped = current.serials - checked.serials
            if dropped:
                raise CertificateRejected(
                    said(
                        "crl_unrevokes",
                        number=checked.number,
                        count=len(dropped),
                        current=current.number,
                    ),
                    hint=said("crl_unrevokes_hint"),
                )
        return checked

    def check_signer(self, cert: x509.Certificate, signed_at: datetime | None = None) -> SignerInfo:
        """Return who ``cert`` identifies if it may have signed at ``signed_at``, else
        raise :class:`CertificateRejected`.

        Checks, each with its own message: a revocation list is held; issued and signed
        by the root; not a CA; no unknown critical extension; the root valid now; the
        certificate begun by now and, with ``signed_at`` (a change-set's ``created``),
        valid at that time, else valid now, allowing ``skew`` either way; not revoked;
        a code/role binding that agrees with the subject. A certificate that expired (or
        was superseded by a renewal) after signing is accepted: see the module docstring.
        """
        crl = self.require_crl() if self._revocation else self._crl
        who = said("cert_of", code=subject_code(cert))
        if cert.issuer != self._root.subject:
            raise CertificateRejected(said("cert_not_issued_by_root", who=who))
        if cert not in self._root_signed:
            self._check_shape(who, cert)
            self._root_signed.add(cert)
        self._check_validity(who, cert, signed_at)
        if crl is not None and not self._vouched and crl.is_revoked(cert.serial_number):
            raise CertificateRejected(
                said("cert_revoked", who=who, serial=f"{cert.serial_number:x}", number=crl.number)
            )
        known = self._identified.get(cert)
        if known is None:
            known = self._identified[cert] = self._identify(who, cert)
        return known

    def _check_shape(self, who: str, cert: x509.Certificate) -> None:
        """Signed by the root, and a node's certificate by its extensions."""
        if not signed_by(cert, self._suite, self._root_public):
            raise CertificateRejected(said("cert_not_signed_by_root", who=who))
        try:
            extensions = cert.extensions
        except ValueError as exc:
            raise CertificateRejected(
                said("cert_extensions_unreadable", who=who, error=str(exc))
            ) from exc
        if is_ca_certificate(cert):
            raise CertificateRejected(said("cert_is_ca", who=who))
        try:
            usage = extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            usage = None
        if usage is not None and not usage.digital_signature:
            raise CertificateRejected(said("cert_may_not_sign", who=who))
        for ext in extensions:
            if ext.critical and ext.oid not in _KNOWN_CRITICAL:
                raise CertificateRejected(
                    said("cert_unknown_critical", who=who, oid=ext.oid.dotted_string)
                )

    def _identify(self, who: str, cert: x509.Certificate) -> SignerInfo:
        """Who the certificate binds, in this network's suite."""
        code, role = certificate_identity(cert, CertificateRejected)
        suite, _public = suite_public(cert, CertificateRejected)
        if suite is not self._suite:
            raise CertificateRejected(
                said("cert_other_suite", who=who, suite=suite.name, network=self._suite.name)
            )
        return SignerInfo(
            code=code,
            role=role,
            serial=cert.serial_number,
            fingerprint=certificate_fingerprint(cert),
        )

    def _check_validity(self, who: str, cert: x509.Certificate, signed_at: datetime | None) -> None:
        now = self._clock.now()
        skew = self._skew
        root = self._root
        if _before(now, root.not_valid_before_utc, skew):
            raise CertificateRejected(
                said("root_not_yet_valid", begins=utc_text(root.not_valid_before_utc))
            )
        if _after(now, root.not_valid_after_utc, skew):
            raise CertificateRejected(said("root_expired", ends=utc_text(root.not_valid_after_utc)))
        begins, ends = cert.not_valid_before_utc, cert.not_valid_after_utc
        if _before(now, begins, skew):
            if (
                signed_at is not None
                and not _before(signed_at, begins, skew)
                and begins - now <= LONGEST_WAIT
            ):
                raise CertificateNotYetBegun(  # this node's clock is behind the signer's
                    said(
                        "cert_waits_for_clock", who=who, begins=utc_text(begins), now=utc_text(now)
                    ),
                    hint=said("check_clock_hint"),
                )
            raise CertificateRejected(
                said("cert_not_yet_valid", who=who, begins=utc_text(begins), now=utc_text(now)),
                hint=said("cert_not_yet_valid_hint"),
            )
        if signed_at is None:
            if _after(now, ends, skew):
                raise CertificateRejected(said("cert_expired", who=who, ends=utc_text(ends)))
            return
        if _before(signed_at, begins, skew):
            raise CertificateRejected(
                said(
                    "cert_signed_before",
                    who=who,
                    begins=utc_text(begins),
                    signed=utc_text(signed_at),
                )
            )
        if _after(signed_at, ends, skew):
            raise CertificateRejected(
                said("cert_signed_after", who=who, ends=utc_text(ends), signed=utc_text(signed_at)),
                hint=said("cert_signed_after_hint"),
            )
