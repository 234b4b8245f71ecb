"""The monitoring of ``deploy/monitoring``: Prometheus's own checks pass on the rules, their
behaviour tests and the example configuration; every metric the rules and the Grafana panel
name is one the processes really expose; every metric the processes expose is documented."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from sqlalchemy import Engine

from medsign.bootstrap import Container
from medsign.config import load_settings
from medsign.crypto import make_ca
from medsign.crypto.keys import make_crl
from medsign.runner.metrics import RunnerMetrics
from tests import factories as f
from tests.e2e.deploy.deploy_files import DEPLOY, ROOT, tool

MONITORING = DEPLOY / "monitoring"
RULES = MONITORING / "medsign-alerts.yml"
DASHBOARD = MONITORING / "grafana-medsign.json"
METRIC = re.compile(r"\bmedsign_[a-z0-9_]+")
# names PromQL derives from a histogram or counter family
SUFFIXES = ("_bucket", "_count", "_sum", "_created")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True,
                          cwd=MONITORING, check=False)


def test_promtool_checks_the_rules() -> None:
    done = promtool("check", "rules", RULES.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 14 rules found" in done.stdout and "WARNING" not in done.stdout


def test_every_rule_fires_when_it_should_and_only_then() -> None:
    done = promtool("test", "rules", "medsign-alerts.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    tested = set(re.findall(r"alertname: (\w+)", (MONITORING / "medsign-alerts.test.yml")
                            .read_text(encoding="utf-8")))
    defined = set(re.findall(r"- alert: (\w+)", RULES.read_text(encoding="utf-8")))
    assert tested == defined, f"rules without a behaviour test: {defined - tested}"


def test_the_example_prometheus_configuration_is_valid() -> None:
    done = promtool("check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dashboard_is_a_grafana_model_of_queries() -> None:
    model = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    panels = [p for p in model["panels"] if p["type"] != "row"]
    assert model["uid"] and model["title"] and panels
    assert len({p["id"] for p in model["panels"]}) == len(model["panels"])
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"])
        assert panel["datasource"]["uid"] == "${datasource}"


def exposed(engine: Engine, tmp_path: Path) -> set[str]:
    """Every medsign metric family a serve (built as ``medsign serve`` builds it, with an МО
    and a revocation list configured), a worker and a backup write."""
    ca = make_ca("Тестовый УЦ", organization="Тестовый УЦ")
    crl = tmp_path / "ca.crl"
    crl.write_bytes(make_crl(ca))
    settings = load_settings(None, env={"MEDSIGN_SIGNING__CRLS": str(crl)})
    container = Container(settings, engine, keys_dir=tmp_path / "keys",
                          crl_cache=tmp_path / "crl")
    with TestClient(container.app()) as client:
        client.headers["Authorization"] = f"Bearer {f.token(engine)}"
        assert client.put("/api/v1/organizations/mo1", json=f.organization()).status_code == 201
        text = client.get("/metrics").text
    container.close()
    text += generate_latest(RunnerMetrics().registry).decode()
    prom = tmp_path / "backup.prom"
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "medsign"), "backup",
                           str(tmp_path / "copy.backup"), "--metrics-file", str(prom)],
                          cwd=tmp_path, capture_output=True, text=True, check=False,
                          env={"MEDSIGN_DATABASE__URL": str(engine.url.render_as_string(
                              hide_password=False)), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    text += prom.read_text()
    return set(re.findall(r"^# TYPE (medsign_[a-z0-9_]+)", text, flags=re.M))


def test_rules_and_panel_name_only_metrics_that_exist_and_all_are_documented(
        engine: Engine, tmp_path: Path) -> None:
    families = exposed(engine, tmp_path)
    named = set(METRIC.findall(RULES.read_text(encoding="utf-8")))
    named |= set(METRIC.findall(DASHBOARD.read_text(encoding="utf-8")))
    unknown = {n for n in named
               if n not in families and n.removesuffix(_suffix(n)) not in families}
    assert not unknown, f"named in rules or panel but exposed by no process: {unknown}"
    docs = (ROOT / "docs" / "monitoring.md").read_text(encoding="utf-8")
    # ``*_created``: the start time prometheus_client adds to each counter and histogram
    undocumented = {n for n in families if f"`{n}`" not in docs and not n.endswith("_created")}
    assert not undocumented, f"metrics missing from docs/monitoring.md: {undocumented}"


def _suffix(name: str) -> str:
    return next((s for s in SUFFIXES if name.endswith(s)), "")
