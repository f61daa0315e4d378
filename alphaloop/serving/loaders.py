"""A registered model version, made ready to serve and checked before it may serve.

``load_version`` downloads the version's artifacts, opens its pyfunc and takes out the native
model the pyfunc wraps (the same object the gate scored), then runs it on the input example
logged with it. Anything that fails (download, unpickling, a missing file, a non-finite
answer) raises ``LoadError``, and the pool keeps the version it was serving.

The direction ensemble can also answer from raw bars: the feature configuration it was
trained with is read back from its run's logged ``features.*`` parameters and accepted only if
it reproduces the task's feature hash (the hash covers that configuration, the column list
and the target), so the server never computes features another way than training did.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from alphaloop.features import FeatureConfig, feature_plan
from alphaloop.labels import TargetParams
from alphaloop.models.sentiment.catalyst import CatalystAnchors
from alphaloop.models.sentiment.config import SentimentParams, phrasings
from alphaloop.registry.task import Task, feature_set_hash

log = logging.getLogger(__name__)

ONNX_TOLERANCE = 1e-5  # ONNX vs native P(up) on the logged example (seen: ~1e-7)
NATIVE, ONNX = "native", "onnxruntime"


class LoadError(RuntimeError):
    """A registered version that cannot serve (the reason is the message)."""


@dataclass(frozen=True)
class EnsembleModel:
    """The direction ensemble: native predictor, optional ONNX twin, how to build inputs."""

    predictor: Any  # alphaloop.models.ensemble.EnsemblePredictor
    onnx: Any | None  # alphaloop.models.onnx_export.OnnxEnsemble
    columns: list[str]
    feature_config: FeatureConfig | None  # None: raw bars are refused (bars_reason says why)
    bars_reason: str | None = None

    @property
    def bars_needed(self) -> int | None:
        """Fewest bars that yield one complete feature row (the plan's look-back + 1)."""
        if self.feature_config is None:
            return None
        return feature_plan(self.feature_config).max_lookback + 1

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        """``P(up)`` for a float32 matrix in ``columns`` order."""
        model = self.onnx if self.onnx is not None else self.predictor
        return np.asarray(model.predict_proba(matrix), dtype=np.float64)


@dataclass(frozen=True)
class RegimeModel:
    forecaster: Any  # alphaloop.models.regime.RegimeForecaster

    @property
    def closes_needed(self) -> int:
        return int(self.forecaster.params.context_length) + 1


@dataclass(frozen=True)
class SentimentScores:
    logits: np.ndarray
    labels: list[str]
    catalysts: np.ndarray  # (n, n_classes)


@dataclass(frozen=True)
class SentimentServed:
    """The MiniLM model and the catalyst phrasings embedded with its encoder."""

    model: Any  # alphaloop.models.sentiment.SentimentModel
    anchors: CatalystAnchors
    threshold: float

    def score(self, texts: list[str]) -> SentimentScores:
        """Each text embedded once: sentiment logit, label and catalyst scores."""
        if not texts:
            width = len(self.anchors.classes)
            return SentimentScores(np.zeros(0), [], np.zeros((0, width)))
        embeddings = self.model.encoder.encode(texts)
        head = self.model.head
        proba = head.predict_proba(embeddings)
        labels = [head.classes[int(i)] for i in proba.argmax(axis=1)]
        return SentimentScores(np.asarray(head.logit(embeddings), dtype=np.float64), labels,
                               self.anchors.scores(embeddings))


@dataclass(frozen=True)
class LoadedVersion:
    """One registered version, ready: what answers carry and what ``/models`` shows."""

    name: str
    task: Task
    alias: str
    version: str
    run_id: str | None
    runtime: str
    model: EnsembleModel | RegimeModel | SentimentServed
    inputs: dict[str, int]
    note: str | None = None  # e.g. why raw bars or ONNX are not used
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    created: datetime | None = None  # when the version was registered (its age: the trader)
    # The downloaded artifacts stay on disk while this version may still answer a request;
    # the directory is removed when the last reference goes.
    workdir: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class LoadOptions:
    onnx: bool = True
    sentiment: SentimentParams = field(default_factory=SentimentParams)


def load_version(client: Any, name: str, version: str, task: Task, alias: str,
                 options: LoadOptions) -> LoadedVersion:
    """Download, open and check one version (raises ``LoadError`` with the reason)."""
    import mlflow
    from mlflow.models import Model

    workdir = tempfile.TemporaryDirectory(prefix="alphaloop-serve-")
    try:
        details = client.get_model_version(name, version)
        local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}",
                                                    dst_path=workdir.name)
        python_model = mlflow.pyfunc.load_model(local).unwrap_python_model()
        example = Model.load(local).load_input_example(local)
        run_id = details.run_id or None
        loaded = _LOADERS[task.kind](client, run_id, task, python_model, example, options) \
            if task.kind in _LOADERS else None
    except LoadError:
        workdir.cleanup()
        raise
    except Exception as exc:  # any failure to open a version is a load failure, never a crash
        workdir.cleanup()
        raise LoadError(f"{type(exc).__name__}: {exc}") from exc
    if loaded is None:
        workdir.cleanup()
        raise LoadError(f"task kind {task.kind!r} cannot be served")
    model, runtime, inputs, note = loaded
    created = datetime.fromtimestamp(details.creation_timestamp / 1000, UTC) \
        if details.creation_timestamp else None
    return LoadedVersion(name, task, alias, str(version), run_id, runtime, model, inputs, note,
                         created=created, workdir=workdir)


Loaded = tuple[Any, str, dict[str, int], str | None]


