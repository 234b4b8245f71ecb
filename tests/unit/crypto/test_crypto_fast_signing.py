"""Signing with the project's own curve arithmetic (``ec``), against the standard's example,
gostcrypto (the reference it replaced) and OpenSSL, on every supported parameter set; and the
per-signer CMS template against the asn1crypto encoding it replaced."""

from __future__ import annotations

import secrets
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from asn1crypto import x509
from gostcrypto import gostsignature

from medsign.crypto import KeyPair, TrustStore, ec, gost, load_pem, oids, verify_detached
from medsign.crypto import cms as gost_cms
from medsign.crypto.certs import parse_certificate
from medsign.crypto.keys import load_private_key
from medsign.crypto.signers import PureSigner
from tests.unit.crypto.crypto_support import DOCUMENT, NOW, SELF_SIGNED_USAGE, openssl_binary
from tests.unit.crypto.test_crypto_primitives import (
    EXAMPLE_CURVE,
    EXAMPLE_E,
    EXAMPLE_Q,
    EXAMPLE_R,
    EXAMPLE_S,
)

# GOST R 34.10-2012 appendix A.1 (RFC 7091 §7.1): the private key and the nonce
EXAMPLE_D = 0x7A929ADE789BB9BE10ED359DD39A72C11B60961F49397EEE1D19CE9891EC3B28
EXAMPLE_K = 0x77105C9B20BCD3122823C8CF6FCC7B956DE33814E95B7FE64FED924594DCEAB3
# one OID per distinct curve (the aliases name the same ones)
CURVE_OIDS = sorted({ec.PARAMSET_NAMES[oid]: oid for oid in ec.PARAMSET_NAMES}.values())
# OpenSSL's names for the parameter sets: (algorithm, paramset)
OPENSSL_SETS = [("gost2012_256", p) for p in ("A", "B", "C", "XA", "XB", "TCA", "TCB", "TCC",
                                              "TCD")] + [("gost2012_512", p) for p in "ABC"]


def reference(curve: ec.Curve) -> gostsignature.GOST34102012:
    mode = gostsignature.MODE_256 if curve.size == 32 else gostsignature.MODE_512
    return gostsignature.new(mode, curve.gostcrypto_params)


def test_the_standards_example_comes_out_exactly() -> None:
    assert ec.public_key(EXAMPLE_CURVE, EXAMPLE_D) == EXAMPLE_Q
    assert ec.sign(EXAMPLE_CURVE, EXAMPLE_D, EXAMPLE_E, EXAMPLE_K) == (EXAMPLE_R, EXAMPLE_S)


@pytest.mark.parametrize("paramset", CURVE_OIDS)
def test_same_key_and_nonce_give_gostcryptos_signature_and_public_key(paramset: str) -> None:
    key = gost.new_private_key(paramset)
    curve, size = key.curve, key.curve.size
    ref = reference(curve)
    # (gostcrypto itself never returns for k = 1 or k = q - 1: those are checked below)
    for nonce in (2, 3, 0x1234567 << (8 * size - 40), secrets.randbelow(curve.q - 3) + 2):
        digest = gost.streebog(nonce.to_bytes(8 * size, "big"), size)
        e = int.from_bytes(digest, "little")
        expected = ref.sign(bytearray(key.scalar.to_bytes(size, "big")),
                            bytearray(digest[::-1]), bytearray(nonce.to_bytes(size, "big")))
        result = ec.sign(curve, key.scalar, e, nonce)
        assert result is not None
        r, s = result
        assert bytes(expected) == r.to_bytes(size, "big") + s.to_bytes(size, "big")
    raw = ref.public_key_generate(bytearray(key.scalar.to_bytes(size, "big")))
    assert key.public_key().point == (int.from_bytes(raw[:size], "big"),
                                      int.from_bytes(raw[size:], "big"))


@pytest.mark.parametrize("paramset", CURVE_OIDS)
def test_wire_signatures_verify_with_gostcrypto_and_with_us(paramset: str) -> None:
    key = gost.new_private_key(paramset)
    public = key.public_key()
    size = key.curve.size
    x, y = public.point
    point = bytearray(x.to_bytes(size, "big") + y.to_bytes(size, "big"))
    for n in range(3):  # the third check of one key runs on its own comb table
        digest = gost.streebog(b"document %d" % n, size)
        wire = gost.sign_digest(key, digest)
        assert reference(key.curve).verify(point, bytearray(digest[::-1]),
                                           bytearray(wire[size:] + wire[:size]))
        assert gost.verify_digest(public, digest, wire)
        assert not gost.verify_digest(public, gost.streebog(b"other", size), wire)


def test_every_signature_draws_a_fresh_nonce_from_one_to_q_minus_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    key = gost.new_private_key()
    digest = gost.streebog(b"document")
    e = int.from_bytes(digest, "little")
    asked: list[int] = []
    answers = iter([0, key.curve.q - 2])  # the extremes: k = 1 and k = q - 1

    def randbelow(n: int) -> int:
        asked.append(n)
        return next(answers)

    monkeypatch.setattr(secrets, "randbelow", randbelow)
    for k in (1, key.curve.q - 1):
        wire = gost.sign_digest(key, digest)
        result = ec.sign(key.curve, key.scalar, e, k)
        assert result is not None
        r, s = result
        assert wire == s.to_bytes(32, "big") + r.to_bytes(32, "big")
        assert gost.verify_digest(key.public_key(), digest, wire)
    assert asked == [key.curve.q - 1] * 2
    monkeypatch.undo()
    assert gost.sign_digest(key, digest) != gost.sign_digest(key, digest)


