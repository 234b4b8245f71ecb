"""The evidence a lawyer reads, end to end: a doctor sends a patient's documents for signing
from the АРМ, the patient signs in Goskey, the doctor downloads the evidence package and the
signature sheet. The report page is rendered in Chromium (desktop and phone width: no
sideways scrolling, no word split across lines); the sheet is rendered with pdftoppm to PNG
and its text read with pdftotext (Debian's poppler-utils): the patient's name and the SHA-256
of every signed PDF are on it. Every file in the ZIP is a 0644 regular file."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import stat
import subprocess
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from medsign.demo import DEMO_ORG
from tests.e2e.browser.pages import PHONE_WIDTH, Ui
from tests.e2e.browser.stand import Stand, patient_name, patient_phone

pytestmark = [pytest.mark.slow, pytest.mark.browser]
SIGNED_TIMEOUT_MS = 60_000
PATIENT = "demo-p2"
APPOINTMENT = "browser-evidence-1"
DOCTOR_WORDS = "врач Петрова А. С."  # the demo doctor, «Петрова Анна Сергеевна»
# Words of the page split over two lines (a word's range with more than one line box; a
# hyphenated word may break after its own hyphen, so its parts are measured), and the page's
# width against the window's.
_SPLIT_WORDS_JS = """() => {
  const split = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest(".id")) continue;  // hashes and ids may break anywhere
    for (const m of node.textContent.matchAll(/[^\\s\\-‐]+/g)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
      if (tops.size > 1) split.push(m[0]);
    }
  }
  return {split, scroll: document.documentElement.scrollWidth, inner: window.innerWidth};
}"""


def poppler(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        pytest.fail(f"{tool} not found: install Debian's poppler-utils (apt-get install "
                    "poppler-utils; python3 run.py test does it when run as root)")
    return found


def book_appointment(stand: Stand) -> None:
    starts = (datetime.now(UTC) + timedelta(days=1)).replace(hour=9, minute=0, second=0,
                                                             microsecond=0)
    stand.api("PUT", f"/organizations/{DEMO_ORG}/appointments/{APPOINTMENT}", {
        "organization": DEMO_ORG, "patient": PATIENT, "starts_at": starts.isoformat(),
        "doctor": {"name": "Петрова Анна Сергеевна"}, "service_name": "Гастроскопия",
        "consents": [{"kind": "medical_intervention", "signing_method": "electronic"},
                     {"kind": "personal_data", "signing_method": "electronic"}]})


def doctor_signs_with_the_patient(ui: Ui, stand: Stand) -> tuple[Page, str]:
    doctor = ui.person("doctor")
    ui.login(doctor, "doctor", name="staff-login")
    ui.goto(doctor, f"/doctor/organizations/{DEMO_ORG}/appointments/{APPOINTMENT}")
    doctor.get_by_test_id("start-signing").click()
    doctor.get_by_test_id("confirm-signing").click()
    expect(doctor.get_by_test_id("message-success")).to_contain_text("отправлены на подписание")
    request_id = doctor.get_by_test_id("signing-request").get_attribute("data-request")
    assert request_id
    transaction = stand.transaction_of(request_id)
    phone = ui.person("patient", phone=True)
    phone.goto(f"{stand.goskey_url}/_emulator/?phone={quote(patient_phone(PATIENT))}")
    card = phone.locator("article", has_text=f"Транзакция {transaction}")
    card.get_by_role("button", name=re.compile(r"^Подписать")).click()
    expect(phone.locator(".notice")).to_have_text("Готово")
    expect(doctor.get_by_test_id("signing-request").locator('.badge[data-state="completed"]')
           ).to_have_text("подписано", timeout=SIGNED_TIMEOUT_MS)
    ui.check(doctor, "appointment-signed")
    return doctor, request_id


def download(page: Page, test_id: str, folder: Path) -> Path:
    with page.expect_download() as started:
        page.get_by_test_id(test_id).click()
    target = folder / started.value.suggested_filename
    started.value.save_as(target)
    return target


def signed_pdfs(package: zipfile.ZipFile) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(package.read("platform-archive.zip"))) as inner:
        return {n: inner.read(n) for n in inner.namelist() if n.endswith(" PDF.pdf")}


def check_report_page(ui: Ui, page: Page, html: str, width: int, name: str) -> dict[str, Any]:
    page.set_viewport_size({"width": width, "height": 900})
    page.set_content(html)
    page.screenshot(path=ui.folder / f"{name}.png", full_page=True)
    measured: dict[str, Any] = page.evaluate(_SPLIT_WORDS_JS)
    assert measured["split"] == [], (name, measured["split"])
    assert measured["scroll"] <= measured["inner"], (name, measured)
    return measured


def test_the_doctor_downloads_evidence_a_lawyer_can_read(ui: Ui, stand: Stand,
                                                         tmp_path: Path) -> None:
    pdftoppm, pdftotext = poppler("pdftoppm"), poppler("pdftotext")
    book_appointment(stand)
    doctor, request_id = doctor_signs_with_the_patient(ui, stand)
    package_path = download(doctor, "download-evidence", tmp_path)
    sheet_path = download(doctor, "download-signature-sheet", tmp_path)
    assert sheet_path.read_bytes()[:5] == b"%PDF-"

    with zipfile.ZipFile(package_path) as package:
        for info in package.infolist():
            mode = info.external_attr >> 16
            assert stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o644, (info.filename, oct(mode))
        html = package.read("verification.html").decode()
        report = json.loads(package.read("verification.json"))
        pdfs = signed_pdfs(package)
        assert package.read("signature-sheet.pdf")[:5] == b"%PDF-"
    assert report["signing_request"] == request_id and len(pdfs) == 2

    # the report page, as a lawyer opens it from the ZIP: at a desk and on a phone
    reader = ui.person("lawyer")
    check_report_page(ui, reader, html, 1280, "report-desktop")
    check_report_page(ui, reader, html, PHONE_WIDTH, "report-375px")
    page_text = reader.locator("body").inner_text()
    assert f"{patient_name(PATIENT)}, дата рождения 02.11.1972" in page_text
    assert DOCTOR_WORDS in page_text and "(Москва, UTC+3)" in page_text

    # the signature sheet: rendered to PNG and read back as text
    subprocess.run([pdftoppm, "-png", "-r", "100", str(sheet_path), str(ui.folder / "sheet")],
                   check=True, timeout=60)
    pngs = sorted(ui.folder.glob("sheet*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    text = subprocess.run([pdftotext, "-layout", str(sheet_path), "-"], check=True,
                          capture_output=True, text=True, timeout=60).stdout
    assert "Лист подписания" in text and patient_name(PATIENT) in text
    for name, content in pdfs.items():
        assert hashlib.sha256(content).hexdigest() in text, name
    assert request_id in text and report["transaction_id"] in text
    ui.finish()
