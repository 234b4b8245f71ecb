"""The check of a device's signature: WebCrypto's raw r‖s or DER, over the exact message, by
the registered P-256 key only; anything malformed is a plain no."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from medsign.accounts.app_devices import parse_public_key, signature_valid
from medsign.domain.app_devices import signed_message
from medsign.errors import Unprocessable

DEVICE, CHALLENGE = "d" * 22, "c" * 43
KEY = ec.generate_private_key(ec.SECP256R1())


def spki(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> str:
    der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_signature(key: ec.EllipticCurvePrivateKey, message: bytes) -> str:
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    return b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def test_the_browsers_raw_signature_and_a_der_one_are_accepted() -> None:
    message = signed_message(DEVICE, CHALLENGE)
    assert signature_valid(spki(KEY), DEVICE, CHALLENGE, raw_signature(KEY, message))
    der = b64url(KEY.sign(message, ec.ECDSA(hashes.SHA256())))
    assert signature_valid(spki(KEY), DEVICE, CHALLENGE, der)


def test_another_key_another_challenge_or_another_device_is_refused() -> None:
    message = signed_message(DEVICE, CHALLENGE)
    other = ec.generate_private_key(ec.SECP256R1())
    assert not signature_valid(spki(KEY), DEVICE, CHALLENGE, raw_signature(other, message))
    signed = raw_signature(KEY, message)
    assert not signature_valid(spki(KEY), DEVICE, "x" * 43, signed)
    assert not signature_valid(spki(KEY), "e" * 22, CHALLENGE, signed)
    assert not signature_valid(spki(KEY), DEVICE, CHALLENGE,
                               raw_signature(KEY, CHALLENGE.encode()))  # the bare challenge


@pytest.mark.parametrize("signature", ["", "!!!", "A" * 86, "A" * 500, b64url(b"\x00" * 64)])
def test_malformed_signatures_are_refused(signature: str) -> None:
    assert not signature_valid(spki(KEY), DEVICE, CHALLENGE, signature)


@pytest.mark.parametrize("key", [
    "", "not base64!", base64.b64encode(b"garbage").decode(), "A" * 1000,
    spki(ec.generate_private_key(ec.SECP384R1())),  # not P-256
    spki(ed25519.Ed25519PrivateKey.generate()),
])
def test_only_a_p256_public_key_is_a_device_key(key: str) -> None:
    with pytest.raises(Unprocessable):
        parse_public_key(key)
    assert not signature_valid(key, DEVICE, CHALLENGE, raw_signature(KEY, b"x"))
