"""From a validated request to an answer: which task, which inputs, which scores.

Requests arrive already checked against ``schemas`` (types, sizes, finiteness). What depends on
the served model is checked here and refused with a ``ServingError`` naming the field: an
unknown or ambiguous task, missing or unknown feature columns, too few bars or closes, bars of
another timeframe. Scoring is split from preparation so the service can batch it: ``score_rows``
and ``score_texts`` take the jobs of many requests and run each model once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from alphaloop.registry.task import Task
from alphaloop.serving import schemas
from alphaloop.serving.loaders import (
    EnsembleModel,
    LoadedVersion,
    RegimeModel,
    SentimentScores,
    SentimentServed,
)
from alphaloop.serving.pool import TaskSlot


class ServingError(Exception):
    """A request the server cannot answer: HTTP status, message, and the field concerned."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def task_info(task: Task) -> schemas.TaskInfo:
    return schemas.TaskInfo(kind=task.kind, symbol=task.symbol, timeframe=task.timeframe,
                            horizon=task.horizon, feature_hash=task.feature_hash)


def _describe(slots: Sequence[TaskSlot]) -> str:
    return ", ".join(f"{s.task.symbol} {s.task.timeframe} h{s.task.horizon} ({s.name})"
                     for s in slots) or "none"


def find_slot(slots: dict[str, TaskSlot], kind: str, query: schemas.TaskQuery | None,
              model: str | None) -> TaskSlot:
    """The one task a request names (404 unknown, 409 ambiguous)."""
    of_kind = [s for s in slots.values() if s.task.kind == kind]
    if model is not None:
        if model in slots and slots[model].task.kind == kind:
            return slots[model]
        raise ServingError(404, f"no {kind} model named {model!r}; known: {_describe(of_kind)}",
                           "model")
    matches = of_kind
    if query is not None:
        matches = [s for s in of_kind if s.task.symbol == query.symbol
                   and s.task.timeframe == query.timeframe
                   and query.horizon in (None, s.task.horizon)]
    if not matches:
        where = "" if query is None else f" for {query.symbol} {query.timeframe}" + (
            f" h{query.horizon}" if query.horizon else "")
        raise ServingError(404, f"no {kind} task{where}; known: {_describe(of_kind)}",
                           "symbol" if query is not None else "model")
    if len(matches) > 1:
        raise ServingError(409, f"{len(matches)} {kind} tasks match: {_describe(matches)}; "
                                "give 'horizon' or 'model'", "model")
    return matches[0]


def served_of(slot: TaskSlot) -> LoadedVersion:
    """The version a task serves, or 503 with the reason it serves none."""
    if slot.served is None:
        raise ServingError(503, f"{slot.name} serves no model: {slot.reason or 'not loaded'}",
                           "model")
    return slot.served


# --- direction ---------------------------------------------------------------------------


@dataclass
class RowsJob:
    """Feature rows waiting for one model's ``P(up)``."""

    model: EnsembleModel
    matrix: np.ndarray
    p_up: np.ndarray | None = None
    error: str | None = None


@dataclass(frozen=True)
class PreparedPredict:
    version: LoadedVersion
    matrix: np.ndarray
    timestamps: list[Any]  # the predicted bars (bars input), else Nones
    echoed: list[dict[str, float]] = field(default_factory=list)


def prepare_predict(version: LoadedVersion, request: schemas.PredictRequest) -> PreparedPredict:
    """The float32 feature matrix of a request, from rows or from raw bars."""
    model = version.model
    assert isinstance(model, EnsembleModel)
    if request.features is not None:
        matrix = rows_matrix(model.columns, request.features)
        echoed = [dict(zip(model.columns, map(float, row), strict=True)) for row in matrix] \
            if request.include_features else []
        return PreparedPredict(version, matrix, [None] * len(matrix), echoed)
    assert request.bars is not None
    frame, stamp = bars_features(model, version.task, request.bars)
    row = frame[model.columns].iloc[[-1]]
    matrix = np.ascontiguousarray(row.to_numpy(dtype=np.float32))
    echoed = [{str(c): float(v) for c, v in row.iloc[0].items()}] \
        if request.include_features else []
    return PreparedPredict(version, matrix, [stamp], echoed)


