"""What the Goskey emulator can be told when it is built."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from medsign.integrations.goskey.emulator.people import Person, read_people_file
from medsign.pdf import fonts

FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
    Path("/usr/local/share/fonts/DejaVuSans.ttf"),
    fonts.path(),  # the cut shipped with medsign, when the system has no DejaVu
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class EmulatorConfig:
    """``token``: the partner token expected raw in ``Authorization``.

    ``state_dir``: where the emulated CA and operator keys live (made on first start) and where
    ``operator-ca.pem`` is written for the service to trust; also keeps the transactions in
    ``goskey-emulator.sqlite3`` so a restart loses nothing. ``None``: all in memory.
    ``mo_trust``: PEM files of the medical organisations' CAs; empty means an uploaded
    signature is only checked to be a well-formed CMS whose digest matches a document.
    ``font_path``: a TTF with Cyrillic glyphs for the PDFs (DejaVu Sans is looked for).
    ``rate_limit_per_s``: answer ``429`` beyond this many platform calls per second.
    ``expire_after_s``: a transaction the patient ignores this long becomes ``cancelled``
    with reason ``expired`` (checked when it is looked at).
    ``people``: the Госуслуги accounts by phone whose profiles fill the documents;
    ``people_file``: more of them from a JSON file (``people.read_people_file``).
    ``unknown_phones``: ``"refuse"`` — ``send`` for a phone with no account answers
    ``404 person.not.found``, as the real platform would; ``"invent"`` — a stable made-up
    profile (a permissive mode for tests of the emulator alone). See ``people.py``.
    """

    token: str
    state_dir: Path | None = None
    mo_trust: tuple[Path, ...] = ()
    font_path: Path | None = None
    rate_limit_per_s: float | None = None
    expire_after_s: float | None = None
    operator_name: str = "Минцифры России (эмулятор Госключа)"
    people: tuple[Person, ...] = ()
    people_file: Path | None = None
    unknown_phones: str = "refuse"
    clock: Callable[[], datetime] = field(default=_utc_now, compare=False)

    def configured_people(self) -> tuple[Person, ...]:
        """``people`` and then the file's (a phone in both: the file wins)."""
        from_file = read_people_file(self.people_file) if self.people_file else ()
        return (*self.people, *from_file)

    def resolve_font(self) -> Path:
        if self.font_path is not None:
            if not self.font_path.is_file():
                raise FontNotFound(f"the configured font {self.font_path} does not exist")
            return self.font_path
        for candidate in FONT_CANDIDATES:
            if candidate.is_file():
                return candidate
        raise FontNotFound(
            "no TTF font with Cyrillic glyphs found for the emulator's PDFs: install DejaVu "
            "(Debian: apt-get install fonts-dejavu-core) or set font_path")


class FontNotFound(RuntimeError):
    pass
