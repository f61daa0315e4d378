"""The PatchTST network behind the regime forecaster: build, load, train, predict.

This module imports torch and transformers at the top; ``RegimeForecaster`` loads it on first
use, so importing ``alphaloop.models.regime`` stays cheap.

Choice of head: ``PatchTSTForRegression`` with ``num_targets=2`` reads the standardised
returns of one window and regresses the standardised ``h``-bar return and realised
volatility directly, so one forward pass gives both forecasts and the loss is plain MSE on
what is reported. ``scaling=None`` because PatchTST's default per-window standardisation
would hide the window's volatility level, the very thing the volatility target depends
on; inputs are standardised with training statistics instead. A ``PatchTSTForPrediction``
checkpoint (one channel of standardised one-bar returns, ``prediction_length >= h``) can be
loaded for inference: its path forecast ``r̂`` gives ``sum(r̂)`` and ``sqrt(sum(r̂^2))``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
from transformers import (
    AutoConfig,
    PatchTSTConfig,
    PatchTSTForPrediction,
    PatchTSTForRegression,
    PreTrainedModel,
)

from alphaloop import progress
from alphaloop.models.regime.config import RegimeParams
from alphaloop.models.regime.data import Scaling

Head = Literal["regression", "prediction"]
_ARCHITECTURES: dict[str, Head] = {
    "PatchTSTForRegression": "regression",
    "PatchTSTForPrediction": "prediction",
}
_MAX_GRAD_NORM = 1.0
_PREDICT_BATCH = 2048


def build_model(params: RegimeParams) -> PatchTSTForRegression:
    """A freshly initialised PatchTST regressor of two targets (seed the RNG first).

    The feed-forward width is ``2 * d_model``; dropout stays at transformers' default of 0.
    """
    config = PatchTSTConfig(
        num_input_channels=1, context_length=params.context_length,
        patch_length=params.patch_length, patch_stride=params.stride,
        d_model=params.d_model, num_hidden_layers=params.num_layers,
        num_attention_heads=params.num_heads, ffn_dim=2 * params.d_model,
        num_targets=2, scaling=None, loss="mse", pooling_type="mean",
    )
    return PatchTSTForRegression(config)


def load_checkpoint(path: Path) -> tuple[PreTrainedModel, Head]:
    """A PatchTST regression or prediction model saved by ``save_pretrained``, read offline.

    Raises:
        FileNotFoundError: If ``path`` has no ``config.json``.
        ValueError: If the checkpoint is not a one-channel PatchTST regressor of two targets
            or forecaster of one channel.
    """
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path}: no config.json, not a transformers checkpoint")
    config = AutoConfig.from_pretrained(path, local_files_only=True)
    names = list(getattr(config, "architectures", None) or [])
    head = next((_ARCHITECTURES[n] for n in names if n in _ARCHITECTURES), None)
    if config.model_type != "patchtst" or head is None:
        raise ValueError(f"{path}: model_type {config.model_type!r}, architectures {names}; "
                         f"only {sorted(_ARCHITECTURES)} checkpoints are supported")
    if config.num_input_channels != 1:
        raise ValueError(f"{path}: expected 1 input channel (log returns), got "
                         f"{config.num_input_channels}")
    if head == "regression" and config.num_targets != 2:
        raise ValueError(f"{path}: a regression checkpoint needs num_targets=2 "
                         f"(return, volatility), got {config.num_targets}")
    cls = PatchTSTForRegression if head == "regression" else PatchTSTForPrediction
    model = cls.from_pretrained(path, local_files_only=True)
    model.eval()
    return model, head


def architecture(model: PreTrainedModel) -> dict[str, int]:
    """The ``RegimeParams`` fields a checkpoint's configuration fixes."""
    config = model.config
    return {"context_length": config.context_length, "patch_length": config.patch_length,
            "stride": config.patch_stride, "d_model": config.d_model,
            "num_layers": config.num_hidden_layers, "num_heads": config.num_attention_heads}


