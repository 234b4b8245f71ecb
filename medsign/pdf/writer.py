"""A small PDF writer for the project's documents: paragraphs of text in one TrueType font
(and, optionally, its bold face).

Used by the signing emulator (the consents the patient signs) and by the evidence package
(the signature sheet, «Лист подписания»); ``medsign.pdf.fonts`` ships the fonts.

The documents are plain — a centred heading, captions, justified paragraphs on A4 pages — so
this writer does only that, and does the font work once per process: a cut of DejaVu Sans
(``fonts`` ships two; the emulator cuts the system's, ``render.working_font``), read with
``truetype``, is embedded whole (compressed once), with its widths and a ToUnicode map, as a
Type 0 font with Identity-H encoding (a CID is the cut font's glyph id). A document then costs
the line breaking and a few string joins: well under a millisecond of font work (fpdf2, which
the emulator used before, took 9–20 ms a PDF: it parsed the font, laid the text out through
its general machinery and subset the font again on output).

The output is PDF 1.7: catalog, page tree, pages with one compressed content stream each, the
font (Type 0 → CIDFontType2 → FontDescriptor with FontFile2), an information dictionary, a
cross-reference table. Text is selectable and extractable (the ToUnicode map), and a document
renders the same bytes every time for the same content.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from medsign.pdf import truetype

PT_PER_MM = 72 / 25.4
PAGE_W, PAGE_H = 210.0, 297.0  # A4, mm
MARGIN = 10.0  # left, right, top (fpdf2's default), mm
BOTTOM = 20.0  # the bottom margin of the automatic page break, mm
PAD = 1.0  # the space between a cell's edge and its text, mm


@dataclass(frozen=True)
class Block:
    """One paragraph: ``size`` in pt, ``line`` height in mm, ``align`` "L", "C" or "J"
    (justified; the last line of a paragraph stays left-aligned), then ``space`` mm below.

    ``bold`` sets it in the bold face (when the document has one). ``indent`` mm moves the
    paragraph right; a ``label`` is then written in grey in that margin, from the first line
    down — a two-column "caption: value" row, each column wrapping inside itself."""

    text: str
    size: float
    line: float
    align: str = "J"
    space: float = 0.0
    bold: bool = False
    indent: float = 0.0
    label: str = ""
    keep: float = 0.0  # start a new page unless this many mm are left (keeps a group whole)


@dataclass(frozen=True)
class Font:
    """Everything about the embedded font a document needs, prepared once."""

    gids: dict[int, int]  # code point -> glyph id
    widths: tuple[float, ...]  # advance per glyph id, thousandths of the font size
    objects: tuple[bytes, ...]  # the font's PDF objects, numbered from first_object(slot)
    slot: int = 0  # 0: the regular face (/F1), 1: the bold one (/F2)

    def covers(self, text: str) -> bool:
        return all(ord(ch) in self.gids or ch in "\n\t\xad" for ch in text)

    def width(self, text: str, size: float) -> float:
        """Width of ``text`` at ``size`` pt, in mm."""
        return to_mm(self.advance(text), size)

    def advance(self, text: str, start: float = 0.0) -> float:
        """``start`` plus the advances of ``text``, in thousandths of the font size (added
        left to right: a line measured piece by piece comes out exactly as measured whole)."""
        gids, widths = self.gids, self.widths
        total = start
        for ch in text:
            total += widths[gids[ord(ch)]]
        return total


def to_mm(advance: float, size: float) -> float:
    return advance * size / 1000 / PT_PER_MM


# object numbers: 1 catalog, 2 pages, 3 info, 4-8 the font (9-13 the bold face, if any), then
# page and content pairs
CATALOG, PAGES, INFO, FIRST_FONT_OBJECT = 1, 2, 3, 4
FONT_OBJECTS = 5  # Type0, CIDFont, descriptor, FontFile2, ToUnicode
TAGS = ("MSGNEM", "MSGNEB")  # the subset tags of the embedded fonts' names (PDF 9.6.4)
TAG = TAGS[0]
LABEL_GREY = "0.35 g"  # the colour of a block's label
LABEL_GAP = 3.0  # the least space between a label and its text, mm


def first_object(slot: int) -> int:
    return FIRST_FONT_OBJECT + slot * FONT_OBJECTS


def load_font(raw: bytes, *, slot: int = 0) -> Font:
    """Read ``raw`` (a TrueType font, embedded whole) and build its PDF objects for ``slot``
    (0: the document's regular face, 1: its bold face); ``truetype.FontError`` if it is none."""
    first = first_object(slot)
    font = truetype.read(raw)
    scale = 1000 / font.units_per_em
    widths = tuple(round(advance * scale, 3) for advance in font.advances)
    name = f"{TAGS[slot]}+{font.postscript_name or 'Font'}".replace(" ", "")
    cap = font.cap_height or font.ascent
    bbox = " ".join(str(round(v * scale)) for v in font.bbox)
    type0 = (f"<< /Type /Font /Subtype /Type0 /BaseFont /{name} /Encoding /Identity-H "
             f"/DescendantFonts [{first + 1} 0 R] "
             f"/ToUnicode {first + 4} 0 R >>").encode()
    w = " ".join(_number(v) for v in widths)
    cid = (f"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{name} "
           f"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
           f"/FontDescriptor {first + 2} 0 R /DW 1000 /W [0 [{w}]] "
           f"/CIDToGIDMap /Identity >>").encode()
    descriptor = (f"<< /Type /FontDescriptor /FontName /{name} /Flags 32 /FontBBox [{bbox}] "
                  f"/ItalicAngle {font.italic_angle:g} "
                  f"/Ascent {round(font.ascent * scale)} /Descent {round(font.descent * scale)} "
                  f"/CapHeight {round(cap * scale)} /StemV 87 "
                  f"/FontFile2 {first + 3} 0 R >>").encode()
    font_file = _stream(zlib.compress(raw, 9), f"/Length1 {len(raw)} /Filter /FlateDecode")
    to_unicode = _stream(zlib.compress(_to_unicode(font.cmap), 9), "/Filter /FlateDecode")
    return Font(dict(font.cmap), widths, (type0, cid, descriptor, font_file, to_unicode), slot)


def _to_unicode(gids: dict[int, int]) -> bytes:
    """The CMap from glyph ids back to text (the lowest code point of each glyph)."""
    first: dict[int, int] = {}
    for cp in sorted(gids):
        first.setdefault(gids[cp], cp)
    pairs = sorted(first.items())
    lines = ["/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
             "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
             "/CMapName /Adobe-Identity-UCS def", "/CMapType 2 def",
             "1 begincodespacerange", "<0000> <FFFF>", "endcodespacerange"]
    for start in range(0, len(pairs), 100):  # at most 100 entries per block
        chunk = pairs[start:start + 100]
        lines.append(f"{len(chunk)} beginbfchar")
        lines.extend(f"<{gid:04X}> <{_utf16(chr(cp))}>" for gid, cp in chunk)
        lines.append("endbfchar")
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines).encode()


