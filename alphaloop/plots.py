"""PNG renderings of the evaluation tables, for the MLflow UI and `dvc plots show`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def roc_png(roc: pd.DataFrame, auc: float, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(roc["fpr"], roc["tpr"], label=f"ensemble (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate",
           title="ROC, out-of-fold")
    ax.legend(loc="lower right")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def calibration_png(table: pd.DataFrame, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(table["predicted"], table["observed"], "o-", label="ensemble")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    ax.set(xlabel="mean predicted P(up)", ylabel="observed share up",
           title="Calibration, out-of-fold")
    ax.legend(loc="upper left")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def equity_png(table: pd.DataFrame, path: Path) -> None:
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1]})
    for column in ("strategy", "buy_and_hold"):
        top.plot(table["timestamp"], table[column], label=column.replace("_", " "))
        bottom.plot(table["timestamp"], table[f"{column}_drawdown"])
    top.set(ylabel="equity", title="Walk-forward, out of sample, after costs")
    top.legend(loc="upper left")
    bottom.set(ylabel="drawdown")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
