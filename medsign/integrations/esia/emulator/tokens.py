"""The emulator's JWT-shaped tokens, signed with its own GOST R 34.10-2012 (256) key.

``header.payload.signature``, each base64url without padding; the signature is the raw GOST
signature (``s‖r``, as in CMS) over Streebog-256 of ``header.payload``. The service does not
check it (the token comes straight from ESIA over TLS); the emulator signs for realism and
:meth:`TokenSigner.verify` lets tests prove a token was not altered. The certificate is at
``/_emulator/certificate.pem``; with a ``state_dir`` the key survives restarts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medsign.crypto import KeyPair, gost, make_ca, save_pem
from medsign.crypto.certs import parse_certificate
from medsign.crypto.keys import certificate_pem, load_pem, load_private_key
from medsign.httpsafe import bodies
from medsign.integrations.esia.schemas import b64url_decode, b64url_encode

ALGORITHM = "GOST3410_2012_256"
KEYS_DIR = "esia-keys"
_NAME = "ЕСИА (эмулятор): подпись маркеров"


class TokenSigner:
    def __init__(self, pair: KeyPair) -> None:
        self._key = load_private_key(pair.private_key)
        self._public = parse_certificate(pair.certificate_der).public_key()
        self.certificate_pem = certificate_pem(pair.certificate_der)

    @classmethod
    def load_or_create(cls, state_dir: Path | None) -> TokenSigner:
        if state_dir is None:
            return cls(_new_pair())
        key, cert = state_dir / KEYS_DIR / "token.key", state_dir / KEYS_DIR / "token.pem"
        if key.is_file() and cert.is_file():
            return cls(load_pem(key, cert))
        pair = _new_pair()
        save_pem(pair, key, cert)
        return cls(pair)

    def make(self, claims: dict[str, Any], *, kind: str) -> str:
        """A token of ``kind`` (``access``, ``id``) carrying ``claims``."""
        header = {"alg": ALGORITHM, "typ": "JWT", "sbt": kind, "ver": 1}
        signed = f"{_part(header)}.{_part(claims)}"
        signature = gost.sign_digest(self._key, gost.streebog(signed.encode("ascii")))
        return f"{signed}.{b64url_encode(signature)}"

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims when the signature holds, else ``None``."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            signature = b64url_decode(parts[2])
            claims = bodies.loads(b64url_decode(parts[1]))
        except ValueError:
            return None
        digest = gost.streebog(f"{parts[0]}.{parts[1]}".encode())
        if not isinstance(claims, dict) or not gost.verify_digest(self._public, digest,
                                                                  signature):
            return None
        return claims


def _part(value: dict[str, Any]) -> str:
    return b64url_encode(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def _new_pair() -> KeyPair:
    # self-signed is enough: nobody is meant to chain this certificate anywhere
    return make_ca(_NAME, organization="Минцифры России (эмулятор ЕСИА)")
