"""Save, load, ONNX parity and local pre-trained checkpoints."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alphaloop.models.regime import RegimeForecaster, RegimeReport
from alphaloop.models.regime.data import make_windows
from alphaloop.models.regime.state import FORMAT, ONNX_FILE, STATE_FILE
from tests.unit.models.regime.conftest import tiny_params

Fitted = tuple[RegimeForecaster, RegimeReport]
TOLERANCE = 1e-5


def _tails(prices: pd.Series, count: int = 20) -> list[pd.Series]:
    """Price histories ending at ``count`` different bars."""
    ends = np.linspace(40, len(prices), count, dtype=int)
    return [prices.iloc[:end] for end in ends]


def test_save_writes_checkpoint_state_and_onnx(saved_dir: Path) -> None:
    names = {p.name for p in saved_dir.iterdir()}
    assert {"config.json", "model.safetensors", STATE_FILE, ONNX_FILE} <= names
    state = json.loads((saved_dir / STATE_FILE).read_text())
    assert state["format"] == FORMAT and state["head"] == "regression"
    assert set(state["scaling"]) == {"input_mean", "input_std", "target_mean", "target_std"}
    assert state["params"]["horizon"] == 4 and state["high_vol_threshold"] > 0
    config = json.loads((saved_dir / "config.json").read_text())
    assert config["architectures"] == ["PatchTSTForRegression"]


def test_onnx_forecasts_match_torch(fitted: Fitted, saved_dir: Path,
                                    prices: pd.Series) -> None:
    native, _ = fitted
    runtime = RegimeForecaster.load(saved_dir, use_onnx=True)
    assert runtime.use_onnx
    for history in _tails(prices):
        torch_out = np.array(native.forecast_both(history))
        onnx_out = np.array(runtime.forecast_both(history))
        np.testing.assert_allclose(onnx_out, torch_out, rtol=0, atol=TOLERANCE)
    # A batch of every window: one ONNX run with a dynamic batch dimension.
    windows = make_windows(prices.to_numpy(), 32, 4).inputs
    np.testing.assert_allclose(runtime.forecast_windows(windows),
                               native.forecast_windows(windows), rtol=0, atol=TOLERANCE)


def test_load_restores_the_same_forecaster(fitted: Fitted, saved_dir: Path,
                                           prices: pd.Series) -> None:
    native, _ = fitted
    loaded = RegimeForecaster.load(saved_dir, use_onnx=False)
    assert loaded.high_vol_threshold == native.high_vol_threshold
    assert loaded.params.model_copy(update={"model_name": "patchtst"}) == native.params
    for history in _tails(prices, 5):
        assert loaded.forecast_both(history) == native.forecast_both(history)
    value, vol = loaded.forecast_both(prices)
    assert loaded.classify_regime(value, vol) == native.classify_regime(value, vol)


def test_local_checkpoint_path_as_model_name(fitted: Fitted, saved_dir: Path,
                                            prices: pd.Series) -> None:
    native, _ = fitted
    forecaster = RegimeForecaster(model_name=str(saved_dir), horizon=4, use_onnx=True)
    assert forecaster.is_fitted and forecaster.params.model_name == str(saved_dir)
    np.testing.assert_allclose(forecaster.forecast_both(prices),
                               native.forecast_both(prices), atol=TOLERANCE)
    with pytest.raises(ValueError, match="4 bars ahead, not 8"):
        RegimeForecaster(model_name=str(saved_dir), horizon=8)


def test_checkpoint_without_state_is_fine_tuned(saved_dir: Path, prices: pd.Series,
                                                tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(saved_dir / name, bare / name)
    # Settings the weights fix come from the checkpoint, not from the (default) params.
    forecaster = RegimeForecaster(model_name=str(bare), use_onnx=False,
                                  model_dir=tmp_path / "tuned")
    assert not forecaster.is_fitted
    assert (forecaster.params.context_length, forecaster.params.d_model) == (32, 16)
    report = forecaster.fit(prices)
    assert forecaster.is_fitted and np.isfinite(report.volatility_errors["model"]["rmse"])
    # fit() saved the fine-tuned model to model_dir.
    tuned = RegimeForecaster.load(tmp_path / "tuned", use_onnx=True)
    np.testing.assert_allclose(tuned.forecast_both(prices), forecaster.forecast_both(prices),
                               atol=TOLERANCE)


def test_missing_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        RegimeForecaster(model_name=str(missing))
    with pytest.raises(FileNotFoundError, match=re.escape("google/timesfm-1.0-200m")):
        RegimeForecaster(model_name="google/timesfm-1.0-200m", horizon=1, use_onnx=True)
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        RegimeForecaster.load(missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=re.escape(STATE_FILE)):
        RegimeForecaster.load(empty)
    with pytest.raises(FileNotFoundError, match=re.escape("config.json")):
        RegimeForecaster(model_name=str(empty))


def test_other_architectures_are_refused(tmp_path: Path) -> None:
    from transformers import BertConfig

    BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
               intermediate_size=8).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="bert"):
        RegimeForecaster(model_name=str(tmp_path))


def test_prediction_checkpoint_with_state(tmp_path: Path, prices: pd.Series) -> None:
    """A PatchTSTForPrediction checkpoint: forecasts from its predicted return path."""
    import torch
    from transformers import PatchTSTConfig, PatchTSTForPrediction

    torch.manual_seed(0)
    config = PatchTSTConfig(num_input_channels=1, context_length=32, patch_length=8,
                            patch_stride=8, d_model=16, num_hidden_layers=1,
                            num_attention_heads=2, ffn_dim=32, prediction_length=6)
    model = PatchTSTForPrediction(config).eval()
    model.save_pretrained(tmp_path)
    scaling = {"input_mean": 0.0, "input_std": 0.003, "target_mean": [0.0, 0.0],
               "target_std": [1.0, 1.0]}
    state = {"format": FORMAT, "format_version": 1, "scaling": scaling,
             "high_vol_threshold": 0.01,
             "params": tiny_params(horizon=4).model_dump(mode="json")}
    (tmp_path / STATE_FILE).write_text(json.dumps(state))

    native = RegimeForecaster(model_name=str(tmp_path), use_onnx=False)
    # No model.onnx beside it: the graph is exported (and checked) in memory.
    runtime = RegimeForecaster(model_name=str(tmp_path), use_onnx=True)
    history = prices.iloc[-33:]
    value, vol = native.forecast_both(history)
    # By hand: sum and root sum of squares of the first 4 predicted returns.
    returns = np.diff(np.log(history.to_numpy()))
    with torch.inference_mode():
        z = torch.tensor((returns / 0.003)[None, :, None], dtype=torch.float32)
        path = model(past_values=z).prediction_outputs[0, :4, 0].numpy() * 0.003
    assert value == pytest.approx(float(path.sum()), abs=1e-7)
    assert vol == pytest.approx(float(np.sqrt((path**2).sum())), abs=1e-7)
    np.testing.assert_allclose(runtime.forecast_both(history), (value, vol), atol=TOLERANCE)
    with pytest.raises(ValueError, match="fine-tuned"):
        native.fit(prices)
