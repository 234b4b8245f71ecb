"""Passwords of staff and portal accounts: the policy, and Argon2 hashing.

Policy: at least ``MIN_LENGTH`` characters, not the login, not one of a small list of the most
common passwords. The demo profile alone also accepts ``demo`` (its accounts are public by
design); everywhere else such a password is refused when set *and* at login, so that a demo
database moved into production cannot be entered with it.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 512  # hashing cost is per byte: refuse megabyte "passwords" before hashing
DEMO_PASSWORD = "demo"

# The top of public leak lists (Latin and Russian layouts), plus this product's own words.
COMMON = frozenset({
    "1234567890", "0123456789", "12345678910", "123456789a", "1234567890a", "1q2w3e4r5t",
    "1q2w3e4r5t6y", "qwertyuiop", "qwerty1234", "qwerty12345", "qwerty123456",
    "password12", "password123", "password1234", "passw0rd123", "1qaz2wsx3edc",
    "zaq12wsxcde", "zaq1zaq1zaq1", "asdfghjkl1", "iloveyou12", "administrator",
    "admin12345", "admin123456", "welcome123", "letmein123", "0987654321", "9876543210",
    "1111111111", "0000000000", "aaaaaaaaaa", "abcdefghij", "abc1234567", "changeme123",
    "йцукенгшщз", "йцукен1234", "пароль1234", "пароль12345", "парольпароль", "qwertyqwerty",
    "medsign123", "medsign2026", "gosuslugi123", "moscow2026", "russia2026", "demo123456",
    "demodemodemo", "test123456", "testtesttest",
})


def problems(password: str, *, login: str, allow_demo: bool) -> list[str]:
    """Why ``password`` may not be used (in Russian); empty when it may."""
    if allow_demo and password == DEMO_PASSWORD:
        return []
    found = []
    if len(password) < MIN_LENGTH:
        found.append(f"пароль короче {MIN_LENGTH} символов")
    if len(password) > MAX_LENGTH:
        found.append(f"пароль длиннее {MAX_LENGTH} символов")
    folded = password.casefold()
    if login and folded == login.casefold():
        found.append("пароль совпадает с логином")
    if folded in COMMON:
        found.append("пароль из списка самых распространённых")
    if not password.strip():
        found.append("пароль состоит из одних пробелов")
    return found


def acceptable(password: str, *, login: str, allow_demo: bool) -> bool:
    return not problems(password, login=login, allow_demo=allow_demo)


_hasher = PasswordHasher()
_dummy_hash: str | None = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(stored_hash: str | None, password: str) -> bool:
    """Check ``password``; with no hash (unknown user) spend the same time and say no."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash or _dummy(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("medsign-no-such-user")
    return _dummy_hash
