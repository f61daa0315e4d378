"""The alphaloop BentoML service: every task's model from the registry, over HTTP.

Thin wiring: the logic lives in ``alphaloop.serving``. The public routes are a FastAPI app
mounted on the BentoML service (``/predict``, ``/sentiment``, ``/regime``, ``/models``; their
OpenAPI document is ``/openapi.json``), so status codes, error bodies and the bearer-token
scheme are exactly what the document says. Scoring goes through two batchable BentoML APIs
(``/score_rows``, ``/score_texts``) that the routes call in-process, so BentoML's adaptive
batching merges concurrent requests; they take only ids of requests held by this process.

Run it with ``alphaloop serve`` (or ``bentoml serve serving.service:AlphaloopService`` in the
project root, or from the Bento). Configuration: the ``serving:`` section of the params file
(``ALPHALOOP_PARAMS``, default ``params.yaml``), values set by ``alphaloop serve`` flags
(``ALPHALOOP_SERVING``, JSON), and ``ALPHALOOP_*`` settings (tracking URI, API token).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import anyio
import bentoml
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from alphaloop.config import Params, ServingParams, Settings, load_params
from alphaloop.serving import answers, schemas
from alphaloop.serving.answers import RowsJob, ServingError, TextsJob

# For the libraries this process imports later (BentoML's own switch, BENTOML_DO_NOT_TRACK,
# must be set before `bentoml serve` starts: `alphaloop serve` and the Bento set it).
LATE_OFFLINE_ENV = {"DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true",
                    "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
PARAMS_ENV = "ALPHALOOP_PARAMS"
OVERRIDES_ENV = "ALPHALOOP_SERVING"
log = logging.getLogger("alphaloop.serving")


def serving_params(environ: dict[str, str] | os._Environ[str] = os.environ) -> Params:
    """params.yaml (``ALPHALOOP_PARAMS``) with the ``alphaloop serve`` overrides applied."""
    path = Path(environ.get(PARAMS_ENV, "params.yaml"))
    params = load_params(path) if path.exists() else Params()
    overrides = json.loads(environ.get(OVERRIDES_ENV) or "{}")
    serving = ServingParams.model_validate({**params.serving.model_dump(), **overrides})
    return params.model_copy(update={"serving": serving})


# The decorators below need the batching settings, so the params are read on import.
PARAMS = serving_params()
SERVING = PARAMS.serving
BEARER = HTTPBearer(auto_error=False, description="ALPHALOOP_API_TOKEN, when the server sets it")
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": schemas.ErrorBody, "description": text} for status, text in (
        (400, "The body is not JSON"),
        (401, "Missing or wrong bearer token"),
        (404, "No such task or model"),
        (409, "Several tasks match: give horizon or model"),
        (422, "Invalid request: the field is named"),
        (500, "The model failed on valid input"),
        (503, "The task serves no model (the reason is given)"))}
OUTCOMES = {400: "invalid", 401: "unauthorized", 404: "not_found", 409: "ambiguous", 422: "invalid",
            500: "error", 503: "unavailable"}

api = FastAPI(
    title="alphaloop serving", version="1", openapi_url="/openapi.json", docs_url=None,
    redoc_url=None,
    description="Direction, regime and sentiment models of each task, served from the MLflow "
                "registry. Every answer names the registered model, version and alias.")


def _error(status: int, message: str, field: str | None,
           detail: list[schemas.ErrorItem] | None = None) -> JSONResponse:
    body = schemas.ErrorBody(error=message, field=field,
                             detail=detail or [schemas.ErrorItem(field=field or "",
                                                                 message=message)])
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _endpoint(request: Request) -> str:
    return request.url.path.strip("/") or "root"


def _count(request: Request, outcome: str) -> None:
    service = bentoml.get_current_service()
    if service is not None:
        service.metrics.request(_endpoint(request), outcome)


@api.exception_handler(ServingError)
async def _serving_error(request: Request, exc: ServingError) -> JSONResponse:
    _count(request, OUTCOMES.get(exc.status, "error"))
    return _error(exc.status, exc.message, exc.field)


@api.exception_handler(Exception)
async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s failed", request.url.path)
    _count(request, "error")
    return _error(500, f"internal error ({type(exc).__name__}); see the server log", None)


@api.exception_handler(HTTPException)
async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    # FastAPI's own refusals (unparseable body, wrong method) in the same error body.
    _count(request, OUTCOMES.get(exc.status_code, "error"))
    response = _error(exc.status_code, str(exc.detail), "body" if exc.status_code == 400 else None)
    response.headers.update(exc.headers or {})
    return response


def require_token(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                         Depends(BEARER)] = None) -> None:
    """401 unless the bearer token matches ALPHALOOP_API_TOKEN (checked before the body)."""
    service = bentoml.get_current_service()
    token = getattr(service, "token", None)
    if token is None:
        return
    given = credentials.credentials if credentials is not None else ""
    if not secrets.compare_digest(given.encode(), token.get_secret_value().encode()):
        raise ServingError(401, "missing or wrong bearer token (Authorization: Bearer ...)",
                           "Authorization")


AUTH = [Depends(require_token)]


@api.exception_handler(RequestValidationError)
async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    _count(request, "invalid")
    items = [schemas.ErrorItem(field=".".join(str(p) for p in err["loc"][1:]) or "body",
                               message=str(err["msg"])) for err in exc.errors()]
    first = items[0] if items else schemas.ErrorItem(field="body", message="invalid request")
    return _error(422, f"{first.field}: {first.message}", first.field, items)


def _setup_logging() -> None:
    # BentoML's handlers print what propagates to the root logger; ours only sets the level.
    logging.getLogger("alphaloop").setLevel(os.environ.get("ALPHALOOP_LOG_LEVEL", "INFO").upper())


# runner_connection: BentoML renews the in-process session of the self-calls (score_rows,
# score_texts) every 100 requests by closing it under the requests still using it; under
# concurrent load those failed ("Cannot write to closing transport"), so it is never renewed.
@bentoml.service(name="alphaloop", workers=1, traffic={"timeout": 60},
                 http={"host": SERVING.host, "port": SERVING.port},
                 runner_connection={"max_requests": 2**62, "max_age": 1e12},
                 logging={"access": {"enabled": SERVING.access_log}})
@bentoml.asgi_app(api, path="/")
class AlphaloopService:
    """Serves ``models:/<task>@<alias>`` for every task and follows the registry."""

    def __init__(self) -> None:
        import mlflow

        from alphaloop.registry.lineage import redact
        from alphaloop.registry.store import default_tracking_uri
        from alphaloop.serving.loaders import LoadOptions, load_version
        from alphaloop.serving.pool import ModelPool, Poller
        from serving.metrics import ServingMetrics

        for key, value in LATE_OFFLINE_ENV.items():
            os.environ.setdefault(key, value)
        # A registry that is down must fail a poll quickly, not retry for minutes.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(SERVING.registry_timeout_s)))
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        _setup_logging()
        settings = Settings()
        self.token = settings.api_token  # SecretStr: never logged
        uri = settings.mlflow_tracking_uri or default_tracking_uri(Path.cwd())
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        self.tracking_uri = redact(uri)
        self.metrics = ServingMetrics()
        self._jobs: dict[str, Any] = {}
        options = LoadOptions(onnx=SERVING.onnx, sentiment=PARAMS.sentiment)

        def load(client: Any, name: str, version: str, task: Any, alias: str) -> Any:
            return load_version(client, name, version, task, alias, options)

        self.pool = ModelPool(lambda: mlflow.MlflowClient(uri, uri), load, SERVING.alias,
                              SERVING.shadow_alias, SERVING.stale_after_s, self.metrics)
        log.info("serving @%s from %s (poll every %.3g s, batching %s, auth %s)",
                 SERVING.alias, self.tracking_uri, SERVING.poll_interval_s,
                 "on" if SERVING.batching else "off", "on" if self.token else "off")
        self.pool.refresh()  # ready means: the first poll is done
        self._poller = Poller(self.pool, SERVING.poll_interval_s)
        self._poller.start()

    @bentoml.on_shutdown
    def _stop_polling(self) -> None:
        self._poller.stop()

    # --- batching: in-process jobs behind BentoML's adaptive batching ---------------------

    @bentoml.api(batchable=True, max_batch_size=SERVING.max_batch_size,
                 max_latency_ms=SERVING.max_latency_ms)
    def score_rows(self, tickets: list[str]) -> list[str]:
        """Internal: scores /predict requests in flight in this process, by ticket."""
        return self._run_tickets(tickets, answers.score_rows)

    @bentoml.api(batchable=True, max_batch_size=SERVING.max_batch_size,
                 max_latency_ms=SERVING.max_latency_ms)
    def score_texts(self, tickets: list[str]) -> list[str]:
        """Internal: scores /sentiment requests in flight in this process, by ticket."""
        return self._run_tickets(tickets, answers.score_texts)

    def _run_tickets(self, tickets: list[str], scorer: Callable[[Sequence[Any]], None]
                     ) -> list[str]:
        jobs = [self._jobs.get(t) for t in tickets]  # unknown tickets: not ours, not scored
        scorer([job for job in jobs if job is not None])
        return ["scored" if job is not None else "unknown ticket" for job in jobs]

    async def _score(self, jobs: list[Any], batched: str,
                     scorer: Callable[[Sequence[Any]], None]) -> None:
        if not SERVING.batching:
            await anyio.to_thread.run_sync(scorer, jobs)
            return
        tickets = [secrets.token_urlsafe(16) for _ in jobs]
        self._jobs.update(zip(tickets, jobs, strict=True))
        try:
            await getattr(self.to_async, batched)(tickets)  # type: ignore[attr-defined]
        except Exception as exc:  # e.g. BentoML's "process is overloaded" (max_latency_ms)
            log.warning("batched scoring failed: %s: %s", type(exc).__name__, exc)
            raise ServingError(503, f"the batcher did not take the request ({exc}); retry",
                               None) from exc
        finally:
            for ticket in tickets:
                self._jobs.pop(ticket, None)

    # --- public routes --------------------------------------------------------------------

    @api.post("/predict", response_model=schemas.PredictAnswer, responses=ERRORS,
              dependencies=AUTH, tags=["models"])
    async def predict(self, request: Request,
                      body: schemas.PredictRequest) -> schemas.PredictAnswer:
        """P(up), direction and confidence for feature rows, or for the newest of raw bars."""
        slot = answers.find_slot(self.pool.slots(), "ensemble", body, body.model)
        version = answers.served_of(slot)
        prepared = await anyio.to_thread.run_sync(answers.prepare_predict, version, body) \
            if body.bars is not None else answers.prepare_predict(version, body)
        jobs = [RowsJob(version.model, prepared.matrix)]  # type: ignore[arg-type]
        if slot.shadow is not None:
            jobs.append(RowsJob(slot.shadow.model, prepared.matrix))  # type: ignore[arg-type]
        await self._score(jobs, "score_rows", answers.score_rows)
        main = answers.job_result(jobs[0])
        answer = schemas.PredictAnswer(
            **answers.answer_fields(version), task=answers.task_info(version.task),
            predictions=answers.directions(main.p_up, prepared.timestamps),
            features=prepared.echoed or None)
        if slot.shadow is not None and jobs[1].p_up is not None:
            shadow = schemas.ShadowPredict(**answers.answer_fields(slot.shadow),
                                           predictions=answers.directions(jobs[1].p_up,
                                                                          prepared.timestamps))
            log.info("shadow %s: @%s v%s p_up %s vs @%s v%s p_up %s", slot.name,
                     version.alias, version.version, _short(main.p_up), slot.shadow.alias,
                     slot.shadow.version, _short(jobs[1].p_up))
            answer.shadow = shadow if body.shadow else None
        _count(request, "ok")
        return answer

    @api.post("/regime", response_model=schemas.RegimeAnswer, responses=ERRORS,
              dependencies=AUTH, tags=["models"])
    async def regime(self, request: Request, body: schemas.RegimeRequest) -> schemas.RegimeAnswer:
        """Forecast return and volatility over the model's horizon, and the regime label."""
        slot = answers.find_slot(self.pool.slots(), "regime", body, body.model)
        answer = answers.regime_answer(answers.served_of(slot), body)
        _count(request, "ok")
        return answer

    @api.post("/sentiment", response_model=schemas.SentimentAnswer, responses=ERRORS,
              dependencies=AUTH, tags=["models"])
    async def sentiment(self, request: Request,
                        body: schemas.SentimentRequest) -> schemas.SentimentAnswer:
        """fin_sent_logit, social_sent_logit and catalyst tags for headlines and tweets."""
        slot = answers.find_slot(self.pool.slots(), "sentiment", None, body.model)
        version = answers.served_of(slot)
        job = TextsJob(version.model, body.headlines, body.tweets)  # type: ignore[arg-type]
        await self._score([job], "score_texts", answers.score_texts)
        answer = answers.sentiment_answer(version, answers.job_result(job))
        _count(request, "ok")
        return answer

    @api.get("/models", response_model=schemas.ModelsAnswer, responses={401: ERRORS[401]},
             dependencies=AUTH, tags=["registry"])
    async def models(self, request: Request) -> schemas.ModelsAnswer:
        """Per task: what is served, which version and alias, since when, and if stale."""
        health = self.pool.health()
        registry = schemas.RegistryState(
            tracking_uri=self.tracking_uri, alias=SERVING.alias,
            shadow_alias=SERVING.shadow_alias, poll_interval_s=SERVING.poll_interval_s,
            reachable=health.reachable, stale=health.stale,
            last_success=health.last_success, last_error=health.last_error)
        _count(request, "ok")
        return answers.models_answer(self.pool.slots(), registry)


def _short(values: Any) -> str:
    return ", ".join(f"{float(v):.4f}" for v in list(values)[:5])
