"""DVC stage ``register``: the trained ensemble becomes its task's challenger; the gate decides.

The gate scores this model and the task's champion afresh on the same holdout; see
:mod:`alphaloop.registry.lifecycle`. A model identical to a registered version (same bytes,
same data) is reported as that version, not registered again.
"""

from __future__ import annotations

from alphaloop.config import load_params
from alphaloop.models.ensemble import EnsemblePredictor
from alphaloop.stages.register import register_ensemble
from alphaloop.workspace import read_frame, read_json
from pipelines.common import WS, registry, run_stage


def main() -> None:
    # The backtest is logged as its own MLflow run (pipelines.backtest): a cost change
    # re-runs the backtest alone and never registers a copy of an unchanged model.
    def stage() -> None:
        register_ensemble(load_params(), read_frame(WS.features),
                          EnsemblePredictor.load(WS.model_dir("ensemble")), WS, registry(),
                          oof_metrics=read_json(WS.report("train_metrics")),
                          reuse_identical=True)

    run_stage(stage)


if __name__ == "__main__":
    main()
