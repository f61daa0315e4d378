"""``FeatureCache``: features, predictions and order books in Redis, with TTLs and hit rates.

Keys say exactly what a value is, so a value can never be served for the wrong question::

    alphaloop:features:<symbol>:<timeframe>:<bar close, ISO>:<feature-set hash>
    alphaloop:prediction:<symbol>:<timeframe>:<bar close, ISO>:<model>:<version>
    alphaloop:orderbook:<symbol>:<snapshot time, ISO>

Redis is optional: without a URL, or when Redis does not answer, the cache keeps working in
this process (a bounded in-memory map with the same TTLs) and logs once why; a Redis that
comes back is used again after ``retry_s``. A cache failure never fails a decision: the value
is computed instead.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

IN_PROCESS_MAX = 50_000


class CacheTTLs(BaseModel):
    """Seconds each kind of value lives (``trader.cache`` in params.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    features: float = Field(default=86_400.0, gt=0)
    prediction: float = Field(default=86_400.0, gt=0)
    orderbook: float = Field(default=30.0, gt=0)
    retry_s: float = Field(default=30.0, gt=0)  # how long to wait before trying Redis again


@dataclass
class CacheStats:
    hits: dict[str, int] = field(default_factory=dict)
    misses: dict[str, int] = field(default_factory=dict)
    errors: int = 0

    def count(self, kind: str, hit: bool) -> None:
        bucket = self.hits if hit else self.misses
        bucket[kind] = bucket.get(kind, 0) + 1

    def hit_rate(self, kind: str | None = None) -> float:
        kinds = [kind] if kind else sorted({*self.hits, *self.misses})
        hits = sum(self.hits.get(k, 0) for k in kinds)
        total = hits + sum(self.misses.get(k, 0) for k in kinds)
        return hits / total if total else float("nan")


class FeatureCache:
    """Redis-backed cache (in-process when Redis is absent or down); all methods are async."""

    def __init__(self, url: str | None, ttls: CacheTTLs | None = None,
                 namespace: str = "alphaloop") -> None:
        self.url, self.ttls, self.namespace = url, ttls or CacheTTLs(), namespace
        self.stats = CacheStats()
        self._local: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._redis: Any = None
        self._down_until = 0.0
        self._warned = False

    @property
    def backend(self) -> str:
        return "redis" if self._redis is not None and time.monotonic() >= self._down_until \
            else "in-process"

    def key(self, kind: str, *parts: object) -> str:
        return ":".join([self.namespace, kind, *(str(p) for p in parts)])

    async def get_features(self, symbol: str, timeframe: str, bar_time: object,
                           feature_hash: str) -> dict[str, float] | None:
        return await self._get("features", self.key("features", symbol, timeframe,
                                                    _iso(bar_time), feature_hash))

    async def set_features(self, symbol: str, timeframe: str, bar_time: object,
                           feature_hash: str, row: dict[str, float]) -> None:
        await self._set(self.key("features", symbol, timeframe, _iso(bar_time), feature_hash),
                        row, self.ttls.features)

    async def get_prediction(self, symbol: str, timeframe: str, bar_time: object, model: str,
                             version: str) -> dict[str, Any] | None:
        return await self._get("prediction", self.key("prediction", symbol, timeframe,
                                                      _iso(bar_time), model, version))

    async def set_prediction(self, symbol: str, timeframe: str, bar_time: object, model: str,
                             version: str, answer: dict[str, Any]) -> None:
        await self._set(self.key("prediction", symbol, timeframe, _iso(bar_time), model,
                                 version), answer, self.ttls.prediction)

    async def get_orderbook(self, symbol: str, time_: object) -> dict[str, Any] | None:
        return await self._get("orderbook", self.key("orderbook", symbol, _iso(time_)))

    async def set_orderbook(self, symbol: str, time_: object, book: dict[str, Any]) -> None:
        await self._set(self.key("orderbook", symbol, _iso(time_)), book, self.ttls.orderbook)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def _client(self) -> Any:
        if self.url is None or time.monotonic() < self._down_until:
            return None
        if self._redis is None:
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(self.url, socket_timeout=0.5,
                                            socket_connect_timeout=0.5)
        return self._redis

    async def _get(self, kind: str, key: str) -> Any:
        raw = None
        client = await self._client()
        if client is not None:
            try:
                raw = await client.get(key)
            except Exception as exc:  # any Redis failure: fall back, never fail the caller
                self._redis_failed(exc)
                raw = self._local_get(key)
        else:
            raw = self._local_get(key)
        self.stats.count(kind, raw is not None)
        return None if raw is None else json.loads(raw)

    async def _set(self, key: str, value: Any, ttl: float) -> None:
        text = json.dumps(value, allow_nan=True)
        self._local_set(key, text, ttl)  # also here, so an outage keeps what was cached
        client = await self._client()
        if client is None:
            return
        try:
            await client.set(key, text, px=max(1, int(ttl * 1000)))
        except Exception as exc:
            self._redis_failed(exc)

    def _redis_failed(self, exc: Exception) -> None:
        self.stats.errors += 1
        self._down_until = time.monotonic() + self.ttls.retry_s
        if not self._warned:
            log.warning("Redis at %s is unavailable (%s): caching in this process; retrying in "
                        "%.0f s", _redact(self.url), type(exc).__name__, self.ttls.retry_s)
            self._warned = True

    def _local_get(self, key: str) -> str | None:
        item = self._local.get(key)
        if item is None or item[0] < time.monotonic():
            self._local.pop(key, None)
            return None
        return item[1]

    def _local_set(self, key: str, text: str, ttl: float) -> None:
        self._local[key] = (time.monotonic() + ttl, text)
        self._local.move_to_end(key)
        while len(self._local) > IN_PROCESS_MAX:
            self._local.popitem(last=False)


def _iso(value: object) -> str:
    isoformat = getattr(value, "isoformat", None)
    return str(isoformat()) if callable(isoformat) else str(value)


def _redact(url: str | None) -> str:
    if not url:
        return "(none)"
    from alphaloop.registry.lineage import redact

    return redact(url)
