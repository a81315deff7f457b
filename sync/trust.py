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
from sync.signing import SignatureSuite

__all__ = ["DEFAULT_SKEW", "LONGEST_WAIT", "SignerInfo", "TrustStore"]


def _read_root(path: Path) -> x509.Certificate:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyMaterialError(
            f"CA certificate {path} does not exist", hint="install the node's certificate first"
        ) from exc
    except OSError as exc:
        raise KeyMaterialError(f"cannot read CA certificate {path}: {exc.strerror}") from exc
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
        where = f"{self._crl_file} is missing" if self._crl_file else "none was given"
        raise CertificateRejected(
            f"no revocation list ({where}): no signer can be checked, so nothing is accepted",
            hint="install the province's crl.pem (from its CA folder): "
            "fiscalsync revocation install crl.pem",
        )

    def update_crl(self, crl: RevocationList) -> bool:
        """Adopt a newer revocation list; return False if it is the one already held.

        A list of a lower number, a different list under the same number, or one that
        drops a certificate the held list revokes, is refused with
        :class:`CertificateRejected`: revocation never goes backwards.
        """
        checked = checked_crl(crl.x509, self._root)
        current = self._crl
        if current is not None:
            if checked.number < current.number:
                raise CertificateRejected(
                    f"revocation list number {checked.number} is older than the one in use "
                    f"({current.number}); revocation never goes backwards"
                )
            if checked.number == current.number:
                if checked.pem == current.pem:
                    return False
                raise CertificateRejected(
                    f"a different revocation list with the same number {checked.number} "
                    "as the one in use; refusing it"
                )
            dropped = current.serials - checked.serials
            if dropped:
                raise CertificateRejected(
                    f"revocation list number {checked.number} no longer revokes "
                    f"{len(dropped)} certificate(s) that list {current.number} revokes; "
                    "revocation never goes backwards",
                    hint="the CA folder it came from may have been restored from an old copy",
                )
        self._crl = checked
        return True

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
        who = f"certificate of {subject_code(cert)}"
        if cert.issuer != self._root.subject:
            raise CertificateRejected(f"{who} is not issued by this province's root CA")
        if cert not in self._root_signed:
            self._check_shape(who, cert)
            self._root_signed.add(cert)
        self._check_validity(who, cert, signed_at)
        if crl is not None and not self._vouched and crl.is_revoked(cert.serial_number):
            raise CertificateRejected(
                f"{who} is revoked (serial {cert.serial_number:x}, revocation list {crl.number})"
            )
        known = self._identified.get(cert)
        if known is None:
            known = self._identified[cert] = self._identify(who, cert)
        return known

    def _check_shape(self, who: str, cert: x509.Certificate) -> None:
        """Signed by the root, and a node's certificate by its extensions."""
        if not signed_by(cert, self._suite, self._root_public):
            raise CertificateRejected(
                f"{who} is not signed by this province's root CA (signature does not verify)"
            )
        try:
            extensions = cert.extensions
        except ValueError as exc:
            raise CertificateRejected(f"{who} has unreadable extensions ({exc})") from exc
        if is_ca_certificate(cert):
            raise CertificateRejected(f"{who} is a CA certificate, not a node certificate")
        try:
            usage = extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            usage = None
        if usage is not None and not usage.digital_signature:
            raise CertificateRejected(f"{who} is not allowed to sign (key usage)")
        for ext in extensions:
            if ext.critical and ext.oid not in _KNOWN_CRITICAL:
                raise CertificateRejected(
                    f"{who} carries an unknown critical extension {ext.oid.dotted_string}"
                )

    def _identify(self, who: str, cert: x509.Certificate) -> SignerInfo:
        """Who the certificate binds, in this network's suite."""
        code, role = certificate_identity(cert, CertificateRejected)
        suite, _public = suite_public(cert, CertificateRejected)
        if suite is not self._suite:
            raise CertificateRejected(
                f"{who} holds an {suite.name} key; this network signs with {self._suite.name}"
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
                f"the root CA certificate is not valid before {utc_text(root.not_valid_before_utc)}"
            )
        if _after(now, root.not_valid_after_utc, skew):
            raise CertificateRejected(
                f"the root CA certificate expired on {utc_text(root.not_valid_after_utc)}"
            )
        begins, ends = cert.not_valid_before_utc, cert.not_valid_after_utc
        if _before(now, begins, skew):
            if (
                signed_at is not None
                and not _before(signed_at, begins, skew)
                and begins - now <= LONGEST_WAIT
            ):
                raise CertificateNotYetBegun(  # this node's clock is behind the signer's
                    f"{who} is not valid before {utc_text(begins)} and this node's clock says "
                    f"{utc_text(now)}: the change-set waits until the clock has caught up",
                    hint="check this node's clock",
                )
            raise CertificateRejected(
                f"{who} is not valid before {utc_text(begins)}, and this node's clock says "
                f"{utc_text(now)}",
                hint="check this node's clock; once it is right, release the file from quarantine",
            )
        if signed_at is None:
            if _after(now, ends, skew):
                raise CertificateRejected(f"{who} expired on {utc_text(ends)}")
            return
        if _before(signed_at, begins, skew):
            raise CertificateRejected(
                f"{who} is not valid before {utc_text(begins)}, yet the change-set says it "
                f"was signed at {utc_text(signed_at)} (is the signer's clock slow?)"
            )
        if _after(signed_at, ends, skew):
            raise CertificateRejected(
                f"{who} expired on {utc_text(ends)}, before the change-set was signed at "
                f"{utc_text(signed_at)}",
                hint="the signer must renew its certificate (keys new --renew, pki sign, "
                "keys install)",
            )
