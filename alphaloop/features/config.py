"""Configuration of the TA-Lib feature set (the ``features:`` section of params.yaml)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

# TA-Lib rejects window lengths below 2 for most indicators and above 100000 for all.
Period = Annotated[int, Field(ge=2, le=100_000)]
Lag = Annotated[int, Field(ge=1, le=100_000)]


class FeatureConfig(BaseModel):
    """Which feature families to compute and with which look-back windows.

    Every period list must be non-empty and free of duplicates (duplicates would yield
    duplicate column names). Boolean flags switch whole families on or off; the
    oscillator family uses TA-Lib's default parameters.

    Attributes:
        rsi_periods: RSI windows.
        ma_periods: Windows for SMA/EMA/WMA/DEMA/TEMA/KAMA/TRIMA price-to-MA ratios.
        momentum_periods: Windows for ROC, MOM, CMO, WILLR, CCI, ADX, ADXR, DX, +DI, -DI,
            AROON, AROONOSC, MFI and linear-regression slope.
        volatility_periods: Windows for NATR, STDDEV, return std, Bollinger width/%b and
            Parkinson volatility.
        volume_periods: Windows for volume MA ratio, volume z-score, OBV/AD flow and
            VWAP distance.
        return_lags: Horizons of multi-bar log returns and lags of the one-bar log return.
        candlestick_patterns: Include all 61 TA-Lib ``CDL*`` pattern detectors.
        hilbert_cycles: Include the Hilbert-transform cycle indicators.
        price_transforms: Include bar-shape and price-transform features.
        oscillators: Include MACD, STOCH, STOCHF, STOCHRSI, PPO, APO, ULTOSC, BOP, TRIX,
            SAR, MAMA/FAMA, T3 and ADOSC with TA-Lib default parameters.
        importance_horizon: Bars ahead of the forward return used by the importance proxy.
    """

    model_config = ConfigDict(extra="forbid")

    rsi_periods: list[Period] = Field(default_factory=lambda: [7, 14, 21, 28], min_length=1)
    ma_periods: list[Period] = Field(
        default_factory=lambda: [5, 10, 20, 50, 100, 200], min_length=1
    )
    momentum_periods: list[Period] = Field(default_factory=lambda: [7, 14, 28], min_length=1)
    volatility_periods: list[Period] = Field(default_factory=lambda: [5, 10, 20, 50], min_length=1)
    volume_periods: list[Period] = Field(default_factory=lambda: [5, 10, 20, 50], min_length=1)
    return_lags: list[Lag] = Field(default_factory=lambda: [1, 2, 3, 4, 5, 10, 20], min_length=1)
    candlestick_patterns: bool = True
    hilbert_cycles: bool = True
    price_transforms: bool = True
    oscillators: bool = True
    importance_horizon: int = Field(default=1, ge=1)

    @field_validator(
        "rsi_periods",
        "ma_periods",
        "momentum_periods",
        "volatility_periods",
        "volume_periods",
        "return_lags",
    )
    @classmethod
    def _no_duplicates(cls, value: list[int]) -> list[int]:
        dupes = sorted({p for p in value if value.count(p) > 1})
        if dupes:
            raise ValueError(f"duplicate periods {dupes} would produce duplicate columns")
        return value
