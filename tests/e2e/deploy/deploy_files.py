"""The production deployment files of ``deploy/``, made runnable on this machine.

The files name the production paths (``/opt/medsign/venv``, ``/etc/medsign``,
``/etc/nginx/tls``, ``/var/cache/nginx``); the tests put them somewhere writable by replacing
exactly those paths, so what is checked is the shipped text and nothing else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
NGINX_SITE = DEPLOY / "nginx" / "medsign.conf"


def tool(name: str) -> str:
    """The program, or a skip that says which Debian package brings it (``run.py`` installs
    them when it runs as root, as in CI)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        package = {"nginx": "nginx-light", "systemd-analyze": "systemd",
                   "promtool": "prometheus"}[name]
        pytest.skip(f"{name} не установлен (пакет {package})")
    return found


def rendered(text: str, replacements: Mapping[str, str]) -> str:
    for production, here in replacements.items():
        if production not in text:
            raise AssertionError(f"{production} is not in the deployment file any more")
        text = text.replace(production, here)
    return text


def make_tls(folder: Path, *, name: str = "localhost") -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for ``name`` signed by it: (ca, cert, key)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = folder / "ca.key", folder / "ca.crt"
    key, csr, cert = folder / "server.key", folder / "server.csr", folder / "server.crt"
    ext = folder / "server.ext"
    ext.write_text(f"subjectAltName=DNS:{name},IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(ca_key), "-out", str(ca_cert), "-subj", "/CN=medsign test CA",
            "-days", "2")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
            "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext))
    return ca_cert, cert, key


def nginx_config(folder: Path, *, upstreams: list[int] | None = None,
                 https_port: int = 443, http_port: int = 80) -> Path:
    """The shipped site inside a minimal ``nginx.conf`` of its own prefix ``folder``."""
    tls = folder / "tls"
    _, cert, key = make_tls(tls)
    shutil.copy(cert, tls / "medsign.crt")
    shutil.copy(key, tls / "medsign.key")
    for sub in ("logs", "cache", "acme", "tmp"):
        (folder / sub).mkdir(exist_ok=True)
    replacements = {"/etc/nginx/tls/": f"{tls}/", "/var/cache/nginx/medsign": str(folder / "cache"),
                    "/var/www/acme": str(folder / "acme"),
                    "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
                    "listen [::]:443 ssl http2;": "",
                    "listen 80;": f"listen 127.0.0.1:{http_port};",
                    "listen [::]:80;": ""}
    site = rendered(NGINX_SITE.read_text(encoding="utf-8"), replacements)
    if upstreams is not None:
        site = rendered(site, {"    server 127.0.0.1:8001 max_fails=1 fail_timeout=2s;\n"
                               "    server 127.0.0.1:8002 max_fails=1 fail_timeout=2s;\n":
                               "".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;\n"
                                       for p in upstreams)})
    (folder / "site.conf").write_text(site, encoding="utf-8")
    main = folder / "nginx.conf"
    temp = folder / "tmp"
    # as root nginx runs its workers as nobody, who may not enter the test's folders
    user = "user root;\n" if os.geteuid() == 0 else ""
    main.write_text(
        user + f"pid {folder}/nginx.pid;\nerror_log {folder}/logs/error.log warn;\n"
        "daemon off;\nworker_processes 1;\nevents {}\nhttp {\n"
        f"  access_log {folder}/logs/access.log;\n"
        f"  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
        f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n"
        f"  scgi_temp_path {temp}/scgi;\n"
        f"  include {folder}/site.conf;\n}}\n", encoding="utf-8")
    return main
