"""What the writer needs to know about a TrueType font, read straight from its tables.

The writer embeds a font file whole, so it needs only the glyph advances (``hmtx``), the
character map (``cmap``) and the few numbers of the PDF font descriptor (``head``, ``hhea``,
``OS/2``, ``post``, ``name``; the height of "H" from ``glyf`` when ``OS/2`` is too old to state
the cap height). Reading them takes a page of ``struct``, so the service sets its PDFs in the
cuts shipped in ``fonts/`` without fontTools, which only the emulators need to cut fonts down
(the ``emulators`` extra).

Supported: TrueType outlines (``glyf``; CFF fonts cannot be embedded as ``FontFile2``), the
``cmap`` subtable formats 4 and 12 — what fontTools and font editors write for Unicode.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# the Unicode subtables in the order of preference (fontTools' getBestCmap picks the same way)
_CMAP_PREFERENCE = ((3, 10), (0, 6), (0, 4), (3, 1), (0, 3), (0, 2), (0, 1), (0, 0))
_ENGLISH = ((3, 0x409), (1, 0))  # (platform, language) of an English name record


class FontError(ValueError):
    """Not a TrueType font the writer can embed (another format, a table missing, damage)."""


@dataclass(frozen=True)
class Metrics:
    """All in font units (``units_per_em`` to the em) except ``italic_angle`` (degrees)."""

    units_per_em: int
    bbox: tuple[int, int, int, int]  # xMin, yMin, xMax, yMax over all glyphs
    ascent: int
    descent: int
    cap_height: int  # 0 when the font states none and has no "H"
    italic_angle: float
    postscript_name: str
    advances: tuple[int, ...]  # per glyph id
    cmap: dict[int, int]  # code point -> glyph id (never the .notdef glyph 0)


def read(raw: bytes) -> Metrics:
    try:
        return _read(raw, _tables(raw))
    except (struct.error, IndexError, KeyError) as exc:
        raise FontError(f"damaged or incomplete TrueType font ({exc!r})") from None


def _tables(raw: bytes) -> dict[str, bytes]:
    version, count = struct.unpack_from(">IH", raw)
    if version not in (0x00010000, 0x74727565):  # 1.0 or "true"; "OTTO" would be CFF
        raise FontError("not a TrueType font")
    tables = {}
    for i in range(count):
        tag, _checksum, offset, length = struct.unpack_from(">4sIII", raw, 12 + 16 * i)
        tables[tag.decode("latin-1")] = raw[offset:offset + length]
    return tables


def _read(raw: bytes, tables: dict[str, bytes]) -> Metrics:
    head, hhea = tables["head"], tables["hhea"]
    units_per_em, = struct.unpack_from(">H", head, 18)
    bbox = struct.unpack_from(">4h", head, 36)
    ascent, descent = struct.unpack_from(">hh", hhea, 4)
    cmap = _cmap(tables["cmap"])
    return Metrics(
        units_per_em=units_per_em, bbox=bbox, ascent=ascent, descent=descent,
        cap_height=_cap_height(tables, cmap),
        italic_angle=struct.unpack_from(">i", tables["post"], 4)[0] / 65536,
        postscript_name=_name(tables["name"], 6), advances=_advances(tables), cmap=cmap)


def _advances(tables: dict[str, bytes]) -> tuple[int, ...]:
    """Every glyph's advance: the last of the ``hmtx`` pairs repeats for the glyphs after it."""
    glyphs, = struct.unpack_from(">H", tables["maxp"], 4)
    pairs, = struct.unpack_from(">H", tables["hhea"], 34)
    advances = [advance for advance, _bearing in
                struct.iter_unpack(">Hh", tables["hmtx"][:4 * pairs])]
    return tuple(advances + advances[-1:] * (glyphs - pairs))