def _utf16(text: str) -> str:
    return text.encode("utf-16-be").hex()


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _stream(data: bytes, extra: str = "") -> bytes:
    return (f"<< /Length {len(data)} {extra} >>\nstream\n".encode() + data
            + b"\nendstream")


# -- layout ----------------------------------------------------------------------------------
def wrap(font: Font, text: str, size: float, width: float) -> list[tuple[str, bool]]:
    """``text`` broken into lines no wider than ``width`` mm: (line, ends_paragraph).

    Breaks at spaces (and after explicit line breaks); a word wider than the line is cut
    between characters. Soft hyphens are dropped, tabs become spaces, runs of spaces are kept
    inside a line but not at a break."""
    lines: list[tuple[str, bool]] = []
    for paragraph in text.replace("\xad", "").replace("\t", " ").split("\n"):
        lines.extend(_wrap_paragraph(font, paragraph, size, width))
    return lines


def _wrap_paragraph(font: Font, text: str, size: float,
                    width: float) -> list[tuple[str, bool]]:
    """Greedy: each word is measured once, added to the width of the line so far (re-measuring
    the whole line for every word would make long paragraphs quadratic)."""
    out: list[str] = []
    current, advance = "", 0.0
    for word in text.split(" "):
        candidate = font.advance(word, font.advance(" ", advance) if current else 0.0)
        if to_mm(candidate, size) <= width:
            current, advance = (f"{current} {word}" if current else word), candidate
            continue
        if current:
            out.append(current)
        while font.width(word, size) > width:  # a word longer than a line
            cut = _longest_prefix(font, word, size, width)
            out.append(word[:cut])
            word = word[cut:]
        current, advance = word, font.advance(word)
    out.append(current)
    return [(line, i == len(out) - 1) for i, line in enumerate(out)]


