"""What every stage shell shares: the DVC workspace, logging, offline switches, errors."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from alphaloop.registry.lifecycle import RegistryConfig
from alphaloop.workspace import Workspace

# DVC's workspace: the project root, with the paths dvc.yaml names.
WS = Workspace(Path("."))
HEADLINES = Path("data/text/headlines.csv")
# Per-run records that change every run (MLflow run ids): git-ignored, never a DVC output.
RUNS = WS.reports / "runs"

# No telemetry or hub calls from any entry point (the README's "Offline" section).
OFFLINE_ENV = {
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "true",  # MLflow reads "true", not "1"
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "BENTOML_DO_NOT_TRACK": "true",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


# Idle OpenMP threads yield instead of spinning: on a busy 2-core box spinning threads of
# LightGBM/XGBoost stalled each other (a 27 s fit took 89 s).
RUNTIME_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def setup(level: str | None = None, log_format: str | None = None) -> None:
    """Entry-point set-up: offline switches and quiet, readable logging (never at import).

    ``log_format``: ``text`` or ``json`` (default: ``ALPHALOOP_LOG_FORMAT``, else text);
    see :mod:`pipelines.console`.
    """
    from pipelines import console

    for key, value in {**OFFLINE_ENV, **RUNTIME_ENV}.items():
        os.environ.setdefault(key, value)
    level = level or os.environ.get("ALPHALOOP_LOG_LEVEL", "INFO").upper()
    console.configure_logging(level, console.log_format(log_format))


def registry(root: Path = Path(".")) -> RegistryConfig:
    """The registry the settings point at (sqlite under ``mlruns/`` by default)."""
    from alphaloop.config import registry_config

    config: RegistryConfig = registry_config(root)
    return config


def run_stage(main: Callable[[], object], stage: str | None = None) -> None:
    """Run a DVC stage's main: expected failures end in one readable line and exit 1.

    Either way the outcome is recorded (``pipelines.provenance``), so ``alphaloop summary``
    can tell this run's reports from an earlier run's.
    """
    from alphaloop.config import ConfigError
    from alphaloop.data.sources import SourceError
    from alphaloop.data.validation import DataValidationError
    from pipelines import provenance
    from pipelines.console import progress_display

    try:
        setup()
    except ValueError as exc:  # a bad ALPHALOOP_LOG_FORMAT
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    stage = stage or _stage_name()
    recorded = stage in provenance.stage_files(WS)
    try:
        with progress_display():
            main()
    except DataValidationError as exc:
        _fail(stage if recorded else None, f"validation failed: {exc}")
    except (ConfigError, SourceError, FileNotFoundError, ValueError) as exc:
        _fail(stage if recorded else None, str(exc))
    except BaseException as exc:
        if recorded:
            provenance.record_failure(WS, stage, f"{type(exc).__name__}: {exc}")
        raise
    if recorded:
        provenance.record_success(WS, stage)


def _fail(stage: str | None, message: str) -> None:
    from pipelines import provenance

    if stage is not None:
        provenance.record_failure(WS, stage, message)
    logging.getLogger("alphaloop").error("%s", message)
    raise SystemExit(1) from None


def _stage_name() -> str:
    """``validate`` for ``python -m pipelines.validate``."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = getattr(spec, "name", "") or ""
    return name.rsplit(".", 1)[-1]
