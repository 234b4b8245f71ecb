"""What is wrong with a configuration, in words an operator can act on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MASK = "***"


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or, from :func:`settings_warnings`, doubtful) in the configuration.

    ``key`` is the dotted setting (``"signing.poll_interval"``); empty for the file as a whole.
    ``value`` is the value as given, with secrets replaced by ``"***"``.
    ``expected`` says in Russian what is expected instead.
    ``source`` is where the value came from: the file's path or the environment variable.
    """

    key: str
    value: str
    expected: str
    source: str = ""

    def __str__(self) -> str:
        where = f" (из {self.source})" if self.source else ""
        if not self.key:
            return f"файл {self.source or 'настроек'}: {self.value} — ожидается {self.expected}"
        return f"{self.key} = «{self.value}»{where}: ожидается {self.expected}"


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` lists everything found, not just the first."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)