def rows_matrix(columns: list[str], rows: list[dict[str, float]]) -> np.ndarray:
    """Rows in model column order; a missing or unknown column is a 422 naming it."""
    expected = set(columns)
    matrix = np.empty((len(rows), len(columns)), dtype=np.float32)
    for i, row in enumerate(rows):
        missing = [c for c in columns if c not in row]
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise ServingError(422, f"missing feature column {missing[0]!r}{more}; the model "
                                    f"takes {len(columns)} columns (GET /models)",
                               f"features.{i}.{missing[0]}")
        unknown = sorted(set(row) - expected)
        if unknown:
            raise ServingError(422, f"unknown feature column {unknown[0]!r}; the model does "
                                    "not take it", f"features.{i}.{unknown[0]}")
        values = np.array([row[c] for c in columns], dtype=np.float64)
        with np.errstate(over="ignore"):
            matrix[i] = values
        if not np.isfinite(matrix[i]).all():
            column = columns[int(np.flatnonzero(~np.isfinite(matrix[i]))[0])]
            raise ServingError(422, f"feature {column!r} is beyond float32 range",
                               f"features.{i}.{column}")
    return matrix


def bars_features(model: EnsembleModel, task: Task,
                  bars: list[schemas.Bar]) -> tuple[pd.DataFrame, Any]:
    """The training feature code on the request's bars; the newest complete row last."""
    from alphaloop.data.schema import infer_timeframe, parse_timeframe
    from alphaloop.features import build_features

    if model.feature_config is None:
        raise ServingError(422, f"this model cannot take raw bars: {model.bars_reason}; "
                                "send 'features' rows", "bars")
    needed = model.bars_needed or 0
    if len(bars) < needed:
        raise ServingError(422, f"{len(bars)} bars given, the feature look-back needs at "
                                f"least {needed}", "bars")
    frame = pd.DataFrame([b.model_dump() for b in bars])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    steps = frame["timestamp"].diff().iloc[1:]
    if (steps <= pd.Timedelta(0)).any():
        first = int(np.flatnonzero((steps <= pd.Timedelta(0)).to_numpy())[0]) + 1
        raise ServingError(422, "bar timestamps must be strictly increasing",
                           f"bars.{first}.timestamp")
    if parse_timeframe(infer_timeframe(frame["timestamp"])) != parse_timeframe(task.timeframe):
        raise ServingError(422, f"bars are {infer_timeframe(frame['timestamp'])} apart, the "
                                f"model takes {task.timeframe} bars", "bars")
    try:
        result = build_features(frame, model.feature_config)
    except ValueError as exc:
        raise ServingError(422, f"features could not be built from these bars: {exc}",
                           "bars") from exc
    return result.frame, result.frame["timestamp"].iloc[-1].to_pydatetime()


def score_rows(jobs: Sequence[RowsJob]) -> None:
    """``P(up)`` for every job, each model run once on all of its jobs' rows."""
    for model, group in _groups(jobs).items():
        del model
        matrix = np.concatenate([job.matrix for job in group])
        try:
            p_up = group[0].model.predict_proba(matrix)
        except Exception as exc:  # a model failing on validated rows: that batch's error only
            for job in group:
                job.error = f"{type(exc).__name__}: {exc}"
            continue
        start = 0
        for job in group:
            job.p_up = p_up[start:start + len(job.matrix)]
            start += len(job.matrix)


def _groups(jobs: Sequence[Any]) -> dict[int, list[Any]]:
    groups: dict[int, list[Any]] = {}
    for job in jobs:
        groups.setdefault(id(job.model), []).append(job)
    return groups


def directions(p_up: np.ndarray, timestamps: list[Any]) -> list[schemas.Direction]:
    return [schemas.Direction(timestamp=stamp, p_up=float(p), p_down=float(1.0 - p),
                              direction="up" if p >= 0.5 else "down",
                              confidence=float(max(p, 1.0 - p)))
            for p, stamp in zip(p_up, timestamps, strict=True)]


def answer_fields(version: LoadedVersion) -> dict[str, str]:
    return {"model": version.name, "version": version.version, "alias": version.alias,
            "runtime": version.runtime}


