"""A node's keys and trust: its private key and certificate, the province's root CA and
revocation list.

The private key is made on the node and never leaves it (``keys new`` writes the key
and a signing request); the province signs the request (``pki sign``) and the node
installs the certificate beside the root certificate (``keys install``) and the
province's revocation list (``revocation install``). A certificate is renewed the same
way with a new key (``keys new --renew``): the node signs with its current key until
the new certificate is installed, and what it signed before stays valid (see
:mod:`sync.trust`). A province hosted on one machine (``network init``) gets its root CA
in ``DIR/ca`` and every node its key, certificate and revocation list in one go.

The province re-publishes the revocation list before it lapses (:func:`refresh_revocation`,
run by its agent when ``node.toml`` names the CA folder); :func:`trust_status` says what
``fiscalsync status`` shows of all this, with an alert for whatever needs the operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nodes.home import NodeHome
from nodes.labels import Said, named, said
from nodes.locks import ca_lock
from nodes.settings import LOCAL_TIME
from nodes.topology import NodeSpec, Topology
from sync import certificates, pki, revocation
from sync.backup import keys as backup_keys
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import CertificateRejected, FiscalsyncError, InputError, KeyMaterialError
from sync.files import write_atomic
from sync.revocation import CRL_FILE, Freshness, RevocationList
from sync.signing import DEFAULT_SUITE, suite_of_certificate
from sync.sshkeys import generate_ssh_key
from sync.trust import TrustStore

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = [
    "CA_FOLDER",
    "EXPIRY_WARNING",
    "SSH_KEY",
    "TrustStatus",
    "adopt_crl",
    "adopt_newer_crl",
    "RECOVERY_KIT",
    "create_recovery",
    "create_root",
    "install_recovery",
    "install_certificate",
    "install_crl",
    "installed_suite",
    "issue",
    "live_certificates",
    "new_key",
    "publish_revocation",
    "refresh_revocation",
    "requested_code",
    "revoke_node",
    "sign_request",
    "ssh_key",
    "trust_status",
    "trust_store",
]

CA_FOLDER = "ca"
SSH_KEY = "ssh_ed25519"
"""The node's SSH client key for reaching its parent's SFTP endpoint (OpenSSH format)."""
EXPIRY_WARNING = timedelta(days=30)
"""How long before its certificate expires ``status`` starts asking for a renewal."""
PUBLISH_BY_HAND = "fiscalsync revocation publish --ca DIR"


def new_key(
    home: NodeHome, code: str, *, renew: bool = False, suite: str | None = None
) -> tuple[Path, str]:
    """Make this node's signing key and request, and its SSH client key.

    With ``renew`` the new key waits beside the current one until its certificate is
    installed. ``suite`` is the network's signature suite (by default the one of the
    installed root, else ``ed25519``). Returns the request's path and the SSH public
    key line, which the parent's SFTP server must list in its ``authorized_keys``.
    """
    csr = pki.new_node_key(home.keys, code, renew=renew, suite=suite)
    ssh_public = ssh_key(home, code)
    return csr, ssh_public


def ssh_key(home: NodeHome, code: str) -> str:
    """The node's SSH public key line, making the key pair on first use."""
    private = home.keys / SSH_KEY
    public = home.keys / f"{SSH_KEY}.pub"
    if not private.exists():
        line = generate_ssh_key(private, f"fiscalsync-{code}")
        write_atomic(public, (line + "\n").encode("ascii"))
    return public.read_text(encoding="ascii").strip()


