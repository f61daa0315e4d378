"""DVC stage ``ingest``: load bars from the configured source into ``data/raw/``."""

from __future__ import annotations

from alphaloop.config import load_params
from alphaloop.stages.data import ingest
from pipelines.common import WS, run_stage


def main() -> None:
    # An exchange download shows its progress (pipelines.console) and is retried/cached.
    run_stage(lambda: ingest(load_params().ingest, WS))


if __name__ == "__main__":
    main()
