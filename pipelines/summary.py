"""The readable summary ``make run`` ends with: what was produced, where, and what was found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from alphaloop.workspace import read_json
from pipelines.common import RUNS, WS
from pipelines.provenance import StageState, stage_files, stage_states

RAW_BARS, VALIDATED_BARS, FEATURES = WS.raw_bars, WS.validated_bars, WS.features
DATA_DOCS, MODEL_DIR = WS.data_docs, WS.model_dir("ensemble")
INGEST_REPORT, VALIDATION_REPORT = WS.report("ingest"), WS.report("validation")
FEATURES_REPORT, TRAIN_METRICS = WS.report("features"), WS.report("train_metrics")
BACKTEST_METRICS, REGISTRY_REPORT = WS.report("backtest_metrics"), WS.report("registry")
SENTIMENT_METRICS, SENTIMENT_REGISTRY = (WS.report("sentiment_metrics"),
                                         WS.report("sentiment_registry"))
REGIME_METRICS, REGIME_REGISTRY = WS.report("regime_metrics"), WS.report("regime_registry")
WS_FILES = stage_files(WS)


LOOP_REPORT = Path("reports/loop.json")


def _size(path: Path) -> str:
    if not path.exists():
        return "missing"
    size = sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() else path.stat().st_size
    return f"{size / 1e6:.1f} MB"


def _load(path: Path) -> dict[str, Any] | None:
    return read_json(path) if path.exists() else None


def render(console: Console) -> bool:
    """Print the summary of the newest run; return False when a stage is not from it.

    Only reports of the current run are shown (``pipelines.provenance``): a stage that
    failed, never ran or was made from an earlier run is listed as such, never mixed in.
    """
    states = stage_states(WS)
    shown = {stage: _load(WS_FILES[stage].report) if state.current else None
             for stage, state in states.items()}
    ingest, validation, features = shown["ingest"], shown["validate"], shown["features"]
    console.rule("[bold]alphaloop run summary")
    _run_line(console, states)
    outputs = Table(title="Outputs", show_lines=False)
    for col in ("stage", "rows", "path", "size"):
        outputs.add_column(col)
    outputs.add_row("ingest", _rows(ingest, "rows", states["ingest"]), str(RAW_BARS),
                    _size(RAW_BARS))
    outputs.add_row("validate", _rows(validation, "rows_out", states["validate"]),
                    str(VALIDATED_BARS), _size(VALIDATED_BARS))
    outputs.add_row("validate (GX data docs)", "", str(DATA_DOCS / "index.html"),
                    _size(DATA_DOCS))
    outputs.add_row("features", _rows(features, "rows_out", states["features"]), str(FEATURES),
                    _size(FEATURES))
    console.print(outputs)
    if ingest:
        console.print(f"Data: {ingest['symbol']} {ingest['timeframe']} bars, "
                      f"{ingest['first']} → {ingest['last']}")
    if validation:
        _validation(console, validation)
    if features:
        console.print(f"Features: {features['n_features']} columns, "
                      f"{features['warmup_rows_dropped']} warm-up rows dropped"
                      f"{_segments(features)}. Top by |Spearman| vs next-bar return: "
                      + ", ".join(f"{f['feature']} ({f['spearman']:+.3f})"
                                  for f in features["top_features"][:5]))
    _models(console, shown)
    _not_shown(console, states)
    _loop(console, LOOP_REPORT)
    return all(state.current for state in states.values())


def _loop(console: Console, path: Path) -> None:
    """The last ``alphaloop loop`` (retrain as of the replay, serve, paper trade), if any.

    It runs after the pipeline, so it is shown only when its report is newer than the
    validated bars it traded (never a loop over data an earlier run produced).
    """
    loop = _load(path)
    if not loop or not VALIDATED_BARS.exists() or \
            path.stat().st_mtime < VALIDATED_BARS.stat().st_mtime:
        return
    trade = loop["trade"]
    models = "; ".join(f"{r['model']} v{r['version']} "
                       f"({'champion' if r['promoted'] else 'challenger, not promoted'})"
                       for r in loop["retrained"])
    console.print(f"Loop: retrained as of {loop['as_of']}: {models}; served @challenger and "
                  f"paper-traded {trade['bars']} bars out of sample: {trade['orders']} orders, "
                  f"PnL {trade['pnl']:+,.2f} ({trade['return']:+.2%}), "
                  f"{trade['holds']} bars on HOLD; decisions: "
                  + ", ".join(f"{k} {v}" for k, v in trade["reasons"].items())
                  + f". Report: reports/trader/{trade['account']}/report.json")


def _run_line(console: Console, states: dict[str, StageState]) -> None:
    record = states["ingest"].record
    if record and states["ingest"].current:
        version = str(record.get("data_version") or "?")[:12]
        when = states["ingest"].finished
        console.print(f"Run: data version {version} (md5 of {RAW_BARS})"
                      f"{f', ingested {when}' if when else ''}; "
                      f"{sum(s.current for s in states.values())} of "
                      f"{len(states)} stage reports from this run")
    else:
        console.print(f"Run: no current ingest ({states['ingest'].state}); only stages "
                      "from one run are shown")


def _not_shown(console: Console, states: dict[str, StageState]) -> None:
    behind = [s for s in states.values() if not s.current]
    if not behind:
        return
    table = Table(title="Not shown: stages that are not from this run")
    for col in ("stage", "state", "why"):
        table.add_column(col)
    for state in behind:
        table.add_row(state.stage, state.state, state.detail)
    console.print(table)


def _segments(features: dict[str, Any]) -> str:
    used, skipped = features.get("segments_used", 1), features.get("segments_skipped", 0)
    if used == 1 and not skipped:
        return ""
    return (f" (restarted in each of {used} gap-free segments"
            f"{f', {skipped} too short for the warm-up dropped' if skipped else ''})")


def _validation(console: Console, validation: dict[str, Any]) -> None:
    flaws = Table(title=f"Validation of {validation['source']} "
                        f"({validation['rows_in']:,} rows in, session "
                        f"{validation.get('session', 'continuous')})")
    flaws.add_column("flaw")
    flaws.add_column("count", justify="right")
    for name, count in validation["flaws"].items():
        flaws.add_row(name.replace("_", " "), f"{count:,}")
    console.print(flaws)
    offsets = ", ".join(f"{k}: {v:,}" for k, v in validation["utc_offsets"].items())
    console.print(f"UTC offsets in the source: {offsets or 'none recorded'}")


def scores_table(metrics: dict[str, Any], title: str) -> Table:
    """Each model's and baseline's out-of-sample classification metrics, one row each."""
    table = Table(title=title)
    columns = ("accuracy", "balanced_accuracy", "auc", "log_loss", "brier")
    table.add_column("model")
    for col in columns:
        table.add_column(col.replace("_", " "), justify="right")
    for name, scores in metrics.items():
        if name not in ("data", "holdout", "run"):
            table.add_row(name, *(f"{scores[c]:.4f}" for c in columns))
    return table


def _models(console: Console, shown: dict[str, dict[str, Any] | None]) -> None:
    """Out-of-sample model quality beside the baselines, the backtest and the registry."""
    train, backtest = shown["train"], shown["backtest"]
    if train:
        console.print(scores_table(train, f"Direction model, out-of-fold (purged k-fold), "
                                          f"{train['data']['rows']:,} labelled bars, "
                                          f"{train['data']['up_share']:.1%} up"))
        data = train["data"]
        if "holdout" in train:
            console.print(scores_table(train["holdout"], "Direction model on the gate's holdout "
                                       f"{data['holdout_start'][:16]} → "
                                       f"{data['holdout_end'][:16]} "
                                       f"({data['holdout_rows']} bars, never trained on)"))
        console.print(f"Model: {MODEL_DIR} ({_size(MODEL_DIR)})")
    if backtest:
        _backtest(console, backtest)
    _side_models(console, shown)
    registries = (_registered(console, shown["register"]),
                  _load(SENTIMENT_REGISTRY) if shown["train_sentiment"] else None,
                  _load(REGIME_REGISTRY) if shown["train_regime"] else None)
    for report in registries:
        if report:
            _registry_line(console, report)


def _backtest(console: Console, backtest: dict[str, Any]) -> None:
    s, b = backtest["strategy"], backtest["buy_and_hold"]
    oos = backtest["out_of_sample"]
    costs = backtest.get("costs", {}).get("description", "")
    table = Table(title=f"Walk-forward backtest, out of sample {oos['first'][:10]} → "
                        f"{oos['last'][:10]}, {backtest['costs_bps']:g} bps per trade"
                        f"{f' ({costs})' if costs else ''}")
    for col in ("", "return", "sharpe", "max drawdown", "trades", "P(SR > 0)"):
        table.add_column(col, justify="right")
    aware = backtest.get("strategy_cost_aware")
    rows = [("strategy", s), *([("cost-aware rule", aware)] if aware else []),
            ("buy and hold", b)]
    for name, stats in rows:
        table.add_row(name, f"{stats['total_return']:+.2%}", f"{stats['sharpe']:.2f}",
                      f"{stats['max_drawdown']:.2%}", f"{stats['trades']:.0f}",
                      f"{stats['deflated_sharpe']:.3f}" if "deflated_sharpe" in stats else "-")
    console.print(table)
    before = backtest.get("strategy_before_costs")
    if before:
        console.print(f"Strategy before costs: {before['total_return']:+.2%}")
    if aware:
        console.print(f"Cost-aware rule (risk:): {aware['before_costs']:+.2%} before costs; "
                      f"traded in {aware['windows_trading']} of {aware['windows']} windows "
                      "(entry rule chosen on each window's training data; no edge after costs "
                      "means no trade)")
    run = _load(RUNS / "backtest.json")
    logged = f"; MLflow run {run['run_id']}" if run else ""
    console.print(f"Tear sheet: {WS.tear_sheet} (strategy against buy-and-hold, charts and "
                  f"monthly returns){logged}; pictures in {WS.plots}/")


def _registered(console: Console, identity: dict[str, Any] | None) -> dict[str, Any] | None:
    """The registry's answer for the model the register stage recorded. Versions and run ids
    live in the git-ignored reports/registry.json, absent after a `dvc pull`."""
    if identity is None:
        return None
    details = _load(REGISTRY_REPORT)
    if details is not None and details.get("model") == identity["model"]:
        return details
    console.print(f"Registry: {identity['model']} holds this model (model_hash "
                  f"{str(identity['model_hash'])[:12]}, registered by another run); "
                  "`alphaloop models` shows its versions and aliases.")
    return None


def _registry_line(console: Console, registry: dict[str, Any]) -> None:
    verdict = "promoted to champion" if registry["promoted"] else "not promoted"
    champion = registry["champion_version"]
    console.print(f"Registry: {registry['model']} v{registry['version']} is the challenger, "
                  f"{verdict} on {registry.get('holdout', 'its holdout')} "
                  f"({'; '.join(registry['reasons'])}). Champion: "
                  f"{'v' + champion if champion else 'none'}.")


def _side_models(console: Console, shown: dict[str, dict[str, Any] | None]) -> None:
    """The sentiment and regime models' held-out scores beside their baselines."""
    sentiment, regime = shown["train_sentiment"], shown["train_regime"]
    if sentiment:
        table = Table(title=f"News sentiment, held out ({sentiment['data']['held_out']} of "
                            f"{sentiment['data']['rows']} labelled headlines)")
        for col in ("model", "accuracy", "macro F1"):
            table.add_column(col, justify="right" if col != "model" else "left")
        for name in ("minilm", "lexicon", "majority"):
            scores = sentiment[name]
            table.add_row(name, f"{scores['accuracy']:.3f}", f"{scores['macro_f1']:.3f}")
        console.print(table)
    if regime:
        table = Table(title=f"Market regime, held out ({regime['data']['n_test']:,} windows, "
                            "last 20% of time)")
        for col in ("forecaster", "return RMSE", "vol RMSE", "direction"):
            table.add_column(col, justify="right" if col != "forecaster" else "left")
        for name, row in regime.items():
            if name in ("data", "run"):
                continue
            table.add_row(name, *(f"{row[k]:.6f}" if k in row else "-"
                                  for k in ("return_rmse", "vol_rmse")),
                          f"{row['directional_accuracy']:.3f}"
                          if "directional_accuracy" in row else "-")
        console.print(table)


def _rows(report: dict[str, Any] | None, key: str, state: StageState) -> str:
    return f"{report[key]:,}" if report else state.state


def main() -> None:
    if not render(Console()):
        raise SystemExit("some stages are not from this run (failed, stale or not run): "
                         "see the table above; `dvc repro` re-runs them")


if __name__ == "__main__":
    main()
