"""The retraining run's markdown report (a Prefect artifact): scores, decision, window."""

from __future__ import annotations

import math
from typing import Any

from alphaloop.retrain.cycle import CycleReport


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def scores_markdown(scores: dict[str, dict[str, float]], metric: str | None = None) -> str:
    """One row per model (challenger, champion, baselines), one column per metric."""
    columns = sorted({k for s in scores.values() for k in s if k != "n"})
    if metric in columns:
        columns.remove(metric)
        columns.insert(0, metric)
    lines = ["| model | " + " | ".join(columns) + " |",
             "|---|" + "---|" * len(columns)]
    for name, row in scores.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(row.get(c, "-")) for c in columns) + " |")
    return "\n".join(lines)


def markdown(report: CycleReport) -> str:
    r = report.registration
    parts = [f"# Retrain {report.kind} ({report.market})", ""]
    if report.window:
        w = report.window
        parts.append("**Data window:** " + ", ".join(f"{k} {v}" for k, v in w.items()))
    if r is not None:
        verdict = "**promoted to champion**" if r.promoted else "**not promoted**"
        parts += ["", f"**Task:** `{r.name}`", "",
                  f"**Decision:** v{r.version} {verdict}; champion now "
                  f"{'v' + r.champion_version if r.champion_version else 'none'}, previous "
                  f"{'v' + r.previous_champion_version if r.previous_champion_version else 'none'}",
                  "", "**Reasons:** " + "; ".join(r.reasons), "",
                  f"**Holdout (neither model trained on it):** {r.holdout}", "",
                  scores_markdown(r.scores)]
    if report.drift:
        d = report.drift
        worst = ", ".join(f"{name} {value:.2f}" for name, value in d.get("worst", []))
        parts += ["", f"**Champion v{d['champion_version']}:** {d['champion_age_days']:.1f} "
                  f"days old; max PSI {d.get('max_psi', float('nan')):.3f} ({worst or 'n/a'})"]
    if report.early_retrain:
        parts += ["", "**Early-retrain triggers:** " + "; ".join(report.early_retrain)]
    parts += ["", f"Workspace: `{report.workspace}`, {report.seconds:.1f} s"]
    return "\n".join(parts)


def failure_markdown(kind: str, exc: BaseException) -> str:
    return (f"# Retrain {kind}: FAILED\n\n**Reason:** {type(exc).__name__}: {exc}\n\n"
            "The champion was not changed.")
