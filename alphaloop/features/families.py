"""Feature families: which TA-Lib calls feed which columns.

Each family registers its calls and columns on a ``PlanBuilder``; ``FAMILIES`` fixes the
column order. Price-level outputs (moving averages, MACD, SAR, ...) are expressed relative
to the close so the features are scale-free across assets and eras.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import talib

from alphaloop.features import ops
from alphaloop.features.config import FeatureConfig
from alphaloop.features.plan import FeaturePlan, PlanBuilder

MOVING_AVERAGES: tuple[str, ...] = ("SMA", "EMA", "WMA", "DEMA", "TEMA", "KAMA", "TRIMA")

# Single-output high/low/close indicators sharing one window parameter.
_HLC_MOMENTUM: tuple[tuple[str, str], ...] = (
    ("willr", "WILLR"),
    ("cci", "CCI"),
    ("adx", "ADX"),
    ("adxr", "ADXR"),
    ("dx", "DX"),
    ("plus_di", "PLUS_DI"),
    ("minus_di", "MINUS_DI"),
)


def candlestick_functions() -> list[str]:
    """All TA-Lib candlestick pattern functions, sorted by name."""
    return sorted(talib.get_function_groups()["Pattern Recognition"])


def returns(b: PlanBuilder, cfg: FeatureConfig) -> None:
    """Multi-bar log returns and lags of the one-bar log return."""
    for k in cfg.return_lags:
        b.add(f"logret_{k}", ops.diff(k), "log_close")
    for k in cfg.return_lags:
        b.add(f"logret_lag_{k}", ops.lag(k), "logret")


def price_transforms(b: PlanBuilder, cfg: FeatureConfig) -> None:
    """Price transforms relative to close and bar-shape features."""
    if not cfg.price_transforms:
        return
    b.add(
        "avgprice_ratio", ops.RATIO_M1, b.ta1("AVGPRICE", "open", "high", "low", "close"), "close"
    )
    b.add("medprice_ratio", ops.RATIO_M1, b.ta1("MEDPRICE", "high", "low"), "close")
    b.add("typprice_ratio", ops.RATIO_M1, b.ta1("TYPPRICE", "high", "low", "close"), "close")
    b.add("wclprice_ratio", ops.RATIO_M1, b.ta1("WCLPRICE", "high", "low", "close"), "close")
    b.add("hl_range", ops.SPREAD_RATIO, "high", "low", "close")
    b.add("body", ops.SPREAD_RATIO, "close", "open", "close")
    b.add("upper_shadow", ops.UPPER_SHADOW, "open", "high", "close")
    b.add("lower_shadow", ops.LOWER_SHADOW, "open", "low", "close")
    b.add("gap", ops.GAP, "open", "close")


def rsi(b: PlanBuilder, cfg: FeatureConfig) -> None:
    """Relative strength index (0-100)."""
    for p in cfg.rsi_periods:
        b.add(f"rsi_{p}", ops.COPY, b.ta1("RSI", "close", timeperiod=p))


def moving_averages(b: PlanBuilder, cfg: FeatureConfig) -> None:
    """``close / MA - 1`` for every moving-average type and period."""
    for func in MOVING_AVERAGES:
        for p in cfg.ma_periods:
            ma = b.ta1(func, "close", timeperiod=p)
            b.add(f"{func.lower()}_ratio_{p}", ops.RATIO_M1, "close", ma)


def momentum(b: PlanBuilder, cfg: FeatureConfig) -> None:
    """Momentum/trend-strength indicators per window."""
    for p in cfg.momentum_periods:
        b.add(f"roc_{p}", ops.COPY, b.ta1("ROC", "close", timeperiod=p))
        b.add(f"mom_{p}", ops.DIV, b.ta1("MOM", "close", timeperiod=p), "close")
        b.add(f"cmo_{p}", ops.COPY, b.ta1("CMO", "close", timeperiod=p))
        for name, func in _HLC_MOMENTUM:
            b.add(f"{name}_{p}", ops.COPY, b.ta1(func, "high", "low", "close", timeperiod=p))
        down, up = b.ta("AROON", "high", "low", timeperiod=p)
        b.add(f"aroon_up_{p}", ops.COPY, up)
        b.add(f"aroon_down_{p}", ops.COPY, down)
        b.add(f"aroonosc_{p}", ops.COPY, b.ta1("AROONOSC", "high", "low", timeperiod=p))
        mfi = b.ta1("MFI", "high", "low", "close", "volume", timeperiod=p)
        b.add(f"mfi_{p}", ops.COPY, mfi)
        slope = b.ta1("LINEARREG_SLOPE", "close", timeperiod=p)
        b.add(f"linreg_slope_{p}", ops.DIV, slope, "close")


def volatility(b: PlanBuilder, cfg: FeatureConfig) -> None:
    """Range- and dispersion-based volatility per window, plus true range."""
    b.add("trange_ratio", ops.DIV, b.ta1("TRANGE", "high", "low", "close"), "close")
    for p in cfg.volatility_periods:
        b.add(f"natr_{p}", ops.COPY, b.ta1("NATR", "high", "low", "close", timeperiod=p))
        b.add(f"stddev_{p}", ops.DIV, b.ta1("STDDEV", "close", timeperiod=p), "close")
        b.add(f"retstd_{p}", ops.COPY, b.ta1("STDDEV", "logret", timeperiod=p))
        upper, middle, lower = b.ta("BBANDS", "close", timeperiod=p)
        b.add(f"bb_width_{p}", ops.SPREAD_RATIO, upper, lower, middle)
        b.add(f"bb_pctb_{p}", ops.PCT_B, "close", upper, lower)
        b.add(f"parkinson_{p}", ops.PARKINSON, b.ta1("SMA", "hl_logsq", timeperiod=p))


def volume(b: PlanBuilder, cfg: FeatureConfig) -> None:
    """Volume activity and signed-flow features, safe against zero-volume windows."""
    obv = b.ta1("OBV", "close", "volume")
    ad = b.ta1("AD", "high", "low", "close", "volume")
    for p in cfg.volume_periods:
        active = b.ta1("SUM", "volume_nz", timeperiod=p)  # exact count of traded bars
        mean = b.ta1("SMA", "volume", timeperiod=p)
        std = b.ta1("STDDEV", "volume", timeperiod=p)
        total = b.ta1("SUM", "volume", timeperiod=p)
        b.add(f"vol_ratio_{p}", ops.MASKED_DIV, "volume", mean, active)
        b.add(f"vol_zscore_{p}", ops.zscore(p), "volume", mean, std, active)
        b.add(f"obv_flow_{p}", ops.FLOW, b.ta1("MOM", obv, timeperiod=p), total, active)
        b.add(f"cmf_{p}", ops.FLOW, b.ta1("MOM", ad, timeperiod=p), total, active)
        turnover = b.ta1("SUM", "close_volume", timeperiod=p)
        b.add(f"vwap_ratio_{p}", ops.VWAP_RATIO, "close", total, turnover, active)


def oscillators(b: PlanBuilder, cfg: FeatureConfig) -> None:
    """Classic oscillators with TA-Lib default parameters."""
    if not cfg.oscillators:
        return
    for name, out in zip(("macd", "macd_signal", "macd_hist"), b.ta("MACD", "close"), strict=True):
        b.add(name, ops.DIV, out, "close")
    slowk, slowd = b.ta("STOCH", "high", "low", "close")
    fastk, fastd = b.ta("STOCHF", "high", "low", "close")
    rsik, rsid = b.ta("STOCHRSI", "close")
    for name, out in (
        ("stoch_k", slowk),
        ("stoch_d", slowd),
        ("stochf_k", fastk),
        ("stochf_d", fastd),
        ("stochrsi_k", rsik),
        ("stochrsi_d", rsid),
    ):
        b.add(name, ops.COPY, out)
    b.add("ppo", ops.COPY, b.ta1("PPO", "close"))
    b.add("apo", ops.DIV, b.ta1("APO", "close"), "close")
    b.add("ultosc", ops.COPY, b.ta1("ULTOSC", "high", "low", "close"))
    b.add("bop", ops.COPY, b.ta1("BOP", "open", "high", "low", "close"))
    b.add("trix", ops.COPY, b.ta1("TRIX", "close"))
    b.add("sar_ratio", ops.RATIO_M1, "close", b.ta1("SAR", "high", "low"))
    mama, fama = b.ta("MAMA", "close")
    b.add("mama_ratio", ops.RATIO_M1, "close", mama)
    b.add("fama_ratio", ops.RATIO_M1, "close", fama)
    b.add("t3_ratio", ops.RATIO_M1, "close", b.ta1("T3", "close"))
    adosc = b.ta1("ADOSC", "high", "low", "close", "volume")
    slow = 10  # ADOSC's default slow period: normalise by volume over the same span
    mean = b.ta1("SMA", "volume", timeperiod=slow)
    b.add("adosc_norm", ops.MASKED_DIV, adosc, mean, b.ta1("SUM", "volume_nz", timeperiod=slow))


def hilbert(b: PlanBuilder, cfg: FeatureConfig) -> None:
    """Hilbert-transform cycle indicators."""
    if not cfg.hilbert_cycles:
        return
    b.add("ht_dcperiod", ops.COPY, b.ta1("HT_DCPERIOD", "close"))
    b.add("ht_dcphase", ops.COPY, b.ta1("HT_DCPHASE", "close"))
    inphase, quadrature = b.ta("HT_PHASOR", "close")
    b.add("ht_inphase", ops.DIV, inphase, "close")
    b.add("ht_quadrature", ops.DIV, quadrature, "close")
    sine, leadsine = b.ta("HT_SINE", "close")
    b.add("ht_sine", ops.COPY, sine)
    b.add("ht_leadsine", ops.COPY, leadsine)
    b.add("ht_trendmode", ops.COPY, b.ta1("HT_TRENDMODE", "close"))
    b.add("ht_trendline_ratio", ops.RATIO_M1, "close", b.ta1("HT_TRENDLINE", "close"))


def candlesticks(b: PlanBuilder, cfg: FeatureConfig) -> None:
    """All TA-Lib candlestick patterns, scaled from +-100/200 to +-1/2."""
    if not cfg.candlestick_patterns:
        return
    for func in candlestick_functions():
        out = b.ta1(func, "open", "high", "low", "close")
        b.add(f"cdl_{func.removeprefix('CDL').lower()}", ops.CANDLE, out)


FAMILIES: tuple[Callable[[PlanBuilder, FeatureConfig], None], ...] = (
    returns,
    price_transforms,
    rsi,
    moving_averages,
    momentum,
    volatility,
    volume,
    oscillators,
    hilbert,
    candlesticks,
)


# The params key behind each family, named when data are too short for its look-back.
FAMILY_KEYS: dict[str, str] = {
    "returns": "features.return_lags",
    "price_transforms": "features.price_transforms",
    "rsi": "features.rsi_periods",
    "moving_averages": "features.ma_periods",
    "momentum": "features.momentum_periods",
    "volatility": "features.volatility_periods",
    "volume": "features.volume_periods",
    "oscillators": "features.oscillators",
    "hilbert": "features.hilbert_cycles",
    "candlesticks": "features.candlestick_patterns",
}


def feature_plan(config: FeatureConfig | None = None) -> FeaturePlan:
    """Build the plan of TA-Lib calls and feature columns for ``config``.

    Args:
        config: Feature configuration; defaults to ``FeatureConfig()``.

    Returns:
        The plan shared by ``build_features`` and the benchmark (cached per config).
    """
    return _plan_for(config.model_dump_json() if config else FeatureConfig().model_dump_json())


@cache
def _plan_for(config_json: str) -> FeaturePlan:
    cfg = FeatureConfig.model_validate_json(config_json)
    builder = PlanBuilder()
    for family in FAMILIES:
        builder.origin = FAMILY_KEYS[family.__name__]
        family(builder, cfg)
    return builder.build()


def max_lookback(config: FeatureConfig | None = None) -> int:
    """Index of the first row where every feature is defined (rows lost to warm-up).

    Args:
        config: Feature configuration; defaults to ``FeatureConfig()``.

    Returns:
        The largest look-back over all feature columns, in rows.
    """
    return feature_plan(config).max_lookback


def lookback_note(config: FeatureConfig | None = None) -> str:
    """``'tema_ratio_200 looks back 597 bars (features.ma_periods)'`` for error messages."""
    name, bars, key = feature_plan(config).longest()
    return f"{name} looks back {bars} bars ({key})"
