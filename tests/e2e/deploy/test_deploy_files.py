"""The shipped systemd units and nginx site pass their own tools' checks, without warnings."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.e2e.deploy.deploy_files import NGINX_SITE, UNITS, nginx_config, rendered, tool

MEDSIGN = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "medsign"


def test_systemd_units_verify_cleanly(tmp_path: Path) -> None:
    systemd_analyze = tool("systemd-analyze")
    for unit in UNITS.iterdir():
        text = unit.read_text(encoding="utf-8")
        if "/opt/medsign/venv/bin/medsign" in text:  # verify wants the program to exist
            text = rendered(text, {"/opt/medsign/venv/bin/medsign": str(MEDSIGN)})
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    instances = ["medsign-serve@8001.service", "medsign-worker@1.service",
                 "medsign-migrate.service", "medsign.target", "medsign-backup.service",
                 "medsign-backup.timer"]
    done = subprocess.run([systemd_analyze, "verify", *instances], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    # verify exits 0 on unknown keys and bad values too, only saying so: any word is a failure
    assert (done.returncode, done.stderr.strip(), done.stdout.strip()) == (0, "", "")


def test_every_service_is_hardened_and_restarts() -> None:
    required = ["User=medsign", "ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes",
                "CapabilityBoundingSet=\n", "EnvironmentFile=/etc/medsign/medsign.env",
                "After=network-online.target postgresql.service"]
    for name in ("medsign-serve@.service", "medsign-worker@.service", "medsign-migrate.service",
                 "medsign-backup.service"):
        text = (UNITS / name).read_text(encoding="utf-8")
        missing = [option for option in required if option not in text]
        assert not missing, f"{name}: {missing}"
    for name in ("medsign-serve@.service", "medsign-worker@.service"):
        assert "Restart=always" in (UNITS / name).read_text(encoding="utf-8")


def test_nginx_site_passes_nginx_t(tmp_path: Path) -> None:
    nginx = tool("nginx")
    config = nginx_config(tmp_path)
    done = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(config)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "[warn]" not in done.stderr and "[emerg]" not in done.stderr, done.stderr


def test_a_broken_site_fails_nginx_t(tmp_path: Path) -> None:
    """The check above can fail: the same harness with one directive broken."""
    nginx = tool("nginx")
    config = nginx_config(tmp_path)
    site = tmp_path / "site.conf"
    site.write_text(site.read_text().replace("proxy_read_timeout 60s;", "proxy_read_timeout;"))
    done = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(config)],
                          capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "proxy_read_timeout" in done.stderr


def test_nginx_closes_idle_upstream_connections_before_the_service_and_systemd_outwaits_it(
        ) -> None:
    """The keep-alive race: whoever closes an idle connection first must be nginx, or a
    request sent into a closing connection marks a healthy ``serve`` as failed. And systemd
    must wait for ``serve``'s own graceful stop before it kills it."""
    import re

    from medsign.config.model import ServerSettings
    site = NGINX_SITE.read_text(encoding="utf-8")
    upstream = re.search(r"upstream medsign_serve \{(.*?)\n\}", site, re.S)
    assert upstream is not None
    nginx_idle = re.search(r"keepalive_timeout (\d+)s;", upstream.group(1))
    assert nginx_idle is not None, "the upstream block sets its keepalive_timeout"
    server = ServerSettings()
    assert int(nginx_idle.group(1)) < server.keep_alive.total_seconds()
    unit = (UNITS / "medsign-serve@.service").read_text(encoding="utf-8")
    stop = re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M)
    assert stop is not None and int(stop.group(1)) > server.shutdown_grace.total_seconds()
