"""Elliptic-curve parameters of GOST R 34.10-2012 and its arithmetic: signing and checking.

gostcrypto (where the curve parameters come from) works in affine coordinates with a recursive
extended Euclid per point operation: ~20 ms for one scalar multiplication, ~40 ms per check.
Here points are Jacobian (one inversion at the end); k·G for signing and key generation uses a
fixed-base comb — for each 4-bit window of the scalar a precomputed affine multiple of G, built
once per curve and process (~10 ms for a 256-bit curve) — so it takes 64 mixed additions and
no doublings (~0.3 ms). A check computes z1·G the same way and z2·Q with a 4-bit window
(~1.5 ms), or with a comb table of its own for a public key that keeps coming back.

Timing: Python's integers are not constant-time and neither are the table look-ups by secret
digits, so the time of a signature depends on the nonce. gostcrypto's pure-Python arithmetic was
no better. That is acceptable for the emulator, tests and development keys; production MO keys
belong in the OpenSSL engine or a certified provider (``docs/crypto.md``).
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
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


def sign(curve: Curve, d: int, e: int, k: int) -> tuple[int, int] | None:
    """GOST R 34.10-2012 §6.1 steps 3–5 with the nonce ``k`` given (1 ≤ k < q): ``(r, s)``, or
    ``None`` when r or s came out 0 and the caller must draw another ``k``. ``e`` is the digest
    as a number; 0 mod q becomes 1, as the standard says."""
    if not 0 < k < curve.q:
        raise ValueError("nonce out of range")
    e = e % curve.q or 1
    r = _affine(curve, multiply_base(curve, k))[0] % curve.q
    s = (r * d + k * e) % curve.q
    return (r, s) if r and s else None


def public_key(curve: Curve, d: int) -> Point:
    """d·G, the public key of the private scalar ``d``."""
    if not 0 < d < curve.q:
        raise ValueError("private key out of range")
    return _affine(curve, multiply_base(curve, d))


def verify(curve: Curve, public: Point, e: int, r: int, s: int) -> bool:
    """GOST R 34.10-2012 §6.2 with ``e`` already taken from the digest."""
    if not (0 < r < curve.q and 0 < s < curve.q):
        return False
    e = e % curve.q or 1
    v = pow(e, -1, curve.q)
    z1, z2 = s * v % curve.q, (-r * v) % curve.q
    table = _key_table(curve, public)
    z2q = _comb(curve, table, z2) if table else _multiply(curve, z2, public)
    x, _ = _affine(curve, _add(curve, multiply_base(curve, z1), z2q))
    return x % curve.q == r


_WINDOW = 4
_DIGITS = (1 << _WINDOW) - 1
_Table = tuple[tuple[Point, ...], ...]


def multiply_base(curve: Curve, k: int) -> _Jacobian:
    """k·G with the curve's comb table."""
    table = _base_table(curve)
    if k < 0 or k >> (_WINDOW * len(table)):
        k %= curve.q
    return _comb(curve, table, k)


def _comb(curve: Curve, table: _Table, k: int) -> _Jacobian:
    """Σ table[i][digit i of k]: k·P for the point P the table was built for, additions only
    (0 ≤ k < 2^(4·rows))."""
    p = curve.p
    x1 = y1 = z1 = 0  # z1 = 0: nothing added yet (infinity)
    i = 0
    while k:
        digit = k & _DIGITS
        k >>= _WINDOW
        if digit:
            x2, y2 = table[i][digit - 1]
            if z1 == 0:
                x1, y1, z1 = x2, y2, 1
            else:
                # mixed addition (Jacobian + affine); equal or opposite points cannot occur
                # for 0 < k < q and P of order q (the partial sums grow strictly below q),
                # but are handled
                z1z1 = z1 * z1 % p
                h = (x2 * z1z1 - x1) % p
                r = (y2 * z1 * z1z1 - y1) % p
                if h == 0:
                    x1, y1, z1 = _double(curve, (x1, y1, z1)) if r == 0 else _INFINITY
                else:
                    hh = h * h % p
                    hhh = h * hh % p
                    v = x1 * hh % p
                    x3 = (r * r - hhh - 2 * v) % p
                    y1 = (r * (v - x3) - y1 * hhh) % p
                    x1 = x3
                    z1 = z1 * h % p
        i += 1
    return (x1, y1, z1) if z1 else _INFINITY


