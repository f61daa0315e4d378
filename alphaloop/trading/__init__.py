"""Trading decisions shared by the backtester and the trader.

- :mod:`alphaloop.trading.rules`: the ``risk:`` section, sizing (fixed, confidence,
  fractional Kelly), the cost-aware edge, volatility.
- :func:`decide`: one bar's decision (target, order, cost, stops, kill switch).
- :func:`run_stepwise`: the bar-by-bar backtester built on :func:`decide`.
- :mod:`alphaloop.trading.selection`: the cost-aware entry rule chosen on training data.

Members load on first use, so ``alphaloop.config`` (which needs only the ``risk:`` model)
does not pull the backtester into every stage (import from the submodules for types).
"""

from alphaloop._lazy import lazy_attributes

_LAZY = {
    **dict.fromkeys(("BarInput", "Decision", "RiskState", "decide", "turnover_for"),
                    "alphaloop.trading.decision"),
    **dict.fromkeys(("DecisionRules", "RiskParams", "latest_vol", "rolling_vol"),
                    "alphaloop.trading.rules"),
    **dict.fromkeys(("StepwiseResult", "run_stepwise"), "alphaloop.trading.stepwise"),
}
__getattr__ = lazy_attributes(__name__, _LAZY)
__all__ = sorted(_LAZY)
