"""The hyperparameter names each member's library accepts, so a typo is an error.

LightGBM and XGBoost accept any keyword and ignore (with a warning) one they do not know: a
misspelt ``num_leavs`` would train with the default and be logged as if it applied. The
accepted names are read from the installed libraries themselves (cached per process).
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from typing import Any

import numpy as np


def check_params(name: str, params: Mapping[str, Any], accepted: frozenset[str] | None) -> None:
    """Refuse hyperparameters the library does not know (LightGBM and XGBoost would ignore a
    misspelt ``num_leavs`` with a warning, and the model would be saved as if it applied).

    Raises:
        ValueError: Naming ``train.members.<name>.<key>`` and the closest accepted names.
    """
    if accepted is None:
        return
    unknown = sorted(set(params) - accepted)
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, sorted(accepted), n=2, cutoff=0.75)
        hints.append(f"{key!r}" + (f" (did you mean {' or '.join(map(repr, close))}?)"
                                   if close else ""))
    raise ValueError(f"train.members.{name}: unknown {name} parameter"
                     f"{'s' if len(unknown) > 1 else ''} {', '.join(hints)}; members take "
                     "the library's own parameter names")


@functools.cache
def lightgbm_params() -> frozenset[str]:
    import lightgbm as lgb
    from lightgbm.basic import _ConfigAliases

    # The scikit-learn wrapper's arguments and every core parameter with all its aliases.
    core = {alias for aliases in _ConfigAliases._get_all_param_aliases().values()
            for alias in aliases}
    return frozenset(lgb.LGBMClassifier().get_params()) | frozenset(core)


@functools.cache
def xgboost_params() -> frozenset[str]:
    import json

    import xgboost as xgb

    # The wrapper's arguments, and every name in a fitted booster's full configuration.
    X = np.array([[0.0], [1.0], [0.0], [1.0]], dtype=np.float32)
    model = xgb.XGBClassifier(n_estimators=1, tree_method="hist", n_jobs=1)
    model.fit(X, np.array([0, 1, 0, 1]))
    names: set[str] = set()

    def walk(node: Any) -> None:
        for key, value in node.items():
            names.add(key)
            if isinstance(value, dict):
                walk(value)

    walk(json.loads(model.get_booster().save_config()))
    aliases = {"eta", "lambda", "alpha", "nthread", "seed", "verbosity", "validate_parameters"}
    return frozenset(model.get_params()) | frozenset(names) | frozenset(aliases)


@functools.cache
def catboost_params() -> frozenset[str]:
    import inspect

    import catboost as cb

    return frozenset(inspect.signature(cb.CatBoostClassifier.__init__).parameters) - {"self"}
