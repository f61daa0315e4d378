"""The regime forecaster: a small PatchTST forecasting return and volatility, then a label.

Design:

- **Inputs and targets** (``data``): window ``t`` reads the last ``context_length`` one-bar
  log returns up to bar ``t`` and targets the next ``horizon``-bar log return
  ``log(p[t+h] / p[t])`` and realised volatility ``sqrt(sum(r[t+1 .. t+h]^2))``.
- **Split**: the last ``test_fraction`` of the windows in time is held out; the
  ``context_length + horizon`` windows before it are dropped, so no test bar is an input or
  target of training. Nothing is shuffled across the split.
- **Normalisation**: inputs and targets are standardised with training statistics only; the
  statistics are baked into the network (``RegimeNet``), so torch and ONNX take raw returns.
- **Model** (``model``): ``PatchTSTForRegression`` with two targets, AdamW on MSE, seeded.
- **Regimes**: ``high_vol`` when the volatility forecast exceeds the ``high_vol_quantile`` of
  the model's own volatility forecasts over the training windows (a shrunk MSE forecast
  would hardly ever exceed the quantile of realised volatility); otherwise ``bull`` /
  ``bear`` / ``sideways`` by the return thresholds.
- **Baselines** (``baselines``): persistence, zero, training mean and GARCH(1,1).
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from alphaloop.models.regime.baselines import fit_garch, garch_volatility
from alphaloop.models.regime.config import PATCHTST, RegimeParams
from alphaloop.models.regime.data import (
    VOLATILITY,
    Scaling,
    Split,
    Windows,
    check_prices,
    make_windows,
    time_split,
)
from alphaloop.models.regime.report import (
    REGIMES,
    Regime,
    RegimeReport,
    held_out_tables,
    label_regime,
    prediction_frame,
)
from alphaloop.models.regime.state import (
    FORMAT,
    FORMAT_VERSION,
    ONNX_FILE,
    STATE_FILE,
    package_versions,
    read_state,
)

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from alphaloop.models.regime.model import RegimeNet

_EXAMPLE_ROWS = 8


class RegimeForecaster:
    """Forecast the next ``horizon``-bar log return and realised volatility; label the regime.

    Args:
        model_name: ``"patchtst"`` (train a small PatchTST with ``fit``) or the path of a
            local checkpoint directory (``save_pretrained`` output, optionally with
            ``regime.json``: then it forecasts at once; without it, ``fit`` fine-tunes it).
            None takes ``params.model_name``.
        horizon: Bars ahead; None takes ``params.horizon``.
        use_onnx: Run inference in ONNX Runtime (``model.onnx``; exported in memory when the
            model has not been saved) rather than torch.
        model_dir: Where ``fit`` saves the trained model (see ``save``); None writes nothing.
        params: Everything else; defaults to ``RegimeParams()``.

    Raises:
        ValueError: If ``model_name`` or ``horizon`` disagrees with ``params``, or a
            checkpoint is not a supported PatchTST.
        FileNotFoundError: If ``model_name`` is neither ``"patchtst"`` nor a local directory.
    """

    def __init__(self, model_name: str | None = None, horizon: int | None = None,
                 use_onnx: bool = True, model_dir: Path | None = None,
                 params: RegimeParams | None = None) -> None:
        self.params = _resolve_params(params, model_name, horizon)
        self.use_onnx = use_onnx
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.high_vol_threshold: float | None = None
        self._net: RegimeNet | None = None
        self._checkpoint: PreTrainedModel | None = None  # weights fit() starts from
        self._onnx_file: Path | None = None
        self._session: Any = None
        if self.params.model_name != PATCHTST:
            self._open_checkpoint(Path(self.params.model_name), params, horizon)

    @property
    def is_fitted(self) -> bool:
        """Whether the forecaster can forecast (trained or loaded with ``regime.json``)."""
        return self._net is not None

    @property
    def net(self) -> RegimeNet:
        """The torch network (raw returns -> return and volatility forecasts)."""
        if self._net is None:
            raise RuntimeError("the regime forecaster is not trained: call fit() or load()")
        return self._net

    def fit(self, close: pd.Series | np.ndarray) -> RegimeReport:
        """Train on the earlier windows, evaluate on the held-out later ones.

        Args:
            close: Closes in time order (a DatetimeIndex, if any, stamps the predictions).

        Returns:
            Held-out errors of the model and the baselines, and the test predictions. The
            model is saved to ``model_dir`` when one was given.

        Raises:
            ValueError: On bad prices, too few of them, or a checkpoint that cannot be
                fine-tuned (a ``PatchTSTForPrediction``).
        """
        from alphaloop.models.regime.model import RegimeNet, predict, train_regressor

        p = self.params
        prices = check_prices(close, 2)
        windows = make_windows(prices, p.context_length, p.horizon)
        split = time_split(len(windows), p.test_fraction, p.gap)
        scaling = Scaling.fit(windows, split.train)
        model = self._starting_model()
        start = time.perf_counter()
        losses = train_regressor(model, scaling.inputs(windows.inputs[split.train]),
                                 scaling.targets(windows.targets[split.train]), p)
        seconds = time.perf_counter() - start
        net = RegimeNet(model, scaling, p.horizon)
        train_vol = predict(net, windows.inputs[split.train])[:, VOLATILITY]
        self._install(net, float(np.quantile(train_vol, p.high_vol_quantile)))
        index = close.index if isinstance(close, pd.Series) else None
        fields = self._evaluate(prices, windows, split,
                                predict(net, windows.inputs[split.test]), index)
        report = RegimeReport(**fields, epoch_losses=losses, train_seconds=seconds)
        if self.model_dir is not None:
            self.save(self.model_dir)
        return report

    def _evaluate(self, prices: np.ndarray, windows: Windows, split: Split,
                  forecast: np.ndarray, index: pd.Index | None) -> dict[str, Any]:
        p, scaling = self.params, self.net.scaling
        returns = np.diff(np.log(prices))
        # Training targets end at bar origin + h: returns[:origin + h] are bars 1..origin + h.
        garch_params = fit_garch(returns[: windows.origins[split.train[-1]] + p.horizon])
        garch_vol = garch_volatility(returns, garch_params, windows.origins[split.test],
                                     p.horizon)
        errors = held_out_tables(windows, split.test, forecast, garch_vol, scaling.target_mean)
        regimes = [self.classify_regime(float(r), float(v)) for r, v in forecast]
        return {
            "return_errors": errors[0], "volatility_errors": errors[1],
            "directional_accuracy": errors[2],
            "regime_counts": {name: regimes.count(name) for name in REGIMES},
            "high_vol_threshold": float(self.high_vol_threshold or 0.0),
            "garch_params": garch_params, "n_train": int(split.train.size),
            "n_test": int(split.test.size), "gap": split.gap,
            "predictions": prediction_frame(windows, split.test, forecast, garch_vol, regimes,
                                            index),
        }

    def forecast(self, prices: pd.Series | np.ndarray) -> float:
        """Forecast ``horizon``-bar log return from the last ``context_length + 1`` prices.

        Raises:
            ValueError: If fewer than ``context_length + 1`` prices are given, or the last
                ones are not finite and positive.
            RuntimeError: If the forecaster is neither trained nor loaded.
        """
        return self.forecast_both(prices)[0]

    def forecast_volatility(self, prices: pd.Series | np.ndarray) -> float:
        """Forecast realised volatility over the next ``horizon`` bars (as ``forecast``)."""
        return self.forecast_both(prices)[1]

    def forecast_both(self, prices: pd.Series | np.ndarray) -> tuple[float, float]:
        """``(return, volatility)`` forecasts from one forward pass (as ``forecast``)."""
        out = self._run(self._window(prices))[0]
        return float(out[0]), float(out[1])

    def forecast_windows(self, returns: np.ndarray) -> np.ndarray:
        """Forecasts for many windows of one-bar log returns at once.

        Args:
            returns: ``(m, context_length)`` windows, each ending at its forecast origin.

        Returns:
            ``(m, 2)`` float64: ``horizon``-bar log return and realised volatility.

        Raises:
            ValueError: On a wrong shape or non-finite returns.
        """
        values = np.asarray(returns, dtype=np.float64)
        width = self.params.context_length
        if values.ndim != 2 or values.shape[1] != width:
            raise ValueError(f"returns must be (m, {width}), got {values.shape}")
        if not np.isfinite(values).all():
            raise ValueError("returns must be finite")
        return self._run(values)

    def classify_regime(self, value: float, volatility: float | None = None) -> Regime:
        """``high_vol``, ``bull``, ``bear`` or ``sideways`` (see ``report.label_regime``).

        Args:
            value: Forecast ``horizon``-bar log return.
            volatility: Forecast volatility; None judges the return alone.

        Raises:
            ValueError: On non-finite inputs, or a volatility before fit/load.
        """
        return label_regime(value, volatility, self.params.bull_threshold,
                            self.params.bear_threshold, self.high_vol_threshold)

    def save(self, directory: str | Path) -> Path:
        """Write the checkpoint (``save_pretrained``), ``regime.json`` and ``model.onnx``.

        ``model.onnx`` comes from the dynamo exporter and is checked against torch right
        after export.

        Returns:
            ``directory``.

        Raises:
            RuntimeError: If the forecaster is neither trained nor loaded.
            OnnxParityError: If ONNX Runtime and torch disagree by more than 1e-5.
        """
        from alphaloop.models.regime.onnx_export import export_onnx

        net = self.net
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        net.model.save_pretrained(directory)
        export_onnx(net, directory / ONNX_FILE, self.params.context_length,
                    example=self._example())
        (directory / STATE_FILE).write_text(json.dumps(self._state(), indent=2))
        if self._session is None:
            self._onnx_file = directory / ONNX_FILE
        return directory

    @classmethod
    def load(cls, directory: str | Path, use_onnx: bool = True) -> RegimeForecaster:
        """Open a directory written by ``save`` (or any checkpoint with ``regime.json``).

        Raises:
            FileNotFoundError: Naming the missing directory or ``regime.json``.
        """
        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory}: no such regime model directory")
        if not (directory / STATE_FILE).is_file():
            raise FileNotFoundError(f"{directory / STATE_FILE}: not found; save() writes it")
        return cls(model_name=str(directory), use_onnx=use_onnx)

    def _state(self) -> dict[str, Any]:
        net = self.net
        return {"format": FORMAT, "format_version": FORMAT_VERSION,
                "params": self.params.model_dump(mode="json"), "head": net.head,
                "scaling": net.scaling.to_dict(), "high_vol_threshold": self.high_vol_threshold,
                "onnx": ONNX_FILE,
                "versions": package_versions("torch", "transformers", "alphaloop")}

    def _open_checkpoint(self, path: Path, user_params: RegimeParams | None,
                         user_horizon: int | None) -> None:
        from alphaloop.models.regime.model import RegimeNet, architecture, load_checkpoint

        if not path.is_dir():
            raise FileNotFoundError(
                f"regime model_name {str(path)!r}: no such local directory (use 'patchtst' "
                "to train here, or the path of a saved checkpoint; nothing is downloaded)")
        model, head = load_checkpoint(path)
        state_file = path / STATE_FILE
        if not state_file.is_file():
            if head != "regression":
                raise ValueError(f"{path}: a PatchTSTForPrediction checkpoint needs "
                                 f"{STATE_FILE} (its normalisation statistics)")
            self.params = _with(self.params, **architecture(model))
            self._checkpoint = model
            return
        state = read_state(state_file)
        horizon = int(state["params"]["horizon"])
        asked = user_horizon if user_horizon is not None else (
            user_params.horizon if user_params is not None else horizon)
        if asked != horizon:
            raise ValueError(f"{path} forecasts {horizon} bars ahead, not {asked}")
        base = user_params.model_dump() if user_params is not None else state["params"]
        self.params = RegimeParams.model_validate(
            {**base, **architecture(model), "horizon": horizon, "model_name": str(path)})
        self._install(RegimeNet(model, Scaling.from_dict(state["scaling"]), horizon),
                      state["high_vol_threshold"])
        self._checkpoint = model if head == "regression" else None
        if (path / ONNX_FILE).is_file():
            self._onnx_file = path / ONNX_FILE

    def _starting_model(self) -> Any:
        from alphaloop.models.regime.model import seeded_model

        if self.params.model_name == PATCHTST:
            return seeded_model(self.params)
        if self._checkpoint is None:
            raise ValueError(f"{self.params.model_name}: only PatchTSTForRegression "
                             "checkpoints can be fine-tuned")
        return copy.deepcopy(self._checkpoint)

    def _install(self, net: RegimeNet, threshold: float | None) -> None:
        self._net = net.eval()
        self.high_vol_threshold = None if threshold is None else float(threshold)
        self._session, self._onnx_file = None, None

    def _window(self, prices: pd.Series | np.ndarray) -> np.ndarray:
        need = self.params.context_length + 1
        values = np.asarray(prices, dtype=np.float64)
        if values.ndim != 1 or values.size < need:
            raise ValueError(f"need the last context_length + 1 = {need} prices to forecast, "
                             f"got shape {values.shape}")
        return np.diff(np.log(check_prices(values[-need:], need)))[None, :]

    def _run(self, inputs: np.ndarray) -> np.ndarray:
        from alphaloop.models.regime.model import predict

        net = self.net
        if not self.use_onnx:
            return predict(net, inputs)
        from alphaloop.models.regime.onnx_export import run_onnx

        return run_onnx(self.runtime_session(), inputs)

    def runtime_session(self) -> Any:
        """The ONNX Runtime session ``use_onnx`` inference runs in (opened on first use).

        It reads ``model.onnx`` when the model was saved or loaded with one; otherwise the
        network is exported (and checked against torch) into memory.
        """
        from alphaloop.models.regime.onnx_export import export_onnx, onnx_session

        if self._session is None:
            if self._onnx_file is not None:
                self._session = onnx_session(self._onnx_file)
            else:
                import tempfile

                with tempfile.TemporaryDirectory() as tmp:
                    path = export_onnx(self.net, Path(tmp) / ONNX_FILE,
                                       self.params.context_length, example=self._example())
                    self._session = onnx_session(path.read_bytes())
        return self._session

    def _example(self) -> np.ndarray:
        # Returns at the training scale, so the parity check sees realistic inputs.
        scaling = self.net.scaling
        rng = np.random.default_rng(0)
        shape = (_EXAMPLE_ROWS, self.params.context_length)
        return rng.normal(scaling.input_mean, scaling.input_std, shape)


def _resolve_params(params: RegimeParams | None, model_name: str | None,
                    horizon: int | None) -> RegimeParams:
    given = {"model_name": model_name, "horizon": horizon}
    if params is not None:
        clash = [f"{k}={v!r} vs params.{k}={getattr(params, k)!r}"
                 for k, v in given.items() if v is not None and v != getattr(params, k)]
        if clash:
            raise ValueError("arguments disagree with params: " + "; ".join(clash))
    return _with(params or RegimeParams(),
                 **{k: v for k, v in given.items() if v is not None})


def _with(params: RegimeParams, **updates: Any) -> RegimeParams:
    # model_copy(update=...) skips validation; rebuild so the result is checked.
    return RegimeParams.model_validate({**params.model_dump(), **updates})
