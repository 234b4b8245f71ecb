"""The emulated operator's keys (its seal on every file) and the check of the MO's uploads.

The emulated CA issues the operator's GOST R 34.10-2012 (256) certificate. Both are made at
start, or kept in ``state_dir/goskey-operator/`` so that a restarted emulator signs with the
same certificate; ``state_dir/operator-ca.pem`` is the CA certificate the service must trust.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import pem

from medsign.crypto import (
    KeyPair,
    SignatureInvalid,
    TrustStore,
    issue_certificate,
    make_ca,
    save_pem,
    verify_detached,
)
from medsign.crypto.keys import certificate_pem
from medsign.crypto.signers import PureSigner

CA_FILE = "operator-ca.pem"
KEYS_DIR = "goskey-operator"
_ORGANIZATION = "Минцифры России (эмулятор)"


class Operator:
    def __init__(self, ca_certificate_der: bytes, seal_keys: KeyPair) -> None:
        self.ca_pem = certificate_pem(ca_certificate_der)
        self._signer = PureSigner(seal_keys)  # also checks that the key fits the certificate

    def seal(self, data: bytes) -> bytes:
        """A DER detached CMS over ``data`` by the operator's certificate."""
        return self._signer.sign(data)

    @classmethod
    def load_or_create(cls, state_dir: Path | None, *, name: str) -> Operator:
        if state_dir is None:
            ca, seal_keys = _new_keys(name)
            return cls(ca.certificate_der, seal_keys)
        folder = state_dir / KEYS_DIR
        files = [folder / n for n in ("ca.key", "ca.pem", "operator.key", "operator.pem")]
        if all(f.is_file() for f in files):
            ca_der, seal_keys = _der(files[1]), KeyPair(_der(files[2]), _der(files[3]))
        else:
            ca, seal_keys = _new_keys(name)
            save_pem(ca, files[0], files[1])
            save_pem(seal_keys, files[2], files[3])
            ca_der = ca.certificate_der
        (state_dir / CA_FILE).write_bytes(certificate_pem(ca_der))
        return cls(ca_der, seal_keys)


def _der(path: Path) -> bytes:
    data = path.read_bytes()
    return pem.unarmor(data)[2] if pem.detect(data) else data


def _new_keys(name: str) -> tuple[KeyPair, KeyPair]:
    ca = make_ca("Эмулятор УЦ Госключа", organization=_ORGANIZATION)
    return ca, issue_certificate(ca, common_name=name, organization=_ORGANIZATION,
                                 ogrn="1047702026701", inn="7710474375", valid_days=3650)


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    covers: str | None
    detail: str


class UploadVerifier:
    """Finds which document an MO signature covers (each PDF, each XML, the whole archive —
    the modes ``pdf``, ``pdf+xml`` and ``zip``) and checks it, against the MO trust store when
    one is configured."""

    def __init__(self, trust: TrustStore | None) -> None:
        self.trust = trust

    @classmethod
    def from_files(cls, paths: Sequence[Path]) -> UploadVerifier:
        if not paths:
            return cls(None)
        return cls(TrustStore.from_pem(b"\n".join(p.read_bytes() for p in paths)))

    def verify(self, signature: bytes, candidates: Sequence[tuple[str, bytes]]) -> Verdict:
        for name, data in candidates:
            try:
                report = verify_detached(data, signature, trust=self.trust)
            except SignatureInvalid as exc:
                if exc.code == "digest_mismatch":
                    continue
                return Verdict(False, name, f"{exc.code}: {exc.message}")
            return Verdict(True, name, f"signed by {report.signer_subject}")
        return Verdict(False, None, "digest_mismatch: the signature covers none of the "
                                    "transaction's documents")
