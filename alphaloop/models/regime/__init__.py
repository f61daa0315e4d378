"""Regime model: a small PatchTST forecasting the next bars' return and volatility.

```python
forecaster = RegimeForecaster(horizon=4)            # or model_name="path/to/checkpoint"
report = forecaster.fit(bars["close"])              # held-out errors beside the baselines
value, vol = forecaster.forecast_both(prices)       # last context_length + 1 closes
regime = forecaster.classify_regime(value, vol)     # bull / bear / sideways / high_vol
```

``RegimeParams`` imports cheaply (pydantic only); torch, transformers and ONNX Runtime load
on first use of the forecaster (``model`` and ``onnx_export`` import them at the top).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alphaloop._lazy import lazy_attributes
from alphaloop.models.regime.config import PATCHTST, RegimeParams

if TYPE_CHECKING:
    from alphaloop.models.regime.forecaster import RegimeForecaster
    from alphaloop.models.regime.onnx_export import export_onnx
    from alphaloop.models.regime.report import Regime, RegimeReport

_LAZY = {
    "RegimeForecaster": "alphaloop.models.regime.forecaster",
    "Regime": "alphaloop.models.regime.report",
    "RegimeReport": "alphaloop.models.regime.report",
    "export_onnx": "alphaloop.models.regime.onnx_export",
}


__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = [
    "PATCHTST",
    "Regime",
    "RegimeForecaster",
    "RegimeParams",
    "RegimeReport",
    "export_onnx",
]
