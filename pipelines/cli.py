"""The ``alphaloop`` command line: the same stage functions DVC runs, for interactive use."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from alphaloop.config import BundledSource, ConfigError, IngestParams, Params, load_params
from pipelines import common

app = typer.Typer(
    help="alphaloop: versioned market data, leakage-safe ML, registry, serving and trading.",
    no_args_is_help=True, add_completion=False,
)
err = Console(stderr=True, soft_wrap=True)  # an error stays one line, however long
T = TypeVar("T")

SENTIMENT_DIR, REGIME_DIR = common.WS.model_dir("sentiment"), common.WS.model_dir("regime")
ParamsOpt = Annotated[Path, typer.Option("--params", help="Parameters file.")]


@contextmanager
def _clear_errors() -> Iterator[None]:
    """Turn expected failures into one readable line and a non-zero exit, not a traceback."""
    from alphaloop.data.sources import SourceError
    from alphaloop.data.validation import DataValidationError

    try:
        yield
    except DataValidationError as exc:
        err.print(f"[red]validation failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    except (ConfigError, SourceError, FileNotFoundError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


def _params(path: Path) -> Params:
    common.setup()
    with _clear_errors():
        return load_params(path)
    raise AssertionError("unreachable")  # pragma: no cover - _clear_errors always raises


def _guarded(fn: Callable[[], T]) -> T:
    from pipelines.console import progress_display

    with _clear_errors(), progress_display():
        return fn()
    raise AssertionError("unreachable")  # pragma: no cover


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"alphaloop {version('alphaloop')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    log_format: Annotated[str | None, typer.Option(
        "--log-format", help="text (default) or json: one JSON object per log line, for "
        "log collectors (or set ALPHALOOP_LOG_FORMAT).")] = None,
) -> None:
    """alphaloop: versioned market data, leakage-safe ML, registry, serving and trading."""
    from pipelines.console import FORMAT_ENV, FORMATS

    if log_format is not None:
        if log_format not in FORMATS:
            err.print(f"[red]error:[/red] --log-format {log_format!r}: choose "
                      f"{' or '.join(FORMATS)}")
            raise typer.Exit(2)
        os.environ[FORMAT_ENV] = log_format  # every command's set-up (and children) read it


@app.command()
def ingest(
    params: ParamsOpt = Path("params.yaml"),
    dataset: Annotated[str | None, typer.Option(
        help="Use a bundled data set instead of params: btc-usd-15m, sp500-1d, nasdaq-1d.")] = None,
    out: Annotated[Path, typer.Option(help="Where to write the raw bars.")] = common.WS.raw_bars,
) -> None:
    """Load bars from the configured source (params.yaml ingest.source) into data/raw/."""
    from alphaloop.stages.data import ingest as ingest_stage
    from alphaloop.workspace import write_frame

    cfg = _params(params).ingest
    if dataset is not None:
        cfg = IngestParams(source=_guarded(lambda: BundledSource(dataset=dataset)))  # type: ignore[arg-type]
    result = _guarded(lambda: ingest_stage(cfg, None))
    write_frame(result.frame, out)
    summary = result.report
    typer.echo(f"{summary['rows']:,} bars of {summary['symbol']} {summary['timeframe']} "
               f"({summary['first']} → {summary['last']}) written to {out}")


@app.command()
def validate(
    path: Annotated[str, typer.Argument(
        help="CSV/Parquet file of bars, or bundled:<name> (e.g. bundled:btc-usd-15m).")],
    params: ParamsOpt = Path("params.yaml"),
    column: Annotated[list[str] | None, typer.Option(
        "--column", "-c", help="Column mapping canonical=source, e.g. -c timestamp=Date.")] = None,
    timeframe: Annotated[str | None, typer.Option(
        help="Bar interval (15m, 1h, 1d); inferred from the data when omitted.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the cleaned bars here.")] = None,
    report: Annotated[Path | None, typer.Option(help="Write the JSON report here.")] = None,
    docs: Annotated[Path | None, typer.Option(help="Write GX HTML data docs here.")] = None,
    dayfirst: Annotated[bool | None, typer.Option(
        "--dayfirst/--monthfirst", help="Day order of 05/06/2024-style dates (inferred "
        "from the data when omitted; ambiguous files are refused).")] = None,
    timestamp_format: Annotated[str | None, typer.Option(
        help="strftime format for every timestamp, e.g. '%d.%m.%Y %H:%M'.")] = None,
    timezone: Annotated[str, typer.Option(
        help="Zone of naive timestamps (DST-aware), e.g. America/New_York.")] = "UTC",
    session: Annotated[str | None, typer.Option(
        help="Override validate.session: continuous, fx, XNYS, XLON, ...")] = None,
) -> None:
    """Validate bars with the Great Expectations suite and the cleaning rules.

    Exits 1 with the failing rule, column and row count when the data is unusable.
    """
    from alphaloop.data.sources import read_table
    from alphaloop.data.timestamps import TimestampSettings
    from alphaloop.data.validation import validate_bars
    from alphaloop.workspace import write_frame, write_json
    from pipelines.validate import load_raw

    cfg = _params(params).validate_
    if session is not None:
        cfg = _guarded(lambda: type(cfg).model_validate({**cfg.model_dump(), "session": session}))
    mapping = _guarded(lambda: _parse_mapping(column or []))
    settings = TimestampSettings(format=timestamp_format, dayfirst=dayfirst, timezone=timezone)
    raw = _guarded(lambda: load_raw(path, mapping, None, timeframe, settings))
    actions = _guarded(lambda: read_table(cfg.actions_file)) \
        if cfg.adjust_from == "actions" and cfg.actions_file else None
    outcome = _guarded(lambda: validate_bars(raw, cfg, source=path, docs_dir=docs,
                                             actions=actions))
    if out is not None:
        write_frame(outcome.bars, out)
    if report is not None:
        write_json(report, outcome.report.to_dict())
    result = outcome.report
    console = Console()
    console.print(f"[green]passed[/green]: {result.rows_in:,} rows in, "
                  f"{result.rows_out:,} clean bars out, {result.segments} gap-free segments "
                  f"(session {result.session}, {result.order})")
    for adjustment in result.adjustments[:10]:
        console.print(f"  adjusted before {adjustment['timestamp'][:10]}: "
                      f"x{adjustment['factor']:.6g} ({adjustment['reason']})")
    for name, count in result.flaws.items():
        console.print(f"  {name.replace('_', ' '):<30} {count:>8,}")
    offsets = ", ".join(f"{k}: {v:,}" for k, v in result.utc_offsets.items())
    console.print(f"  {'utc offsets':<30} {offsets or 'none'}")


def _parse_mapping(items: list[str]) -> dict[str, str]:
    mapping = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--column {item!r}: expected canonical=source, e.g. timestamp=Date")
        key, value = item.split("=", 1)
        mapping[key.strip()] = value.strip()
    return mapping


@app.command()
def features(
    params: ParamsOpt = Path("params.yaml"),
    bars: Annotated[Path, typer.Option(help="Validated bars.")] = common.WS.validated_bars,
    out: Annotated[Path, typer.Option(help="Where to write features.")] = common.WS.features,
) -> None:
    """Build the TA-Lib feature set (params.yaml features) from validated bars."""
    from alphaloop.stages.data import features as features_stage
    from alphaloop.workspace import read_frame, write_frame

    cfg = _params(params).features
    result = _guarded(lambda: features_stage(cfg, read_frame(bars), None))
    write_frame(result.frame, out)
    report = result.report
    typer.echo(f"{report['n_features']} features x {report['rows_out']:,} rows written to {out} "
               f"({report['warmup_rows_dropped']} warm-up rows dropped)")


@app.command()
def train(params: ParamsOpt = Path("params.yaml")) -> None:
    """Train the ensemble under purged CV; print out-of-fold metrics beside the baselines."""
    from alphaloop.stages.ensemble import train as train_stage
    from alphaloop.workspace import read_frame
    from pipelines.summary import scores_table

    cfg = _params(params)
    result = _guarded(lambda: train_stage(cfg, read_frame(common.WS.features), common.WS))
    Console().print(scores_table(result.metrics, "Out-of-fold metrics (purged k-fold)"))
    Console().print(scores_table(result.metrics["holdout"], "Holdout (the newest rows, never "
                                 "trained on: what the gate scores)"))


@app.command()
def tune(
    params: ParamsOpt = Path("params.yaml"),
    trials: Annotated[int, typer.Option(min=1, help="Optuna trials per search.")] = 10,
    timeout: Annotated[float | None, typer.Option(
        help="Seconds per search (each outer fold, then the final one).")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Write the tuned train.members as YAML here (params.yaml is never changed).")
    ] = None,
) -> None:
    """Tune member hyperparameters (Optuna), nested inside the purged folds.

    Each outer purged fold is tuned on its training part only and scored on its test part,
    beside the configured members on the same folds; the gate's holdout is never used. Then
    one search on all training rows gives the members to paste into params.yaml.
    """
    import yaml

    from alphaloop.stages.ensemble import tune_members
    from alphaloop.workspace import read_frame

    cfg = _params(params)
    result = _guarded(lambda: tune_members(cfg, read_frame(common.WS.features), trials,
                                           timeout))
    table = Table(title=f"Nested purged CV: ensemble log loss on each outer test fold "
                        f"({trials} trials per fold; lower is better)")
    for col in ("fold", "test rows", "tuned", "configured"):
        table.add_column(col, justify="right")
    for fold in result.folds:
        table.add_row(str(fold.fold), f"{fold.test_rows:,}", f"{fold.tuned_log_loss:.4f}",
                      f"{fold.default_log_loss:.4f}")
    table.add_row("all", f"{sum(f.test_rows for f in result.folds):,}",
                  f"{result.tuned_log_loss:.4f}", f"{result.default_log_loss:.4f}")
    Console().print(table)
    text = yaml.safe_dump({"train": {"members": result.members}}, sort_keys=False)
    typer.echo("Members tuned on all training rows (paste into params.yaml if the nested "
               "estimate says tuning helps):\n" + text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        typer.echo(f"written to {out}")


@app.command()
def backtest(params: ParamsOpt = Path("params.yaml")) -> None:
    """Walk-forward backtest (retrain per window, costs included) beside buy-and-hold."""
    from alphaloop.stages.evaluate import evaluate
    from alphaloop.workspace import read_frame

    cfg = _params(params)
    summary = _guarded(lambda: evaluate(cfg, read_frame(common.WS.features), common.WS))
    s, b = summary["strategy"], summary["buy_and_hold"]
    typer.echo(f"out of sample {summary['out_of_sample']['first']} -> "
               f"{summary['out_of_sample']['last']} ({summary['windows']['count']} windows)")
    for name, stats in (("strategy", s), ("buy and hold", b)):
        typer.echo(f"  {name:<13} return {stats['total_return']:+.2%}  sharpe "
                   f"{stats['sharpe']:.2f}  max drawdown {stats['max_drawdown']:.2%}")


@app.command()
def sentiment(
    headlines: Annotated[list[str], typer.Argument(help="Headlines to score.")],
    tweet: Annotated[list[str] | None, typer.Option(
        "--tweet", help="Social posts to score (repeatable).")] = None,
    params: ParamsOpt = Path("params.yaml"),
    model_dir: Annotated[Path, typer.Option(
        help="Trained sentiment model (train_sentiment writes it).")] = SENTIMENT_DIR,
) -> None:
    """Score headlines: sentiment logits (positive = bullish) and catalyst tags, offline."""
    import asyncio

    from alphaloop.models.sentiment import compute_finbert_scores, compute_sentiment_and_catalyst
    from alphaloop.models.sentiment import tag_headlines as tag

    cfg = _params(params).sentiment
    factors = asyncio.run(compute_sentiment_and_catalyst(
        list(headlines), list(tweet or []), params=cfg, model_dir=model_dir))
    scores = compute_finbert_scores(list(headlines), params=cfg, model_dir=model_dir)
    for text, score, result in zip(headlines, scores, tag(list(headlines), params=cfg,
                                                          model_dir=model_dir), strict=True):
        typer.echo(f"{score:+.3f}  {text}  [{', '.join(sorted(result.tags)) or 'no tags'}]")
    typer.echo(f"fin_sent_logit {factors['fin_sent_logit']:+.3f}  social_sent_logit "
               f"{factors['social_sent_logit']:+.3f}  backend {factors['backend']}"
               f"{'  (FALLBACK)' if factors['fallback'] else ''}")


@app.command()
def regime(
    bars: Annotated[Path, typer.Option(help="Validated bars.")] = common.WS.validated_bars,
    model_dir: Annotated[Path, typer.Option(help="Trained regime model.")] = REGIME_DIR,
) -> None:
    """Forecast the next bars' return and volatility from the latest bars; print the regime."""
    from alphaloop.models.regime import RegimeForecaster

    def forecast() -> tuple[float, float, str, str]:
        forecaster = RegimeForecaster.load(model_dir)
        from alphaloop.workspace import read_frame

        frame = read_frame(bars)
        value, vol = forecaster.forecast_both(frame["close"].to_numpy(dtype=float))
        return value, vol, forecaster.classify_regime(value, vol), str(frame["timestamp"].iloc[-1])

    value, vol, label, last = _guarded(forecast)
    typer.echo(f"as of {last}: forecast return {value:+.5f}, volatility {vol:.5f} -> {label}")


