"""One typed loader for ``params.yaml`` and the runtime settings.

Parameters (hyperparameters, thresholds) live in ``params.yaml``, one section per stage.
Settings (URLs, credentials, mode) come from ``ALPHALOOP_*`` environment variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from alphaloop.cv import CVParams
from alphaloop.data.schema import parse_timeframe
from alphaloop.features.config import FeatureConfig
from alphaloop.labels import TargetParams
from alphaloop.models.config import PredictorConfig
from alphaloop.models.regime.config import RegimeParams
from alphaloop.models.sentiment.config import SentimentParams
from alphaloop.registry.gate import GateParams
from alphaloop.retrain.config import RetrainParams
from alphaloop.signals import BacktestParams
from alphaloop.trading.config import TraderParams
from alphaloop.trading.rules import RiskParams


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BundledSource(_Section):
    """A real data set shipped inside an installed package."""

    kind: Literal["bundled"] = "bundled"
    dataset: Literal["btc-usd-15m", "sp500-1d", "nasdaq-1d"] = "btc-usd-15m"


class FileSource(_Section):
    """Any CSV or Parquet file, with a mapping from canonical names to the file's columns."""

    kind: Literal["file"] = "file"
    path: str
    column_map: dict[str, str] = Field(default_factory=dict)
    symbol: str = "UNKNOWN"
    timeframe: str | None = None  # None: inferred from the most common bar step
    # How timestamps are read (alphaloop.data.timestamps): inferred from the whole column
    # when unset; ambiguous day/month order is refused with a message naming these.
    timestamp_format: str | None = None  # e.g. "%d/%m/%Y %H:%M", applied to every row
    dayfirst: bool | None = None
    timezone: str = "UTC"  # zone of naive times (DST-aware), e.g. America/New_York
    timestamp_unit: Literal["s", "ms", "us", "ns"] | None = None  # unix times
    delimiter: str | None = None  # None: tab, semicolon or comma from the first line

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as "
                             "Europe/London)") from exc
        return value

    @field_validator("timeframe")
    @classmethod
    def _check_timeframe(cls, value: str | None) -> str | None:
        if value is not None:
            parse_timeframe(value)
        return value


class CcxtSource(_Section):
    """An exchange reached through ccxt ``fetch_ohlcv``, paged from ``since``."""

    kind: Literal["ccxt"] = "ccxt"
    exchange: str = "binance"
    symbol: str = "BTC/USDT"
    timeframe: str = "15m"
    since: str = "2024-01-01T00:00:00Z"
    until: str | None = None
    page_limit: int = Field(default=1000, gt=0, le=5000)
    max_bars: int = Field(default=20_000, gt=0)
    retries: int = Field(default=5, ge=1)  # attempts per page on network errors
    retry_wait_s: float = Field(default=1.0, ge=0)  # first backoff; doubles, at most 30 s
    cache_dir: str | None = ".alphaloop/cache/ccxt"  # closed bars kept here; None: no cache

    @field_validator("timeframe")
    @classmethod
    def _check_timeframe(cls, value: str) -> str:
        parse_timeframe(value)
        return value


Source = Annotated[BundledSource | FileSource | CcxtSource, Field(discriminator="kind")]


class IngestParams(_Section):
    source: Source = Field(default_factory=BundledSource)


class ValidateParams(_Section):
    """Thresholds: a rule failing on a larger share of rows than allowed stops the pipeline."""

    max_unparseable_share: float = Field(default=0.01, ge=0, le=1)
    max_null_share: float = Field(default=0.01, ge=0, le=1)
    max_ohlc_violation_share: float = Field(default=0.01, ge=0, le=1)
    max_negative_volume_share: float = Field(default=0.01, ge=0, le=1)
    max_duplicate_share: float = Field(default=0.05, ge=0, le=1)
    max_out_of_order_share: float = Field(default=0.01, ge=0, le=1)
    max_off_grid_share: float = Field(default=0.05, ge=0, le=1)
    max_off_session_share: float = Field(default=0.05, ge=0, le=1)
    max_zero_volume_share: float = Field(default=0.5, ge=0, le=1)
    duplicate_keep: Literal["first", "last"] = "last"
    gap_policy: Literal["mark", "split"] = "mark"
    # continuous | fx | business_days | an exchange calendar (XNYS, XLON, ...): see
    # alphaloop.data.sessions. Closed hours, weekends and holidays are never gaps.
    session: str = "continuous"
    # Corporate actions and bad ticks (alphaloop.data.corporate).
    jump_z: float = Field(default=12.0, gt=0, allow_inf_nan=False)
    split_tolerance: float = Field(default=0.05, ge=0, lt=1)
    jump_policy: Literal["fail", "flag", "adjust"] = "fail"
    adjust_from: Literal["none", "adj_close", "actions"] = "none"
    actions_file: str | None = None  # CSV: date, split and/or dividend (adjust_from: actions)
    min_rows: int = Field(default=500, ge=1)

    @field_validator("session")
    @classmethod
    def _check_session(cls, value: str) -> str:
        from alphaloop.data.sessions import check_session

        return check_session(value)

    @model_validator(mode="after")
    def _actions_need_a_file(self) -> ValidateParams:
        if self.adjust_from == "actions" and not self.actions_file:
            raise ValueError("adjust_from: actions needs validate.actions_file")
        return self


