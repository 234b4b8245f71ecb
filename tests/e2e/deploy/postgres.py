"""A PostgreSQL cluster of one test's own, to stop and start under load without touching the
machine's cluster that the other tests share.

Made with the installed server's ``initdb``/``pg_ctl`` in a temporary folder, listening on
127.0.0.1 on a free port with trust authentication. PostgreSQL refuses to run as root: as
root the cluster runs as the ``postgres`` system user (``runuser``), as anyone else as them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.processes import free_port


def _bin_dir() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                      key=lambda p: int(p.parts[-3]))
    if not versions:
        found = shutil.which("pg_ctl")
        if found is None:
            pytest.skip("PostgreSQL server programs (initdb, pg_ctl) are not installed")
        return Path(found).parent
    return versions[-1].parent


class PrivateCluster:
    def __init__(self, folder: Path) -> None:
        self.bin = _bin_dir()
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "postgresql.log"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        folder.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            shutil.chown(folder, "postgres", "postgres")
            for parent in folder.parents:  # postgres must reach its folder
                if parent == Path("/tmp") or parent == Path("/"):
                    break
                parent.chmod(parent.stat().st_mode | 0o011)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--encoding", "UTF8", "--locale", "C.UTF-8")
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories="
                   f"{self.folder} -c fsync=on")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """``immediate`` is a crash for the database (no checkpoint; recovery on the next
        start), as after a power loss; ``fast`` a clean shutdown that drops the clients."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop("immediate")

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                              check=False, cwd=self.folder)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise AssertionError(f"{program} failed ({done.returncode}): {done.stderr}\n{log}")