def install_certificate(
    home: NodeHome, cert_file: Path, ca_cert_file: Path, clock: Clock = SYSTEM_CLOCK
) -> tuple[pki.NodeIdentity, pki.NodeIdentity | None]:
    """Install the node's certificate with the root certificate, after checking both.

    Returns the installed certificate and, when it completed a renewal, the one it
    superseded (kept in ``keys/superseded/``).

    A renewal whose certificate begins after this node's ``clock`` reads (a clock that
    runs slow, the province having signed by its own) is refused and nothing changes:
    the node could sign nothing with it (:meth:`sync.pki.Signer.require_valid`), while
    the certificate it holds still signs. Set the clock right, then install it again.
    """
    before = _installed(home)
    pending = (home.keys / pki.NODE_KEY_PENDING).exists()
    if pending:
        begins = certificates.parse_certificate(
            _read(cert_file, "certificate")
        ).not_valid_before_utc
        now = clock.now()
        if now < begins:
            raise KeyMaterialError(
                said(
                    "renewed_not_begun",
                    begins=certificates.utc_text(begins),
                    now=certificates.utc_text(now),
                ),
                hint=said("renewed_not_begun_hint"),
            )
    identity = pki.install_certificate(
        home.keys, _read(cert_file, "certificate"), _read(ca_cert_file, "CA certificate")
    )
    renewed = pending and not (home.keys / pki.NODE_KEY_PENDING).exists()
    return identity, before if renewed and before != identity else None


def installed_suite(home: NodeHome) -> str | None:
    """The signature suite of the installed root certificate (the network's), or None
    while no root is installed."""
    found = _installed_certificate(home, pki.CA_CERT)
    return None if found is None else suite_of_certificate(found).name


def _installed(home: NodeHome) -> pki.NodeIdentity | None:
    found = _installed_certificate(home, pki.NODE_CERT)
    return None if found is None else pki.describe_certificate(found)


def _installed_certificate(home: NodeHome, name: str) -> certificates.Certificate | None:
    try:
        data = (home.keys / name).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyMaterialError(
            said("cannot_read", path=home.keys / name, error=exc.strerror)
        ) from exc
    return certificates.parse_certificate(data)


def trust_store(home: NodeHome, clock: Clock | None = None) -> TrustStore:
    """What this node trusts: the installed root certificate and revocation list.

    Without a revocation list this raises :class:`CertificateRejected` naming the
    missing file: a node that cannot check revocation takes nothing in.
    """
    trust = TrustStore.load(home.keys, clock=clock or SYSTEM_CLOCK)
    trust.require_crl()
    return trust


def issue(ca: pki.RootCA, spec: NodeSpec, home: NodeHome, clock: Clock | None = None) -> None:
    """Give a node hosted beside its CA a key, a certificate for its role, and the CRL.

    Used where the province hosts the nodes itself (``network init``); elsewhere the
    key is made on the node with ``keys new`` and only the request travels.
    """
    csr = pki.new_node_key(home.keys, spec.code, suite=ca.suite.name)
    cert = pki.sign_csr(ca, csr.read_bytes(), spec.role, clock=clock or SYSTEM_CLOCK)
    pki.install_certificate(home.keys, cert, ca.cert_pem)
    revocation.write_crl(home.keys / CRL_FILE, ca.crl())
    ssh_key(home, spec.code)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyMaterialError(
            said(
                "cannot_read_material", what=named("material", what), path=path, error=exc.strerror
            )
        ) from exc


def create_root(
    ca_dir: Path, province_code: str, passphrase: bytes | None, suite: str = DEFAULT_SUITE
) -> pki.RootCA:
    """``pki init-root``: the province's root CA of the network's signature ``suite``
    (``ed25519`` or ``sm2``), its key optionally passphrase-protected."""
    return pki.init_root(
        ca_dir, province_code, passphrase=passphrase, suite=suite, clock=SYSTEM_CLOCK
    )


def sign_request(
    csr_file: Path,
    ca_dir: Path,
    role: str,
    *,
    validity_days: int,
    passphrase: bytes | None,
    out: Path | None,
    topology: Topology,
) -> tuple[Path, pki.NodeIdentity]:
    """``pki sign``: issue a certificate for a node's signing request; return where it went.

    The node must be in ``topology`` with ``role``: a county is never certified a city."""
    request = _read(csr_file, "signing request")
    code = pki.requested_code(request)
    if code not in topology:
        raise InputError(
            said("csr_not_member", code=code, topology=topology.name),
            hint=said("csr_not_member_hint"),
        )
    expected = topology.node(code).role
    if role != expected:
        raise InputError(
            said(
                "csr_role_bad",
                code=code,
                name=topology.node(code).name,
                expected=named("role", expected),
                topology=topology.name,
                role=named("role", role),
            ),
            hint=said("csr_role_bad_hint", role=expected),
        )
    ca = pki.load_root(ca_dir, passphrase)
    cert_pem = pki.sign_csr(
        ca,
        request,
        role,
        validity_days=validity_days,
        clock=SYSTEM_CLOCK,
    )
    cert = certificates.parse_certificate(cert_pem)
    identity = pki.describe_certificate(cert)
    target = out or csr_file.with_name(f"{identity.code}.crt")
    write_atomic(target, cert_pem)
    return target, identity


