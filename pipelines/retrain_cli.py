"""``alphaloop retrain ...``: one cycle, the scheduled deployments, the drift check, fan-out."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from pipelines import common

retrain_app = typer.Typer(help="Retraining: one cycle, a 24 h deployment, drift checks, "
                               "fan-out on Dask, replay of history.", no_args_is_help=True)
err = Console(stderr=True)

ParamsOpt = Annotated[Path, typer.Option("--params", help="Parameters file.")]
KindOpt = Annotated[str, typer.Option(
    "--model", help="ensemble, regime, sentiment, or all (retrain.models in params.yaml).")]


def _prefect_env() -> None:
    common.setup()
    # The ephemeral API server needs ~25 s on 2 cores; Prefect's default wait is shorter.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def _kinds(kind: str, params: Path) -> list[str]:
    from alphaloop.config import load_params

    if kind == "all":
        return list(load_params(params).retrain.models)
    if kind not in ("ensemble", "regime", "sentiment"):
        raise typer.BadParameter(f"unknown model {kind!r}: ensemble, regime, sentiment or all")
    return [kind]


def _print_cycle(report: dict[str, Any]) -> None:
    r = report.get("registration") or {}
    w = report.get("window") or {}
    typer.echo(f"[{report['kind']}/{report['market']}] window {w.get('first', '')} → "
               f"{w.get('last', '')} ({w.get('bars', w.get('rows', '?'))} rows), "
               f"{report['seconds']:.0f} s")
    if r:
        typer.echo(f"  {r['model']} v{r['version']}: "
                   f"{'PROMOTED' if r['promoted'] else 'not promoted'}; champion "
                   f"{'v' + r['champion_version'] if r['champion_version'] else 'none'}")
        typer.echo(f"  holdout: {r['holdout']}")
        for name, scores in r["scores"].items():
            shown = ", ".join(f"{k} {v:.4f}" for k, v in scores.items() if k != "n")
            typer.echo(f"    {name:<12} {shown}")
        typer.echo("  reasons: " + "; ".join(r["reasons"]))
    for reason in report.get("early_retrain", []):
        typer.echo(f"  early-retrain trigger: {reason}")


@retrain_app.command("run")
def run(kind: KindOpt = "all", params: ParamsOpt = Path("params.yaml"),
        fan_out: Annotated[bool, typer.Option(
            "--fan-out", help="Retrain every market of retrain.fan_out.tasks on Dask.")] = False,
        as_of: Annotated[str | None, typer.Option(
            "--as-of", help="Train on bars stamped before this UTC time only, e.g. "
                            "2021-12-24T00:00 (default: every bar).")] = None,
        ) -> None:
    """One retraining cycle per model now (a Prefect flow run); prints the gate's decision."""
    _prefect_env()
    from flows import retrain as flows

    failed = False
    for k in _kinds(kind, params):
        if fan_out:
            for report in flows.fan_out(k, str(params), "."):  # type: ignore[arg-type]
                _print_cycle(report)
            continue
        state = flows.retrain(k, str(params), ".", as_of,  # type: ignore[arg-type]
                              return_state=True)
        if state.is_failed():
            err.print(f"[red]retrain {k} failed[/red] (champion unchanged): {state.message}")
            failed = True
        else:
            _print_cycle(state.result())
    if failed:
        raise typer.Exit(1)


@retrain_app.command("check")
def check(kind: KindOpt = "ensemble", params: ParamsOpt = Path("params.yaml")) -> None:
    """Drift (PSI) and age of the champion; retrains at once when a threshold is crossed."""
    _prefect_env()
    from flows import retrain as flows

    result = flows.drift_check(kind, str(params), ".")  # type: ignore[arg-type]
    drift = result["drift"]
    if drift is None:
        typer.echo(f"{kind}: no champion yet, nothing to compare with")
    else:
        typer.echo(f"{kind}: champion v{drift['champion_version']}, "
                   f"{drift['champion_age_days']:.1f} days old, max PSI "
                   f"{drift.get('max_psi', float('nan')):.3f}, "
                   f"{drift.get('share_drifted', float('nan')):.0%} of features drifted")
        for reason in drift["early_retrain"]:
            typer.echo(f"  trigger: {reason}")
    if result["retrained"]:
        _print_cycle(result["retrained"])