@functools.cache
def _base_table(curve: Curve) -> _Table:
    table = _comb_table(curve, (curve.x, curve.y))
    if table is None:  # G has order q: no multiple below 2^bits(q) is infinity
        raise ValueError(f"curve {curve.name}: the base point does not have order q")
    return table


def _comb_table(curve: Curve, point: Point) -> _Table | None:
    """Row i holds j·2^(4i)·P for j = 1…15, affine, enough rows for any scalar below q; None
    if one of them is infinity (a point of small order: left to :func:`_multiply`)."""
    rows = []
    base: _Jacobian = (*point, 1)
    for _ in range(-(-curve.q.bit_length() // _WINDOW)):
        row = [base]
        for _ in range(_DIGITS - 1):
            row.append(_add(curve, row[-1], base))
        if any(z == 0 for _, _, z in row):
            return None
        rows.append(_affine_all(curve, row))
        base = _add(curve, row[-1], base)  # 16·base
    return tuple(rows)


# Checking the same public key again and again (the operator's seal on every archive, the MO's
# signature on every upload) gets a comb table for it too: ~8 ms once, then z2·Q costs what k·G
# does instead of 256 doublings. Built at a key's second sighting, so a stream of one-off keys
# (hostile input) costs no more than before; a few tables are kept, least recently used dropped.
_KEY_TABLES = 8
_SEEN_ONCE = 256
_key_tables: OrderedDict[tuple[Curve, Point], _Table] = OrderedDict()
_seen_once: OrderedDict[tuple[Curve, Point], None] = OrderedDict()
_key_lock = threading.Lock()


def _key_table(curve: Curve, point: Point) -> _Table | None:
    key = (curve, point)
    with _key_lock:
        table = _key_tables.get(key)
        if table is not None:
            _key_tables.move_to_end(key)
            return table
        if key not in _seen_once:
            _seen_once[key] = None
            if len(_seen_once) > _SEEN_ONCE:
                _seen_once.popitem(last=False)
            return None
        del _seen_once[key]
    table = _comb_table(curve, point)  # outside the lock: other checks go on meanwhile
    if table is not None:
        with _key_lock:
            _key_tables[key] = table
            if len(_key_tables) > _KEY_TABLES:
                _key_tables.popitem(last=False)
    return table


def _multiply(curve: Curve, k: int, point: Point) -> _Jacobian:
    """k·P for a point known only now (a public key): 4-bit fixed window, left to right."""
    table: list[_Jacobian] = [(*point, 1)]
    for _ in range(_DIGITS - 1):
        table.append(_add(curve, table[-1], table[0]))
    acc = _INFINITY
    for shift in range(-(-k.bit_length() // _WINDOW) * _WINDOW - _WINDOW, -1, -_WINDOW):
        for _ in range(_WINDOW):
            acc = _double(curve, acc)
        digit = (k >> shift) & _DIGITS
        if digit:
            acc = _add(curve, acc, table[digit - 1])
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


def _affine_all(curve: Curve, points: list[_Jacobian]) -> tuple[Point, ...]:
    """Many points to affine with one inversion (Montgomery's trick); none may be infinity."""
    p = curve.p
    prefix = [1]
    for _, _, z in points:
        prefix.append(prefix[-1] * z % p)
    inverse = pow(prefix[-1], -1, p)
    out: list[Point] = [(0, 0)] * len(points)
    for i in range(len(points) - 1, -1, -1):
        x, y, z = points[i]
        zi = inverse * prefix[i] % p  # 1/z_i
        inverse = inverse * z % p
        zi2 = zi * zi % p
        out[i] = (x * zi2 % p, y * zi2 * zi % p)
    return tuple(out)
