"""DVC stage ``backtest``: trade the kept walk-forward predictions with costs; log the run.

Only ``backtest:``/``risk:`` (and the predictions) feed it, so a cost change re-runs this
stage alone. The MLflow run id goes to ``reports/runs/backtest.json`` (git-ignored: a new id
every run), where ``alphaloop summary`` finds it.
"""

from __future__ import annotations

from alphaloop.config import load_params
from alphaloop.stages.evaluate import backtest, record_backtest
from alphaloop.stages.walk_forward import WalkForwardPredictions
from alphaloop.workspace import read_frame, write_json
from pipelines.common import RUNS, WS, registry, run_stage


def main() -> None:
    def stage() -> None:
        params, features = load_params(), read_frame(WS.features)
        predicted = WalkForwardPredictions.from_frames(read_frame(WS.walk_forward_windows),
                                                       read_frame(WS.walk_forward_predictions))
        outcome = backtest(params, features, predicted, WS)
        run_id = record_backtest(params, features, outcome, WS, registry())
        write_json(RUNS / "backtest.json", {"run_id": run_id,
                                            "tear_sheet": str(WS.tear_sheet)})

    run_stage(stage)


if __name__ == "__main__":
    main()
