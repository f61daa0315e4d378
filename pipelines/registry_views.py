"""Rich tables of the registry for ``alphaloop models`` and ``alphaloop audit``."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.table import Table

from alphaloop.registry.lifecycle import RegistryConfig
from alphaloop.registry.manual import audit_entries, model_states

_METRICS = {"ensemble": "accuracy", "regime": "vol_rmse", "sentiment": "macro_f1"}


def models_table(registry: RegistryConfig) -> Table:
    """One row per task and alias: version, gate decision, headline metric, age."""
    from alphaloop.retrain.drift_check import champion_drift_line

    now = datetime.now(UTC)
    table = Table(title="Registered tasks (champion / challenger / previous champion)")
    for col in ("task", "alias", "version", "gate", "metric", "age (days)", "drift"):
        table.add_column(col, justify="right" if col in ("version", "age (days)") else "left")
    states = model_states(registry)
    for state in states:
        metric = _METRICS.get(state.task.kind, "")
        for alias, a in state.aliases.items():
            value = a.metrics.get(metric)
            age = a.age_days(now)
            table.add_row(state.name if alias == "champion" else "", alias,
                          f"v{a.version}" if a.version else "-", a.decision or "-",
                          f"{metric} {value:.4f}" if value is not None else "-",
                          f"{age:.1f}" if age is not None else "-",
                          champion_drift_line(registry, state.name)
                          if alias == "champion" and a.version else "")
    if not states:
        table.caption = "no tasks registered yet: run `make run` or `alphaloop retrain run`"
    return table


def audit_table(registry: RegistryConfig, model: str | None, last: int) -> Table:
    entries = audit_entries(registry, model)[-last:]
    table = Table(title=f"Audit log ({registry.audit})")
    for col in ("time", "model", "alias", "from", "to", "source", "actor", "reason"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(str(e["time"])[:19], str(e.get("model")), str(e["alias"]),
                      f"v{e['from_version']}" if e.get("from_version") else "-",
                      f"v{e['to_version']}" if e.get("to_version") else "-",
                      str(e.get("source", "")), str(e.get("actor", "")), str(e.get("reason")))
    return table
