"""GOST R 34.10-2012 keys and signatures and GOST R 34.11-2012 digests, in wire form.

The wire conventions (RFC 9215, RFC 4491, what OpenSSL and CryptoPro do) differ from the
standard's text and from gostcrypto's API, which is where interoperability usually breaks:

- the digest is read as a **little-endian** number ``e`` (gostcrypto reads big-endian, so the
  digest is handed to it reversed);
- a signature on the wire is ``s‖r`` (gostcrypto returns ``r‖s``), each half big-endian;
- a public key is ``X‖Y``, each **little-endian**, inside an OCTET STRING inside the BIT STRING;
- a PKCS#8 private key is the scalar's 32 bytes, little-endian, as OpenSSL writes it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from asn1crypto import core
from gostcrypto import gosthash

from medsign.crypto import ec, native, oids
from medsign.crypto.asn1 import (
    AlgorithmIdentifier,
    GostKeyParameters,
    GostPrivateKeyInfo,
    GostPublicKeyInfo,
    gost_key_parameters,
)


class UnsupportedParameters(ValueError):
    """A key on an algorithm or parameter set this module has no curve for."""


class _Algorithms:
    curve: ec.Curve

    @property
    def algorithm(self) -> str:
        return oids.GOST_256_KEY if self.curve.size == 32 else oids.GOST_512_KEY

    @property
    def digest_algorithm(self) -> str:
        return oids.STREEBOG_256 if self.curve.size == 32 else oids.STREEBOG_512


@dataclass(frozen=True)
class PublicKey(_Algorithms):
    paramset: str
    curve: ec.Curve
    point: ec.Point


@dataclass(frozen=True, repr=False)  # repr=False: a scalar must not end up in a log line
class PrivateKey(_Algorithms):
    """``public_key()`` costs a scalar multiplication (~0.3 ms): callers keep the result."""

    paramset: str
    curve: ec.Curve
    scalar: int

    def public_key(self) -> PublicKey:
        return PublicKey(self.paramset, self.curve, ec.public_key(self.curve, self.scalar))


def streebog(data: bytes, size: int = 32) -> bytes:
    """GOST R 34.11-2012 in the byte order OpenSSL prints and CMS carries."""
    fast = native.streebog(data, size)
    if fast is not None:
        return fast
    return bytes(gosthash.new("streebog256" if size == 32 else "streebog512", data=data).digest())


def sign_digest(key: PrivateKey, digest: bytes) -> bytes:
    """``s‖r`` over ``digest`` (read little-endian), each half big-endian, a fresh nonce drawn
    uniformly from [1, q-1] by ``secrets`` for every signature (and again in the negligible
    case that r or s comes out 0). The arithmetic is ``ec`` — see there about timing."""
    curve, size = key.curve, key.curve.size
    if len(digest) != size:
        raise ValueError(f"хэш длиной {len(digest)} байт, ожидалось {size}")
    e = int.from_bytes(digest, "little")
    while True:
        signature = ec.sign(curve, key.scalar, e, secrets.randbelow(curve.q - 1) + 1)
        if signature is not None:
            r, s = signature
            return s.to_bytes(size, "big") + r.to_bytes(size, "big")


def verify_digest(key: PublicKey, digest: bytes, signature: bytes) -> bool:
    size = key.curve.size
    if len(signature) != 2 * size or len(digest) != size:
        return False
    s, r = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
    return ec.verify(key.curve, key.point, int.from_bytes(digest, "little"), r, s)


def verify_signed(key: PublicKey, tbs_der: bytes, algorithm: str, signature: bytes) -> bool:
    """A CA's signature over a certificate's or a CRL's to-be-signed part, ``algorithm``
    being the OID the structure names (``oids.SIGNED_DATA_SIZE``)."""
    if oids.SIGNED_DATA_SIZE.get(algorithm) != key.curve.size:
        return False
    return verify_digest(key, streebog(tbs_der, key.curve.size), signature)


def new_private_key(paramset: str = oids.CRYPTOPRO_A) -> PrivateKey:
    curve = _curve(paramset)
    return PrivateKey(paramset, curve, secrets.randbelow(curve.q - 1) + 1)


def encode_public_key(key: PublicKey) -> GostPublicKeyInfo:
    x, y = key.point
    size = key.curve.size
    raw = x.to_bytes(size, "little") + y.to_bytes(size, "little")
    return GostPublicKeyInfo({
        "algorithm": _key_algorithm(key.algorithm, key.paramset),
        "public_key": core.OctetString(raw).dump(),
    })


def decode_public_key(info: GostPublicKeyInfo) -> PublicKey:
    algorithm, paramset = _key_parameters(info["algorithm"])
    curve = _curve(paramset, oids.KEY_SIZE[algorithm])
    raw = core.OctetString.load(info["public_key"].native).native
    size = curve.size
    if len(raw) != 2 * size:
        raise ValueError(f"открытый ключ длиной {len(raw)} байт, ожидалось {2 * size}")
    point = (int.from_bytes(raw[:size], "little"), int.from_bytes(raw[size:], "little"))
    if not curve.contains(point):
        raise ValueError("открытый ключ не лежит на кривой")
    return PublicKey(paramset, curve, point)


def encode_private_key(key: PrivateKey) -> bytes:
    info = GostPrivateKeyInfo({
        "version": 0,
        "private_key_algorithm": _key_algorithm(key.algorithm, key.paramset),
        "private_key": key.scalar.to_bytes(key.curve.size, "little"),
    })
    return bytes(info.dump())


def decode_private_key(der: bytes) -> PrivateKey:
    info = GostPrivateKeyInfo.load(der)
    algorithm, paramset = _key_parameters(info["private_key_algorithm"])
    curve = _curve(paramset, oids.KEY_SIZE[algorithm])
    scalar = _scalar(info["private_key"].native, curve.size)
    if not 0 < scalar < curve.q:
        raise ValueError("закрытый ключ вне диапазона кривой")
    return PrivateKey(paramset, curve, scalar)


def _scalar(raw: bytes, size: int) -> int:
    """The three encodings the GOST engine accepts: raw LE bytes, OCTET STRING, INTEGER."""
    if len(raw) == size:
        return int.from_bytes(raw, "little")
    parsed = core.load(raw)
    if isinstance(parsed, core.OctetString):
        return int.from_bytes(parsed.native, "little")
    if isinstance(parsed, core.Integer):
        return int(parsed.native)
    raise ValueError("неизвестная запись закрытого ключа")


def _key_algorithm(algorithm: str, paramset: str) -> AlgorithmIdentifier:
    # OpenSSL and CryptoPro name the 256-bit digest next to the CryptoPro sets; RFC 9215 leaves
    # it out for 512-bit keys.
    digest = oids.STREEBOG_256 if algorithm == oids.GOST_256_KEY else None
    return AlgorithmIdentifier({"algorithm": algorithm,
                                "parameters": gost_key_parameters(paramset, digest)})


def _key_parameters(algorithm: AlgorithmIdentifier) -> tuple[str, str]:
    oid = algorithm["algorithm"].dotted
    if oid not in oids.KEY_SIZE:
        raise UnsupportedParameters(f"алгоритм ключа {oid}")
    params = GostKeyParameters.load(algorithm["parameters"].dump())
    return oid, params["public_key_param_set"].dotted


def _curve(paramset: str, size: int | None = None) -> ec.Curve:
    curve = ec.curve_for(paramset)
    if curve is None or (size is not None and curve.size != size):
        raise UnsupportedParameters(f"набор параметров {paramset}")
    return curve
