"""A phone of the app «К врачу» in the web tests: a TestClient with a P-256 key pair that
stands for the browser's non-extractable one and signs challenges as WebCrypto does (raw
r‖s), and a software WebAuthn platform authenticator for biometrics."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from httpx import Response

from medsign.domain.app_devices import PIN_MISMATCH, signed_message
from tests.integration.web import stand

COOKIE = "medsign_app_device"
PIN = "2468"
HOST = "testserver.local"  # TestClient's; the server's cookies are for it


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Phone:
    """A browser with its device key, as the app's page uses it."""

    client: TestClient
    key: ec.EllipticCurvePrivateKey

    @property
    def public_key(self) -> str:
        spki = self.key.public_key().public_bytes(Encoding.DER,
                                                  PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(spki).decode()

    def csrf(self) -> str:
        return stand.csrf(self.client.get("/support"))

    def post(self, path: str, body: dict[str, Any] | None = None) -> Response:
        answer: Response = self.client.post(path, json=body or {},
                                             headers={"X-CSRF-Token": self.csrf()})
        return answer

    def bind(self, pin: str = PIN) -> Response:
        return self.post("/app/api/device/bind", {"public_key": self.public_key, "pin": pin})

    def challenge(self) -> dict[str, str]:
        r = self.post("/app/api/device/challenge")
        assert r.status_code == 200, r.text
        answer: dict[str, str] = r.json()
        return answer

    def sign(self, device_id: str, challenge: str,
             key: ec.EllipticCurvePrivateKey | None = None) -> str:
        der = (key or self.key).sign(signed_message(device_id, challenge),
                                     ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def unlock(self, pin: str = PIN) -> Response:
        got = self.challenge()
        return self.post("/app/api/device/unlock", {
            "challenge": got["challenge"], "signature": self.sign(got["device_id"],
                                                                  got["challenge"]),
            "pin": pin})

    def forget_session(self) -> None:
        """The session ends (closed app, timeout); the device cookie stays."""
        device = self.client.cookies.get(COOKIE)
        self.client.cookies.clear()
        if device is not None:
            self.client.cookies.set(COOKIE, device, domain=HOST)


def phone(client: TestClient) -> Phone:
    return Phone(client, ec.generate_private_key(ec.SECP256R1()))


def bound_phone(client: TestClient) -> Phone:
    """pat1 logged in on the portal, opened the app's welcome and created the PIN; then the
    session ended (the device cookie stays)."""
    stand.logged_in(client, "pat1", path="/portal/login")
    page = client.get("/app/welcome")
    assert page.status_code == 200 and "Создание PIN-кода" in page.text
    assert PIN_MISMATCH in page.text  # the exact seed message, for the page's script
    made = phone(client)
    r = made.bind()
    assert r.status_code == 200, r.text
    assert client.cookies.get(COOKIE) == r.json()["device_id"]
    made.forget_session()
    return made


@dataclass
class Authenticator:
    """A platform authenticator in software: ``none`` attestation, an ES256 credential, a
    sign counter; each answer can be bent the way a test needs."""

    rp_id: str
    origin: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: os.urandom(16))
    count: int = 0

    def create(self, options: dict[str, Any], *, verified: bool = True) -> dict[str, Any]:
        assert options["rp"]["id"] == self.rp_id
        assert options["authenticatorSelection"]["userVerification"] == "required"
        numbers = self.key.public_key().public_numbers()
        cose = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})
        data = (self._head(self.rp_id, verified, attested=True) + bytes(16)
                + len(self.credential_id).to_bytes(2, "big") + self.credential_id + cose)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": data})
        return self._credential({"clientDataJSON": b64url(self._client("webauthn.create",
                                                                       options["challenge"])),
                                 "attestationObject": b64url(attestation)})

    def get(self, options: dict[str, Any], *, verified: bool = True, origin: str | None = None,
            rp_id: str | None = None, step: int = 1) -> dict[str, Any]:
        self.count += step
        client = self._client("webauthn.get", options["challenge"], origin)
        data = self._head(rp_id or self.rp_id, verified)
        signature = self.key.sign(data + hashlib.sha256(client).digest(),
                                  ec.ECDSA(hashes.SHA256()))
        return self._credential({"clientDataJSON": b64url(client),
                                 "authenticatorData": b64url(data),
                                 "signature": b64url(signature)})

    def _head(self, rp_id: str, verified: bool, attested: bool = False) -> bytes:
        flags = 0x01 | (0x04 if verified else 0) | (0x40 if attested else 0)
        return (hashlib.sha256(rp_id.encode()).digest() + bytes([flags])
                + self.count.to_bytes(4, "big"))

    def _client(self, kind: str, challenge: str, origin: str | None = None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge,
                           "origin": origin or self.origin, "crossOrigin": False}).encode()

    def _credential(self, response: dict[str, str]) -> dict[str, Any]:
        return {"id": b64url(self.credential_id), "rawId": b64url(self.credential_id),
                "type": "public-key", "response": response, "clientExtensionResults": {},
                "authenticatorAttachment": "platform"}