def deployments(params_path: Path, root: Path) -> list[Any]:
    """One ``retrain/<kind>`` and one ``drift-check/<kind>`` deployment per model kind."""
    from alphaloop.config import load_params
    from flows import retrain as flows

    params = load_params(params_path)
    out = []
    for kind in params.retrain.models:
        schedule = params.retrain.schedule(kind)
        when: dict[str, Any] = ({"cron": schedule.cron} if schedule.cron else
                                {"interval": timedelta(hours=schedule.interval_hours)})
        arguments = {"kind": kind, "params_path": str(params_path.resolve()),
                     "root": str(root.resolve())}
        out.append(flows.retrain.to_deployment(name=kind, parameters=arguments,
                                               tags=["alphaloop"], **when))
        if kind == "ensemble":
            hours = params.retrain.drift.check_interval_hours
            out.append(flows.drift_check.to_deployment(
                name=kind, parameters=arguments, tags=["alphaloop"],
                interval=timedelta(hours=hours)))
    return out


@retrain_app.command("serve")
def serve(params: ParamsOpt = Path("params.yaml")) -> None:
    """Long-running: serve the retrain deployments on their schedules (Ctrl-C / SIGTERM stops).

    Needs a Prefect API (`prefect server start`, then PREFECT_API_URL); see the README.
    """
    _prefect_env()
    from prefect import serve as prefect_serve

    items = deployments(params, Path("."))
    typer.echo("serving deployments: " + ", ".join(
        f"{d.flow_name}/{d.name}" for d in items))
    prefect_serve(*items)


@retrain_app.command("replay")
def replay(
    start: Annotated[datetime, typer.Option(
        "--start", formats=["%Y-%m-%d"], help="First replayed day (UTC); its cycle sees bars "
                                              "before it only.")],
    end: Annotated[datetime, typer.Option(
        "--end", formats=["%Y-%m-%d"], help="Last replayed day (UTC), inclusive.")],
    params: ParamsOpt = Path("params.yaml"),
    window_days: Annotated[float | None, typer.Option(
        "--window-days", help="Days of bars each cycle trains on "
                              "(default retrain.training_window_days).")] = None,
    out: Annotated[Path, typer.Option(
        "--out", help="Outputs, the replay's private registry and its workspaces "
                      "(a previous replay there is replaced).")] = Path("reports/replay"),
) -> None:
    """Replay history: one ensemble cycle a day on an as-of clock; each day is then traded by
    that day's champion, the never-retrained first model, the newest model and buy-and-hold."""
    common.setup()
    from alphaloop.config import ConfigError, load_params
    from alphaloop.retrain import replay as rp

    console = Console()
    if not console.is_terminal:
        console.width = 120  # piped or logged: keep the day table's columns whole

    def progress(day: rp.DayRecord, number: int, total: int) -> None:
        console.print(f"[{number}/{total}] {day.day}: v{day.version} "
                      f"{'[green]promoted[/green]' if day.promoted else 'refused'}; champion "
                      f"{'v' + day.champion_version if day.champion_version else 'none'} "
                      f"({day.seconds:.0f} s)")

    try:
        cfg = load_params(params)
        result = rp.replay(cfg, start.date(), end.date(), out, window_days, progress)
    except (ConfigError, ValueError, FileExistsError) as exc:
        err.print(f"[red]replay failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    paths = rp.write_outputs(result, out)
    console.print(rp.decisions_table(result))
    console.print(rp.comparison_table(result))
    console.print(f"{len(result.days)} days in {result.seconds:.0f} s; wrote "
                  + ", ".join(str(p) for p in paths.values()))
