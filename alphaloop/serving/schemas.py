"""Request and answer models of the serving API (the OpenAPI document is built from them).

Every request model forbids unknown fields and non-finite numbers, and caps list sizes, so a
malformed payload is refused with a 422 that names the field before any model runs. What
depends on the served model (its feature columns, the look-back it needs, whether a task
exists) is checked in ``answers`` and refused the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

MAX_ROWS = 256  # feature rows per /predict request
MAX_BARS = 5_000  # raw bars per /predict request (the default feature plan needs 598)
MAX_CLOSES = 10_000  # closes per /regime request
MAX_TEXTS = 256  # headlines (and, separately, tweets) per /sentiment request
MAX_TEXT_CHARS = 2_000
MAX_FEATURES = 2_000  # columns per feature row

Finite = Annotated[float, Field(allow_inf_nan=False)]
Price = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Symbol = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Timeframe = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,5}[smhdw]$")]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Bar(_Request):
    """One OHLCV bar, as the ingest stage produces them (naive timestamps are UTC)."""

    timestamp: datetime
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Annotated[float, Field(ge=0, allow_inf_nan=False)]

    @model_validator(mode="after")
    def _consistent(self) -> Bar:
        if self.high < max(self.open, self.close):
            raise ValueError("high must be >= open and close")
        if self.low > min(self.open, self.close):
            raise ValueError("low must be <= open and close")
        return self


class TaskQuery(_Request):
    """Which task answers: symbol and timeframe (plus horizon, or the model name, when a
    market has several tasks)."""

    symbol: Symbol = Field(examples=["BTC-USD"])
    timeframe: Timeframe = Field(examples=["15m"])
    horizon: int | None = Field(default=None, ge=1, le=100_000,
                                description="Bars ahead; needed only when several tasks "
                                            "share the symbol and timeframe.")
    model: ModelName | None = Field(default=None,
                                    description="A registered model name (exact), instead of "
                                                "resolving the task from symbol/timeframe.")


class PredictRequest(TaskQuery):
    """Feature rows, or recent raw bars that the server turns into features."""

    # "Exactly one of features or bars", stated in the schema too (clients and fuzzers see it).
    model_config = ConfigDict(json_schema_extra={
        "oneOf": [{"required": ["features"]}, {"required": ["bars"]}]})

    features: list[dict[str, Finite]] | None = Field(
        default=None, min_length=1, max_length=MAX_ROWS,
        description="Rows of feature name -> value; exactly the model's feature columns.")
    bars: list[Bar] | None = Field(
        default=None, min_length=2, max_length=MAX_BARS,
        description="Recent bars, oldest first, at least the model's look-back "
                    "(`bars_needed` in /models); the newest bar is predicted.")
    include_features: bool = Field(default=False,
                                   description="Echo the feature rows the model scored.")
    shadow: bool = Field(default=False,
                         description="Also return the shadow model's answer (when configured).")

    @model_validator(mode="after")
    def _one_input(self) -> PredictRequest:
        if (self.features is None) == (self.bars is None):
            raise ValueError("give exactly one of 'features' (rows) or 'bars' (raw OHLCV)")
        if self.features is not None and any(len(row) > MAX_FEATURES for row in self.features):
            raise ValueError(f"'features' rows may have at most {MAX_FEATURES} columns")
        return self


class RegimeRequest(TaskQuery):
    """A close-price series, oldest first."""

    closes: list[Price] = Field(min_length=2, max_length=MAX_CLOSES,
                                description="At least context_length + 1 closes (see /models).")


class SentimentRequest(_Request):
    """News headlines and social posts to score (no texts: both logits are 0)."""

    headlines: list[Text] = Field(default_factory=list, max_length=MAX_TEXTS)
    tweets: list[Text] = Field(default_factory=list, max_length=MAX_TEXTS)
    model: ModelName | None = Field(default=None,
                                    description="A registered sentiment model name; needed "
                                                "only when several sentiment tasks exist.")


class TaskInfo(BaseModel):
    """A task's identity (see ``alphaloop.registry.task``)."""

    kind: str
    symbol: str
    timeframe: str
    horizon: int
    feature_hash: str


class Answer(BaseModel):
    """What every model answer carries: who produced it."""

    model: str = Field(description="Registered model name (one per task).")
    version: str
    alias: str
    runtime: str = Field(description="onnxruntime or native.")


class Direction(BaseModel):
    timestamp: datetime | None = Field(description="The bar predicted (bars input only).")
    p_up: float
    p_down: float
    direction: Literal["up", "down"]
    confidence: float = Field(description="The larger of p_up and p_down.")


class ShadowPredict(Answer):
    predictions: list[Direction]


class PredictAnswer(Answer):
    task: TaskInfo
    predictions: list[Direction]
    features: list[dict[str, float]] | None = Field(
        default=None, description="The scored feature rows (include_features only).")
    shadow: ShadowPredict | None = None


class RegimeAnswer(Answer):
    task: TaskInfo
    forecast_return: float = Field(description="Log return over the next `horizon` bars.")
    forecast_volatility: float = Field(description="Realised volatility over them.")
    regime: Literal["bull", "bear", "sideways", "high_vol"]
    horizon: int
    closes_used: int


class TextScore(BaseModel):
    logit: float = Field(description="log P(positive) / P(negative); positive is bullish.")
    label: str
    tags: list[str] = Field(description="Catalyst classes (headlines only).")


class SentimentAnswer(Answer):
    fin_sent_logit: float = Field(description="Mean headline logit (0 with no headlines).")
    social_sent_logit: float = Field(description="Mean tweet logit (0 with no tweets).")
    catalysts: dict[str, float] = Field(description="Class -> highest score over headlines.")
    headlines: list[TextScore]
    tweets: list[TextScore]


class Served(BaseModel):
    version: str
    alias: str
    runtime: str
    since: datetime = Field(description="When this version started serving here.")
    created: datetime | None = Field(default=None, description="When the version was "
                                                               "registered (its age).")
    run_id: str | None


class TaskModels(BaseModel):
    """One task as this server sees it."""

    model: str
    task: TaskInfo
    status: Literal["serving", "no_model"]
    serving: Served | None
    shadow: Served | None
    registry_version: str | None = Field(description="Where the alias points in the registry "
                                                     "(at the last successful poll).")
    stale: bool = Field(description="The registry could not be read for stale_after_s.")
    reason: str | None = Field(description="Why nothing (or an older version) is served.")
    inputs: dict[str, int] = Field(description="e.g. bars_needed, features, context_length.")


class RegistryState(BaseModel):
    tracking_uri: str
    alias: str
    shadow_alias: str | None
    poll_interval_s: float
    reachable: bool
    stale: bool
    last_success: datetime | None
    last_error: str | None


class ModelsAnswer(BaseModel):
    registry: RegistryState
    models: list[TaskModels]


class ErrorItem(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    """Every error answer: what went wrong and which request field it concerns."""

    error: str
    field: str | None
    detail: list[ErrorItem]