class ServingParams(_Section):
    """How the server follows the registry, batches requests and binds.

    Attributes:
        alias: The alias served per task (``challenger`` paper-trades a model that has not
            been promoted); every answer names the alias and version that produced it.
        shadow_alias: Scored beside ``alias`` and logged; returned only when a request asks
            (``"shadow": true``). None: no shadow scoring.
        poll_interval_s: Seconds between registry polls; a new version of the alias is loaded
            in the background and swapped in atomically.
        stale_after_s: A served model is marked stale in ``/models`` once the registry could
            not be read for this long (it keeps serving the last good version).
        registry_timeout_s: HTTP timeout of one registry call (remote tracking servers).
        host: Interface to bind; 127.0.0.1 keeps the server local unless configured.
        port: TCP port.
        batching: Send ``/predict`` and ``/sentiment`` scoring through BentoML's adaptive
            batching (off: each request is scored on its own). Off by default: for the
            ensemble (~50 us a row on ONNX Runtime) the in-process round trip to the batcher
            cost more than batching saved (bench/RESULTS.md, "Serving").
        max_batch_size: Most requests in one adaptive batch.
        max_latency_ms: BentoML's latency budget for a batched call; at 20-100 ms it answered
            503 "overloaded" to some requests under load here, so the default is generous.
        access_log: BentoML's access log line per request (internal batch calls included).
        onnx: Run the direction ensemble on ONNX Runtime (its members are exported when a
            version loads and checked against the native model on the logged input example;
            on any difference the native model serves and ``/models`` says so).
    """

    alias: str = Field(default="champion", min_length=1)
    shadow_alias: str | None = None
    poll_interval_s: float = Field(default=10.0, gt=0)
    stale_after_s: float = Field(default=60.0, gt=0)
    registry_timeout_s: float = Field(default=10.0, gt=0)
    host: str = "127.0.0.1"
    port: int = Field(default=3000, ge=1, le=65535)
    batching: bool = False
    max_batch_size: int = Field(default=64, ge=2)
    max_latency_ms: int = Field(default=1000, ge=1)
    access_log: bool = False
    onnx: bool = True


class Params(_Section):
    """The whole of ``params.yaml``."""

    ingest: IngestParams = Field(default_factory=IngestParams)
    validate_: ValidateParams = Field(default_factory=ValidateParams, alias="validate")
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    target: TargetParams = Field(default_factory=TargetParams)
    cv: CVParams = Field(default_factory=CVParams)
    train: PredictorConfig = Field(default_factory=PredictorConfig)
    backtest: BacktestParams = Field(default_factory=BacktestParams)
    risk: RiskParams = Field(default_factory=RiskParams)
    sentiment: SentimentParams = Field(default_factory=SentimentParams)
    regime: RegimeParams = Field(default_factory=RegimeParams)
    register_: GateParams = Field(default_factory=GateParams, alias="register")
    retrain: RetrainParams = Field(default_factory=RetrainParams)
    trader: TraderParams = Field(default_factory=TraderParams)
    serving: ServingParams = Field(default_factory=ServingParams)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_home_per_key(self) -> Params:
        # The fold layout belongs to cv:, so train and evaluate cannot disagree about it.
        clash = {"n_splits", "embargo"} & self.train.model_fields_set
        if clash:
            keys = ", ".join(sorted(clash))
            raise ValueError(f"set {keys} under cv:, not train: (train uses cv's values)")
        return self

    @property
    def embargo_bars(self) -> float:
        """``cv.embargo``, or by default the feature plan's longest look-back (TA-Lib's own
        look-back functions: 597 bars for TEMA-200), so no training row's features saw a
        test fold's bars."""
        if self.cv.embargo is not None:
            return self.cv.embargo
        from alphaloop.features import max_lookback

        return float(max_lookback(self.features))

    def embargo_origin(self) -> str:
        """What set the embargo, for error messages."""
        if self.cv.embargo is not None:
            return " (cv.embargo)"
        from alphaloop.features import lookback_note

        note = lookback_note(self.features)
        return f" (cv.embargo is null: the longest feature look-back, {note})"

    @property
    def predictor(self) -> PredictorConfig:
        """The ensemble configuration with the fold layout taken from ``cv``."""
        return self.train.model_copy(update={"n_splits": self.cv.n_splits,
                                             "embargo": self.embargo_bars})


class ConfigError(ValueError):
    """``params.yaml`` (or a settings value) is missing, malformed or invalid."""


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``params.yaml``; errors name the file and the offending key."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: parameters file not found")
    try:
        raw: Any = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc)}") from exc


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


class Settings(BaseSettings):
    """Runtime settings from ``ALPHALOOP_*`` variables (nested with ``__``) and ``.env``."""

    model_config = SettingsConfigDict(
        env_prefix="ALPHALOOP_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    mode: Literal["paper", "live"] = "paper"
    log_level: str = "INFO"
    mlflow_tracking_uri: str | None = None
    redis_url: str | None = None
    exchange_api_key: SecretStr | None = None
    exchange_api_secret: SecretStr | None = None
    exchange_api_password: SecretStr | None = None  # the passphrase some venues add (OKX, ...)
    trader_store_url: str | None = None  # None: sqlite:///.alphaloop/trader/state.db
    audit_log: Path | None = None  # None: mlruns/audit.jsonl
    registry_lock_dir: Path | None = None  # None: mlruns/locks (promotion locks, one machine)
    api_token: SecretStr | None = None  # `alphaloop serve`: bearer token required when set


def registry_config(root: Path = Path("."), settings: Settings | None = None) -> Any:
    """The ``RegistryConfig`` the settings point at (sqlite under ``root/mlruns`` by default)."""
    from alphaloop.registry.lifecycle import RegistryConfig

    settings = settings or Settings()
    return RegistryConfig(tracking_uri=settings.mlflow_tracking_uri, root=root,
                          audit_path=settings.audit_log, lock_dir=settings.registry_lock_dir)