def _cap_height(tables: dict[str, bytes], cmap: dict[int, int]) -> int:
    os2 = tables.get("OS/2", b"")
    if len(os2) >= 90 and struct.unpack_from(">H", os2, 0)[0] >= 2:
        stated, = struct.unpack_from(">h", os2, 88)
        if stated:
            return int(stated)
    return _top_of(tables, cmap.get(ord("H"), 0))


def _top_of(tables: dict[str, bytes], gid: int) -> int:
    """The highest point of glyph ``gid`` (0 for no glyph or an empty one)."""
    if not gid or "glyf" not in tables or "loca" not in tables:
        return 0
    long_offsets, = struct.unpack_from(">h", tables["head"], 50)
    if long_offsets:
        start, end = struct.unpack_from(">II", tables["loca"], 4 * gid)
    else:
        start, end = (2 * v for v in struct.unpack_from(">HH", tables["loca"], 2 * gid))
    if end <= start:
        return 0
    return int(struct.unpack_from(">h", tables["glyf"], start + 8)[0])


def _name(table: bytes, name_id: int) -> str:
    """Record ``name_id`` of the ``name`` table: the English one if any, else the last one that
    decodes."""
    count, strings = struct.unpack_from(">2xHH", table)
    found = ""
    for i in range(count):
        platform, encoding, language, number, length, offset = struct.unpack_from(
            ">6H", table, 6 + 12 * i)
        if number != name_id:
            continue
        data = table[strings + offset:strings + offset + length]
        text = data.decode("mac_roman") if platform == 1 and encoding == 0 else (
            data.decode("utf-16-be", "replace") if platform in (0, 3) else "")
        if text and (platform, language) in _ENGLISH:
            return text
        found = text or found
    return found


def _cmap(table: bytes) -> dict[int, int]:
    count, = struct.unpack_from(">2xH", table)
    offsets: dict[tuple[int, int], int] = {}
    for i in range(count):
        platform, encoding, offset = struct.unpack_from(">HHI", table, 4 + 8 * i)
        if struct.unpack_from(">H", table, offset)[0] in (4, 12):
            offsets.setdefault((platform, encoding), offset)
    for key in _CMAP_PREFERENCE:
        if key in offsets:
            offset = offsets[key]
            form, = struct.unpack_from(">H", table, offset)
            return _format_12(table, offset) if form == 12 else _format_4(table, offset)
    raise FontError("no Unicode character map (cmap format 4 or 12)")


def _format_4(table: bytes, at: int) -> dict[int, int]:
    """Segments of code points: each maps by an offset (``idDelta``) or through an array."""
    segments = struct.unpack_from(">H", table, at + 6)[0] // 2
    ends = struct.unpack_from(f">{segments}H", table, at + 14)
    starts_at = at + 16 + 2 * segments
    starts = struct.unpack_from(f">{segments}H", table, starts_at)
    deltas = struct.unpack_from(f">{segments}H", table, starts_at + 2 * segments)
    ranges_at = starts_at + 4 * segments
    ranges = struct.unpack_from(f">{segments}H", table, ranges_at)
    mapping: dict[int, int] = {}
    for i, (start, end, delta, range_offset) in enumerate(zip(starts, ends, deltas, ranges,
                                                              strict=True)):
        for code in range(start, min(end, 0xFFFE) + 1):
            if range_offset:
                where = ranges_at + 2 * i + range_offset + 2 * (code - start)
                gid, = struct.unpack_from(">H", table, where)
                gid = (gid + delta) & 0xFFFF if gid else 0
            else:
                gid = (code + delta) & 0xFFFF
            if gid:
                mapping[code] = gid
    return mapping


def _format_12(table: bytes, at: int) -> dict[int, int]:
    """Groups of consecutive code points mapped to consecutive glyph ids."""
    groups, = struct.unpack_from(">I", table, at + 12)
    mapping: dict[int, int] = {}
    for i in range(groups):
        start, end, first = struct.unpack_from(">III", table, at + 16 + 12 * i)
        mapping.update((code, first + code - start) for code in range(start, end + 1))
    return {code: gid for code, gid in mapping.items() if gid}
