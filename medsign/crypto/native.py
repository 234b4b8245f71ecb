"""Streebog through OpenSSL's GOST provider, when the machine has it.

Pure-Python Streebog hashes at ~3–4 s/MB; libcrypto with the ``gostprov`` provider (Debian
``libengine-gost-openssl``) does 100 KB in under a millisecond. The provider is loaded into a
private library context, so Python's own ``ssl``/``hashlib`` never see it. Anything missing
(no OpenSSL 3, no provider) simply means ``None`` and the caller hashes in Python; setting
``MEDSIGN_CRYPTO_NATIVE=0`` forces that path (tests compare both).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os

log = logging.getLogger("medsign.crypto")

_NAMES = {32: b"md_gost12_256", 64: b"md_gost12_512"}


class _Streebog:
    def __init__(self, lib: ctypes.CDLL, digests: dict[int, int]) -> None:
        self._lib = lib
        self._digests = digests

    def digest(self, data: bytes, size: int) -> bytes:
        out = ctypes.create_string_buffer(64)
        length = ctypes.c_uint(0)
        ok = self._lib.EVP_Digest(data, len(data), out, ctypes.byref(length),
                                  self._digests[size], None)
        if ok != 1 or length.value != size:
            raise RuntimeError("EVP_Digest failed")
        return out.raw[:size]


def streebog(data: bytes, size: int) -> bytes | None:
    """The digest from libcrypto, or ``None`` when the native path is unavailable."""
    impl = _load() if os.environ.get("MEDSIGN_CRYPTO_NATIVE", "1") != "0" else None
    return impl.digest(data, size) if impl else None


@functools.cache
def _load() -> _Streebog | None:
    try:
        lib = _libcrypto()
        ctx = lib.OSSL_LIB_CTX_new()
        if not ctx or not lib.OSSL_PROVIDER_load(ctx, b"gostprov"):
            return None
        digests = {size: lib.EVP_MD_fetch(ctx, name, None) for size, name in _NAMES.items()}
    except (OSError, AttributeError):  # no libcrypto, or 1.1 without library contexts
        return None
    if not all(digests.values()):
        return None
    log.debug("Streebog: OpenSSL gostprov")
    return _Streebog(lib, digests)


def _libcrypto() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("crypto") or "libcrypto.so.3")
    lib.OSSL_LIB_CTX_new.restype = ctypes.c_void_p
    lib.OSSL_LIB_CTX_new.argtypes = []
    lib.OSSL_PROVIDER_load.restype = ctypes.c_void_p
    lib.OSSL_PROVIDER_load.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.EVP_MD_fetch.restype = ctypes.c_void_p
    lib.EVP_MD_fetch.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    lib.EVP_Digest.restype = ctypes.c_int
    lib.EVP_Digest.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                               ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p, ctypes.c_void_p]
    return lib