def requested_code(csr_file: Path) -> str:
    """The node code the signing request in ``csr_file`` asks for (its subject CN)."""
    return pki.requested_code(_read(csr_file, "signing request"))


def live_certificates(ca_dir: Path, code: str) -> list[certificates.Certificate]:
    """The certificates the CA in ``ca_dir`` issued to ``code`` and has not revoked (no
    key is needed). Hold :func:`ca_lock` to act on the answer."""
    issued = pki.issued_in(ca_dir, code)
    if not issued:
        return []
    root = certificates.parse_certificate(_read(ca_dir / pki.CA_CERT, "root certificate"))
    crl = revocation.load_crl(_read(ca_dir / CRL_FILE, "revocation list"), root)
    return [cert for cert in issued if not crl.is_revoked(cert.serial_number)]


def revoke_node(
    ca_dir: Path, code: str, reason: str | None, passphrase: bytes | None
) -> RevocationList:
    """``pki revoke``: revoke every certificate of ``code``; return the new list."""
    ca = pki.load_root(ca_dir, passphrase)
    with ca_lock(ca_dir):
        return pki.revoke(ca, code, reason, clock=SYSTEM_CLOCK)


RECOVERY_KIT = "recovery-kit.pem"


def create_recovery(
    ca_dir: Path, kit: Path, passphrase: bytes | None, clock: Clock = SYSTEM_CLOCK
) -> Path:
    """``backup recovery-key new``: the province's recovery key. The kit (private key,
    certificate, root certificate; mode 0600) goes to ``kit``, to be kept offline; the
    certificate to ``ca_dir/recovery.crt``, for every node to install. Returns it."""
    if kit.exists():
        raise KeyMaterialError(said("kit_exists", path=kit), hint=said("kit_exists_hint"))
    ca = pki.load_root(ca_dir, passphrase)
    kit_pem, cert_pem = backup_keys.issue_recovery(ca.cert, ca.key, ca.province_code, clock.now())
    write_atomic(kit, kit_pem, 0o600, exclusive=True)
    target = ca_dir / backup_keys.RECOVERY_CERT
    write_atomic(target, cert_pem)
    return target


def install_recovery(home: NodeHome, cert_file: Path) -> Path:
    """``backup recovery-key install``: the province's recovery certificate, after checking
    it against this node's root certificate."""
    data = _read(cert_file, "recovery certificate")
    backup_keys.load_recovery_certificate(
        data, _read(home.keys / pki.CA_CERT, "CA certificate"), str(cert_file)
    )
    target = home.keys / backup_keys.RECOVERY_CERT
    write_atomic(target, data)
    return target


def adopt_crl(home: NodeHome, trust: TrustStore, crl: RevocationList) -> bool:
    """Make ``crl`` the node's revocation list, in memory and in ``keys/crl.pem``.

    Returns False when it is the list already held; an older list, or one that drops a
    revoked certificate, is refused (:class:`CertificateRejected`), since revocation
    never goes backwards. The file is written before the list is held in memory: a
    write that fails (a full disk) leaves the node holding the list it had, and the
    change-set that brought the new one is taken again later.
    """
    if trust.newer_crl(crl) is None:
        return False
    revocation.write_crl(home.keys / CRL_FILE, crl)
    trust.update_crl(crl)
    return True


def adopt_newer_crl(home: NodeHome, trust: TrustStore, pem: bytes) -> RevocationList | None:
    """Adopt the list ``pem`` if the root signed it and it is newer than the one held
    (a higher number); return it then, else None. Whoever handed it over, the root's
    signature is what makes it trusted; an older or equal list is left, since a list
    never goes back, and a newer one that drops a revoked certificate is refused
    (:class:`CertificateRejected`)."""
    crl = revocation.load_crl(pem, trust.root)
    held = trust.crl
    if held is not None and crl.number <= held.number:
        return None
    adopt_crl(home, trust, crl)
    return crl


