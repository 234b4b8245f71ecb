"""The fonts the project's PDFs are set in, shipped inside the package.

A fresh machine with only Python and PyPI has no Cyrillic TrueType font, and no PyPI package
ships DejaVu, so the package carries two cuts of DejaVu Sans (regular and bold, the DejaVu
licence in ``fonts/LICENSE`` allows it): the working set — Latin with its extensions, Cyrillic
with its supplement, general punctuation, №, ₽, € and the replacement character — ~90 KB each.
``writer`` embeds a cut whole, so a document costs no font work at all.

``rebuild(source_dir)`` makes the cuts again from a DejaVu installation (Debian:
``fonts-dejavu-core``, ``/usr/share/fonts/truetype/dejavu``)::

    python -c "from medsign.pdf import fonts; fonts.rebuild()"
"""

from __future__ import annotations

import functools
import io
import itertools
from importlib import resources
from pathlib import Path

from fontTools import subset, ttLib

from medsign.pdf import writer

REGULAR, BOLD = "DejaVuSans-medsign.ttf", "DejaVuSans-Bold-medsign.ttf"
SOURCES = {REGULAR: "DejaVuSans.ttf", BOLD: "DejaVuSans-Bold.ttf"}
SYSTEM_DIR = Path("/usr/share/fonts/truetype/dejavu")
REPLACEMENT = "\ufffd"
WORKING_SET = frozenset(itertools.chain(
    range(0x20, 0x7F), range(0xA0, 0x250), range(0x400, 0x530), range(0x2010, 0x203B),
    (0x20AC, 0x20BD, 0x2116, 0x2122, ord(REPLACEMENT))))
# tables a PDF viewer never uses from an embedded TrueType font (layout, colour, bitmaps,
# FontForge timestamps): not kept
_DROPPED = ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "sbix", "CBDT", "CBLC",
            "EBDT", "EBLC", "EBSC", "SVG ", "CPAL", "COLR"]


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
    """``text`` with every character the cut does not have replaced by U+FFFD, so a rare
    letter shows as a visible gap rather than breaking the document."""
    if font.covers(text):
        return text
    return "".join(ch if font.covers(ch) else REPLACEMENT for ch in text)


def cut(source: Path) -> bytes:
    """The working set of the TrueType font ``source``, hinting kept."""
    parsed = ttLib.TTFont(source, recalcTimestamp=False)
    options = subset.Options(notdef_outline=True, recommended_glyphs=True, name_IDs=["*"],
                             name_languages=["*"])
    options.drop_tables += _DROPPED
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(WORKING_SET))
    subsetter.subset(parsed)
    buffer = io.BytesIO()
    parsed.save(buffer)
    return buffer.getvalue()


def rebuild(source_dir: Path = SYSTEM_DIR) -> None:
    for target, source in SOURCES.items():
        path(target).write_bytes(cut(source_dir / source))
