"""The ``alphaloop`` command line: the same stage functions DVC runs, for interactive use."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from alphaloop.config import BundledSource, ConfigError, IngestParams, Params, load_params
from pipelines import common

app = typer.Typer(
    help="alphaloop: versioned market data, leakage-safe ML, registry, serving and trading.",
    no_args_is_help=True, add_completion=False,
)
err = Console(stderr=True)
T = TypeVar("T")

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
    with _clear_errors():
        return fn()
    raise AssertionError("unreachable")  # pragma: no cover


@app.command()
def ingest(
    params: ParamsOpt = Path("params.yaml"),
    dataset: Annotated[str | None, typer.Option(
        help="Use a bundled data set instead of params: btc-usd-15m, sp500-1d, nasdaq-1d.")] = None,
    out: Annotated[Path, typer.Option(help="Where to write the raw bars.")] = common.RAW_BARS,
) -> None:
    """Load bars from the configured source (params.yaml ingest.source) into data/raw/."""
    from pipelines.ingest import run

    cfg = _params(params).ingest
    if dataset is not None:
        cfg = IngestParams(source=_guarded(lambda: BundledSource(dataset=dataset)))  # type: ignore[arg-type]
    summary = _guarded(lambda: run(cfg, out))
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
) -> None:
    """Validate bars with the Great Expectations suite and the cleaning rules.

    Exits 1 with the failing rule, column and row count when the data is unusable.
    """
    from pipelines.validate import load_raw, run

    cfg = _params(params).validate_
    mapping = _guarded(lambda: _parse_mapping(column or []))
    raw = _guarded(lambda: load_raw(path, mapping, None, timeframe))
    result = _guarded(lambda: run(cfg, raw, path, out, report, docs))
    console = Console()
    console.print(f"[green]passed[/green]: {result.rows_in:,} rows in, "
                  f"{result.rows_out:,} clean bars out, {result.segments} gap-free segments")
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
    bars: Annotated[Path, typer.Option(help="Validated bars.")] = common.VALIDATED_BARS,
    out: Annotated[Path, typer.Option(help="Where to write features.")] = common.FEATURES,
) -> None:
    """Build the TA-Lib feature set (params.yaml features) from validated bars."""
    from pipelines.features import run

    cfg = _params(params).features
    report = _guarded(lambda: run(cfg, bars, out))
    typer.echo(f"{report['n_features']} features x {report['rows_out']:,} rows written to {out} "
               f"({report['warmup_rows_dropped']} warm-up rows dropped)")


@app.command()
def train(params: ParamsOpt = Path("params.yaml")) -> None:
    """Train the ensemble under purged CV; print out-of-fold metrics beside the baselines."""
    from pipelines.train import run

    cfg = _params(params)
    from pipelines.summary import scores_table

    metrics = _guarded(lambda: run(cfg))
    Console().print(scores_table(metrics, "Out-of-fold metrics (purged k-fold)"))


@app.command()
def backtest(params: ParamsOpt = Path("params.yaml")) -> None:
    """Walk-forward backtest (retrain per window, costs included) beside buy-and-hold."""
    from pipelines.evaluate import run

    cfg = _params(params)
    summary = _guarded(lambda: run(cfg))
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
        help="Trained sentiment model (train_sentiment writes it).")] = common.SENTIMENT_DIR,
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
    bars: Annotated[Path, typer.Option(help="Validated bars.")] = common.VALIDATED_BARS,
    model_dir: Annotated[Path, typer.Option(help="Trained regime model.")] = common.REGIME_DIR,
) -> None:
    """Forecast the next bars' return and volatility from the latest bars; print the regime."""
    from alphaloop.models.regime import RegimeForecaster

    def forecast() -> tuple[float, float, str, str]:
        forecaster = RegimeForecaster.load(model_dir)
        frame = common.read_frame(bars)
        value, vol = forecaster.forecast_both(frame["close"].to_numpy(dtype=float))
        return value, vol, forecaster.classify_regime(value, vol), str(frame["timestamp"].iloc[-1])

    value, vol, label, last = _guarded(forecast)
    typer.echo(f"as of {last}: forecast return {value:+.5f}, volatility {vol:.5f} -> {label}")


@app.command()
def promote(
    reason: Annotated[str, typer.Option(help="Why: recorded in the audit log and on the version.")],
    model: Annotated[str, typer.Option(help="Registered model name.")] = "ensemble",
    version: Annotated[str | None, typer.Option(
        help="Version to promote; default: the current challenger.")] = None,
) -> None:
    """Make a model version the champion by hand (recorded as a manual decision)."""
    from alphaloop.config import Settings
    from pipelines.registration import promote_by_hand

    common.setup()
    entries = _guarded(lambda: promote_by_hand(Settings(), model, version, reason))
    for entry in entries:
        before = f"v{entry['from_version']}" if entry["from_version"] else "unset"
        typer.echo(f"{entry['model']}@{entry['alias']}: {before} -> "
                   f"v{entry['to_version']} ({entry['actor']}: {entry['reason']})")


@app.command()
def summary() -> None:
    """Print what the last pipeline run produced (reports/*.json)."""
    from pipelines.summary import render

    if not render(Console()):
        err.print("some stage reports are missing: run `dvc repro` (or `make run`) first")
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - console entry
    app(sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    main()
