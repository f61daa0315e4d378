"""The ``retrain:`` section of params.yaml: window, schedules, drift triggers, fan-out."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ModelKind = Literal["ensemble", "regime", "sentiment"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Schedule(_Section):
    """Every ``interval_hours``, or on a cron expression (UTC) when ``cron`` is set."""

    interval_hours: float = Field(default=24.0, gt=0)
    cron: str | None = None


class DriftParams(_Section):
    """Early-retrain triggers, checked every ``check_interval_hours`` by the monitor."""

    psi_threshold: float = Field(default=0.25, ge=0)
    max_share_drifted: float = Field(default=0.5, ge=0, le=1)
    max_champion_age_days: float = Field(default=7.0, gt=0)
    check_interval_hours: float = Field(default=1.0, gt=0)
    bins: int = Field(default=10, ge=2, le=100)


class MarketTask(_Section):
    """One market to retrain in a fan-out: a source and settings that differ from params."""

    name: str
    source: dict[str, Any]  # as ingest.source
    training_window_days: float | None = Field(default=90.0, gt=0)  # None: every bar
    overrides: dict[str, Any] = Field(default_factory=dict)  # params sections, merged


class FanOut(_Section):
    """Markets retrained in parallel on Dask (a LocalCluster unless ``dask_address``)."""

    tasks: list[MarketTask] = Field(default_factory=lambda: [
        MarketTask(name="btc-usd-15m", source={"kind": "bundled", "dataset": "btc-usd-15m"}),
        *(MarketTask(name=name, source={"kind": "bundled", "dataset": name},
                     training_window_days=None,
                     overrides={"validate": {"session": calendar}})
          for name, calendar in (("sp500-1d", "XNYS"), ("nasdaq-1d", "XNAS")))])
    dask_address: str | None = None
    n_workers: int = Field(default=2, ge=1)
    threads_per_model: int | None = Field(default=1, ge=1)  # None: keep params' threads


ALL_KINDS: tuple[ModelKind, ...] = ("ensemble", "regime", "sentiment")


def _default_schedules() -> dict[ModelKind, Schedule]:
    return {"ensemble": Schedule(), "regime": Schedule(),
            "sentiment": Schedule(interval_hours=168.0)}


class RetrainParams(_Section):
    models: list[ModelKind] = Field(default_factory=lambda: list(ALL_KINDS), min_length=1)
    training_window_days: float | None = Field(default=90.0, gt=0)  # None: all bars
    backtest: bool = True  # walk-forward in each ensemble cycle (reported, not gated)
    workspace_root: str = ".alphaloop/runs"
    schedules: dict[ModelKind, Schedule] = Field(default_factory=_default_schedules)
    drift: DriftParams = Field(default_factory=DriftParams)
    fan_out: FanOut = Field(default_factory=FanOut)

    @model_validator(mode="after")
    def _unique_tasks(self) -> RetrainParams:
        names = [t.name for t in self.fan_out.tasks]
        if len(names) != len(set(names)):
            raise ValueError(f"retrain.fan_out.tasks: names must be unique, got {names}")
        return self

    def schedule(self, kind: ModelKind) -> Schedule:
        return self.schedules.get(kind, Schedule())