def _ensemble(client: Any, run_id: str | None, task: Task, python_model: Any, example: Any,
              options: LoadOptions) -> Loaded:
    predictor = python_model.predictor
    columns = list(predictor.feature_columns)
    config, reason = recorded_feature_config(client, run_id, task, columns)
    rows = _example_rows(example, columns)
    native = np.asarray(predictor.predict_proba(rows), dtype=np.float64)
    _check_probabilities(native, "native ensemble")
    onnx, onnx_note = (_onnx_twin(predictor, rows, native) if options.onnx
                       else (None, "onnx disabled in serving params"))
    model = EnsembleModel(predictor, onnx, columns, config, reason)
    inputs = {"features": len(columns)}
    if model.bars_needed is not None:
        inputs["bars_needed"] = model.bars_needed
    notes = [n for n in (onnx_note, f"raw bars refused: {reason}" if reason else None) if n]
    return model, ONNX if onnx is not None else NATIVE, inputs, "; ".join(notes) or None


def _example_rows(example: Any, columns: list[str]) -> np.ndarray:
    from alphaloop.models.inputs import feature_matrix

    if not isinstance(example, pd.DataFrame) or example.empty:
        raise LoadError("the version has no logged input example to check it on")
    return feature_matrix(example, columns)


def _check_probabilities(p: np.ndarray, what: str) -> None:
    if p.ndim != 1 or not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise LoadError(f"{what} gave invalid probabilities on the logged input example")


def _onnx_twin(predictor: Any, rows: np.ndarray, native: np.ndarray) -> tuple[Any | None,
                                                                              str | None]:
    """The members exported to ONNX, if they agree with the native model on ``rows``."""
    from alphaloop.models.onnx_export import OnnxEnsemble, export_onnx

    try:
        with tempfile.TemporaryDirectory(prefix="alphaloop-onnx-") as tmp:
            export_onnx(predictor, Path(tmp))
            twin = OnnxEnsemble.load(Path(tmp))  # sessions hold the graphs in memory
        gap = float(np.max(np.abs(twin.predict_proba(rows) - native)))
    except Exception as exc:  # no converter, converter bug: the native model serves
        log.warning("ONNX export failed (%s: %s); serving the native ensemble",
                    type(exc).__name__, exc)
        return None, f"onnx export failed ({type(exc).__name__}); native serves"
    if gap > ONNX_TOLERANCE:
        log.warning("ONNX differs from native by %.2e on the input example; serving native", gap)
        return None, f"onnx differs from native by {gap:.1e}; native serves"
    return twin, None


def recorded_feature_config(client: Any, run_id: str | None, task: Task,
                            columns: list[str]) -> tuple[FeatureConfig | None, str | None]:
    """The feature configuration the version was trained with, proven by the task hash.

    Returns:
        ``(config, None)``, or ``(None, reason)`` when it cannot be recovered with certainty.
    """
    if run_id is None:
        return None, "the version records no run"
    params = client.get_run(run_id).data.params
    try:
        features = FeatureConfig.model_validate(_section(params, "features"))
        target = TargetParams.model_validate(_section(params, "target"))
    except (ValueError, yaml.YAMLError) as exc:
        return None, f"its run holds no readable features/target parameters ({exc})"
    spec = {"features": features.model_dump(mode="json"), "columns": columns,
            "target": target.model_dump(mode="json")}
    if feature_set_hash(spec) != task.feature_hash:
        return None, "the logged feature parameters do not reproduce the task's feature hash"
    missing = sorted(set(columns) - set(feature_plan(features).feature_columns))
    if missing:
        return None, f"columns {missing[:5]} are not built by the feature plan"
    return features, None


def _section(params: dict[str, str], prefix: str) -> dict[str, Any]:
    # Logged as str(value) of the JSON dump: lists, numbers, booleans and strings.
    return {key[len(prefix) + 1:]: yaml.safe_load(value) for key, value in params.items()
            if key.startswith(prefix + ".")}


def _regime(client: Any, run_id: str | None, task: Task, python_model: Any, example: Any,
            options: LoadOptions) -> Loaded:
    forecaster = python_model.forecaster
    if not isinstance(example, pd.DataFrame) or "close" not in example:
        raise LoadError("the version has no logged close-price example to check it on")
    value, vol = forecaster.forecast_both(example["close"].to_numpy(dtype=float))
    if not (np.isfinite(value) and np.isfinite(vol)):
        raise LoadError("the forecaster gave a non-finite forecast on its input example")
    model = RegimeModel(forecaster)
    runtime = ONNX if forecaster.use_onnx else NATIVE
    return model, runtime, {"closes_needed": model.closes_needed}, None


def _sentiment(client: Any, run_id: str | None, task: Task, python_model: Any, example: Any,
               options: LoadOptions) -> Loaded:
    params = options.sentiment
    model = python_model.model
    anchors = CatalystAnchors.embed(model.encoder, params.catalysts)
    served = SentimentServed(model, anchors, params.catalyst_threshold)
    texts = example["text"].astype(str).tolist() if isinstance(example, pd.DataFrame) \
        and "text" in example else ["Bitcoin ETF inflows hit a record"]
    scores = served.score(texts)
    if not np.isfinite(scores.logits).all():
        raise LoadError("the sentiment model gave non-finite logits on its input example")
    note = None
    if params.nli_model is not None:
        note = "catalysts by embedding similarity (serving does not run the NLI tagger)"
    count = sum(len(phrasings(text)) for text in params.catalysts.values())
    return served, ONNX, {"catalyst_phrasings": count}, note


_LOADERS = {"ensemble": _ensemble, "regime": _regime, "sentiment": _sentiment}
