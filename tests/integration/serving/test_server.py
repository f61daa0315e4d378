"""`alphaloop serve` against a real `mlflow server`: every endpoint, errors, auth, hot swap,
registry outage. Answers are checked against the registered pyfuncs run in this process."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from alphaloop.config import Params
from alphaloop.stages.data import features as features_stage
from tests.integration.serving.conftest import POLL_S, STALE_S, MlflowServer, Server
from tests.integration.serving.registry_setup import Registry

pytestmark = pytest.mark.integration


def pyfunc(registry: Registry, name: str, version: str) -> Any:
    import mlflow

    mlflow.set_tracking_uri(registry.tracking_uri)
    return mlflow.pyfunc.load_model(f"models:/{name}/{version}")


def bar_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    bars = frame[["timestamp", "open", "high", "low", "close", "volume"]].copy()
    bars["timestamp"] = bars["timestamp"].map(lambda t: t.isoformat())
    return bars.to_dict("records")


def rows(task: Any, model: Any, n: int = 5) -> tuple[pd.DataFrame, list[dict[str, float]]]:
    columns = model.unwrap_python_model().predictor.feature_columns
    frame = task.features.tail(n)
    return frame, frame[columns].to_dict("records")


def test_models_lists_every_task(server: Server, registry: Registry) -> None:
    answer = server.client().get("/models").json()
    assert answer["registry"]["reachable"] and not answer["registry"]["stale"]
    by_name = {m["model"]: m for m in answer["models"]}
    for symbol in ("BTC-USD", "TEST2"):
        task = registry.tasks[symbol]
        entry = by_name[task.name]
        assert entry["status"] == "serving" and entry["serving"]["alias"] == "champion"
        assert entry["registry_version"] == entry["serving"]["version"] == task.champion
        assert entry["serving"]["runtime"] == "onnxruntime"
        assert entry["inputs"]["bars_needed"] > 1
    assert by_name[registry.tasks["TEST2"].name]["inputs"]["bars_needed"] == 598
    assert by_name[registry.regime]["status"] == by_name[registry.sentiment]["status"] \
        == "serving"
    nochamp = by_name[registry.tasks["NOCHAMP"].name]
    assert nochamp["status"] == "no_model" and "no 'champion' alias" in nochamp["reason"]


@pytest.mark.parametrize("symbol", ["BTC-USD", "TEST2"])
def test_predict_rows_match_in_process(server: Server, registry: Registry, symbol: str) -> None:
    task = registry.tasks[symbol]
    model = pyfunc(registry, task.name, str(task.champion))
    frame, records = rows(task, model)
    expected = model.predict(frame)["p_up"].to_numpy()
    response = server.client().post("/predict", json={
        "symbol": symbol, "timeframe": task.bars["timeframe"].iloc[0], "features": records})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["model"], answer["version"], answer["alias"]) == \
        (task.name, task.champion, "champion")
    got = np.array([p["p_up"] for p in answer["predictions"]])
    np.testing.assert_allclose(got, expected, atol=1e-5)  # ONNX Runtime vs native members
    assert [p["direction"] for p in answer["predictions"]] == \
        ["up" if p >= 0.5 else "down" for p in got]


def test_raw_bars_give_the_offline_features(server: Server, registry: Registry) -> None:
    task = registry.tasks["TEST2"]  # the default feature plan: 598 bars of look-back
    model = pyfunc(registry, task.name, str(task.champion))
    window = task.bars.tail(700).reset_index(drop=True)
    offline = features_stage(Params().features, window, None).frame  # the pipeline's stage
    columns = model.unwrap_python_model().predictor.feature_columns
    response = server.client().post("/predict", json={
        "symbol": "TEST2", "timeframe": "1h", "bars": bar_records(window),
        "include_features": True})
    assert response.status_code == 200, response.text
    answer = response.json()
    served = answer["features"][0]
    assert list(served) == columns
    np.testing.assert_allclose([served[c] for c in columns],
                               offline[columns].iloc[-1].to_numpy(), rtol=1e-12, atol=0)
    assert pd.Timestamp(answer["predictions"][0]["timestamp"]) == window["timestamp"].iloc[-1]
    expected = model.predict(offline.tail(1))["p_up"].iloc[0]
    assert answer["predictions"][0]["p_up"] == pytest.approx(expected, abs=1e-5)


def test_regime_matches_in_process(server: Server, registry: Registry) -> None:
    closes = registry.regime_bars["close"].tail(50).tolist()
    model = pyfunc(registry, registry.regime, "1")
    expected = model.predict(pd.DataFrame({"close": closes[-33:]})).iloc[0]
    response = server.client().post("/regime", json={"symbol": "BTC-USD", "timeframe": "15m",
                                                     "closes": closes})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["model"], answer["version"], answer["alias"]) == \
        (registry.regime, "1", "champion")
    assert answer["forecast_return"] == pytest.approx(expected["forecast_return"], abs=1e-7)
    assert answer["forecast_volatility"] == pytest.approx(expected["forecast_volatility"],
                                                          abs=1e-7)
    assert answer["regime"] == expected["regime"] and answer["closes_used"] == 33


def test_sentiment_matches_in_process(server: Server, registry: Registry) -> None:
    from alphaloop.models.sentiment import CatalystTagger

    headlines = ["Exchange hacked, $200M in bitcoin stolen", "Fed raises interest rates again",
                 "Bitcoin ETF inflows hit a record"]
    tweets = ["to the moon, best week ever", "selling everything, this is a crash"]
    model = pyfunc(registry, registry.sentiment, "1")
    # The reference API scores headlines and tweets as separate batches; so does the server.
    heads = model.predict(pd.DataFrame({"text": headlines}))["logit"].to_numpy()
    social = model.predict(pd.DataFrame({"text": tweets}))["logit"].to_numpy()
    response = server.client().post("/sentiment", json={"headlines": headlines,
                                                        "tweets": tweets})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["model"], answer["version"]) == (registry.sentiment, "1")
    assert answer["fin_sent_logit"] == pytest.approx(heads.mean(), abs=1e-6)
    assert answer["social_sent_logit"] == pytest.approx(social.mean(), abs=1e-6)
    assert [h["logit"] for h in answer["headlines"]] == pytest.approx(heads.tolist(), abs=1e-6)
    cfg = Params().sentiment
    tagger = CatalystTagger.from_encoder(model.unwrap_python_model().model.encoder,
                                         cfg.catalysts, cfg.catalyst_threshold)
    expected = tagger.aggregate(headlines)
    assert answer["catalysts"] == pytest.approx(expected, abs=1e-6)
    assert [sorted(h["tags"]) for h in answer["headlines"]] == \
        [sorted(r.tags) for r in tagger.tag(headlines)]
    assert "hack-exploit" in answer["headlines"][0]["tags"]


BTC = {"symbol": "BTC-USD", "timeframe": "15m"}


def _bad_payloads(registry: Registry) -> list[tuple[str, Any, int, str]]:
    task = registry.tasks["BTC-USD"]
    model = pyfunc(registry, task.name, str(task.champion))
    _, records = rows(task, model, 1)
    row = records[0]
    first = next(iter(row))
    bars = bar_records(task.bars.tail(100))
    return [
        ("/predict", {"timeframe": "15m", "features": [row]}, 422, "symbol"),
        ("/predict", {**BTC, "features": [row], "bars": bars}, 422, "body"),
        ("/predict", {**BTC, "features": "abc"}, 422, "features"),
        ("/predict", {**BTC, "features": [{**row, first: "x"}]}, 422, f"features.0.{first}"),
        ("/predict", {**BTC, "features": [row], "colour": 1}, 422, "colour"),
        ("/predict", {**BTC, "timeframe": "15 minutes", "features": [row]}, 422, "timeframe"),
        ("/predict", {**BTC, "symbol": "DOGE", "features": [row]}, 404, "symbol"),
        ("/predict", {**BTC, "model": "ensemble.nope", "features": [row]}, 404, "model"),
        ("/predict", {**BTC, "features": [{k: v for k, v in row.items() if k != first}]}, 422,
         f"features.0.{first}"),
        ("/predict", {**BTC, "features": [{**row, "bogus": 1.0}]}, 422, "features.0.bogus"),
        ("/predict", {**BTC, "features": [{**row, first: 1e300}]}, 422, f"features.0.{first}"),
        ("/predict", {**BTC, "features": [row] * 257}, 422, "features"),
        ("/predict", {**BTC, "bars": bars[:10]}, 422, "bars"),
        ("/predict", {**BTC, "bars": bars[:50] + bars[49:]}, 422, "bars.50.timestamp"),
        ("/predict", {**BTC, "bars": [{**bars[0], "high": bars[0]["low"] / 2}, *bars[1:]]},
         422, "bars.0"),
        ("/predict", {**BTC, "bars": bar_records(registry.tasks["TEST2"].bars.tail(100))},
         422, "bars"),
        ("/regime", {**BTC, "closes": [100.0] * 10}, 422, "closes"),
        ("/regime", {**BTC, "closes": [100.0, -1.0, 100.0]}, 422, "closes.1"),
        ("/sentiment", {"headlines": ["x"] * 257}, 422, "headlines"),
        ("/sentiment", {"headlines": [""]}, 422, "headlines.0"),
        ("/sentiment", {"headlines": [3]}, 422, "headlines.0"),
    ]


def test_bad_payloads_get_4xx_naming_the_field(server: Server, registry: Registry) -> None:
    client = server.client()
    for path, payload, status, field in _bad_payloads(registry):
        response = client.post(path, json=payload)
        assert response.status_code == status, (path, field, response.text)
        body = response.json()
        assert body["field"] == field, (path, body)
        assert body["error"]


@pytest.mark.parametrize("text", [
    '{"symbol": "BTC-USD", "timeframe": "15m", "features": [{"a": NaN}]}',
    '{"symbol": "BTC-USD", "timeframe": "15m", "features": [{"a": Infinity}]}',
])
def test_non_finite_numbers_are_refused(server: Server, text: str) -> None:
    response = server.client().post("/predict", content=text,
                                    headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["field"] == "features.0.a"


def test_unparseable_body_is_400(server: Server) -> None:
    response = server.client().post("/predict", content=b"\x93{not json",
                                    headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["field"] == "body"


def test_token_is_required(server: Server, registry: Registry) -> None:
    for token in (None, "wrong-token"):
        client = server.client(token)
        for method, path, payload in (("GET", "/models", None),
                                      ("POST", "/predict", {**BTC, "features": "bad"}),
                                      ("POST", "/regime", {}), ("POST", "/sentiment", {})):
            response = client.request(method, path, json=payload)
            assert response.status_code == 401, (token, path, response.text)
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert response.json()["field"] == "Authorization"
    anonymous = server.client(None)
    assert anonymous.get("/readyz").status_code == 200  # probes stay open
    assert anonymous.get("/metrics").status_code == 200


def test_no_champion_is_503_with_the_reason(server: Server, registry: Registry) -> None:
    task = registry.tasks["NOCHAMP"]
    model = pyfunc(registry, task.name, str(task.challenger))
    _, records = rows(task, model, 1)
    response = server.client().post("/predict", json={"symbol": "NOCHAMP", "timeframe": "15m",
                                                      "features": records})
    assert response.status_code == 503
    assert "no 'champion' alias" in response.json()["error"]


def test_shadow_is_scored_and_returned_only_when_asked(server: Server,
                                                       registry: Registry) -> None:
    task = registry.tasks["BTC-USD"]
    model = pyfunc(registry, task.name, str(task.challenger))
    frame, records = rows(task, model, 2)
    body = {**BTC, "features": records}
    plain = server.client().post("/predict", json=body).json()
    assert plain["shadow"] is None
    asked = server.client().post("/predict", json={**body, "shadow": True}).json()
    shadow = asked["shadow"]
    assert (shadow["version"], shadow["alias"]) == (task.challenger, "challenger")
    np.testing.assert_allclose([p["p_up"] for p in shadow["predictions"]],
                               model.predict(frame)["p_up"].to_numpy(), atol=1e-5)
    assert f"shadow {task.name}" in server.log.read_text()


def test_metrics_show_versions_and_outcomes(server: Server, registry: Registry) -> None:
    client = server.client()
    client.post("/predict", json={**BTC, "features": "bad"})
    server.client(None).get("/models")
    text = client.get("/metrics").text
    name = registry.tasks["BTC-USD"].name
    assert f'alphaloop_served_version{{alias="champion",kind="ensemble",model="{name}",' \
           f'role="served"}} 1.0' in text
    for outcome in ("ok", "invalid", "unauthorized"):
        assert f'outcome="{outcome}"' in text
    assert 'alphaloop_registry_polls_total{outcome="ok"}' in text


def test_promotion_swaps_without_a_failed_request(server: Server, registry: Registry) -> None:
    import mlflow

    task = registry.tasks["BTC-USD"]
    model = pyfunc(registry, task.name, str(task.champion))
    _, records = rows(task, model, 1)
    seen: list[tuple[float, int, str | None]] = []
    done = threading.Event()

    def send() -> None:
        with server.client() as client:
            while not done.is_set():
                response = client.post("/predict", json={**BTC, "features": records})
                version = response.json().get("version") if response.status_code == 200 \
                    else None
                seen.append((time.monotonic(), response.status_code, version))

    sender = threading.Thread(target=send)
    sender.start()
    try:
        time.sleep(1.0)
        client = mlflow.MlflowClient(registry.tracking_uri)
        moved = time.monotonic()  # as a person would in the MLflow UI
        client.set_registered_model_alias(task.name, "champion", str(task.challenger))
        deadline = moved + POLL_S + 20
        while time.monotonic() < deadline and not any(v == task.challenger for *_, v in seen):
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        done.set()
        sender.join(timeout=30)
    assert seen and all(status == 200 for _, status, _ in seen), \
        [s for s in seen if s[1] != 200][:5]
    first_new = next(t for t, _, v in seen if v == task.challenger)
    assert all(v == task.champion for t, _, v in seen if t < moved)
    assert all(v == task.challenger for t, _, v in seen if t > first_new)
    delay = first_new - moved
    print(f"{len(seen)} requests, all 200; v{task.challenger} answered {delay:.2f} s after "
          f"the alias moved (poll interval {POLL_S} s)")
    assert delay < POLL_S + 10  # the poll plus loading the version (download, ONNX export)


def test_a_broken_version_never_replaces_the_served_one(server: Server,
                                                         registry: Registry) -> None:
    import mlflow
    from mlflow.utils.file_utils import local_file_uri_to_path

    from tests.integration.serving.registry_setup import SMALL_FEATURES, params
    from tests.integration.serving.registry_setup import register_ensemble as register

    task = registry.tasks["BTC-USD"]
    client = mlflow.MlflowClient(registry.tracking_uri)
    before = client.get_model_version_by_alias(task.name, "champion").version
    broken, _ = register(registry.root, registry.config, params(SMALL_FEATURES, floor=0.99),
                         task.bars, "ws-test", seed=11)
    location = client.get_model_version_download_uri(task.name, broken.version)
    (Path(local_file_uri_to_path(location)) / "MLmodel").unlink()  # the version cannot load
    client.set_registered_model_alias(task.name, "champion", broken.version)
    try:
        deadline = time.monotonic() + 30
        entry: dict[str, Any] = {}
        while time.monotonic() < deadline:
            models = server.client().get("/models").json()["models"]
            entry = next(m for m in models if m["model"] == task.name)
            if entry["registry_version"] == broken.version:
                break
            time.sleep(0.2)
        assert entry["registry_version"] == broken.version
        assert entry["serving"]["version"] == str(before)  # still the working one
        assert f"load failed for v{broken.version}" in entry["reason"]
        model = pyfunc(registry, task.name, str(before))
        _, records = rows(task, model, 1)
        answer = server.client().post("/predict", json={**BTC, "features": records})
        assert answer.status_code == 200 and answer.json()["version"] == str(before)
        text = server.client().get("/metrics").text
        assert f'alphaloop_model_loads_total{{model="{task.name}",outcome="failed"' in text
    finally:
        client.set_registered_model_alias(task.name, "champion", str(before))


def test_registry_outage_keeps_serving_and_says_stale(server: Server, registry: Registry,
                                                     mlflow_server: MlflowServer) -> None:
    client = server.client()
    task = registry.tasks["TEST2"]
    model = pyfunc(registry, task.name, str(task.champion))
    _, records = rows(task, model, 1)
    body = {"symbol": "TEST2", "timeframe": "1h", "features": records}
    mlflow_server.stop()
    try:
        deadline = time.monotonic() + STALE_S + POLL_S + 30
        state = client.get("/models").json()
        while not state["registry"]["stale"] and time.monotonic() < deadline:
            time.sleep(0.2)
            state = client.get("/models").json()
        assert not state["registry"]["reachable"] and state["registry"]["stale"]
        assert state["registry"]["last_error"]
        entry = next(m for m in state["models"] if m["model"] == task.name)
        assert entry["status"] == "serving" and entry["stale"]
        response = client.post("/predict", json=body)
        assert response.status_code == 200 and response.json()["version"] == task.champion
        assert "registry unreachable" in server.log.read_text()
    finally:
        mlflow_server.start()
    deadline = time.monotonic() + 30
    while client.get("/models").json()["registry"]["stale"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.get("/models").json()["registry"]["reachable"]
