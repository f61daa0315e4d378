"""The retrain flow on a real Prefect API and a real sqlite MLflow store, on bundled BTC bars."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from alphaloop.registry import store
from alphaloop.registry.lifecycle import RegistryConfig
from alphaloop.registry.manual import model_states
from tests.conftest import make_raw_bars
from tests.integration.flows.conftest import write_project

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _api(prefect_api: None) -> None:
    return None


def _champion(root: Path) -> tuple[str, str | None]:
    states = [s for s in model_states(RegistryConfig(root=root)) if s.task.kind == "ensemble"]
    assert len(states) == 1
    return states[0].name, states[0].aliases["champion"].version


def _run(root: Path):  # type: ignore[no-untyped-def]
    from flows.retrain import retrain

    return retrain("ensemble", "params.yaml", str(root), return_state=True)


def test_first_run_promoted_second_identical_run_keeps_champion(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client

    root = write_project(tmp_path / "p")
    state = _run(root)
    assert state.is_completed(), state.message
    report = state.result()
    reg = report["registration"]
    assert reg["promoted"] and reg["champion_version"] == reg["version"]
    assert report["window"]["bars"] <= 30 * 96 + 1  # the newest 30 days only
    name, champion = _champion(root)
    assert champion == reg["version"] and name.startswith("ensemble.BTC-USD.15m.h4.")

    # Same data, same params: the same model scores the same; a tie never replaces anything.
    again = _run(root).result()["registration"]
    assert not again["promoted"] and again["champion_version"] == reg["version"]
    assert again["scores"]["champion"]["accuracy"] == again["scores"]["ensemble"]["accuracy"]

    import asyncio

    async def artifacts():  # type: ignore[no-untyped-def]
        async with get_client() as client:
            return await client.read_artifacts()

    markdown = [a for a in asyncio.run(artifacts()) if a.key == "retrain-ensemble"]
    assert markdown and "Holdout" in markdown[0].data and "Decision" in markdown[0].data


def _bad_file(path: Path) -> Path:
    bars = make_raw_bars(3000)
    bars.loc[::2, "high"] = bars.loc[::2, "low"] / 2  # half the bars have high < low
    bars.drop(columns=["utc_offset", "symbol", "timeframe"]).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("where", ["ingest", "validation", "training", "registry"])
def test_injected_failure_leaves_the_champion_and_fails_the_run(
        tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_project(tmp_path / "p")
    first = _run(root)
    assert first.is_completed(), first.message
    name, champion = _champion(root)
    failures = {
        "ingest": ({"ingest": {"source": {"kind": "file", "path": str(tmp_path / "gone.csv")}}},
                   "gone.csv"),
        "validation": ({"ingest": {"source": {"kind": "file", "path": str(_bad_file(
            tmp_path / "bad.csv")), "symbol": "BTC-USD", "timeframe": "15m"}}},
                       "DataValidationError: rule 'high_ge_open_close'"),
        "training": ({"train": {"members": {"lightgbm": {"num_leaves": 1}}}}, "num_leaves"),
        "registry": ({}, "lock"),
    }
    sections, reason = failures[where]
    write_project(root, **sections)
    if where == "registry":
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("")  # the lock folder is a file: the registry step cannot lock
        monkeypatch.setenv("ALPHALOOP_REGISTRY_LOCK_DIR", str(blocker / "locks"))
    state = _run(root)
    assert state.is_failed()
    assert reason.lower() in str(state.message).lower() or reason.lower() in \
        repr(state.result(raise_on_failure=False)).lower()
    assert _champion(root) == (name, champion)


def test_drift_check_retrains_early_when_the_champion_is_too_old(tmp_path: Path) -> None:
    from flows.retrain import drift_check

    root = write_project(tmp_path / "p")
    assert _run(root).is_completed()
    quiet = drift_check("ensemble", "params.yaml", str(root))
    assert quiet["retrained"] is None and quiet["drift"]["early_retrain"] == []
    # Finite and within what PSI can reach with its 1e-4 share floor (all mass moved from one
    # bin to another: 2 * ln(1e4) = 18.4). On this 30-day window adx_28 reaches about 5: a
    # trend indicator over 171 holdout bars against ~1,000 training rows (two gap-free
    # segments since features restart after each gap).
    assert 0 <= quiet["drift"]["max_psi"] < 2 * math.log(1e4)
    write_project(root, retrain={"drift": {"max_champion_age_days": 1e-9}})
    triggered = drift_check("ensemble", "params.yaml", str(root))
    assert any("days old" in r for r in triggered["drift"]["early_retrain"])
    assert triggered["retrained"]["registration"]["version"] == "2"


def test_flow_and_stage_functions_agree(tmp_path: Path) -> None:
    """The flow's stages are the DVC stages' functions: same window, same model, same scores."""
    from alphaloop.config import load_params
    from alphaloop.stages import data, ensemble
    from alphaloop.workspace import Workspace

    root = write_project(tmp_path / "p", retrain={"training_window_days": 20})
    flow_report = _run(root).result()["registration"]
    params = load_params(root / "params.yaml")
    ws = Workspace(tmp_path / "direct")
    raw = data.ingest(params.ingest, ws, None, 20).frame
    bars, _ = data.validate(params.validate_, raw, "direct", ws, False)
    feats = data.features(params.features, bars, ws).frame
    direct = ensemble.train(params, feats, ws)
    assert direct.metrics["holdout"]["ensemble"]["accuracy"] == pytest.approx(
        flow_report["scores"]["ensemble"]["accuracy"], abs=1e-6)
    assert pd.Timestamp(flow_report["holdout"].split(" → ")[0]) == \
        direct.split.holdout["timestamp"].iloc[0]
    client = RegistryConfig(root=root).connect()
    version = store.alias_version(client, flow_report["model"], "challenger")
    assert version.tags["train_end"] == str(direct.split.train_end)
