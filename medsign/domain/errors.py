"""Errors raised by the domain layer.

Every rule violation is a ``DomainError``: a stable machine ``code`` that API
clients and tests can rely on, and a Russian ``message`` that can be shown to
a patient, a doctor or an operator as is. The tree::

    ValueError
     └── DomainError            code, message, field
          └── InvalidTransition  code="invalid_transition"; current, target

They derive from ``ValueError`` because all of them mean "this input or this
command is wrong": retrying the same call will fail the same way.
"""

from __future__ import annotations


class DomainError(ValueError):
    """A business rule was violated; ``field`` names the offending input, if any."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, field={self.field!r})"


class InvalidTransition(DomainError):
    """A state machine was asked to make a move its table does not allow."""

    def __init__(
        self, message: str, *, current: str | None = None, target: str | None = None
    ) -> None:
        super().__init__("invalid_transition", message)
        self.current = current
        self.target = target
