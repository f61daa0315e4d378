"""What a model's MLflow run says about its origin: the settings that shaped it, its market."""

from __future__ import annotations

from typing import Any

import pandas as pd

from alphaloop.config import Params
from alphaloop.registry.tracking import describe_source
from alphaloop.workspace import Workspace, file_md5

# The params.yaml sections that shape each model (its gate, register.<kind>, is added).
ENSEMBLE_SECTIONS = ("ingest", "validate", "features", "target", "cv", "train")
REGIME_SECTIONS = ("ingest", "validate", "regime")
SENTIMENT_SECTIONS = ("sentiment",)


def model_params(params: Params, kind: str, sections: tuple[str, ...]) -> dict[str, Any]:
    """Every setting that shapes a model of ``kind``: ``sections`` and its gate
    (``register.<kind>``); logged as the run's params and hashed into ``params_hash``."""
    # ``include`` takes field names (``validate_``, ``register_``), the dump uses the aliases.
    fields = {name: f for f, info in Params.model_fields.items() for name in (f, info.alias)
              if name}
    dumped = params.model_dump(by_alias=True, mode="json",
                               include={fields[s] for s in ("register", *sections)})
    dumped["register"] = {kind: dumped["register"][kind]}
    if kind == "ensemble":  # the drift profile stored with the model
        dumped["retrain"] = {"drift": {"bins": params.retrain.drift.bins}}
    return dumped


def market_tags(params: Params, frame: pd.DataFrame, ws: Workspace) -> dict[str, str]:
    """Where a market's bars came from, for the input dataset's tags."""
    return {"source": describe_source(params.ingest.source), "symbol": str(frame["symbol"].iloc[0]),
            "timeframe": str(frame["timeframe"].iloc[0]),
            "first": str(frame["timestamp"].iloc[0]), "last": str(frame["timestamp"].iloc[-1]),
            "rows": str(len(frame)),
            "raw_data_version": file_md5(ws.raw_bars) if ws.raw_bars.exists() else "unknown"}

