"""Request validation and task resolution of the serving API (no model, no server)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from alphaloop.registry.task import Task
from alphaloop.serving import schemas
from alphaloop.serving.answers import ServingError, find_slot, rows_matrix, served_of
from alphaloop.serving.pool import ModelPool, TaskSlot

BTC = {"symbol": "BTC-USD", "timeframe": "15m"}
BAR = {"timestamp": "2024-01-01T00:00:00Z", "open": 10.0, "high": 11.0, "low": 9.0,
       "close": 10.5, "volume": 3.0}


def _loc(exc: ValidationError) -> list[str]:
    return [".".join(str(p) for p in err["loc"]) for err in exc.errors()]


@pytest.mark.parametrize(("payload", "where"), [
    ({**BTC}, ""),  # neither features nor bars
    ({**BTC, "features": [{"a": 1.0}], "bars": [BAR, BAR]}, ""),
    ({**BTC, "features": [{"a": float("nan")}]}, "features.0.a"),
    ({**BTC, "features": [{"a": float("inf")}]}, "features.0.a"),
    ({**BTC, "features": []}, "features"),
    ({**BTC, "features": [{"a": 1.0}] * (schemas.MAX_ROWS + 1)}, "features"),
    ({**BTC, "bars": [{**BAR, "high": 9.5}, BAR]}, "bars.0"),
    ({**BTC, "bars": [{**BAR, "close": -1.0}, BAR]}, "bars.0.close"),
    ({**BTC, "timeframe": "fifteen", "features": [{"a": 1.0}]}, "timeframe"),
    ({**BTC, "features": [{"a": 1.0}], "extra": 1}, "extra"),
])
def test_predict_request_refuses_bad_input(payload: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as caught:
        schemas.PredictRequest.model_validate(payload)
    assert where in _loc(caught.value)


def test_schema_says_exactly_one_of_features_or_bars() -> None:
    schema = schemas.PredictRequest.model_json_schema()
    assert schema["oneOf"] == [{"required": ["features"]}, {"required": ["bars"]}]
    assert schemas.PredictRequest.model_validate({**BTC, "bars": [BAR, BAR]}).bars


def test_rows_matrix_names_missing_and_unknown_columns() -> None:
    columns = ["a", "b"]
    assert rows_matrix(columns, [{"b": 2.0, "a": 1.0}]).tolist() == [[1.0, 2.0]]
    with pytest.raises(ServingError) as missing:
        rows_matrix(columns, [{"a": 1.0, "b": 2.0}, {"a": 1.0}])
    assert (missing.value.status, missing.value.field) == (422, "features.1.b")
    with pytest.raises(ServingError) as unknown:
        rows_matrix(columns, [{"a": 1.0, "b": 2.0, "c": 3.0}])
    assert unknown.value.field == "features.0.c"
    with pytest.raises(ServingError, match="float32") as huge:
        rows_matrix(columns, [{"a": 1e300, "b": 2.0}])
    assert huge.value.field == "features.0.a"


def _slots(*tasks: Task) -> dict[str, TaskSlot]:
    return {t.registered_name: TaskSlot(t.registered_name, t, reason="no 'champion' alias")
            for t in tasks}


def test_find_slot_resolves_unknown_and_ambiguous_tasks() -> None:
    h4 = Task("ensemble", "BTC-USD", "15m", 4, "aaaa1111")
    h8 = Task("ensemble", "BTC-USD", "15m", 8, "bbbb2222")
    slots = _slots(h4, h8, Task("regime", "BTC-USD", "15m", 4, "cccc3333"))
    query = schemas.TaskQuery(**BTC)
    with pytest.raises(ServingError) as ambiguous:
        find_slot(slots, "ensemble", query, None)
    assert ambiguous.value.status == 409
    assert find_slot(slots, "ensemble", schemas.TaskQuery(**BTC, horizon=8), None).task == h8
    assert find_slot(slots, "ensemble", query, h4.registered_name).task == h4
    with pytest.raises(ServingError) as unknown:
        find_slot(slots, "ensemble", schemas.TaskQuery(symbol="ETH", timeframe="15m"), None)
    assert (unknown.value.status, unknown.value.field) == (404, "symbol")
    with pytest.raises(ServingError) as wrong_kind:
        find_slot(slots, "regime", None, h4.registered_name)
    assert wrong_kind.value.status == 404
    with pytest.raises(ServingError, match="no 'champion' alias") as none:
        served_of(slots[h4.registered_name])
    assert none.value.status == 503


def test_unreadable_registry_goes_stale_after_the_limit() -> None:
    now = [0.0]

    def unreachable() -> Any:
        raise ConnectionError("connection refused")

    pool = ModelPool(unreachable, lambda *a: None, "champion", stale_after_s=5.0,  # type: ignore[arg-type,return-value]
                     clock=lambda: now[0])
    pool.refresh()
    health = pool.health()
    assert not health.reachable and not health.stale
    assert "connection refused" in (health.last_error or "")
    now[0] = 6.0
    pool.refresh()
    assert pool.health().stale and pool.slots() == {}
