"""``pip install medsign`` without extras, in a fresh virtual environment: the service runs —
``medsign migrate``, ``medsign serve`` answering ``/healthz``, ``medsign worker`` reporting for
duty and stopping cleanly — and the commands that run the emulators say which extra to install.

Slow: the install takes ~35 s here (a wheel built from a copy of the tree, its dependencies
from pip's cache or the registry, pinned by ``constraints.txt``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.processes import Proc, check_alive, describe, free_port, stop_all, wait_answering
from tests.e2e.processes import wait_for as wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
INSTALL_TIMEOUT = 600
HINT = "pip install 'medsign[emulators]'"


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` folder of a virtual environment with medsign installed without extras."""
    where = tmp_path_factory.mktemp("bare-install")
    source = where / "source"  # a copy, so that the build leaves nothing in the work tree
    shutil.copytree(ROOT / "medsign", source / "medsign",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "venv", str(where / "venv")], check=True)
    bin_dir = where / "venv" / "bin"
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", "-c", str(ROOT / "constraints.txt"),
                    str(source)], check=True, timeout=INSTALL_TIMEOUT)
    return bin_dir


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("MEDSIGN_", "VIRTUAL_ENV", "PYTHON"))}
    return {**clean, "MEDSIGN_DATABASE__URL": f"sqlite:///{tmp_path / 'medsign.db'}"}


@pytest.fixture
def procs() -> Iterator[dict[str, Proc]]:
    started: dict[str, Proc] = {}
    yield started
    stop_all(started.values(), grace=10)


def run(bin_dir: Path, *args: str, env: dict[str, str],
        cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bin_dir / "medsign"), *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_extra_is_really_absent(bare: Path) -> None:
    for module in ("fontTools", "fpdf", "pytest"):
        probe = subprocess.run([str(bare / "python"), "-c", f"import {module}"],
                               capture_output=True, check=False)
        assert probe.returncode != 0, f"{module} is installed without extras"


def test_the_service_runs_without_the_emulators(bare: Path, env: dict[str, str], tmp_path: Path,
                                                procs: dict[str, Proc]) -> None:
    migrated = run(bare, "migrate", env=env, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    for name, args in (("serve", ["serve", "--host", "127.0.0.1", "--port", str(port)]),
                       ("worker", ["worker", "--concurrency", "2"])):
        procs[name] = Proc(name, [str(bare / "medsign"), *args], tmp_path, env, tmp_path)
        procs[name].start()
    wait_answering(f"http://127.0.0.1:{port}/healthz", name="serve",
                   alive=lambda: check_alive(procs), describe=lambda: describe(procs))
    wait_until(lambda: check_alive(procs) or "Обработчик" in procs["worker"].tail(),
               timeout=60, what="the worker's start-up line", describe=lambda: describe(procs))
    stop_all(procs.values(), grace=30)
    # uvicorn re-raises SIGTERM once it has shut down, so that the parent sees the signal
    assert [p.handle.returncode if p.handle else None for p in procs.values()] in (
        [0, 0], [-signal.SIGTERM, 0]), describe(procs)
    assert "Application shutdown complete" in procs["serve"].tail(200)
    assert not any("Traceback" in p.tail(200) for p in procs.values()), describe(procs)


@pytest.mark.parametrize("command", [["emulate", "goskey", "--token", "t"],
                                     ["emulate", "max", "--token", "t"], ["demo"]],
                         ids=lambda c: " ".join(c[:2]))
def test_the_emulators_name_the_extra_to_install(bare: Path, env: dict[str, str],
                                                tmp_path: Path, command: list[str]) -> None:
    done = run(bare, *command, env=env, cwd=tmp_path)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert HINT in done.stderr and "Эмуляторы не установлены" in done.stderr
    assert "Traceback" not in done.stderr