def _longest_prefix(font: Font, word: str, size: float, width: float) -> int:
    total = 0.0
    for i, ch in enumerate(word):
        total += font.width(ch, size)
        if total > width:
            return max(1, i)
    return len(word)


class _Pages:
    """Content streams of the pages, filled top to bottom with automatic page breaks."""

    def __init__(self, font: Font, bold: Font | None = None) -> None:
        self.font, self.bold = font, bold
        self.pages: list[list[str]] = []
        self.y = MARGIN
        self._new_page()

    def _new_page(self) -> None:
        self.pages.append(["BT"])
        self.y = MARGIN

    def block(self, block: Block) -> None:
        """Lines of the label first, then of the text, page by page: a text extractor reads
        "caption, value" rather than the two columns interleaved line by line."""
        font = self.bold if block.bold and self.bold is not None else self.font
        inner = PAGE_W - 2 * MARGIN - 2 * PAD - block.indent
        lines = wrap(font, block.text, block.size, inner)
        labels = (wrap(self.font, block.label, block.size, block.indent - 2 * PAD - LABEL_GAP)
                  if block.label else [])
        if block.keep and self.y > MARGIN and self.y + block.keep > PAGE_H - BOTTOM:
            self.pages[-1].append("ET")
            self._new_page()
        placed: list[tuple[int, float]] = []  # (row, y) on the current page
        for number in range(max(len(lines), len(labels))):
            if self.y + block.line > PAGE_H - BOTTOM:
                self._place(block, font, inner, lines, labels, placed)
                self.pages[-1].append("ET")
                self._new_page()
                placed = []
            placed.append((number, self.y))
            self.y += block.line
        self._place(block, font, inner, lines, labels, placed)
        self.y += block.space

    def _place(self, block: Block, font: Font, inner: float, lines: list[tuple[str, bool]],
               labels: list[tuple[str, bool]], placed: list[tuple[int, float]]) -> None:
        captions = [(labels[n][0], y) for n, y in placed if n < len(labels)]
        if captions:
            self.pages[-1].append(LABEL_GREY)  # a label: grey, left-aligned, in the margin
            for text, y in captions:
                self._line(self.font, text, replace(block, align="L"), y, block.indent, True,
                           x=MARGIN + PAD)
            self.pages[-1].append("0 g")
        for n, y in placed:
            if n < len(lines):
                self._line(font, lines[n][0], block, y, inner, lines[n][1])

    def _line(self, font: Font, line: str, block: Block, y: float, inner: float, last: bool,
              x: float | None = None) -> None:
        if not line:
            return
        size = block.size
        natural = font.width(line, size)
        if x is None:
            x = MARGIN + PAD + block.indent
        if block.align == "C":
            x += (inner - natural) / 2
        # the baseline: the text centred in the line's height, as fpdf2 places a cell's text
        baseline = y + 0.5 * block.line + 0.3 * size / PT_PER_MM
        gids = [font.gids[ord(ch)] for ch in line]
        spaces = line.count(" ")
        stretch = (inner - natural) / spaces if (block.align == "J" and not last
                                                 and spaces) else 0.0
        out = self.pages[-1]
        out.append(f"/F{font.slot + 1} {_number(size)} Tf")
        out.append(f"1 0 0 1 {_number(x * PT_PER_MM)} "
                   f"{_number((PAGE_H - baseline) * PT_PER_MM)} Tm")
        if not stretch:
            out.append(f"<{''.join(f'{g:04X}' for g in gids)}> Tj")
            return
        # justified: after each space, move right by the share of the free width
        shift = _number(-stretch * PT_PER_MM * 1000 / size)
        space = font.gids[ord(" ")]
        parts, run = [], []
        for g in gids:
            run.append(f"{g:04X}")
            if g == space:
                parts.append(f"<{''.join(run)}> {shift}")
                run = []
        if run:
            parts.append(f"<{''.join(run)}>")
        out.append(f"[{' '.join(parts)}] TJ")

    def streams(self) -> list[bytes]:
        self.pages[-1].append("ET")
        return ["\n".join(page).encode() for page in self.pages]


