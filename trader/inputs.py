"""What the trader knows at a bar's close: features, the served models' answers, news, book.

Features come from :class:`alphaloop.features.online.OnlineFeatures` (or the cache); the
direction, regime and sentiment answers from the serving API (or the cache). A failure of
the direction model (serving down, circuit open, no model, model too old) marks the bar
``degraded``: the decision rules then HOLD. A failure of the regime or sentiment model only
removes that input (no news is not bad news).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from alphaloop.data.schema import parse_timeframe
from alphaloop.features.online import OnlineFeatures
from alphaloop.features.orderbook import OrderBookSnapshot, calculate_imbalance
from alphaloop.trading import meta
from trader.cache import FeatureCache
from trader.feeds import BAR_COLUMNS, BarEvent
from trader.serving_client import ServingClient, ServingRequestError, ServingUnavailable

log = logging.getLogger(__name__)
NEWS_WINDOW = pd.Timedelta(hours=24)


@dataclass
class BarInputs:
    """Everything one decision reads (recorded with it)."""

    prob_up: float = math.nan
    model: str | None = None
    version: str | None = None
    degraded: str | None = None  # why there is no usable direction signal
    regime_label: str | None = None
    regime_score: float = math.nan
    sentiment_score: float | None = None
    micro_score: float | None = None
    meta_score: float = math.nan
    cached: dict[str, bool] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class ServedModel:
    """The direction model the server says it serves for a task (from ``/models``)."""

    model: str | None
    version: str | None
    created: datetime | None
    context_length: int | None
    reason: str | None


class MarketInputs:
    """Builds :class:`BarInputs` for each bar of one symbol."""

    def __init__(self, symbol: str, timeframe: str, online: OnlineFeatures,
                 columns: list[str], feature_hash: str, serving: ServingClient,
                 cache: FeatureCache, *, max_age_days: float, weights: dict[str, float],
                 regime: bool, headlines: pd.DataFrame | None = None) -> None:
        self.symbol, self.timeframe = symbol, timeframe
        self.online, self.columns, self.feature_hash = online, columns, feature_hash
        self.serving, self.cache = serving, cache
        self.max_age_days, self.weights, self.use_regime = max_age_days, weights, regime
        self.headlines = headlines
        self.closes: deque[float] = deque(maxlen=online.window)
        self.served: ServedModel | None = None
        self.regime_context: int | None = None
        self.step = pd.Timedelta(parse_timeframe(timeframe))
        self.last_time: pd.Timestamp | None = None

    def seed(self, history: pd.DataFrame) -> None:
        """Fill the feature window with the bars before the first event (since the last gap:
        the batch pipeline restarts its features after every gap, and so does the trader)."""
        stamps = pd.DatetimeIndex(history["timestamp"])
        breaks = np.flatnonzero(np.diff(stamps.asi8) > self.step.value)
        start = int(breaks[-1]) + 1 if breaks.size else 0
        values = history[list(BAR_COLUMNS)].to_numpy(dtype=np.float64)[start:]
        self.online.restart()
        self.closes.clear()
        self.online.extend(values)
        self.closes.extend(values[-self.online.window:, 3].tolist())
        self.last_time = stamps[-1] if len(stamps) else None

    async def refresh_models(self) -> None:
        """Learn which versions the server serves (and how old they are)."""
        answer = await self.serving.models()
        self.served = None
        for entry in answer.get("models", []):
            task = entry.get("task", {})
            if task.get("symbol") != self.symbol or task.get("timeframe") != self.timeframe:
                continue
            served = entry.get("serving") or {}
            created = served.get("created")
            info = ServedModel(entry.get("model"), served.get("version"),
                               pd.Timestamp(created).to_pydatetime() if created else None,
                               (entry.get("inputs") or {}).get("context_length"),
                               entry.get("reason"))
            if task.get("kind") == "ensemble":
                self.served = info
            elif task.get("kind") == "regime" and self.use_regime:
                self.regime_context = info.context_length

    async def read(self, event: BarEvent, book: OrderBookSnapshot | None) -> BarInputs:
        """Features, then the served answers, then the meta-score, for ``event``."""
        inputs = BarInputs()
        row = await self._features(event, inputs)
        self.closes.append(event.bar["close"])
        if row is None:
            inputs.degraded = (f"features warming up ({self.online.bars} of "
                               f"{self.online.minimum} bars since the last gap)")
        else:
            await self._direction(event, row, inputs)
        if self.use_regime:
            await self._regime(inputs)
        if self.headlines is not None:
            await self._sentiment(event, inputs)
        if book is not None:
            inputs.micro_score = calculate_imbalance(book)
        inputs.meta_score = meta.compute_meta_score(
            inputs.micro_score, meta.tech_score(inputs.prob_up), inputs.sentiment_score,
            inputs.regime_score, self.weights)
        return inputs

    async def _features(self, event: BarEvent, inputs: BarInputs) -> dict[str, float] | None:
        if self.last_time is not None and event.time - self.last_time > self.step:
            log.warning("%s: gap before %s (last bar %s): features restart and need %d bars",
                        self.symbol, event.time, self.last_time, self.online.minimum)
            self.online.restart()
            self.closes.clear()
        self.last_time = event.time
        cached = await self.cache.get_features(self.symbol, self.timeframe, event.time,
                                               self.feature_hash)
        if cached is not None:
            self.online.extend(np.array([[event.bar[c] for c in BAR_COLUMNS]]))
            inputs.cached["features"] = True
            return dict(cached)
        row = self.online.update(event.bar)
        inputs.cached["features"] = False
        if row is None:
            return None
        await self.cache.set_features(self.symbol, self.timeframe, event.time,
                                      self.feature_hash, row)
        return row

    async def _direction(self, event: BarEvent, row: dict[str, float],
                         inputs: BarInputs) -> None:
        served = self.served
        if served is None or served.version is None:
            inputs.degraded = ("no direction model served for "
                               f"{self.symbol} {self.timeframe}"
                               + (f" ({served.reason})" if served and served.reason else ""))
            return
        inputs.model, inputs.version = served.model, served.version
        age = _age_days(served.created)
        if age is not None and age > self.max_age_days:
            inputs.degraded = (f"model {served.model} v{served.version} is {age:.1f} days old "
                               f"(trader.model_max_age_days {self.max_age_days:g})")
            return
        assert served.model is not None
        hit = await self.cache.get_prediction(self.symbol, self.timeframe, event.time,
                                              served.model, served.version)
        inputs.cached["prediction"] = hit is not None
        if hit is None:
            try:
                answer = await self.serving.predict(self.symbol, self.timeframe,
                                                    [{c: row[c] for c in self.columns}],
                                                    model=served.model)
            except (ServingUnavailable, ServingRequestError) as exc:
                inputs.degraded = f"direction model unavailable: {exc}"
                return
            hit = {"p_up": answer["predictions"][0]["p_up"], "version": answer["version"]}
            if hit["version"] == served.version:
                await self.cache.set_prediction(self.symbol, self.timeframe, event.time,
                                                served.model, served.version, hit)
            inputs.version = hit["version"]
        inputs.prob_up = float(hit["p_up"])

    async def _regime(self, inputs: BarInputs) -> None:
        context = self.regime_context
        closes = list(self.closes)[-(context + 1):] if context else list(self.closes)[-200:]
        try:
            answer = await self.serving.regime(self.symbol, self.timeframe, closes)
        except (ServingUnavailable, ServingRequestError) as exc:
            log.debug("%s: no regime this bar (%s)", self.symbol, exc)
            return
        inputs.regime_label = answer["regime"]
        inputs.regime_score = meta.regime_score(answer["forecast_return"],
                                                answer["forecast_volatility"])

    async def _sentiment(self, event: BarEvent, inputs: BarInputs) -> None:
        assert self.headlines is not None
        times = self.headlines["timestamp"]
        recent = self.headlines[(times <= event.time) & (times > event.time - NEWS_WINDOW)]
        if recent.empty:
            return
        try:
            answer = await self.serving.sentiment(recent["text"].tail(64).tolist())
        except (ServingUnavailable, ServingRequestError) as exc:
            log.debug("%s: no sentiment this bar (%s)", self.symbol, exc)
            return
        inputs.sentiment_score = meta.sentiment_score(answer["fin_sent_logit"])


def _age_days(created: datetime | None) -> float | None:
    if created is None:
        return None
    stamp = created if created.tzinfo else created.replace(tzinfo=UTC)
    return (datetime.now(UTC) - stamp).total_seconds() / 86_400.0


def load_headlines(path: str) -> pd.DataFrame:
    """A CSV of ``timestamp,text`` (UTC) for the news gate; refused with the file named."""
    frame = pd.read_csv(path)
    missing = {"timestamp", "text"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: trader.headlines needs columns timestamp,text; missing "
                         f"{sorted(missing)} (header: {list(frame.columns)})")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    return frame.sort_values("timestamp").reset_index(drop=True)