ModelArg = Annotated[str, typer.Argument(
    help="Registered model (task) name, or a prefix matching one, e.g. 'ensemble'.")]


@contextmanager
def registry_errors() -> Iterator[None]:
    """Registry failures as one readable line and a non-zero exit."""
    from mlflow.exceptions import MlflowException

    from alphaloop.registry.manual import RegistryError

    try:
        yield
    except RegistryError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    except MlflowException as exc:
        err.print(f"[red]registry error:[/red] {exc.message}")
        raise typer.Exit(1) from exc


def _print_moves(entries: list[dict[str, object]]) -> None:
    for entry in entries:
        before = f"v{entry['from_version']}" if entry["from_version"] else "unset"
        typer.echo(f"{entry['model']}@{entry['alias']}: {before} -> v{entry['to_version']} "
                   f"({entry['source']} by {entry['actor']}: {entry['reason']})")


@app.command()
def promote(
    model: ModelArg,
    version: Annotated[str | None, typer.Argument(
        help="Version to promote; default: the current challenger.")] = None,
    reason: Annotated[str, typer.Option(
        help="Why: recorded in the audit log and on the version.")] = "promoted by hand",
) -> None:
    """Make a model version its task's champion by hand (audited as a manual move)."""
    from alphaloop.registry.manual import promote_by_hand

    common.setup()
    with registry_errors():
        _print_moves(promote_by_hand(common.registry(), model, version, reason))


