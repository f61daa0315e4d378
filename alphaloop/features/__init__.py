"""Feature engineering: the TA-Lib feature set, an importance proxy and order-book features."""

from alphaloop.features.config import FeatureConfig
from alphaloop.features.families import feature_plan, lookback_note, max_lookback
from alphaloop.features.importance import feature_importance_proxy
from alphaloop.features.orderbook import (
    OrderBookSnapshot,
    WhaleWall,
    calculate_imbalance,
    detect_whale_walls,
    orderbook_features,
)
from alphaloop.features.plan import FeaturePlan, FeatureSpec, TalibCall
from alphaloop.features.talib_set import FeatureResult, build_features, prepare_inputs

__all__ = [
    "FeatureConfig",
    "FeaturePlan",
    "FeatureResult",
    "FeatureSpec",
    "OrderBookSnapshot",
    "TalibCall",
    "WhaleWall",
    "build_features",
    "calculate_imbalance",
    "detect_whale_walls",
    "feature_importance_proxy",
    "feature_plan",
    "lookback_note",
    "max_lookback",
    "orderbook_features",
    "prepare_inputs",
]
