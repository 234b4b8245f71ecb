"""``medsign demo`` as a person runs it: everything under one folder, a clear refusal when a
port is taken, and Ctrl+C ending it promptly and cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import free_port

pytestmark = pytest.mark.slow
STOP_S = 8.0  # the demo stops in ~3 s (docs); a loaded machine gets some room


def demo(folder: Path, ports: dict[str, int], *more: str) -> list[str]:
    return [sys.executable, "-m", "medsign", "demo", "--port", str(ports["api"]),
            "--goskey-port", str(ports["goskey"]), "--max-port", str(ports["max"]),
            "--esia-port", str(ports["esia"]), "--state-dir", str(folder / "state"), *more]


def test_demo_keeps_its_state_in_one_folder_refuses_taken_ports_and_stops_on_ctrl_c(
        tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("api", "goskey", "max", "esia")}
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        running = subprocess.Popen(demo(tmp_path, ports), cwd=tmp_path, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "Остановка: Ctrl+C" not in log.read_text(errors="replace"):
            assert running.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the demo did not come up"
            time.sleep(0.2)
        for port in ports.values():
            assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code < 500
        assert httpx.get(f"http://127.0.0.1:{ports['api']}/readyz").status_code == 200
        assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.log", "state"]
        assert {"demo.db", "keys", "goskey", "max", "esia"} <= {
            p.name for p in (tmp_path / "state").iterdir()}

        second = subprocess.run(demo(tmp_path / "second", ports), cwd=tmp_path,
                                capture_output=True, text=True, timeout=60, check=False)
        assert second.returncode == 1, second
        taken = f"порт {ports['api']} (веб-сервис) занят: задайте другой через --port"
        assert taken in second.stderr
        assert "--esia-port" in second.stderr and "Traceback" not in second.stderr
        assert not (tmp_path / "second").exists()  # refused before anything was made

        asked = time.monotonic()
        running.send_signal(signal.SIGINT)
        assert running.wait(timeout=STOP_S) == 0
        took = time.monotonic() - asked
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()
    text = log.read_text(errors="replace")
    assert "Демо-стенд остановлен." in text and "Traceback" not in text, text[-3000:]
    sys.stdout.write(f"\ndemo stopped {took:.1f} s after Ctrl+C\n")


def test_two_options_naming_one_port_are_refused(tmp_path: Path) -> None:
    port = free_port()
    ports = {"api": free_port(), "goskey": port, "max": port, "esia": free_port()}
    done = subprocess.run(demo(tmp_path, ports), cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1
    assert (f"порт {port} указан и для «эмулятор Госключа», и для «эмулятор MAX»: задайте "
            "другой через --max-port") in done.stderr