def job_result(job: RowsJob | TextsJob) -> Any:
    if job.error is not None:
        raise ServingError(500, f"the model failed on these inputs: {job.error}")
    return job


# --- regime ------------------------------------------------------------------------------


def regime_answer(version: LoadedVersion, request: schemas.RegimeRequest) -> schemas.RegimeAnswer:
    model = version.model
    assert isinstance(model, RegimeModel)
    needed = model.closes_needed
    if len(request.closes) < needed:
        raise ServingError(422, f"{len(request.closes)} closes given, the model needs at least "
                                f"{needed} (context_length + 1)", "closes")
    closes = np.asarray(request.closes[-needed:], dtype=np.float64)
    value, vol = model.forecaster.forecast_both(closes)
    regime = model.forecaster.classify_regime(value, vol)
    return schemas.RegimeAnswer(**answer_fields(version), task=task_info(version.task),
                                forecast_return=value, forecast_volatility=vol, regime=regime,
                                horizon=int(model.forecaster.params.horizon),
                                closes_used=needed)


# --- sentiment ---------------------------------------------------------------------------


@dataclass
class TextsJob:
    """Headlines and tweets waiting for one sentiment model."""

    model: SentimentServed
    headlines: list[str]
    tweets: list[str]
    scores: tuple[SentimentScores, SentimentScores] | None = None  # headlines, tweets
    error: str | None = None


def score_texts(jobs: Sequence[TextsJob]) -> None:
    """Scores for every job: its headlines as one encoder batch, its tweets as another.

    Requests are not merged into one encoder batch: the int8 encoder quantises activations
    per batch, so an embedding moves (catalyst scores by up to ~5e-3 here) with whatever else
    is in its batch, and one client's answer would depend on another's request. Scored this
    way, an answer equals the in-process call on the same texts.
    """
    for job in jobs:
        try:
            job.scores = (job.model.score(job.headlines), job.model.score(job.tweets))
        except Exception as exc:  # this request's error only
            job.error = f"{type(exc).__name__}: {exc}"


def sentiment_answer(version: LoadedVersion, job: TextsJob) -> schemas.SentimentAnswer:
    model = version.model
    assert isinstance(model, SentimentServed) and job.scores is not None
    heads, tweets = job.scores
    classes = model.anchors.classes

    def scored(scores: SentimentScores, i: int, tagged: bool) -> schemas.TextScore:
        tags = [c for c, s in zip(classes, scores.catalysts[i], strict=True)
                if s >= model.threshold] if tagged else []
        return schemas.TextScore(logit=float(scores.logits[i]), label=scores.labels[i],
                                 tags=tags)

    n = len(job.headlines)
    catalysts = heads.catalysts.max(axis=0) if n else np.zeros(len(classes))
    return schemas.SentimentAnswer(
        **answer_fields(version),
        fin_sent_logit=float(heads.logits.mean()) if n else 0.0,
        social_sent_logit=float(tweets.logits.mean()) if len(job.tweets) else 0.0,
        catalysts={c: float(v) for c, v in zip(classes, catalysts, strict=True)},
        headlines=[scored(heads, i, True) for i in range(n)],
        tweets=[scored(tweets, i, False) for i in range(len(job.tweets))])


# --- /models -----------------------------------------------------------------------------


def _served_info(version: LoadedVersion | None) -> schemas.Served | None:
    if version is None:
        return None
    return schemas.Served(version=version.version, alias=version.alias,
                          runtime=version.runtime, since=version.loaded_at,
                          created=version.created, run_id=version.run_id)


def models_answer(slots: dict[str, TaskSlot], registry: schemas.RegistryState
                  ) -> schemas.ModelsAnswer:
    models = []
    for name, slot in sorted(slots.items()):
        served = slot.served
        notes = [n for n in (slot.reason, served.note if served else None) if n]
        models.append(schemas.TaskModels(
            model=name, task=task_info(slot.task),
            status="serving" if served is not None else "no_model",
            serving=_served_info(served), shadow=_served_info(slot.shadow),
            registry_version=slot.registry_version,
            stale=registry.stale and served is not None,
            reason="; ".join(notes) or None,
            inputs=dict(served.inputs) if served is not None else {}))
    return schemas.ModelsAnswer(registry=registry, models=models)