def height(blocks: Iterable[Block], font: Font, bold: Font | None = None) -> float:
    """How many mm ``blocks`` take on one page (their lines and the space below each)."""
    total = 0.0
    for block in blocks:
        face = bold if block.bold and bold is not None else font
        inner = PAGE_W - 2 * MARGIN - 2 * PAD - block.indent
        rows = len(wrap(face, block.text, block.size, inner))
        if block.label:
            rows = max(rows, len(wrap(font, block.label, block.size,
                                      block.indent - 2 * PAD - LABEL_GAP)))
        total += rows * block.line + block.space
    return total


# -- the document ----------------------------------------------------------------------------
def render(font: Font, blocks: Iterable[Block], *, title: str, author: str, creator: str,
           created: datetime, bold: Font | None = None) -> bytes:
    """The PDF of ``blocks``; ``bold`` (loaded with ``slot=1``) sets the blocks marked bold."""
    if font.slot != 0 or (bold is not None and bold.slot != 1):
        raise ValueError("the regular face must be loaded for slot 0 and the bold one for 1")
    pages = _Pages(font, bold)
    for block in blocks:
        pages.block(block)
    streams = pages.streams()
    faces = [font] if bold is None else [font, bold]
    first_page = FIRST_FONT_OBJECT + FONT_OBJECTS * len(faces)
    page_ids = [first_page + 2 * i for i in range(len(streams))]
    objects: dict[int, bytes] = {
        CATALOG: f"<< /Type /Catalog /Pages {PAGES} 0 R >>".encode(),
        PAGES: (f"<< /Type /Pages /Kids [{' '.join(f'{p} 0 R' for p in page_ids)}] "
                f"/Count {len(page_ids)} >>").encode(),
        INFO: _info(title=title, author=author, creator=creator, created=created),
    }
    for face in faces:
        for i, body in enumerate(face.objects):
            objects[first_object(face.slot) + i] = body
    resources = " ".join(f"/F{f.slot + 1} {first_object(f.slot)} 0 R" for f in faces)
    media = f"[0 0 {_number(PAGE_W * PT_PER_MM)} {_number(PAGE_H * PT_PER_MM)}]"
    for page_id, content in zip(page_ids, streams, strict=True):
        objects[page_id] = (f"<< /Type /Page /Parent {PAGES} 0 R /MediaBox {media} "
                            f"/Resources << /Font << {resources} >> >> "
                            f"/Contents {page_id + 1} 0 R >>").encode()
        objects[page_id + 1] = _stream(zlib.compress(content, 6), "/Filter /FlateDecode")
    return _assemble([objects[i] for i in range(1, len(objects) + 1)])


def _info(*, title: str, author: str, creator: str, created: datetime) -> bytes:
    stamp = created.astimezone(UTC).strftime("D:%Y%m%d%H%M%SZ")
    return (f"<< /Title <feff{_utf16(title)}> /Author <feff{_utf16(author)}> "
            f"/Creator <feff{_utf16(creator)}> /Producer (medsign) "
            f"/CreationDate ({stamp}) >>").encode()


def _assemble(bodies: Sequence[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(bodies, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(bodies) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += (f"trailer\n<< /Size {len(bodies) + 1} /Root {CATALOG} 0 R /Info {INFO} 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)
