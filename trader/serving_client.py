"""The trader's client of the serving API: timeouts, retries and a circuit breaker.

Every call has a timeout. Transport errors and 5xx answers are retried with exponential
backoff (tenacity) a few times; a 4xx is a bug in the request and is raised at once. After
``breaker_threshold`` failed calls in a row the circuit opens (purgatory) and calls fail fast
for ``breaker_ttl_s`` seconds, so a dead server costs the trader no time per bar; then one
call is let through to probe it. Every failure surfaces as :class:`ServingUnavailable`, which
the trader turns into HOLD (no new entries, open positions still managed).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import httpx
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

log = logging.getLogger(__name__)


class ServingUnavailable(RuntimeError):
    """The serving API did not answer usefully (down, timing out, 5xx, circuit open)."""


class ServingRequestError(ValueError):
    """The serving API refused the request (4xx): the trader sent something wrong."""


class _Transient(Exception):
    """A failure worth retrying (transport error or 5xx)."""


class ServingClient:
    """Async calls to ``/predict``, ``/regime``, ``/sentiment`` and ``/models``.

    Args:
        url: Base URL of the serving API, e.g. ``http://127.0.0.1:3000``.
        token: Bearer token (``ALPHALOOP_SERVING_TOKEN``); never logged.
        timeout_s: Per-request timeout.
        retries: Extra attempts after a transport error or 5xx.
        breaker_threshold: Consecutive failed calls that open the circuit.
        breaker_ttl_s: How long the circuit stays open before a probe.
    """

    def __init__(self, url: str, token: str | None = None, *, timeout_s: float = 2.0,
                 retries: int = 2, breaker_threshold: int = 3,
                 breaker_ttl_s: float = 10.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.url, headers=headers,
                                       timeout=httpx.Timeout(timeout_s))
        self._retries = retries
        self._breakers = AsyncCircuitBreakerFactory(default_threshold=breaker_threshold,
                                                    default_ttl=breaker_ttl_s)

    async def close(self) -> None:
        await self._http.aclose()

    async def predict(self, symbol: str, timeframe: str, rows: Sequence[dict[str, float]],
                      model: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"symbol": symbol, "timeframe": timeframe,
                                "features": list(rows)}
        if model:
            body["model"] = model
        return await self._call("POST", "/predict", body)

    async def regime(self, symbol: str, timeframe: str,
                     closes: Sequence[float]) -> dict[str, Any]:
        return await self._call("POST", "/regime", {"symbol": symbol, "timeframe": timeframe,
                                                    "closes": [float(c) for c in closes]})

    async def sentiment(self, headlines: Sequence[str],
                        tweets: Sequence[str] = ()) -> dict[str, Any]:
        return await self._call("POST", "/sentiment", {"headlines": list(headlines),
                                                       "tweets": list(tweets)})

    async def models(self) -> dict[str, Any]:
        return await self._call("GET", "/models", None)

    async def _call(self, method: str, path: str, body: Any) -> dict[str, Any]:
        breaker = await self._breakers.get_breaker(f"serving{path}")
        try:
            async with breaker:
                return await self._with_retries(method, path, body)
        except OpenedState as exc:
            raise ServingUnavailable(f"{path}: circuit open after repeated failures") from exc
        except _Transient as exc:
            raise ServingUnavailable(f"{path}: {exc}") from exc

    async def _with_retries(self, method: str, path: str, body: Any) -> dict[str, Any]:
        retrying = AsyncRetrying(stop=stop_after_attempt(self._retries + 1),
                                 wait=wait_exponential(multiplier=0.1, max=1.0),
                                 retry=retry_if_exception_type(_Transient), reraise=True)
        async for attempt in retrying:
            with attempt:
                return await self._once(method, path, body)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def _once(self, method: str, path: str, body: Any) -> dict[str, Any]:
        try:
            response = await self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise _Transient(f"HTTP {response.status_code}: {response.text[:300]}")
        if response.status_code >= 400:
            raise ServingRequestError(f"{path}: HTTP {response.status_code}: "
                                      f"{response.text[:500]}")
        answer: dict[str, Any] = response.json()
        return answer
