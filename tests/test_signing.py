"""Signature suites: the Ed25519 suite, the registry, canonical JSON."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey

from sync.errors import KeyMaterialError, SignatureInvalid
from sync.signing import (
    DEFAULT_SUITE,
    Ed25519Suite,
    Hasher,
    canonical_json,
    get_suite,
    register_suite,
    registered_suites,
)

MESSAGE = b"fiscalsync-changeset-v1\x00appropriation\x00410100\x00{}"


@pytest.fixture
def suite() -> Ed25519Suite:
    found = get_suite("ed25519")
    assert isinstance(found, Ed25519Suite)
    return found


def test_sign_verify_round_trip(suite: Ed25519Suite) -> None:
    key = suite.generate_private_key()
    signature = suite.sign(key, MESSAGE)
    assert len(signature) == 64
    suite.verify(suite.public_key_of(key), signature, MESSAGE)


def test_signatures_are_deterministic(suite: Ed25519Suite) -> None:
    key = suite.generate_private_key()
    assert suite.sign(key, MESSAGE) == suite.sign(key, MESSAGE)


def test_wrong_key_is_refused(suite: Ed25519Suite) -> None:
    signature = suite.sign(suite.generate_private_key(), MESSAGE)
    other = suite.public_key_of(suite.generate_private_key())
    with pytest.raises(SignatureInvalid, match="ed25519 signature does not verify"):
        suite.verify(other, signature, MESSAGE)


def test_wrong_message_is_refused(suite: Ed25519Suite) -> None:
    key = suite.generate_private_key()
    signature = suite.sign(key, MESSAGE)
    tampered = MESSAGE.replace(b"410100", b"410200")
    with pytest.raises(SignatureInvalid, match="does not verify"):
        suite.verify(suite.public_key_of(key), signature, tampered)


@pytest.mark.parametrize("position", [0, 31, 63])
def test_flipped_signature_bit_is_refused(suite: Ed25519Suite, position: int) -> None:
    key = suite.generate_private_key()
    signature = bytearray(suite.sign(key, MESSAGE))
    signature[position] ^= 0x01
    with pytest.raises(SignatureInvalid):
        suite.verify(suite.public_key_of(key), bytes(signature), MESSAGE)


def test_foreign_key_types_are_refused(suite: Ed25519Suite) -> None:
    foreign = Ed448PrivateKey.generate()
    with pytest.raises(KeyMaterialError, match="Ed448PrivateKey cannot sign"):
        suite.sign(foreign, MESSAGE)
    with pytest.raises(SignatureInvalid, match="not an ed25519 key"):
        suite.verify(foreign.public_key(), b"\x00" * 64, MESSAGE)


def test_body_hash_is_sha256(suite: Ed25519Suite) -> None:
    hasher: Hasher = suite.new_hash()
    hasher.update(b"abc")
    assert suite.hash_name == "sha256"
    assert hasher.hexdigest() == hashlib.sha256(b"abc").hexdigest()
    assert hasher.digest_size == 32


def test_registry_knows_the_default_suite() -> None:
    assert DEFAULT_SUITE == "ed25519"
    assert DEFAULT_SUITE in registered_suites()
    assert get_suite(DEFAULT_SUITE).name == DEFAULT_SUITE


def test_unknown_suite_is_refused_with_the_known_ones() -> None:
    with pytest.raises(
        KeyMaterialError, match=r"unknown signature suite 'sm9' \(known: .*ed25519.*sm2"
    ):
        get_suite("sm9")


class _Sha512Suite(Ed25519Suite):
    """A stand-in for a plug-in suite (the way SM2/SM3 would arrive)."""

    name = "test-ed25519-sha512"
    hash_name = "sha512"

    def new_hash(self) -> Hasher:
        return hashlib.sha512()


def test_a_plug_in_suite_registers_once() -> None:
    plug_in = _Sha512Suite()
    register_suite(plug_in)
    register_suite(plug_in)  # the same object again: a no-op
    assert get_suite(plug_in.name) is plug_in
    with pytest.raises(KeyMaterialError, match="already registered"):
        register_suite(_Sha512Suite())


def test_canonical_json_follows_rfc8785() -> None:
    assert canonical_json({"b": 1, "a": "豫", "c": [True, None]}) == (
        '{"a":"豫","b":1,"c":[true,null]}'.encode()
    )
    with pytest.raises(ValueError, match="safe integer"):
        canonical_json({"amount": 2**60})
    with pytest.raises(ValueError):
        canonical_json({1: "non-string key"})
