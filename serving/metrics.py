"""Prometheus metrics of the serving process, shown by BentoML's ``/metrics`` beside its own.

Created inside the worker (not at import): BentoML sets ``PROMETHEUS_MULTIPROC_DIR`` when the
worker starts, and metrics made before that would never reach ``/metrics``.
"""

from __future__ import annotations

from typing import Any

from alphaloop.serving.loaders import LoadedVersion


class ServingMetrics:
    """Served version per task, outcomes per endpoint, registry polls and model loads.

    Implements ``alphaloop.serving.pool.PoolListener``.
    """

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge

        self.served_version = Gauge(
            "alphaloop_served_version", "Registered version each task serves (0: none)",
            ["model", "kind", "alias", "role"], multiprocess_mode="livemostrecent")
        self.requests = Counter(
            "alphaloop_requests", "API requests by endpoint and outcome",
            ["endpoint", "outcome"])
        self.polls = Counter("alphaloop_registry_polls", "Registry polls by outcome",
                             ["outcome"])
        self.loads = Counter("alphaloop_model_loads", "Model versions loaded, failed or dropped",
                             ["model", "role", "outcome"])

    def request(self, endpoint: str, outcome: str) -> None:
        self.requests.labels(endpoint=endpoint, outcome=outcome).inc()

    # PoolListener
    def polled(self, ok: bool) -> None:
        self.polls.labels(outcome="ok" if ok else "failed").inc()

    def loaded(self, loaded: LoadedVersion, role: str) -> None:
        self.loads.labels(model=loaded.name, role=role, outcome="loaded").inc()
        self._version(loaded.name, loaded.task.kind, loaded.alias, role).set(
            _number(loaded.version))

    def load_failed(self, name: str, version: str, role: str) -> None:
        self.loads.labels(model=name, role=role, outcome="failed").inc()

    def dropped(self, dropped: LoadedVersion, role: str) -> None:
        self.loads.labels(model=dropped.name, role=role, outcome="dropped").inc()
        self._version(dropped.name, dropped.task.kind, dropped.alias, role).set(0)

    def _version(self, name: str, kind: str, alias: str, role: str) -> Any:
        return self.served_version.labels(model=name, kind=kind, alias=alias, role=role)


def _number(version: str) -> float:
    try:
        return float(version)
    except ValueError:
        return -1.0
