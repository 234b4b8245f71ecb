"""The writer's own TrueType reader against fontTools, an independent parser: the shipped cuts,
the system's DejaVu (cmap format 12, thousands of glyphs, an oblique face) when it is there."""

from __future__ import annotations

from pathlib import Path

import pytest
from fontTools import ttLib

from medsign.pdf import fonts, truetype

SYSTEM_FONTS = [Path("/usr/share/fonts/truetype/dejavu") / name
                for name in ("DejaVuSans.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSansMono.ttf")]


def shipped_and_system_fonts() -> list[Path]:
    return [fonts.path(fonts.REGULAR), fonts.path(fonts.BOLD),
            *(p for p in SYSTEM_FONTS if p.is_file())]


@pytest.mark.parametrize("path", shipped_and_system_fonts(), ids=lambda p: p.name)
def test_the_reader_sees_what_fonttools_sees(path: Path) -> None:
    ours, theirs = truetype.read(path.read_bytes()), ttLib.TTFont(path)
    order = theirs.getGlyphOrder()
    assert ours.advances == tuple(theirs["hmtx"].metrics[name][0] for name in order)
    assert ours.cmap == {cp: theirs.getGlyphID(name)
                         for cp, name in theirs.getBestCmap().items() if name != ".notdef"}
    head, hhea = theirs["head"], theirs["hhea"]
    assert ours.units_per_em == head.unitsPerEm
    assert ours.bbox == (head.xMin, head.yMin, head.xMax, head.yMax)
    assert (ours.ascent, ours.descent) == (hhea.ascent, hhea.descent)
    assert ours.italic_angle == theirs["post"].italicAngle
    assert ours.postscript_name == theirs["name"].getDebugName(6)
    stated = getattr(theirs["OS/2"], "sCapHeight", 0)
    assert ours.cap_height == (stated or theirs["glyf"]["H"].yMax)


def test_the_shipped_cut_maps_cyrillic_and_the_replacement_mark() -> None:
    font = truetype.read(fonts.path().read_bytes())
    for ch in "ЁЖЩёжщ№₽\ufffd":
        assert font.cmap[ord(ch)] > 0
    assert ord("伊") not in font.cmap


@pytest.mark.parametrize("raw", [b"", b"not a font at all", b"OTTO" + bytes(60),
                                 fonts.path().read_bytes()[:2000]],
                         ids=["empty", "text", "cff", "truncated"])
def test_what_is_not_a_whole_truetype_font_is_refused(raw: bytes) -> None:
    with pytest.raises(truetype.FontError):
        truetype.read(raw)