class RegimeNet(torch.nn.Module):
    """Raw one-bar log returns ``(batch, c)`` -> ``(batch, 2)``: ``h``-bar return, volatility.

    Standardisation and its inverse live inside the module, so the ONNX graph exported from
    it takes and returns the same units as the forecaster.

    Args:
        model: A PatchTST regressor (two targets) or forecaster (one channel).
        scaling: Training statistics of the inputs and targets.
        horizon: Bars ahead (for a forecaster: how many predicted steps are summed).
    """

    input_mean: torch.Tensor
    input_std: torch.Tensor
    target_mean: torch.Tensor
    target_std: torch.Tensor

    def __init__(self, model: PreTrainedModel, scaling: Scaling, horizon: int) -> None:
        super().__init__()
        self.model = model
        self.head: Head = "regression" if isinstance(model, PatchTSTForRegression) \
            else "prediction"
        if self.head == "prediction" and model.config.prediction_length < horizon:
            raise ValueError(f"the checkpoint forecasts {model.config.prediction_length} "
                             f"steps, fewer than the horizon {horizon}")
        self.horizon = horizon
        self.context_length = int(model.config.context_length)
        self.scaling = scaling
        self.register_buffer("input_mean", torch.tensor(scaling.input_mean))
        self.register_buffer("input_std", torch.tensor(scaling.input_std))
        self.register_buffer("target_mean", torch.tensor(scaling.target_mean))
        self.register_buffer("target_std", torch.tensor(scaling.target_std))

    def forward(self, returns: torch.Tensor) -> torch.Tensor:
        """Forecasts in return units; the volatility is clipped at 0."""
        z = ((returns - self.input_mean) / self.input_std).unsqueeze(-1)
        if self.head == "regression":
            out = self.model(past_values=z).regression_outputs
            out = out * self.target_std + self.target_mean
            return torch.stack((out[:, 0], out[:, 1].clamp(min=0.0)), dim=1)
        path = self.model(past_values=z).prediction_outputs[:, : self.horizon, 0]
        path = path * self.input_std + self.input_mean
        return torch.stack((path.sum(dim=1), path.pow(2).sum(dim=1).sqrt()), dim=1)


def train_regressor(model: PatchTSTForRegression, inputs: np.ndarray, targets: np.ndarray,
                    params: RegimeParams) -> list[float]:
    """AdamW on the MSE of standardised targets; returns the mean loss of each epoch.

    Batches are drawn in a seeded random order from the training windows only (which all
    precede the test windows, so shuffling never crosses the split). Gradients are clipped
    at norm 1. The caller's torch RNG state is left as it was.

    Args:
        model: Trained in place, left in eval mode.
        inputs: ``(m, c)`` standardised returns.
        targets: ``(m, 2)`` standardised targets.
        params: ``epochs``, ``batch_size``, ``learning_rate``, ``seed``.
    """
    x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)).unsqueeze(-1)
    y = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.float32))
    losses: list[float] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(params.seed)
        optimiser = torch.optim.AdamW(model.parameters(), lr=params.learning_rate)
        model.train()
        progress.report("regime epochs", 0, params.epochs)
        for epoch in range(params.epochs):
            total, seen = 0.0, 0
            for batch in torch.randperm(len(x)).split(params.batch_size):
                if batch.numel() < 2:  # batch norm needs two samples
                    continue
                out = model(past_values=x[batch]).regression_outputs
                loss = torch.nn.functional.mse_loss(out, y[batch])
                optimiser.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), _MAX_GRAD_NORM)
                optimiser.step()
                total += float(loss.detach()) * batch.numel()
                seen += batch.numel()
            losses.append(total / max(seen, 1))
            progress.report("regime epochs", epoch + 1, params.epochs)
    model.eval()
    return losses


def seeded_model(params: RegimeParams) -> PatchTSTForRegression:
    """``build_model`` with the initial weights drawn from ``params.seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(params.seed)
        return build_model(params)


def predict(net: RegimeNet, inputs: np.ndarray) -> np.ndarray:
    """``(m, 2)`` float64 forecasts for ``(m, c)`` raw returns, in torch."""
    x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    if len(x) == 0:
        return np.empty((0, 2))
    net.eval()
    with torch.inference_mode():
        parts = [net(chunk).numpy() for chunk in x.split(_PREDICT_BATCH)]
    return np.concatenate(parts).astype(np.float64)
