"""The fonts the project's PDFs are set in, shipped inside the package.

A fresh machine with only Python and PyPI has no Cyrillic TrueType font, and no PyPI package
ships DejaVu, so the package carries two cuts of DejaVu Sans (regular and bold, the DejaVu
licence in ``fonts/LICENSE`` allows it): the working set — Latin with its extensions, Cyrillic
with its supplement, general punctuation, №, ₽, € and the replacement character — ~90 KB each.
``writer`` embeds a cut whole, so a document costs no font work at all.

``cutting`` makes the cuts (it needs fontTools, which comes with the ``emulators`` extra).
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from medsign.pdf import writer

REGULAR, BOLD = "DejaVuSans-medsign.ttf", "DejaVuSans-Bold-medsign.ttf"
REPLACEMENT = "\ufffd"


def path(name: str = REGULAR) -> Path:
    """Where a shipped cut lies (the emulator looks for it when the system has no DejaVu)."""
    return Path(str(resources.files("medsign.pdf").joinpath("fonts", name)))


@functools.cache
def regular() -> writer.Font:
    """The regular face, prepared once per process."""
    return writer.load_font(path(REGULAR).read_bytes(), slot=0)


@functools.cache
def bold() -> writer.Font:
    """The bold face, prepared once per process (for ``writer.render(..., bold=)``)."""
    return writer.load_font(path(BOLD).read_bytes(), slot=1)


def printable(text: str, font: writer.Font) -> str:
    """``text`` with every character the font does not have replaced by U+FFFD (left out if
    the font has no U+FFFD either), so a rare letter shows as a visible gap rather than
    breaking the document."""
    if font.covers(text):
        return text
    mark = REPLACEMENT if font.covers(REPLACEMENT) else ""
    return "".join(ch if font.covers(ch) else mark for ch in text)
