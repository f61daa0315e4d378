"""Configuration of the regime forecaster (the ``regime:`` section of params.yaml).

Import-light (pydantic only): loading ``params.yaml`` must not pull in torch.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# ``model_name`` value that trains a fresh PatchTST; anything else is a local checkpoint path.
PATCHTST = "patchtst"


class RegimeParams(BaseModel):
    """How the regime forecaster is built, trained and turned into regime labels.

    Attributes:
        model_name: ``"patchtst"`` trains a small PatchTST from scratch; anything else is the
            path of a local directory holding a transformers PatchTST checkpoint
            (``save_pretrained``), optionally with alphaloop's ``regime.json`` beside it.
            Nothing is ever downloaded.
        context_length: One-bar log returns the model reads (the input window).
        horizon: Bars ahead of the forecast return and realised volatility.
        patch_length: PatchTST patch length (bars per patch).
        stride: PatchTST patch stride.
        d_model: Transformer width.
        num_layers: Transformer encoder layers.
        num_heads: Attention heads; must divide ``d_model``.
        epochs: Passes over the training windows.
        batch_size: Windows per optimiser step.
        learning_rate: AdamW learning rate.
        test_fraction: Share of the windows held out at the end of time (never shuffled
            across time; ``context_length + horizon`` windows between train and test are
            dropped so no training window overlaps a test window).
        seed: Seed of the weight initialisation and the batch order.
        bull_threshold: A forecast ``horizon``-bar log return above this is ``bull``.
        bear_threshold: A forecast ``horizon``-bar log return below this is ``bear``.
        high_vol_quantile: Quantile of the model's volatility forecasts over the training
            windows; a volatility forecast above it is ``high_vol``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_name: str = PATCHTST
    context_length: int = Field(default=96, ge=2, le=4096)
    horizon: int = Field(default=4, ge=1, le=1024)
    patch_length: int = Field(default=8, ge=1)
    stride: int = Field(default=8, ge=1)
    d_model: int = Field(default=32, ge=1, le=4096)
    num_layers: int = Field(default=2, ge=1, le=64)
    num_heads: int = Field(default=4, ge=1)
    epochs: int = Field(default=5, ge=1)
    batch_size: int = Field(default=64, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0.0, le=1.0, allow_inf_nan=False)
    test_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    seed: int = 42
    bull_threshold: float = Field(default=1e-4, allow_inf_nan=False)
    bear_threshold: float = Field(default=-1e-4, allow_inf_nan=False)
    high_vol_quantile: float = Field(default=0.8, gt=0.0, lt=1.0)

    @field_validator("model_name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("model_name must be 'patchtst' or a local checkpoint path")
        return value

    @model_validator(mode="after")
    def _check_shapes(self) -> RegimeParams:
        if self.patch_length > self.context_length:
            raise ValueError(f"patch_length ({self.patch_length}) must not exceed "
                             f"context_length ({self.context_length})")
        if self.d_model % self.num_heads:
            raise ValueError(f"num_heads ({self.num_heads}) must divide d_model "
                             f"({self.d_model})")
        if not self.bear_threshold <= 0.0 <= self.bull_threshold:
            raise ValueError(f"need bear_threshold <= 0 <= bull_threshold, got "
                             f"bear={self.bear_threshold}, bull={self.bull_threshold}")
        return self

    @property
    def gap(self) -> int:
        """Windows dropped between the training and the test windows."""
        return self.context_length + self.horizon
