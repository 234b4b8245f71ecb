"""Elliptic-curve parameters of GOST R 34.10-2012 and the public half of its arithmetic.

Signing (secret scalars) stays with ``gostcrypto``. Verification works on public data only, so
it can use plain Jacobian coordinates without timing concerns: gostcrypto's affine arithmetic
with a recursive modular inverse per step takes ~40 ms per check, this takes ~3 ms, which is
what lets a 100 KB document verify within the benchmark budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gostcrypto.gostsignature import CURVES_R_1323565_1_024_2019 as _GOSTCRYPTO_CURVES

Point = tuple[int, int]
_Jacobian = tuple[int, int, int]
_INFINITY: _Jacobian = (1, 1, 0)

# Parameter-set OIDs → gostcrypto's curve names (R 1323565.1.024-2019 renamed the CryptoPro
# sets: CryptoPro A = tc26 256 B, CryptoPro B = tc26 256 C, CryptoPro C = tc26 256 D; the
# key-exchange sets XchA/XchB reuse CryptoPro A/C).
PARAMSET_NAMES = {
    "1.2.643.7.1.2.1.1.1": "id-tc26-gost-3410-2012-256-paramSetA",
    "1.2.643.7.1.2.1.1.2": "id-tc26-gost-3410-2012-256-paramSetB",
    "1.2.643.2.2.35.1": "id-tc26-gost-3410-2012-256-paramSetB",
    "1.2.643.2.2.36.0": "id-tc26-gost-3410-2012-256-paramSetB",
    "1.2.643.7.1.2.1.1.3": "id-tc26-gost-3410-2012-256-paramSetC",
    "1.2.643.2.2.35.2": "id-tc26-gost-3410-2012-256-paramSetC",
    "1.2.643.7.1.2.1.1.4": "id-tc26-gost-3410-2012-256-paramSetD",
    "1.2.643.2.2.35.3": "id-tc26-gost-3410-2012-256-paramSetD",
    "1.2.643.2.2.36.1": "id-tc26-gost-3410-2012-256-paramSetD",
    "1.2.643.7.1.2.1.2.1": "id-tc26-gost-3410-12-512-paramSetA",
    "1.2.643.7.1.2.1.2.2": "id-tc26-gost-3410-12-512-paramSetB",
    "1.2.643.7.1.2.1.2.3": "id-tc26-gost-3410-2012-512-paramSetC",
}


@dataclass(frozen=True)
class Curve:
    """A short Weierstrass curve y² = x³ + ax + b over GF(p), base point (x, y) of order q."""

    name: str
    size: int  # bytes in a coordinate, a scalar and a digest: 32 or 64
    p: int
    a: int
    b: int
    q: int
    x: int
    y: int

    @property
    def gostcrypto_params(self) -> dict[str, Any]:
        return dict(_GOSTCRYPTO_CURVES[self.name])

    def contains(self, point: Point) -> bool:
        x, y = point
        if not (0 <= x < self.p and 0 <= y < self.p):
            return False
        return (y * y - x * x * x - self.a * x - self.b) % self.p == 0


def curve_for(paramset_oid: str) -> Curve | None:
    name = PARAMSET_NAMES.get(paramset_oid)
    return _curve(name) if name else None


_CACHE: dict[str, Curve] = {}


def _curve(name: str) -> Curve:
    if name not in _CACHE:
        _CACHE[name] = _from_gostcrypto(name, _GOSTCRYPTO_CURVES[name])
    return _CACHE[name]


def _from_gostcrypto(name: str, c: dict[str, int]) -> Curve:
    size = 64 if "512" in name else 32
    p, q = c["p"], c["q"]
    if "e" not in c:
        return Curve(name, size, p, c["a"], c["b"], q, c["x"], c["y"])
    # Twisted Edwards sets (tc26 256 A, 512 C) are published as (e, d, u, v); the birational
    # map to Weierstrass form is the one in R 1323565.1.024-2019 (and in gostcrypto).
    s = (c["e"] - c["d"]) * pow(4, -1, p) % p
    t = (c["e"] + c["d"]) * pow(6, -1, p) % p
    a = (s * s - 3 * t * t) % p
    b = (2 * t**3 - t * s * s) % p
    u, v = c["u"], c["v"]
    x = (s * (1 + v) * pow(1 - v, -1, p) + t) % p
    y = s * (1 + v) * pow((1 - v) * u, -1, p) % p
    return Curve(name, size, p, a, b, q, x, y)


def verify(curve: Curve, public: Point, e: int, r: int, s: int) -> bool:
    """GOST R 34.10-2012 §6.2 with ``e`` already taken from the digest."""
    if not (0 < r < curve.q and 0 < s < curve.q):
        return False
    e = e % curve.q or 1
    v = pow(e, -1, curve.q)
    z1, z2 = s * v % curve.q, (-r * v) % curve.q
    x, _ = _affine(curve, _shamir(curve, z1, (curve.x, curve.y), z2, public))
    return x % curve.q == r


def _shamir(curve: Curve, k1: int, p1: Point, k2: int, p2: Point) -> _Jacobian:
    """k1·P1 + k2·P2 in one pass over the bits (Shamir's trick)."""
    j1, j2 = (*p1, 1), (*p2, 1)
    table = {(1, 0): j1, (0, 1): j2, (1, 1): _add(curve, j1, j2)}
    acc = _INFINITY
    for i in range(max(k1.bit_length(), k2.bit_length()) - 1, -1, -1):
        acc = _double(curve, acc)
        bits = ((k1 >> i) & 1, (k2 >> i) & 1)
        if bits != (0, 0):
            acc = _add(curve, acc, table[bits])
    return acc


def _double(curve: Curve, pt: _Jacobian) -> _Jacobian:
    x, y, z = pt
    p = curve.p
    if z == 0 or y == 0:
        return _INFINITY
    yy = y * y % p
    zz = z * z % p
    s = 4 * x * yy % p
    m = (3 * x * x + curve.a * zz * zz) % p
    x3 = (m * m - 2 * s) % p
    y3 = (m * (s - x3) - 8 * yy * yy) % p
    return x3, y3, 2 * y * z % p


def _add(curve: Curve, p1: _Jacobian, p2: _Jacobian) -> _Jacobian:
    if p1[2] == 0:
        return p2
    if p2[2] == 0:
        return p1
    p = curve.p
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    z1z1, z2z2 = z1 * z1 % p, z2 * z2 % p
    u1, u2 = x1 * z2z2 % p, x2 * z1z1 % p
    s1, s2 = y1 * z2 * z2z2 % p, y2 * z1 * z1z1 % p
    if u1 == u2:
        return _double(curve, p1) if s1 == s2 else _INFINITY
    h, r = (u2 - u1) % p, (s2 - s1) % p
    hh = h * h % p
    hhh, v = h * hh % p, u1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    y3 = (r * (v - x3) - s1 * hhh) % p
    return x3, y3, z1 * z2 * h % p


def _affine(curve: Curve, pt: _Jacobian) -> Point:
    x, y, z = pt
    if z == 0:
        return 0, 0  # x = 0 never equals a valid r, so infinity fails verification
    zi = pow(z, -1, curve.p)
    zi2 = zi * zi % curve.p
    return x * zi2 % curve.p, y * zi2 * zi % curve.p
