"""The national commercial cryptography suite: SM2, SM3 and SM4 against their standards'
worked examples, and the SM2 suite's keys, certificates, requests and revocation lists."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import NameOID

from sync import der, sm2
from sync.changeset import iter_operations, read_header, verify
from sync.clock import FixedClock
from sync.errors import KeyMaterialError, SignatureInvalid
from sync.national import SM2Suite, SM3Hash, sm3
from sync.signing import Ed25519Suite, get_suite, suite_of_certificate
from sync.trust import TrustStore

# GB/T 32918.2-2016 Annex A: signature on the recommended curve, default identifier.
GB_D = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F9588939369 2860B51A42FB81EF4DF7C5B8")
GB_PUBLIC = bytes.fromhex(
    "04"
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
GB_K = bytes.fromhex("59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21")
GB_R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
GB_S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA
GB_MESSAGE = b"message digest"
GB_SIGNATURE = der.sequence(der.integer(GB_R), der.integer(GB_S))

NOW = datetime(2026, 11, 2, tzinfo=UTC)


def test_sm3_abc_vector() -> None:
    """GB/T 32905-2016 Annex A.1."""
    assert sm3(b"abc").hex() == ("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")


def test_sm3_64_byte_vector() -> None:
    """GB/T 32905-2016 Annex A.2: "abcd" sixteen times, fed in pieces."""
    hasher = SM3Hash()
    for _ in range(16):
        hasher.update(b"abcd")
    assert hasher.hexdigest() == (
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    )
    assert hasher.digest_size == 32 and hasher.name == "sm3"


def test_sm4_example() -> None:
    """GB/T 32907-2016 Annex A.1: one block, key and plaintext equal."""
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    cipher = encryptor.update(key) + encryptor.finalize()
    assert cipher.hex() == "681edf34d206965e86b3e94f536e4246"


def test_sm2_standard_key_pair() -> None:
    assert sm2.SM2PrivateKey(GB_D).public.point == GB_PUBLIC


def test_sm2_standard_signature_verifies() -> None:
    public = sm2.SM2PublicKey(GB_PUBLIC)
    assert public.verify(GB_SIGNATURE, GB_MESSAGE)
    assert not public.verify(GB_SIGNATURE, GB_MESSAGE + b".")
    assert not public.verify(GB_SIGNATURE, GB_MESSAGE, uid=b"ALICE123@YAHOO.COM")
    SM2Suite().verify(public, GB_SIGNATURE, GB_MESSAGE)


def test_sm2_standard_signature_is_reproduced_with_its_k() -> None:
    # gmalglib reads the bytes of its random source little-endian.
    signature = sm2.SM2PrivateKey(GB_D).sign(GB_MESSAGE, random=lambda _size: GB_K[::-1])
    assert signature == GB_SIGNATURE


def test_sm2_suite_signs_and_refuses_tampering() -> None:
    suite = get_suite("sm2")
    assert suite.name == "sm2" and suite.hash_name == "sm3"
    key = suite.generate_private_key()
    signature = suite.sign(key, b"header")
    suite.verify(suite.public_key_of(key), signature, b"header")
    with pytest.raises(SignatureInvalid, match="sm2 signature does not verify"):
        suite.verify(suite.public_key_of(key), signature, b"header!")
    flipped = bytearray(signature)
    flipped[-1] ^= 1
    with pytest.raises(SignatureInvalid):
        suite.verify(suite.public_key_of(key), bytes(flipped), b"header")
    with pytest.raises(SignatureInvalid, match="not an sm2 key"):
        suite.verify(
            Ed25519Suite().public_key_of(Ed25519Suite().generate_private_key()),
            signature,
            b"header",
        )
    with pytest.raises(KeyMaterialError, match="cannot sign with the sm2 suite"):
        suite.sign(Ed25519Suite().generate_private_key(), b"header")


def test_ids_and_fingerprints_follow_the_suite() -> None:
    assert get_suite("sm2").digest(b"abc") == sm3(b"abc").hex()
    assert get_suite("ed25519").digest(b"abc") == hashlib.sha256(b"abc").hexdigest()


@pytest.mark.parametrize("passphrase", [None, b"correct horse"])
def test_sm2_key_files_round_trip(passphrase: bytes | None) -> None:
    suite = SM2Suite()
    key = suite.generate_private_key()
    pem = suite.private_key_pem(key, passphrase)
    assert suite.load_private_key_pem(pem, passphrase).public == key.public
    if passphrase:
        assert b"ENCRYPTED" in pem and key.secret.hex().encode() not in pem
        with pytest.raises(KeyMaterialError, match="wrong passphrase"):
            suite.load_private_key_pem(pem, b"wrong")
    with pytest.raises(KeyMaterialError):
        Ed25519Suite().load_private_key_pem(pem, passphrase)


def _root(suite: SM2Suite, key: sm2.SM2PrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "root")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .serial_number(7)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    )
    return suite.sign_certificate(builder, key, key.public)


def test_sm2_certificate_is_x509_in_the_gmt_0015_profile() -> None:
    suite = SM2Suite()
    key = suite.generate_private_key()
    cert = _root(suite, key)
    assert cert.signature_algorithm_oid.dotted_string == sm2.SM2_WITH_SM3_OID
    assert suite.certificate_public_key(cert) == key.public
    assert suite_of_certificate(cert) is get_suite("sm2")
    assert suite.signs(key.public, cert.signature, cert.tbs_certificate_bytes)
    other = suite.generate_private_key()
    assert not suite.signs(other.public, cert.signature, cert.tbs_certificate_bytes)
    assert cert.serial_number == 7 and cert.subject.rfc4514_string() == "CN=root"


def test_sm2_signing_request_is_checked() -> None:
    suite = SM2Suite()
    key = suite.generate_private_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "410102")])
    csr = suite.sign_request(x509.CertificateSigningRequestBuilder().subject_name(name), key)
    assert suite.request_public_key(csr) == key.public
    ed = Ed25519Suite()
    foreign = ed.sign_request(
        x509.CertificateSigningRequestBuilder().subject_name(name), ed.generate_private_key()
    )
    with pytest.raises(KeyMaterialError, match="does not hold an sm2 key"):
        suite.request_public_key(foreign)
    with pytest.raises(KeyMaterialError, match="does not hold an ed25519 key"):
        ed.request_public_key(csr)


def test_sm2_revocation_list_is_signed_by_the_root() -> None:
    suite = SM2Suite()
    key = suite.generate_private_key()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "root")]))
        .last_update(NOW)
        .next_update(NOW + timedelta(days=7))
        .add_extension(x509.CRLNumber(4), critical=False)
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(99).revocation_date(NOW).build()
        )
    )
    crl = suite.sign_revocation_list(builder, key)
    assert crl.get_revoked_certificate_by_serial_number(99) is not None
    assert suite.signs(key.public, crl.signature, crl.tbs_certlist_bytes)
    assert not suite.signs(
        suite.generate_private_key().public, crl.signature, crl.tbs_certlist_bytes
    )


@pytest.mark.parametrize(
    "info",
    [
        b"",
        b"\x30\x03\x02\x01\x00",
        sm2.SM2PublicKey(GB_PUBLIC).info()[:-1],
        sm2.SM2PublicKey(GB_PUBLIC).info().replace(GB_PUBLIC[-4:], b"\x00\x00\x00\x01"),
    ],
)
def test_malformed_public_keys_are_refused(info: bytes) -> None:
    with pytest.raises(ValueError):
        sm2.public_key_from_info(info)


def test_malformed_signatures_do_not_verify() -> None:
    public = sm2.SM2PublicKey(GB_PUBLIC)
    for bad in (b"", GB_SIGNATURE[:-1], GB_SIGNATURE + b"\x00", bytes(64)):
        assert not public.verify(bad, GB_MESSAGE)


VECTORS = Path(__file__).parent / "vectors" / "ed25519-network"


def test_an_ed25519_network_made_before_the_suites_were_pluggable_still_verifies() -> None:
    """A root certificate, revocation list and change-set written by the Ed25519-only
    code: the same bytes verify, with the same id and fingerprint scheme (SHA-256)."""
    trust = TrustStore.load(VECTORS, clock=FixedClock(datetime(2026, 3, 1, tzinfo=UTC)))
    assert trust.suite.name == "ed25519"
    (path,) = VECTORS.glob("*.fcs")
    verified = verify(path, trust, recipient="410100")
    assert verified.header.suite == "ed25519" and verified.header.body.startswith("sha256:")
    assert path.name.endswith(f"_{verified.header.id}.fcs")
    header, seal = read_header(path)
    assert header.id == hashlib.sha256(header.canonical()).hexdigest()
    assert header.signer == hashlib.sha256(seal.certificate_der).hexdigest()
    assert list(iter_operations(path)) == [{"op": "x", "n": 1}]


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, check=False, timeout=60
    )


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
def test_openssl_verifies_the_sm2_certificates_under_the_standard_identifier(
    tmp_path: Path,
) -> None:
    """OpenSSL (3.x) checks our SM2 signatures under GB/T 32918's default identifier.

    Its ``verify -check_ss_sig`` refuses the root's self-signature even with ``-vfyopt
    distid:1234567812345678``: the option reaches the certificate given to verify, not
    the copy of it the trust store holds, whose self-signature is then checked under an
    empty identifier. It refuses a root OpenSSL itself signs with that identifier the
    same way (``req -x509 -sigopt distid:1234567812345678``), and accepts one it signs
    with an empty identifier, which no GB/T 32918 verifier accepts: the behaviour is
    OpenSSL's. The root's signature itself verifies under the standard identifier.
    """
    from sync import pki

    clock = FixedClock(NOW)
    ca = pki.init_root(tmp_path / "ca", "410000", suite="sm2", clock=clock)
    csr = pki.new_node_key(tmp_path / "keys", "410102", suite="sm2")
    node = tmp_path / "node.crt"
    node.write_bytes(pki.sign_csr(ca, csr.read_bytes(), "county", clock=clock))
    root = tmp_path / "ca" / pki.CA_CERT
    distid = "distid:1234567812345678"
    checked = _openssl("verify", "-attime", int(NOW.timestamp()), "-vfyopt", distid,
                       "-CAfile", root, node)  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert _openssl("verify", "-attime", int(NOW.timestamp()), "-CAfile", root, node).returncode

    cert = x509.load_pem_x509_certificate(root.read_bytes())
    (tmp_path / "tbs").write_bytes(cert.tbs_certificate_bytes)
    (tmp_path / "sig").write_bytes(cert.signature)
    public = _openssl("x509", "-in", root, "-noout", "-pubkey")
    (tmp_path / "public.pem").write_text(public.stdout)

    def self_signed(*options: str) -> int:
        return _openssl("pkeyutl", "-verify", "-digest", "sm3", *options, "-pubin", "-inkey",
                        tmp_path / "public.pem", "-rawin", "-in", tmp_path / "tbs",
                        "-sigfile", tmp_path / "sig").returncode  # fmt: skip

    assert self_signed("-pkeyopt", distid) == 0
    assert self_signed() != 0  # the empty identifier is not the standard's

    def check_ss_sig(cert_file: Path) -> int:
        return _openssl("verify", "-check_ss_sig", "-vfyopt", distid, "-CAfile", cert_file,
                        cert_file).returncode  # fmt: skip

    key = tmp_path / "openssl.key"
    assert _openssl("genpkey", "-algorithm", "SM2", "-out", key).returncode == 0
    theirs = tmp_path / "openssl.crt"
    made = _openssl("req", "-new", "-x509", "-key", key, "-sm3", "-sigopt", distid,
                    "-subj", "/CN=openssl root", "-days", "30", "-out", theirs)  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert check_ss_sig(root) == check_ss_sig(theirs)
