#!/usr/bin/env python3
"""Set up and run medsign with nothing but Python: ``python3 run.py demo``,
``python3 run.py test`` or ``python3 run.py lint``.

The first run creates ``.venv`` and installs medsign with its ``test`` extra (which includes the
``emulators`` extra the demo needs), pinned by ``constraints.txt``; later runs reinstall only
when ``pyproject.toml`` or ``constraints.txt`` changed.

    python3 run.py demo [demo options]     the demo stand: service, worker, demo data (SQLite)
    python3 run.py test [pytest options]   the whole test suite on SQLite and PostgreSQL
    python3 run.py lint                    ruff check, mypy (strict) and the import contracts
                                           (lint-imports), as pyproject.toml says
    python3 run.py medsign ARGS...         any medsign command inside the environment

``test`` makes sure PostgreSQL is reachable (``MEDSIGN_TEST_PG_URL``, default the local
server on 127.0.0.1:5432): it starts the local cluster if it is installed but stopped, and
installs it with apt-get when running as root on a machine without it. As root it also installs
the Debian packages the tests need (``TEST_PACKAGES``: among them ``chromium`` for the browser
tests).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".medsign-installed"


def say(text: str) -> None:
    print(f"[run.py] {text}", file=sys.stderr, flush=True)


def sh(*cmd: str, check: bool = True, **kw: object) -> int:
    return subprocess.run(cmd, check=check, **kw).returncode  # type: ignore[call-overload]


def ensure_venv() -> None:
    wanted = hashlib.sha256(b"".join((ROOT / f).read_bytes()
                                     for f in ("pyproject.toml", "constraints.txt"))).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        say("создаю виртуальное окружение .venv")
        venv.create(VENV, with_pip=True)
    say("устанавливаю зависимости (constraints.txt)")
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    sh(*pip, "install", "--upgrade", "pip")
    # the test extra includes the emulators extra, which the demo runs
    sh(*pip, "install", "-c", str(ROOT / "constraints.txt"), "-e", f"{ROOT}[test]")
    STAMP.write_text(wanted)


def pg_reachable(host: str = "127.0.0.1", port: int = 5432) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def ensure_postgres() -> None:
    if os.environ.get("MEDSIGN_TEST_PG_URL") or pg_reachable():
        return
    if not shutil.which("pg_lsclusters") and hasattr(os, "geteuid") and os.geteuid() == 0:
        say("PostgreSQL не найден: устанавливаю пакет postgresql (apt-get)")
        sh("apt-get", "update", "-qq")
        sh("apt-get", "install", "-y", "-qq", "postgresql",
           env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    start_local_cluster()
    for _ in range(60):
        if pg_reachable():
            return
        time.sleep(0.5)
    sys.exit("PostgreSQL недоступен на 127.0.0.1:5432; задайте MEDSIGN_TEST_PG_URL.")


def start_local_cluster() -> None:
    if not shutil.which("pg_lsclusters"):
        return
    for line in subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True,
                               check=False).stdout.splitlines():
        version, cluster = line.split()[:2]
        say(f"запускаю PostgreSQL {version}/{cluster}")
        sh("pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "start", check=False)
    trust_local_connections()


def trust_local_connections() -> None:
    """A fresh Debian cluster wants passwords over TCP; the tests use the postgres role."""
    if pg_reachable():
        probe = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", "select 1"],
                               capture_output=True, check=False)
        if probe.returncode == 0:
            return
    for hba in Path("/etc/postgresql").glob("*/*/pg_hba.conf"):
        text = hba.read_text()
        if "medsign-tests" not in text:
            hba.write_text("host all postgres 127.0.0.1/32 trust  # medsign-tests\n" + text)
            version, cluster = hba.parts[-3], hba.parts[-2]
            sh("pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "reload",
               check=False)


# Debian packages the tests use: the GOST engine (interoperability tests, fast hashing), a
# Cyrillic font for the signing emulator's PDFs (and the pages in the browser), and Chromium for
# the browser tests (tests/e2e/browser drive /usr/bin/chromium through Playwright, whose own
# browser downloads are never used), poppler-utils (pdftoppm, pdftotext) to render and read the
# signature sheet, nginx for the production topology of deploy/ and Prometheus's promtool for
# its alert rules (tests/e2e/deploy).
TEST_PACKAGES = ("libengine-gost-openssl", "fonts-dejavu-core", "chromium", "poppler-utils",
                 "nginx-light", "prometheus")


def ensure_system_packages(packages: tuple[str, ...]) -> None:
    if not shutil.which("dpkg") or not shutil.which("apt-get"):
        return
    missing = [p for p in packages if subprocess.run(["dpkg", "-s", p], capture_output=True,
                                                     check=False).returncode != 0]
    if not missing:
        return
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        say(f"нет пакетов {', '.join(missing)} (нужен root для установки); часть тестов не "
            "сможет их использовать")
        return
    say(f"устанавливаю пакеты: {', '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    sh("apt-get", "update", "-qq", env=env)
    sh("apt-get", "install", "-y", "-qq", *missing, env=env)


# The conventions CI enforces; each runs even when the one before failed, so that one run
# reports everything. mypy checks the packages that pyproject.toml names.
LINTERS = (("ruff", ("check", ".")), ("mypy", ()),
           ("lint-imports", ("--no-cache", "--no-logo")))


def lint() -> int:
    failed = [name for name, args in LINTERS
              if sh(str(BIN / name), *args, check=False, cwd=ROOT) != 0]
    if failed:
        say(f"проверки не прошли: {', '.join(failed)}")
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "lint", "medsign"):
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    ensure_venv()
    if command == "demo":
        return sh(str(BIN / "medsign"), "demo", *rest, check=False, cwd=ROOT)
    if command == "medsign":
        return sh(str(BIN / "medsign"), *rest, check=False)
    if command == "lint":
        return lint()
    ensure_postgres()
    ensure_system_packages(TEST_PACKAGES)
    return sh(str(BIN / "python"), "-m", "pytest", *rest, check=False, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
