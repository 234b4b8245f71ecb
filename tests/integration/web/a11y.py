"""A structural accessibility check of a page, run on every page in the tests (the real
axe-core check in a browser comes later): language, landmarks, one h1 and no skipped heading
levels, unique ids, a label for every control, a name for every link and button, and nothing
inline that the Content-Security-Policy would block."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

CONTROLS = {"input", "select", "textarea"}
UNLABELLED_INPUTS = {"hidden", "submit", "button", "reset", "image"}


@dataclass
class _Named:
    tag: str
    attrs: dict[str, str]
    text: str = ""


@dataclass
class Page(HTMLParser):
    ids: list[str] = field(default_factory=list)
    label_for: set[str] = field(default_factory=set)
    controls: list[dict[str, str]] = field(default_factory=list)
    headings: list[int] = field(default_factory=list)
    landmarks: list[str] = field(default_factory=list)
    named: list[_Named] = field(default_factory=list)
    open_named: list[_Named] = field(default_factory=list)
    described_by: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lang: str | None = None

    def __post_init__(self) -> None:
        HTMLParser.__init__(self, convert_charrefs=True)

    def handle_starttag(self, tag: str, raw: list[tuple[str, str | None]]) -> None:
        attrs = {k: v or "" for k, v in raw}
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "html":
            self.lang = attrs.get("lang")
        if tag == "label" and "for" in attrs:
            self.label_for.add(attrs["for"])
        if tag in CONTROLS and attrs.get("type") not in UNLABELLED_INPUTS:
            self.controls.append(attrs)
        if len(tag) == 2 and tag[0] == "h" and tag[1].isdigit():
            self.headings.append(int(tag[1]))
        if tag in ("main", "header", "footer", "nav"):
            self.landmarks.append(tag)
        if tag in ("a", "button"):
            self.open_named.append(_Named(tag, attrs))
        self.described_by += attrs.get("aria-describedby", "").split()
        self._inline(tag, attrs)

    def _inline(self, tag: str, attrs: dict[str, str]) -> None:
        if "style" in attrs or any(name.startswith("on") for name in attrs):
            self.problems.append(f"inline style or handler on <{tag}>")
        if tag == "script" and "src" not in attrs:
            self.problems.append("inline script")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("a", "button") and self.open_named:
            self.named.append(self.open_named.pop())

    def handle_data(self, data: str) -> None:
        for item in self.open_named:
            item.text += data


def check(html: str, *, fragment: bool = False) -> list[str]:
    page = Page()
    page.feed(html)
    found = list(page.problems)
    found += [f"duplicate id {i!r}" for i in sorted(set(page.ids)) if page.ids.count(i) > 1]
    for control in page.controls:
        if control.get("id") not in page.label_for and not control.get("aria-label"):
            found.append(f"control without a label: {control.get('name')}")
    for item in page.named:
        if not item.text.strip() and not item.attrs.get("aria-label"):
            found.append(f"<{item.tag}> without a name: {item.attrs}")
    found += [f"aria-describedby to nothing: {i}" for i in page.described_by
              if i not in page.ids]
    if not fragment:
        found += _structure(page)
    return found


def _structure(page: Page) -> list[str]:
    found = []
    if page.lang != "ru":
        found.append("html without lang=ru")
    if page.landmarks.count("main") != 1:
        found.append("not exactly one <main>")
    if page.headings.count(1) != 1 or (page.headings and page.headings[0] != 1):
        found.append(f"not exactly one h1 first: {page.headings}")
    for before, after in zip(page.headings, page.headings[1:], strict=False):
        if after > before + 1:
            found.append(f"heading level skipped: h{before} → h{after}")
    return found
