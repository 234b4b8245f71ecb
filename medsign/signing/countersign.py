"""The medical organisation's counter-signature over what the patient signed.

What the MO uploads is not documented by the platform (spec §2.4); the mode is configurable:
``pdf`` (default) — a detached CMS over each PDF; ``pdf+xml`` — over each PDF and each XML;
``zip`` — one signature over the whole archive as received.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from medsign.crypto import Signer
from medsign.domain.signing_identity import IdentityStatus
from medsign.signing.archive import VerifiedArchive

ARCHIVE_NAME = "platform-archive.zip"


class SignerProvider(Protocol):
    def for_organization(self, code: str, *, name: str, ogrn: str, inn: str) -> Signer:
        """The signer of the МО's newest identity in force; ``SignerUnavailable``
        (``mo_signing_unavailable``) when it has none."""

    def status(self, code: str, *, name: str, ogrn: str, inn: str,
               now: datetime) -> IdentityStatus:
        """What staff, metrics and the API are told about the МО's identity at ``now``."""


@dataclass(frozen=True)
class MoSignature:
    name: str
    covers: str
    content: bytes


def countersign(archive: VerifiedArchive, archive_bytes: bytes, *, signer: Signer, mode: str,
                signing_time: datetime) -> list[MoSignature]:
    if mode == "zip":
        return [MoSignature("подпись МО к архиву.p7s", ARCHIVE_NAME,
                            signer.sign(archive_bytes, signing_time=signing_time))]
    signatures = []
    for doc in archive.documents:
        files = [doc.pdf] if mode == "pdf" else [doc.pdf, doc.xml]
        for signed in files:
            stem = signed.name.rsplit(".", 1)[0]
            signatures.append(MoSignature(f"{stem} подпись МО.p7s", signed.name,
                                          signer.sign(signed.content, signing_time=signing_time)))
    return signatures
