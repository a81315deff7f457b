"""The province PKI: root CA, node keys and certificates, revocation, the trust check."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from sync.certificates import IDENTITY_OID, parse_certificate
from sync.clock import FixedClock
from sync.errors import CertificateRejected, InputError, KeyMaterialError
from sync.pki import (
    RootCA,
    describe_certificate,
    init_root,
    install_certificate,
    load_root,
    load_signer,
    new_node_key,
    revoke,
    sign_csr,
    write_atomic,
)
from sync.revocation import load_crl
from sync.trust import TrustStore

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def root(suite_name: str, tmp_path: Path, clock: FixedClock) -> RootCA:
    return init_root(tmp_path / "ca", "410000", clock=clock, suite=suite_name)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _enrol(root: RootCA, keys_dir: Path, code: str, role: str, clock: FixedClock) -> bytes:
    """Run the whole enrolment of one node; return its certificate PEM."""
    csr = new_node_key(keys_dir, code, suite=root.suite.name)
    cert_pem = sign_csr(root, csr.read_bytes(), role, clock=clock)
    install_certificate(keys_dir, cert_pem, root.cert_pem)
    return cert_pem


# --- root CA ------------------------------------------------------------------------------


def test_init_root_writes_a_ca(suite_name: str, tmp_path: Path, clock: FixedClock) -> None:
    ca_dir = tmp_path / "ca"
    root = init_root(ca_dir, "410000", clock=clock, suite=suite_name)

    assert _mode(ca_dir / "ca.key") == 0o600
    assert (ca_dir / "ca.key").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert (ca_dir / "issued").is_dir()
    cert = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    assert cert == root.cert
    assert cert.subject.rfc4514_string() == "O=fiscalsync,CN=fiscalsync root CA 410000"
    assert cert.issuer == cert.subject
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=3650)
    crl = root.crl()
    assert crl.number == 1
    assert crl.serials == frozenset()
    assert root.province_code == "410000"


def test_root_key_can_be_encrypted(suite_name: str, tmp_path: Path, clock: FixedClock) -> None:
    ca_dir = tmp_path / "ca"
    init_root(ca_dir, "410000", passphrase=b"correct horse", clock=clock, suite=suite_name)
    assert _mode(ca_dir / "ca.key") == 0o600
    assert b"ENCRYPTED" in (ca_dir / "ca.key").read_bytes().split(b"\n")[0]

    with pytest.raises(KeyMaterialError, match="is encrypted and no passphrase was given") as info:
        load_root(ca_dir)
    assert "passphrase" in info.value.hint
    with pytest.raises(KeyMaterialError, match="wrong passphrase"):
        load_root(ca_dir, b"wrong horse")
    assert load_root(ca_dir, b"correct horse").province_code == "410000"


def test_unencrypted_root_refuses_a_passphrase(tmp_path: Path, root: RootCA) -> None:
    with pytest.raises(KeyMaterialError, match="not encrypted but a passphrase was given"):
        load_root(root.ca_dir, b"secret")
    loaded = load_root(root.ca_dir)
    assert loaded.cert == root.cert


def test_init_root_refuses_an_existing_ca(suite_name: str, root: RootCA, clock: FixedClock) -> None:
    before = (root.ca_dir / "ca.key").read_bytes()
    with pytest.raises(KeyMaterialError, match="already holds a CA") as info:
        init_root(root.ca_dir, "410000", clock=clock, suite=suite_name)
    assert info.value.hint
    assert (root.ca_dir / "ca.key").read_bytes() == before


def test_load_root_of_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(KeyMaterialError, match="does not exist") as info:
        load_root(tmp_path)
    assert "init_root" in info.value.hint


# --- node certificates --------------------------------------------------------------------


def test_enrolment_round_trip(
    suite_name: str, tmp_path: Path, root: RootCA, clock: FixedClock
) -> None:
    keys = tmp_path / "keys"
    csr_path = new_node_key(keys, "410102", suite=suite_name)
    assert csr_path == keys / "node.csr"
    assert _mode(keys / "node.key") == 0o600
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    assert csr.subject.rfc4514_string() == "CN=410102"

    cert_pem = sign_csr(root, csr_path.read_bytes(), "county", clock=clock)
    cert = parse_certificate(cert_pem)
    assert cert.subject.rfc4514_string() == "O=fiscalsync,OU=county,CN=410102"
    assert cert.issuer == root.cert.subject
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    identity = cert.extensions.get_extension_for_oid(IDENTITY_OID)
    assert not identity.critical
    assert isinstance(identity.value, x509.UnrecognizedExtension)
    assert identity.value.value == b'{"code":"410102","role":"county"}'
    assert (root.ca_dir / "issued" / f"{cert.serial_number:x}.pem").read_bytes() == cert_pem

    assert describe_certificate(cert).code == "410102"
    installed = install_certificate(keys, cert_pem, root.cert_pem)
    assert (installed.code, installed.role, installed.serial) == (
        "410102",
        "county",
        cert.serial_number,
    )
    assert installed.not_valid_after - installed.not_valid_before == timedelta(days=825)
    assert (keys / "ca.crt").read_bytes() == root.cert_pem
    install_certificate(keys, cert_pem, root.cert_pem)  # idempotent

    signer = load_signer(keys)
    assert (signer.code, signer.role) == ("410102", "county")
    assert signer.fingerprint == installed.fingerprint
    info = TrustStore.load(keys, root.crl().pem, clock=clock).check_signer(signer.certificate)
    assert (info.code, info.role, info.serial) == ("410102", "county", cert.serial_number)


def test_node_key_is_never_overwritten(suite_name: str, tmp_path: Path) -> None:
    new_node_key(tmp_path, "410102", suite=suite_name)
    before = (tmp_path / "node.key").read_bytes()
    with pytest.raises(KeyMaterialError, match="refusing to replace this node's key"):
        new_node_key(tmp_path, "410102", suite=suite_name)
    assert (tmp_path / "node.key").read_bytes() == before


def test_bad_node_codes_and_roles_are_refused(
    suite_name: str, tmp_path: Path, root: RootCA, clock: FixedClock
) -> None:
    with pytest.raises(InputError, match="not a node code"):
        new_node_key(tmp_path, "4101_02", suite=suite_name)
    csr = new_node_key(tmp_path / "k", "410102", suite=suite_name).read_bytes()
    with pytest.raises(InputError, match="unknown role 'mayor'"):
        sign_csr(root, csr, "mayor", clock=clock)


def test_tampered_csr_is_refused(
    suite_name: str, tmp_path: Path, root: RootCA, clock: FixedClock
) -> None:
    csr = x509.load_pem_x509_csr(new_node_key(tmp_path, "410102", suite=suite_name).read_bytes())
    # The request of 410102 edited to ask for the city's code: its signature gives it away.
    der = csr.public_bytes(Encoding.DER).replace(b"410102", b"410100")
    forged = x509.load_der_x509_csr(der)
    with pytest.raises(KeyMaterialError, match="signature does not verify"):
        root.suite.request_public_key(forged)
    with pytest.raises(KeyMaterialError, match="signature does not verify"):
        sign_csr(root, forged.public_bytes(Encoding.PEM), "city", clock=clock)
    with pytest.raises(KeyMaterialError, match="not a PEM certificate signing request"):
        sign_csr(root, b"hello", "city", clock=clock)
    assert list((root.ca_dir / "issued").iterdir()) == []


def test_install_of_a_certificate_for_another_key_is_refused(
    suite_name: str, tmp_path: Path, root: RootCA, clock: FixedClock
) -> None:
    other_pem = _enrol(root, tmp_path / "other", "410103", "county", clock)
    new_node_key(tmp_path / "mine", "410102", suite=suite_name)
    with pytest.raises(KeyMaterialError, match="is for another key than") as info:
        install_certificate(tmp_path / "mine", other_pem, root.cert_pem)
    assert "node.csr" in info.value.hint
    assert not (tmp_path / "mine" / "node.crt").exists()


def test_install_of_a_certificate_from_another_ca_is_refused(
    suite_name: str, tmp_path: Path, root: RootCA, clock: FixedClock
) -> None:
    other_root = init_root(tmp_path / "other-ca", "410000", clock=clock, suite=suite_name)
    csr = new_node_key(tmp_path / "keys", "410102", suite=suite_name)
    cert_pem = sign_csr(other_root, csr.read_bytes(), "county", clock=clock)
    with pytest.raises(KeyMaterialError, match="not issued by the given root CA"):
        install_certificate(tmp_path / "keys", cert_pem, root.cert_pem)
    # Installing it with its own root works, but then a switch of root is refused.
    install_certificate(tmp_path / "keys", cert_pem, other_root.cert_pem)
    good_pem = sign_csr(root, csr.read_bytes(), "county", clock=clock)
    with pytest.raises(KeyMaterialError, match="already holds a different root CA"):
        install_certificate(tmp_path / "keys", good_pem, root.cert_pem)


def test_load_signer_needs_a_certificate(suite_name: str, tmp_path: Path) -> None:
    new_node_key(tmp_path, "410102", suite=suite_name)
    with pytest.raises(KeyMaterialError, match="node certificate .* does not exist") as info:
        load_signer(tmp_path)
    assert "install the certificate" in info.value.hint


# --- renewal ------------------------------------------------------------------------------


def test_renewal_signs_with_the_old_key_until_the_new_certificate_is_installed(
    suite_name: str, tmp_path: Path, root: RootCA, clock: FixedClock
) -> None:
    keys = tmp_path / "keys"
    old = parse_certificate(_enrol(root, keys, "410102", "county", clock))
    old_key = (keys / "node.key").read_bytes()
    with pytest.raises(KeyMaterialError, match="already exists") as info:
        new_node_key(keys, "410102", suite=suite_name)
    assert "keys new --renew" in info.value.hint

    csr = new_node_key(keys, "410102", renew=True)
    assert _mode(keys / "node.key.new") == 0o600
    assert (keys / "node.key").read_bytes() == old_key
    assert load_signer(keys).certificate == old  # the node goes on signing meanwhile
    with pytest.raises(KeyMaterialError, match="a renewal is already pending"):
        new_node_key(keys, "410102", renew=True)

    clock.advance(timedelta(days=800))
    new_pem = sign_csr(root, csr.read_bytes(), "county", clock=clock)
    install_certificate(keys, new_pem, root.cert_pem)
    signer = load_signer(keys)
    assert signer.certificate == parse_certificate(new_pem)
    assert (keys / "node.key").read_bytes() != old_key  # the old key is gone
    assert not (keys / "node.key.new").exists()
    assert (
        parse_certificate((keys / "superseded" / f"{old.serial_number:x}.crt").read_bytes()) == old
    )
    install_certificate(keys, new_pem, root.cert_pem)  # idempotent


def test_an_interrupted_renewal_is_completed_by_installing_again(
    tmp_path: Path, root: RootCA, clock: FixedClock
) -> None:
    keys = tmp_path / "keys"
    _enrol(root, keys, "410102", "county", clock)
    csr = new_node_key(keys, "410102", renew=True)
    new_pem = sign_csr(root, csr.read_bytes(), "county", clock=clock)
    (keys / "node.key.new").replace(keys / "node.key")  # a crash after the key moved
    with pytest.raises(KeyMaterialError, match="does not belong to") as info:
        load_signer(keys)
    assert "install the new one again" in info.value.hint
    install_certificate(keys, new_pem, root.cert_pem)
    assert load_signer(keys).certificate == parse_certificate(new_pem)


def test_renewal_needs_an_installed_certificate_of_the_same_node(
    tmp_path: Path, root: RootCA, clock: FixedClock
) -> None:
    with pytest.raises(KeyMaterialError, match="nothing to renew") as info:
        new_node_key(tmp_path / "empty", "410102", renew=True)
    assert "keys new" in info.value.hint
    keys = tmp_path / "keys"
    _enrol(root, keys, "410102", "county", clock)
    with pytest.raises(KeyMaterialError, match="is not a certificate of 410103"):
        new_node_key(keys, "410103", renew=True)
    # a certificate for another node's key is not taken for the pending one
    other = _enrol(root, tmp_path / "other", "410103", "county", clock)
    new_node_key(keys, "410102", renew=True)
    with pytest.raises(KeyMaterialError, match="for another key than .*node.key or node.key.new"):
        install_certificate(keys, other, root.cert_pem)


# --- revocation ---------------------------------------------------------------------------


def test_revoke_bumps_the_crl_number_and_keeps_entries(
    tmp_path: Path, root: RootCA, clock: FixedClock
) -> None:
    first = parse_certificate(_enrol(root, tmp_path / "a", "410102", "county", clock))
    renewed = parse_certificate(_enrol(root, tmp_path / "a2", "410102", "county", clock))
    other = parse_certificate(_enrol(root, tmp_path / "b", "410103", "county", clock))

    clock.advance(timedelta(days=1))
    crl2 = revoke(root, "410102", "keyCompromise", clock=clock)
    assert crl2.number == 2
    assert crl2.serials == {first.serial_number, renewed.serial_number}
    entry = crl2.x509.get_revoked_certificate_by_serial_number(first.serial_number)
    assert entry is not None
    assert entry.revocation_date_utc == clock.now()
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason == x509.ReasonFlags.key_compromise

    crl3 = revoke(root, "410103", None, clock=clock)
    assert crl3.number == 3
    assert crl3.is_revoked(first.serial_number) and crl3.is_revoked(other.serial_number)
    assert load_crl((root.ca_dir / "crl.pem").read_bytes(), root.cert).number == 3

    assert revoke(root, "410103", None, clock=clock).number == 3  # nothing new: unchanged


def test_revoke_of_an_unknown_code_or_reason(root: RootCA, clock: FixedClock) -> None:
    with pytest.raises(KeyMaterialError, match="no certificate was ever issued to 410199"):
        revoke(root, "410199", None, clock=clock)
    with pytest.raises(InputError, match="unknown revocation reason 'bored'"):
        revoke(root, "410199", "bored", clock=clock)


def test_crl_never_goes_backwards(tmp_path: Path, root: RootCA, clock: FixedClock) -> None:
    _enrol(root, tmp_path / "a", "410102", "county", clock)
    _enrol(root, tmp_path / "b", "410103", "county", clock)
    crl1 = root.crl()
    crl2 = revoke(root, "410102", None, clock=clock)
    crl3 = revoke(root, "410103", None, clock=clock)

    trust = TrustStore(root.cert, crl1, clock)
    assert trust.update_crl(crl3) is True
    assert trust.update_crl(crl3) is False  # the same list again: nothing to do
    with pytest.raises(CertificateRejected, match="number 2 is older than the one in use \\(3\\)"):
        trust.update_crl(crl2)
    assert trust.crl is not None and trust.crl.number == 3


def test_crl_signed_by_another_root_is_refused(
    suite_name: str, tmp_path: Path, root: RootCA, clock: FixedClock
) -> None:
    impostor = init_root(tmp_path / "impostor", "410000", clock=clock, suite=suite_name)
    with pytest.raises(CertificateRejected, match="not signed by this province's root CA"):
        load_crl(impostor.crl().pem, root.cert)
    trust = TrustStore(root.cert, root.crl(), clock)
    with pytest.raises(CertificateRejected, match="not signed by this province's root CA"):
        trust.update_crl(impostor.crl())
    with pytest.raises(CertificateRejected, match="not a readable PEM revocation list"):
        load_crl(b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", root.cert)


# --- the trust check ----------------------------------------------------------------------


def test_trust_refuses_a_ca_certificate_as_signer(root: RootCA, clock: FixedClock) -> None:
    trust = TrustStore(root.cert, root.crl(), clock)
    with pytest.raises(CertificateRejected, match="is a CA certificate"):
        trust.check_signer(root.cert)


def test_trust_allows_clock_skew(tmp_path: Path, root: RootCA, clock: FixedClock) -> None:
    cert = parse_certificate(_enrol(root, tmp_path / "k", "410102", "county", clock))
    early = TrustStore(root.cert, root.crl(), FixedClock(T0 - timedelta(minutes=4)))
    assert early.check_signer(cert).code == "410102"
    too_early = TrustStore(root.cert, root.crl(), FixedClock(T0 - timedelta(minutes=6)))
    with pytest.raises(CertificateRejected, match="not valid before 2026-03-01T08:00:00Z"):
        too_early.check_signer(cert)


def test_trust_refuses_a_binding_that_disagrees_with_the_subject(
    root: RootCA, clock: FixedClock
) -> None:
    # A mis-issued certificate: subject says 410102, the identity extension says 410100.
    suite = root.suite
    public = suite.public_key_of(suite.generate_private_key())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "410102"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "county"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fiscalsync"),
        ]
    )
    binding = json.dumps({"code": "410100", "role": "county"}, separators=(",", ":"))
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(root.cert.subject)
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0)
        .not_valid_after(T0 + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.UnrecognizedExtension(IDENTITY_OID, binding.encode()), critical=False)
    )
    cert = suite.sign_certificate(builder, root.key, public)
    with pytest.raises(CertificateRejected, match="does not match its subject"):
        TrustStore(root.cert, root.crl(), clock).check_signer(cert)


# --- files --------------------------------------------------------------------------------


def test_write_atomic(tmp_path: Path) -> None:
    target = tmp_path / "file"
    write_atomic(target, b"one", 0o600)
    assert target.read_bytes() == b"one" and _mode(target) == 0o600
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two" and _mode(target) == 0o644
    with pytest.raises(FileExistsError):
        write_atomic(target, b"three", exclusive=True)
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # no temporary left