@app.command()
def rollback(
    model: ModelArg,
    reason: Annotated[str, typer.Option(help="Why: recorded in the audit log.")] =
        "rolled back by hand",
) -> None:
    """Put the task's previous_champion back as champion (audited)."""
    from alphaloop.registry.manual import rollback as roll_back

    common.setup()
    with registry_errors():
        _print_moves(roll_back(common.registry(), model, reason))


@app.command()
def models() -> None:
    """Per task: champion, challenger and previous champion, their metrics and age."""
    from pipelines.registry_views import models_table

    common.setup()
    with registry_errors():
        Console(width=200).print(models_table(common.registry()))


@app.command()
def audit(
    model: Annotated[str | None, typer.Argument(help="Only this model (default: all).")] = None,
    last: Annotated[int, typer.Option(help="Show the newest N entries.")] = 50,
) -> None:
    """The alias audit log (moves made in the MLflow UI are detected and recorded first)."""
    from pipelines.registry_views import audit_table

    common.setup()
    with registry_errors():
        Console(width=200).print(audit_table(common.registry(), model, last))


@app.command()
def serve(
    params: ParamsOpt = Path("params.yaml"),
    host: Annotated[str | None, typer.Option(
        help="Bind address (default serving.host, 127.0.0.1: this machine only).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default serving.port).")] = None,
    alias: Annotated[str | None, typer.Option(
        help="Alias served per task, e.g. challenger (default serving.alias).")] = None,
    poll_interval: Annotated[float | None, typer.Option(
        help="Seconds between registry polls (default serving.poll_interval_s).")] = None,
    batching: Annotated[bool | None, typer.Option(
        "--batching/--no-batching", help="Adaptive batching (default serving.batching).")] = None,
) -> None:
    """Serve every task's model from the registry over HTTP (BentoML).

    /predict, /sentiment, /regime, /models; /healthz, /readyz, /metrics. A new champion is
    picked up without a restart. ALPHALOOP_API_TOKEN, when set, is required as a bearer token.
    """
    from pipelines.serve import serve_command

    cfg = _params(params)
    overrides = {key: value for key, value in {
        "host": host, "port": port, "alias": alias, "poll_interval_s": poll_interval,
        "batching": batching}.items() if value is not None}
    command, env, lines = _guarded(lambda: serve_command(cfg, params, overrides))
    for line in lines:
        err.print(line)
    os.execvpe(command[0], command, env)  # BentoML takes over this process (and its signals)


@app.command()
def summary() -> None:
    """Print what the last pipeline run produced (reports/*.json)."""
    from pipelines.summary import render

    if not render(Console()):
        err.print("some stage reports are missing: run `dvc repro` (or `make run`) first")
        raise typer.Exit(1)


from pipelines.retrain_cli import retrain_app  # noqa: E402 - the sub-app needs `app` defined

app.add_typer(retrain_app, name="retrain")
from pipelines.loop_cli import loop  # noqa: E402
from pipelines.trade_cli import trade_app  # noqa: E402

app.add_typer(trade_app, name="trade")
app.command("loop")(loop)


def main() -> None:  # pragma: no cover - console entry
    app(sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    main()
