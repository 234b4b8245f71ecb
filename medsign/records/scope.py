"""Tenancy: which medical organisations a caller may see and change."""

from __future__ import annotations

from dataclasses import dataclass

from medsign.errors import NotFound


@dataclass(frozen=True)
class Scope:
    """``organizations is None`` means every organisation of the installation."""

    actor: str
    organizations: frozenset[str] | None = None

    def allows(self, code: str) -> bool:
        return self.organizations is None or code in self.organizations

    def require(self, code: str, *, what: str = "organization") -> None:
        """Refuse an organisation outside the scope exactly as if it did not exist."""
        if not self.allows(code):
            raise NotFound(f"{what}_not_found", f"Медицинская организация «{code}» не найдена.")


SYSTEM = Scope(actor="system")
