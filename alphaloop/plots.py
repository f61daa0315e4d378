"""PNG renderings of the evaluation tables, for the MLflow UI and `dvc plots show`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def roc_png(roc: pd.DataFrame, auc: float, path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(roc["fpr"], roc["tpr"], label=f"ensemble (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate",
           title="ROC, out-of-fold")
    ax.legend(loc="lower right")
    _save(fig, path)


def calibration_png(table: pd.DataFrame, path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(table["predicted"], table["observed"], "o-", label="ensemble")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    ax.set(xlabel="mean predicted P(up)", ylabel="observed share up",
           title="Calibration, out-of-fold")
    ax.legend(loc="upper left")
    _save(fig, path)


def equity_png(table: pd.DataFrame, path: Path) -> None:
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1]})
    for column in ("strategy", "buy_and_hold"):
        top.plot(table["timestamp"], table[column], label=column.replace("_", " "))
        bottom.plot(table["timestamp"], table[f"{column}_drawdown"])
    top.set(ylabel="equity", title="Walk-forward, out of sample, after costs")
    top.legend(loc="upper left")
    bottom.set(ylabel="drawdown")
    _save(fig, path)


def confusion_png(actual: pd.Series, predicted: pd.Series, classes: list[str], path: Path,
                  title: str) -> None:
    """Counts of actual (rows) against predicted (columns) classes, annotated."""
    table = pd.crosstab(pd.Categorical(actual, categories=classes),
                        pd.Categorical(predicted, categories=classes), dropna=False)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.4 * len(classes) + 2, 1.2 * len(classes) + 1.5))
    ax.imshow(table.to_numpy(), cmap="Blues")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    peak = max(int(table.to_numpy().max()), 1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            count = int(table.to_numpy()[i, j])
            ax.text(j, i, f"{count:,}", ha="center", va="center",
                    color="white" if count > peak / 2 else "black")
    ax.set(xlabel="predicted", ylabel="actual", title=title)
    _save(fig, path)


def importance_png(table: pd.DataFrame, path: Path, top: int = 20) -> None:
    """Mean normalised importance of the top features, with each member's share."""
    shown = table.head(top).iloc[::-1]
    members = [c for c in shown.columns if c not in ("feature", "mean")]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(shown) + 1.2))
    left = pd.Series(0.0, index=shown.index)
    for member in members:
        share = shown[member] / len(members)
        ax.barh(shown["feature"], share, left=left, label=member)
        left += share
    ax.set(xlabel="mean normalised importance (gain)", title="Feature importance, top "
                                                               f"{len(shown)}")
    ax.legend(loc="lower right")
    _save(fig, path)


def regime_png(predictions: pd.DataFrame, path: Path) -> None:
    """Held-out realised volatility against the model's and GARCH's forecasts."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 4))
    x = predictions["timestamp"] if "timestamp" in predictions else predictions["origin"]
    ax.plot(x, predictions["realised_vol"], color="grey", alpha=0.6, label="realised")
    ax.plot(x, predictions["forecast_vol"], label="model forecast")
    ax.plot(x, predictions["garch_vol"], label="GARCH(1,1)")
    ax.set(ylabel="realised volatility over the horizon",
           title="Regime model, held-out windows")
    ax.legend(loc="upper left")
    _save(fig, path)


def _save(fig: object, path: Path) -> None:
    plt = pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    # No "Software" entry: the file depends on the picture only (DVC tracks it by hash).
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})  # type: ignore[attr-defined]
    plt.close(fig)