def install_crl(home: NodeHome, crl_file: Path, clock: Clock = SYSTEM_CLOCK) -> RevocationList:
    """``revocation install``: adopt the province's list from a file, after checking it.

    It must be signed by the installed root CA and no older than the list held; a held
    list that can no longer be read (a damaged file) is replaced.
    """
    pem = _read(crl_file, "revocation list")
    crl = TrustStore.load(home.keys, pem, clock=clock).require_crl()  # checks the root
    try:
        trust = TrustStore.load(home.keys, clock=clock)
    except CertificateRejected:
        revocation.write_crl(home.keys / CRL_FILE, crl)
        return crl
    adopt_crl(home, trust, crl)
    return crl


def _reissued(node: Node, ca: pki.RootCA, clock: Clock) -> RevocationList:
    """The CA's current list issued again with a fresh validity, numbered above both the
    CA's list and the one the province holds; written to the CA folder."""
    trust = TrustStore.load(node.home.keys, clock=clock)
    held = trust.crl
    current = ca.crl()
    if held is not None and not held.serials <= current.serials:
        raise KeyMaterialError(
            said("crl_behind", folder=ca.ca_dir, number=held.number),
            hint=said("crl_behind_hint"),
        )
    validity = timedelta(days=node.settings.crl_validity_days)
    crl = revocation.renewed(
        current, ca.cert, ca.key, clock.now(), validity, above=held.number if held else 0
    )
    ca.publish_crl(crl)
    adopt_crl(node.home, trust, crl)
    return crl


def publish_revocation(
    node: Node, ca_dir: Path, passphrase: bytes | None, clock: Clock = SYSTEM_CLOCK
) -> tuple[int, int]:
    """Re-issue the CA's revocation list with a fresh validity and send it down the
    tree; return (its number, change-sets queued).

    The province adopts it itself first. Revoked nodes are left out: they could no
    longer sign a receipt for it.
    """
    if node.spec.role != "province":
        raise KeyMaterialError(said("crl_province_only", role=named("role", node.spec.role)))
    ca = pki.load_root(ca_dir, passphrase)
    with ca_lock(ca_dir):
        crl = _reissued(node, ca, clock)
        written = node.broadcast(
            "revocation",
            [{"op": "crl", "pem": crl.pem.decode("ascii")}],
            exclude=pki.revoked_codes(ca),
            clock=clock,
        )
    return crl.number, len(written)


def _half_spent(crl: RevocationList, now: datetime) -> bool:
    """True once half the list's validity is over (or it names no next update)."""
    due = crl.next_update
    if due is None:
        return True
    return now - crl.last_update >= (due - crl.last_update) / 2


def refresh_revocation(node: Node, clock: Clock = SYSTEM_CLOCK) -> tuple[int, int] | None:
    """The province agent's job: re-publish the revocation list once half its validity is
    over, or when the CA folder holds a newer list (``pki revoke`` not yet published).

    Does nothing (returns None) elsewhere than at the province, when ``node.toml``
    names no CA folder (``[revocation] ca``), or when nothing is due; else returns what
    :func:`publish_revocation` does.
    """
    settings = node.settings
    if node.spec.role != "province" or settings.revocation_ca is None:
        return None
    trust = TrustStore.load(node.home.keys, clock=clock)
    held = trust.crl
    in_ca = revocation.read_crl(settings.revocation_ca / CRL_FILE, trust.root)
    newer = in_ca is not None and (held is None or in_ca.number > held.number)
    if held is not None and not newer and not _half_spent(held, clock.now()):
        return None
    passphrase = None
    if settings.revocation_passphrase_file is not None:
        passphrase = _read(settings.revocation_passphrase_file, "CA passphrase file")
        passphrase = passphrase.rstrip(b"\r\n")
    return publish_revocation(node, settings.revocation_ca, passphrase, clock)


# --- what status shows ----------------------------------------------------------------


