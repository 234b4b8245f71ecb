"""Cutting a TrueType font down to the characters the project's documents use.

The cuts shipped in ``fonts/`` are the working set of DejaVu Sans; ``rebuild(source_dir)``
makes them again from a DejaVu installation (Debian: ``fonts-dejavu-core``,
``/usr/share/fonts/truetype/dejavu``)::

    python -c "from medsign.pdf import cutting; cutting.rebuild()"

The Goskey emulator cuts the system's DejaVu at run time, to its own set and a document's
other characters when it has some. fontTools does the cutting: it comes with the ``emulators``
extra (the service only reads the shipped cuts, with ``truetype``).
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable
from pathlib import Path

from fontTools import subset, ttLib

from medsign.pdf import fonts

SOURCES = {fonts.REGULAR: "DejaVuSans.ttf", fonts.BOLD: "DejaVuSans-Bold.ttf"}
SYSTEM_DIR = Path("/usr/share/fonts/truetype/dejavu")
WORKING_SET = frozenset(itertools.chain(
    range(0x20, 0x7F), range(0xA0, 0x250), range(0x400, 0x530), range(0x2010, 0x203B),
    (0x20AC, 0x20BD, 0x2116, 0x2122, ord(fonts.REPLACEMENT))))
# tables a PDF viewer never uses from an embedded TrueType font (layout, colour, bitmaps,
# FontForge timestamps): not kept
_DROPPED = ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "sbix", "CBDT", "CBLC",
            "EBDT", "EBLC", "EBSC", "SVG ", "CPAL", "COLR"]


def cut(source: Path, unicodes: Iterable[int] = WORKING_SET) -> bytes:
    """The code points ``unicodes`` of the TrueType font ``source`` (those it has), hinting
    kept."""
    parsed = ttLib.TTFont(source, recalcTimestamp=False)
    options = subset.Options(notdef_outline=True, recommended_glyphs=True, name_IDs=["*"],
                             name_languages=["*"])
    options.drop_tables += _DROPPED
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(unicodes))
    subsetter.subset(parsed)
    buffer = io.BytesIO()
    parsed.save(buffer)
    return buffer.getvalue()


def rebuild(source_dir: Path = SYSTEM_DIR) -> None:
    for target, source in SOURCES.items():
        fonts.path(target).write_bytes(cut(source_dir / source))
