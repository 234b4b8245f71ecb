"""What every end-to-end stack needs to run the installation as real processes: free ports,
patient waiting with diagnostics, and a process that can be started, killed and started again
on the same state, its output appended to a log per process."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(check: Callable[[], T | None], *, timeout: float, what: str,
             describe: Callable[[], str] = lambda: "", interval: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy; fail with diagnostics on timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = check()
            if result:
                return result
        except (httpx.HTTPError, AssertionError, KeyError, ValueError) as exc:
            last_error = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                                 f" (last error: {last_error!r})\n{describe()}")
        time.sleep(interval)


@dataclass
class Proc:
    """One process of the stack; its output goes to ``logs/<name>.log``."""

    name: str
    command: list[str]
    cwd: Path
    env: dict[str, str]
    logs: Path
    handle: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def log(self) -> Path:
        return self.logs / f"{self.name}.log"

    def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"\n===== start #{self.starts} =====\n".encode())
            out.flush()
            self.handle = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdout=out,
                                           stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def alive(self) -> bool:
        return self.handle is not None and self.handle.poll() is None

    def kill(self) -> None:
        if self.alive:
            assert self.handle is not None
            self.handle.send_signal(signal.SIGKILL)
            self.handle.wait(timeout=10)

    def stop(self, grace: float = 10.0) -> None:
        stop_all([self], grace)

    def tail(self, lines: int = 25) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def stop_all(procs: Iterable[Proc], grace: float) -> None:
    """SIGTERM to every running process at once; SIGKILL whatever still runs after ``grace``."""
    running = [p for p in procs if p.alive]
    for proc in running:
        assert proc.handle is not None
        proc.handle.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in running:
        assert proc.handle is not None
        try:
            proc.handle.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()


def check_alive(procs: Mapping[str, Proc], tolerated: Collection[int] = ()) -> None:
    """Fail, with its last output, if a started process has exited (except with a return code
    in ``tolerated``: e.g. -SIGKILL for a stack whose tests kill processes on purpose)."""
    for name, proc in procs.items():
        if proc.handle is not None and not proc.alive and \
                proc.handle.returncode not in tolerated:
            raise RuntimeError(f"{name} exited with {proc.handle.returncode}:\n"
                               f"{proc.tail(40)}")


def describe(procs: Mapping[str, Proc]) -> str:
    """The tail of every process's log, for a failure message."""
    return "\n".join(f"--- {n} (alive={p.alive}) ---\n{p.tail(15)}" for n, p in procs.items())


def wait_answering(url: str, *, name: str, alive: Callable[[], None],
                   describe: Callable[[], str], timeout: float = 60.0) -> None:
    """Wait until ``url`` answers 200, checking with ``alive`` that nothing died meanwhile."""
    def up() -> bool:
        alive()
        return httpx.get(url, timeout=2).status_code == 200
    wait_for(up, timeout=timeout, what=f"{name} to answer at {url}", describe=describe)