def _local(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TIME).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class TrustStatus:
    """This node's certificate and revocation list as ``status`` shows them.

    ``republished_by`` (at the province only): ``agent`` when ``node.toml`` names the CA
    folder, else ``hand``. ``alerts`` are what needs the operator, one line each.
    """

    certificate: pki.NodeIdentity | None
    renewal_pending: bool
    crl: RevocationList | None
    freshness: Freshness
    republished_by: str | None
    alerts: list[str | Said]

    def as_dict(self) -> dict[str, Any]:
        cert = self.certificate
        crl = self.crl

        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment is not None else None

        return {
            "certificate": None
            if cert is None
            else {
                "serial": f"{cert.serial:x}",
                "fingerprint": cert.fingerprint,
                "not_valid_before": iso(cert.not_valid_before),
                "not_valid_after": iso(cert.not_valid_after),
                "renewal_pending": self.renewal_pending,
            },
            "revocation": {
                "state": str(self.freshness),
                "number": crl.number if crl else None,
                "revoked": len(crl.serials) if crl else None,
                "last_update": iso(crl.last_update) if crl else None,
                "next_update": iso(crl.next_update) if crl else None,
                "republished_by": self.republished_by,
            },
            "alerts": [str(alert) for alert in self.alerts],
        }


def trust_status(node: Node, clock: Clock = SYSTEM_CLOCK) -> TrustStatus:
    """What ``status`` shows of this node's certificate and revocation list, with an
    alert for a missing or stale list, a list the province must re-publish by hand, a
    certificate that expires within :data:`EXPIRY_WARNING` (or has), and a pending
    renewal. Never raises for what it can report instead."""
    now = clock.now()
    alerts: list[str | Said] = []
    certificate = None
    try:
        certificate = _installed(node.home)
    except FiscalsyncError as exc:
        alerts.append(said("trust_unreadable", error=exc.message))
    if certificate is None and not alerts:
        alerts.append(said("trust_no_certificate"))
    elif certificate is not None:
        alerts.extend(_certificate_alerts(certificate, now))
    pending = (node.home.keys / pki.NODE_KEY_PENDING).exists()
    if pending:
        alerts.append(said("trust_renewal_pending"))
    crl = None
    enrolled = (node.home.keys / pki.CA_CERT).exists()
    try:
        crl = TrustStore.load(node.home.keys, clock=clock).crl if enrolled else None
    except FiscalsyncError as exc:
        alerts.append(said("trust_crl_unusable", error=exc.message))
        enrolled = False
    freshness = Freshness.MISSING if crl is None else crl.freshness(now)
    republished_by = None
    if node.spec.role == "province":
        republished_by = "agent" if node.settings.revocation_ca is not None else "hand"
    if enrolled:
        alerts.extend(_revocation_alerts(node, crl, freshness, republished_by, now))
    return TrustStatus(certificate, pending, crl, freshness, republished_by, alerts)


def _certificate_alerts(certificate: pki.NodeIdentity, now: datetime) -> list[str | Said]:
    ends = certificate.not_valid_after
    renew = said("trust_renew")
    if now > ends:
        return [said("trust_expired", date=_local(ends), renew=renew)]
    if ends - now <= EXPIRY_WARNING:
        return [said("trust_expires", date=_local(ends), renew=renew)]
    return []


def _revocation_alerts(
    node: Node,
    crl: RevocationList | None,
    freshness: Freshness,
    republished_by: str | None,
    now: datetime,
) -> list[str | Said]:
    if crl is None:
        return [said("trust_no_crl", path=node.home.keys / CRL_FILE)]
    who = (
        said("crl_by_hand", command=PUBLISH_BY_HAND)
        if republished_by == "hand"
        else said("crl_by_agent")
        if republished_by == "agent"
        else said("crl_by_province")
    )
    due = crl.next_update
    if freshness is Freshness.STALE:
        if due is None:
            return [said("crl_stale_undated", number=crl.number, who=who)]
        return [said("crl_stale", number=crl.number, date=_local(due), who=who)]
    if republished_by == "hand" and _half_spent(crl, now) and due is not None:
        return [said("crl_lapses", number=crl.number, date=_local(due), who=who)]
    return []
