"""The signer is the patient (DESIGN.md §6): compare the identity the platform put into a signed
document with the patient record before the medical organisation counter-signs.

The platform fills ``signerInfo`` from the Госуслуги profile of the phone's owner, so a
relative's phone or a typo in the МИС shows up here as a different person. Names are compared
the way people write them, not byte for byte: ``ё`` and ``е`` are the same letter, case does
not matter, repeated and edge spaces do not count, nor do spaces around a hyphen
(«Петрова - Водкина» is «Петрова-Водкина»). A missing middle name equals a missing (or blank)
one only. The birth date is compared only when the document carries one: the spec's list of
``signerInfo`` fields does not promise it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Self

_SPACES = re.compile(r"\s+")
_HYPHEN = re.compile(r"\s*[-‐‑–—]\s*")  # hyphen-minus and the dashes keyboards produce
_FIELDS = (("last_name", "фамилия"), ("first_name", "имя"), ("middle_name", "отчество"))


def normalize_name(value: str | None) -> str:
    """One name part as compared: lower case, ё as е, single spaces, no spaces at hyphens."""
    text = _SPACES.sub(" ", (value or "").strip()).lower().replace("ё", "е")
    return _HYPHEN.sub("-", text)


@dataclass(frozen=True)
class Identity:
    """A person as one side knows them; ``birth_date`` None: that side does not say."""

    last_name: str
    first_name: str
    middle_name: str | None = None
    birth_date: date | None = None

    @property
    def full_name(self) -> str:
        parts = (self.last_name, self.first_name, self.middle_name)
        return " ".join(_SPACES.sub(" ", p.strip()) for p in parts if p and p.strip())

    def describe(self) -> str:
        """«Фамилия Имя Отчество, 14.03.1985» — how the console shows one side."""
        born = f", {self.birth_date:%d.%m.%Y}" if self.birth_date else ""
        return (self.full_name or "—") + born

    def to_json(self) -> dict[str, Any]:
        return {"last_name": self.last_name, "first_name": self.first_name,
                "middle_name": self.middle_name,
                "birth_date": self.birth_date.isoformat() if self.birth_date else None}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Self:
        born = raw.get("birth_date")
        return cls(last_name=str(raw.get("last_name") or ""),
                   first_name=str(raw.get("first_name") or ""),
                   middle_name=raw.get("middle_name") or None,
                   birth_date=date.fromisoformat(born) if born else None)


@dataclass(frozen=True)
class SignerMismatch:
    """Who signed (``document``, as the platform's XML says) versus who should have
    (``patient``, as the patient record says), and what differs (Russian field names)."""

    document_title: str
    document: Identity
    patient: Identity
    differences: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"document_title": self.document_title, "document": self.document.to_json(),
                "patient": self.patient.to_json(), "differences": list(self.differences)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Self:
        return cls(document_title=str(raw.get("document_title") or ""),
                   document=Identity.from_json(raw.get("document") or {}),
                   patient=Identity.from_json(raw.get("patient") or {}),
                   differences=tuple(str(d) for d in raw.get("differences") or ()))

    @property
    def reason(self) -> str:
        """The request's reason, for staff (it names both people)."""
        return (f"Подписант не совпадает с пациентом ({', '.join(self.differences)}): "
                f"в документах платформы — {self.document.describe()}, "
                f"в карте пациента — {self.patient.describe()}.")


def differences(signer: Identity, patient: Identity) -> tuple[str, ...]:
    """What differs between the signer and the patient (Russian field names); empty: same."""
    found = [label for name, label in _FIELDS
             if normalize_name(getattr(signer, name)) != normalize_name(getattr(patient, name))]
    if signer.birth_date is not None and signer.birth_date != patient.birth_date:
        found.append("дата рождения")
    return tuple(found)


def first_mismatch(signers: Sequence[tuple[str, Identity]],
                   patient: Identity) -> SignerMismatch | None:
    """The first document (``(title, signer)``) whose signer is not the patient, or None."""
    for title, signer in signers:
        found = differences(signer, patient)
        if found:
            return SignerMismatch(title, signer, patient, found)
    return None