def test_a_zero_r_or_s_draws_another_nonce(monkeypatch: pytest.MonkeyPatch) -> None:
    key = gost.new_private_key()
    real, calls = ec.sign, []

    def unlucky_first(curve: ec.Curve, d: int, e: int, k: int) -> tuple[int, int] | None:
        calls.append(k)
        return None if len(calls) == 1 else real(curve, d, e, k)

    monkeypatch.setattr(ec, "sign", unlucky_first)
    digest = gost.streebog(b"document")
    wire = gost.sign_digest(key, digest)
    assert len(calls) == 2 and gost.verify_digest(key.public_key(), digest, wire)


def test_nonces_and_digests_of_the_wrong_size_are_refused() -> None:
    key = gost.new_private_key()
    with pytest.raises(ValueError):
        gost.sign_digest(key, b"\x01" * 31)
    for k in (0, key.curve.q):
        with pytest.raises(ValueError):
            ec.sign(key.curve, key.scalar, 1, k)


def test_batch_conversion_to_affine_matches_one_by_one() -> None:
    curve = ec.curve_for(oids.CRYPTOPRO_A)
    assert curve is not None
    points = [ec.multiply_base(curve, k) for k in (1, 2, 3, 2**200 + 5, curve.q - 1)]
    assert list(ec._affine_all(curve, points)) == [ec._affine(curve, p) for p in points]


def test_a_table_for_a_repeated_key_gives_the_same_answers_as_without() -> None:
    key = gost.new_private_key()
    curve, point = key.curve, key.public_key().point
    assert ec._key_table(curve, point) is None  # first sighting: no table yet
    table = ec._key_table(curve, point)
    assert table is not None and ec._key_table(curve, point) is table
    for k in (1, 15, 16, 2**255 + 7, curve.q - 1):
        assert ec._affine(curve, ec._comb(curve, table, k)) == \
            ec._affine(curve, ec._multiply(curve, k, point))


# --- OpenSSL ---------------------------------------------------------------------------------

def openssl(*args: str | Path) -> None:
    done = subprocess.run([openssl_binary(), *map(str, args)], capture_output=True, check=False,
                          timeout=60)
    assert done.returncode == 0, done.stderr.decode()


@pytest.mark.parametrize(("algorithm", "paramset"), OPENSSL_SETS)
def test_our_signatures_verify_with_openssl_on_every_parameter_set(
        tmp_path: Path, algorithm: str, paramset: str) -> None:
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    digest = "-md_gost12_512" if algorithm.endswith("512") else "-md_gost12_256"
    openssl("genpkey", "-engine", "gost", "-algorithm", algorithm, "-pkeyopt",
            f"paramset:{paramset}", "-out", key)
    openssl("req", "-engine", "gost", "-x509", "-new", "-key", key, "-subj",
            f"/CN=Ours {algorithm} {paramset}", "-days", "2", digest, *SELF_SIGNED_USAGE,
            "-out", cert)
    signer = PureSigner(load_pem(key, cert))
    (tmp_path / "doc").write_bytes(DOCUMENT)
    for n in range(2):
        (tmp_path / f"s{n}.p7s").write_bytes(signer.sign(DOCUMENT))
        openssl("cms", "-verify", "-engine", "gost", "-binary", "-inform", "DER", "-in",
                tmp_path / f"s{n}.p7s", "-content", tmp_path / "doc", "-CAfile", cert,
                "-out", tmp_path / "out")
    verify_detached(DOCUMENT, (tmp_path / "s0.p7s").read_bytes(),
                    trust=TrustStore.from_file(cert))


# --- the CMS template ------------------------------------------------------------------------

MOMENTS = [NOW, NOW.replace(microsecond=654321), datetime(1950, 1, 1, tzinfo=UTC),
           datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(2050, 1, 1, tzinfo=UTC),
           datetime(1949, 12, 31, 23, 59, 59, tzinfo=UTC),
           datetime(2024, 3, 1, 2, 30, tzinfo=timezone(timedelta(hours=3)))]


@pytest.mark.parametrize("paramset", [oids.CRYPTOPRO_A, "1.2.643.7.1.2.1.2.1"])
def test_the_template_encodes_byte_for_byte_what_asn1crypto_did(paramset: str,
                                                                 mo: KeyPair) -> None:
    cert = parse_certificate(mo.certificate_der)
    key = gost.new_private_key(paramset)  # any key: only its algorithms shape the CMS
    template = gost_cms.SignerTemplate.build(cert, key)
    size = key.curve.size
    for when in MOMENTS:
        digest = gost.streebog(when.isoformat().encode(), size)
        expected = gost_cms.signed_attributes(digest, when, cert, key.digest_algorithm)
        assert template.attributes(digest, when) == expected.dump()
        value = bytes(range(2 * size))
        assert template.assemble(expected.dump(), value) == gost_cms.signed_data(
            cert, expected, value, key.digest_algorithm, key.algorithm)


def test_a_naive_signing_time_is_refused(mo: KeyPair) -> None:
    cert = parse_certificate(mo.certificate_der)
    template = gost_cms.SignerTemplate.build(cert, load_private_key(mo.private_key))
    with pytest.raises(ValueError, match="timezone-aware"):
        template.attributes(b"\0" * 32, datetime(2024, 1, 1))


def test_the_pure_signer_encodes_its_certificate_once(mo: KeyPair, trust: TrustStore,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    signer = PureSigner(mo)

    def no_more(*_: object, **__: object) -> None:
        raise AssertionError("re-encoded per signature")

    monkeypatch.setattr(gost_cms, "_ess_certificate", no_more)
    monkeypatch.setattr(x509.Certificate, "load", no_more)
    signature = signer.sign(DOCUMENT, signing_time=NOW)
    monkeypatch.undo()
    report = verify_detached(DOCUMENT, signature, trust=trust)
    assert report.signing_time == NOW and report.certificate_der == mo.certificate_der
