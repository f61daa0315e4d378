"""Models: the gradient-boosting ensemble, its metrics, baselines and ONNX export.

``PredictorConfig`` and the member registry import cheaply; the rest (scikit-learn, the
boosting libraries, ONNX) loads on first use of a name from this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alphaloop._lazy import lazy_attributes
from alphaloop.models.config import PredictorConfig
from alphaloop.models.members import (
    Member,
    available_members,
    create_member,
    default_params,
    register_member,
)

if TYPE_CHECKING:
    from alphaloop.models.ensemble import EnsemblePredictor, Prediction, TrainReport
    from alphaloop.models.metrics import baseline_predictions, classification_metrics
    from alphaloop.models.onnx_export import OnnxEnsemble, export_onnx

_LAZY = {
    "EnsemblePredictor": "alphaloop.models.ensemble",
    "Prediction": "alphaloop.models.ensemble",
    "TrainReport": "alphaloop.models.ensemble",
    "baseline_predictions": "alphaloop.models.metrics",
    "classification_metrics": "alphaloop.models.metrics",
    "OnnxEnsemble": "alphaloop.models.onnx_export",
    "export_onnx": "alphaloop.models.onnx_export",
}


__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = [
    "EnsemblePredictor",
    "Member",
    "OnnxEnsemble",
    "Prediction",
    "PredictorConfig",
    "TrainReport",
    "available_members",
    "baseline_predictions",
    "classification_metrics",
    "create_member",
    "default_params",
    "export_onnx",
    "register_member",
]
