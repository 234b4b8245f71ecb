"""The GOST primitives against published answers and against each other."""

from __future__ import annotations

import pytest
from gostcrypto import gostsignature

from medsign.crypto import ec, gost, native, oids

# RFC 6986 §10.1 / GOST R 34.11-2012 example 1, in the byte order OpenSSL prints
M1 = b"012345678901234567890123456789012345678901234567890123456789012"
M1_256 = "9d151eefd8590b89daa6ba6cb74af9275dd051026bb149a452fd84e5e57b5500"
M1_512 = ("1b54d01a4af5b9d5cc3d86d68d285462b19abc2475222f35c085122be4ba1ffa"
          "00ad30f8767b3a82384c6574f024c311e2a481332b08ef7f41797891c1646f48")

# GOST R 34.10-2012 appendix A.1 (RFC 7091 §7.1): test curve, public key, e, r, s
EXAMPLE_CURVE = ec.Curve(
    "example", 32,
    p=0x8000000000000000000000000000000000000000000000000000000000000431, a=7,
    b=0x5FBFF498AA938CE739B8E022FBAFEF40563F6E6A3472FC2A514C0CE9DAE23B7E,
    q=0x8000000000000000000000000000000150FE8A1892976154C59CFC193ACCF5B3,
    x=2, y=0x08E2A8A0E65147D4BD6316030E16D19C85C97F0A9CA267122B96ABBCEA7E8FC8)
EXAMPLE_Q = (0x7F2B49E270DB6D90D8595BEC458B50C58585BA1D4E9B788F6689DBD8E56FD80B,
             0x26F1B489D6701DD185C8413A977B3CBBAF64D1C593D26627DFFB101A87FF77DA)
EXAMPLE_E = 0x2DFBC1B372D89A1188C09C52E0EEC61FCE52032AB1022E8E67ECE6672B043EE5
EXAMPLE_R = 0x41AA28D2F1AB148280CD9ED56FEDA41974053554A42767B83AD043FD39DC0493
EXAMPLE_S = 0x01456C64BA4642A1653C235A98A60249BCD6D3F746B631DF928014F6C5BF9C40


@pytest.fixture(params=["native", "pure"])
def hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "pure":
        monkeypatch.setenv("MEDSIGN_CRYPTO_NATIVE", "0")
    elif native.streebog(b"", 32) is None:
        pytest.skip("libcrypto with the gostprov provider is not installed")
    return str(request.param)


def test_streebog_matches_the_standard_example(hashing: str) -> None:
    assert gost.streebog(M1).hex() == M1_256
    assert gost.streebog(M1, 64).hex() == M1_512


def test_native_and_pure_streebog_agree_on_odd_lengths(monkeypatch: pytest.MonkeyPatch) -> None:
    if native.streebog(b"", 32) is None:
        pytest.skip("libcrypto with the gostprov provider is not installed")
    blobs = [bytes(range(256)) * n + b"x" * n for n in (0, 1, 3, 17)]
    fast = [gost.streebog(blob) for blob in blobs]
    monkeypatch.setenv("MEDSIGN_CRYPTO_NATIVE", "0")
    assert [gost.streebog(blob) for blob in blobs] == fast


def test_verification_accepts_the_standard_example_and_nothing_else() -> None:
    assert EXAMPLE_CURVE.contains(EXAMPLE_Q)
    assert ec.verify(EXAMPLE_CURVE, EXAMPLE_Q, EXAMPLE_E, EXAMPLE_R, EXAMPLE_S)
    assert not ec.verify(EXAMPLE_CURVE, EXAMPLE_Q, EXAMPLE_E + 1, EXAMPLE_R, EXAMPLE_S)
    assert not ec.verify(EXAMPLE_CURVE, EXAMPLE_Q, EXAMPLE_E, EXAMPLE_S, EXAMPLE_R)
    assert not ec.verify(EXAMPLE_CURVE, EXAMPLE_Q, EXAMPLE_E, 0, EXAMPLE_S)


@pytest.mark.parametrize("paramset", sorted(ec.PARAMSET_NAMES))
def test_every_supported_curve_has_its_base_point_on_it(paramset: str) -> None:
    curve = ec.curve_for(paramset)
    assert curve is not None and curve.contains((curve.x, curve.y))


@pytest.mark.parametrize("paramset", ["1.2.643.2.2.35.1", "1.2.643.7.1.2.1.1.1",
                                      "1.2.643.7.1.2.1.2.1", "1.2.643.7.1.2.1.2.3"])
def test_sign_and_verify_agree_on_256_and_512_bit_curves(paramset: str) -> None:
    key = gost.new_private_key(paramset)
    digest = gost.streebog(b"document", key.curve.size)
    signature = gost.sign_digest(key, digest)
    assert gost.verify_digest(key.public_key(), digest, signature)
    assert not gost.verify_digest(key.public_key(), digest[::-1], signature)


def test_wire_signature_is_s_then_r_over_the_little_endian_digest() -> None:
    """The wire form against gostcrypto's own verify, which wants r‖s and a big-endian e."""
    key = gost.new_private_key()
    digest = gost.streebog(b"document")
    wire = gost.sign_digest(key, digest)
    x, y = key.public_key().point
    reference = gostsignature.new(gostsignature.MODE_256, key.curve.gostcrypto_params)
    public = bytearray(x.to_bytes(32, "big") + y.to_bytes(32, "big"))
    assert reference.verify(public, bytearray(digest[::-1]), bytearray(wire[32:] + wire[:32]))


def test_keys_round_trip_through_their_wire_encodings() -> None:
    key = gost.new_private_key()
    again = gost.decode_private_key(gost.encode_private_key(key))
    assert again.scalar == key.scalar and again.paramset == oids.CRYPTOPRO_A
    public = gost.decode_public_key(gost.encode_public_key(key.public_key()))
    assert public == key.public_key()


def test_a_public_key_off_the_curve_is_refused() -> None:
    info = gost.encode_public_key(gost.new_private_key().public_key())
    raw = bytearray(info["public_key"].native)
    raw[-1] ^= 1
    info["public_key"] = bytes(raw)
    with pytest.raises(ValueError, match="кривой"):
        gost.decode_public_key(info)


def test_an_unknown_parameter_set_is_reported_as_unsupported() -> None:
    with pytest.raises(gost.UnsupportedParameters):
        gost.new_private_key("1.2.3.4")


def test_a_private_key_repr_does_not_show_the_scalar() -> None:
    key = gost.new_private_key()
    assert str(key.scalar) not in repr(key) and hex(key.scalar)[2:] not in repr(key)
