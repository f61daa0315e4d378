"""DVC stage ``ingest``: load bars from the configured source into ``data/raw/``."""

from __future__ import annotations

from rich.progress import Progress

from alphaloop.config import CcxtSource, load_params
from alphaloop.stages.data import ingest
from pipelines.common import WS, run_stage


def main() -> None:
    def stage() -> None:
        params = load_params().ingest
        if not isinstance(params.source, CcxtSource):
            ingest(params, WS)
            return
        with Progress(transient=True) as bar:
            task = bar.add_task(f"fetching {params.source.symbol} from "
                                f"{params.source.exchange}", total=params.source.max_bars)
            ingest(params, WS, progress=lambda n: bar.update(task, completed=n))

    run_stage(stage)


if __name__ == "__main__":
    main()
