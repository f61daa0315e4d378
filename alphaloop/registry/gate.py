"""The promotion gate: pure rules deciding whether a candidate may become ``champion``.

A candidate must clear an absolute floor on its metric, beat a naive baseline (accuracy alone
can be met by always predicting the majority class) and beat the current champion, all three
measured on the same recent holdout that neither model trained on. A missing or NaN metric is
refused. Every check adds a reason, so the decision can be logged and audited as it was made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class GateRule(BaseModel):
    """How one registered model is judged (a sub-section of ``register:`` in params.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str = "accuracy"
    greater_is_better: bool = True
    floor: float | None = Field(default=0.53, description="None: no absolute floor")
    baseline: str | None = "majority"
    require_beat_baseline: bool = True
    min_improvement: float = Field(default=0.0, ge=0)


_DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "ensemble": {},
    "sentiment": {"metric": "macro_f1", "floor": 0.5, "baseline": "lexicon"},
    "regime": {"metric": "vol_rmse", "greater_is_better": False, "floor": None,
               "baseline": "garch"},
}


class GateParams(BaseModel):
    """The ``register:`` section: one rule per registered model.

    A rule given in part keeps its model's defaults for the keys it leaves out (so
    ``regime: {floor: 0.004}`` still judges ``vol_rmse``, lower is better, against GARCH).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    ensemble: GateRule = Field(default_factory=GateRule)
    sentiment: GateRule = Field(default_factory=lambda: GateRule(**_DEFAULT_RULES["sentiment"]))
    regime: GateRule = Field(default_factory=lambda: GateRule(**_DEFAULT_RULES["regime"]))

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {key: {**_DEFAULT_RULES[key], **value}
                if key in _DEFAULT_RULES and isinstance(value, dict) else value
                for key, value in data.items()}


@dataclass(frozen=True)
class GateDecision:
    """Whether to promote, and every reason that went into it (logged and audited)."""

    promote: bool
    reasons: list[str] = field(default_factory=list)
    candidate_score: float = float("nan")
    champion_score: float | None = None


def _at_least(a: float, b: float, rule: GateRule) -> bool:
    return a >= b if rule.greater_is_better else a <= b


def _beats(a: float, b: float, rule: GateRule, margin: float = 0.0) -> bool:
    """Strictly better by more than ``margin``: a tie never replaces anything."""
    return a > b + margin if rule.greater_is_better else a < b - margin


def check_rule(rule: GateRule, metrics: dict[str, dict[str, float]], candidate: str,
               where: str) -> None:
    """Fail before anything is registered if the rule names a metric or baseline not measured."""
    known = sorted(metrics)
    if rule.metric not in metrics.get(candidate, {}):
        raise ValueError(f"{where}.metric: {rule.metric!r} is not measured for {candidate!r} "
                         f"(measured: {sorted(metrics.get(candidate, {}))})")
    if rule.baseline is not None:
        if rule.baseline not in metrics:
            raise ValueError(f"{where}.baseline: {rule.baseline!r} is not one of {known}")
        if rule.metric not in metrics[rule.baseline]:
            raise ValueError(f"{where}: baseline {rule.baseline!r} has no {rule.metric!r}")


def decide(candidate: dict[str, float], baseline: dict[str, float] | None,
           champion: dict[str, float] | None, rule: GateRule) -> GateDecision:
    """Apply the floor, the baseline check and the champion comparison, in that order."""
    metric = rule.metric
    score = float(candidate.get(metric, float("nan")))
    if not math.isfinite(score):
        # NaN would pass every comparison written as "not worse" and then never be beaten.
        return GateDecision(promote=False, reasons=[
            f"{metric} is {'missing' if metric not in candidate else score}: refused"],
            candidate_score=score)
    reasons: list[str] = []
    ok = True
    if rule.floor is not None:
        clears = _at_least(score, rule.floor, rule)
        ok = clears
        word = "clears" if clears else ("is below" if rule.greater_is_better else "is above")
        reasons.append(f"{metric} {score:.4f} {word} the floor {rule.floor:.4f}")
    if rule.baseline is not None:
        if baseline is None or metric not in baseline:
            # A required comparison that cannot be made is a refusal, never a pass.
            beats = False
            reasons.append(f"no {rule.baseline} baseline {metric} to compare with")
        else:
            base = float(baseline[metric])
            beats = _beats(score, base, rule)
            reasons.append(f"{metric} {score:.4f} {'beats' if beats else 'does not beat'} "
                           f"the {rule.baseline} baseline ({base:.4f})")
        if rule.require_beat_baseline and not beats:
            ok = False
    champion_score = None
    if champion is not None:
        if not math.isfinite(float(champion.get(metric, float("nan")))):
            ok = False
            reasons.append(f"the champion has no finite {metric} on this holdout to compare "
                           "with; promote by hand if this version should replace it")
        else:
            champion_score = float(champion[metric])
            better = _beats(score, champion_score, rule, rule.min_improvement)
            reasons.append(f"{'beats' if better else 'does not beat'} the champion "
                           f"({metric} {champion_score:.4f}, min improvement "
                           f"{rule.min_improvement:.4f})")
            ok = ok and better
    return GateDecision(promote=ok, reasons=reasons, candidate_score=score,
                        champion_score=champion_score)
