"""The promotion gate: pure rules deciding whether a candidate may become ``champion``.

Accuracy alone can be met by always predicting the majority class, so the gate also reports
(and, by parameter, requires) beating the majority-class baseline out of sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field


class GateParams(BaseModel):
    """The ``register:`` section of params.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_name: str = "ensemble"
    metric: str = "accuracy"
    accuracy_floor: float = Field(default=0.53, ge=0, le=1)
    require_beat_majority: bool = True
    min_improvement: float = Field(default=0.0, ge=0)


@dataclass(frozen=True)
class GateDecision:
    """Whether to promote, and every reason that went into it (logged and audited)."""

    promote: bool
    reasons: list[str] = field(default_factory=list)
    candidate_score: float = float("nan")
    champion_score: float | None = None


def decide(candidate: dict[str, float], majority: dict[str, float],
           champion: dict[str, float] | None, params: GateParams) -> GateDecision:
    """Apply the floor, the baseline check and the champion comparison, in that order."""
    metric = params.metric
    score = float(candidate[metric])
    reasons: list[str] = []
    ok = True
    if score < params.accuracy_floor:
        ok = False
        reasons.append(f"{metric} {score:.4f} is below the floor {params.accuracy_floor:.4f}")
    else:
        reasons.append(f"{metric} {score:.4f} clears the floor {params.accuracy_floor:.4f}")
    base = float(majority[metric])
    beats = score > base
    reasons.append(f"{'beats' if beats else 'does not beat'} the majority-class baseline "
                   f"({metric} {base:.4f})")
    if params.require_beat_majority and not beats:
        ok = False
    champion_score = None
    if champion is not None and metric in champion:
        champion_score = float(champion[metric])
        better = score >= champion_score + params.min_improvement
        reasons.append(f"{'beats' if better else 'does not beat'} the champion "
                       f"({metric} {champion_score:.4f}, min improvement "
                       f"{params.min_improvement:.4f})")
        ok = ok and better
    return GateDecision(promote=ok, reasons=reasons, candidate_score=score,
                        champion_score=champion_score)
