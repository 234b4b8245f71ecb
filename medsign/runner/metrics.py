"""Prometheus metrics of a worker: step outcomes and durations, external call latencies."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class RunnerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.steps = Counter("medsign_runner_steps_total", "Steps run, by kind, step and outcome",
                             ["kind", "step", "outcome"], registry=self.registry)
        self.step_seconds = Histogram("medsign_runner_step_seconds", "Step duration",
                                      ["kind", "step"], registry=self.registry)
        self.external = Histogram("medsign_external_call_seconds",
                                  "Latency of calls to external systems",
                                  ["api", "method", "outcome"], registry=self.registry)
        self.journal_errors = Counter("medsign_transaction_journal_errors",
                                      "Transaction journal lines that could not be written",
                                      registry=self.registry)

    def observe_step(self, kind: str, step: str, outcome: str, seconds: float) -> None:
        self.steps.labels(kind, step, outcome).inc()
        self.step_seconds.labels(kind, step).observe(seconds)

    def observe_call(self, api: str, method: str, outcome: str, seconds: float) -> None:
        self.external.labels(api, method, outcome).observe(seconds)
