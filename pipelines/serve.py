"""``alphaloop serve``: the BentoML command line and environment for the configured server."""

from __future__ import annotations

import ipaddress
import json
import os
import sys
from pathlib import Path
from typing import Any

from alphaloop.config import Params, ServingParams, Settings
from alphaloop.registry.lineage import redact
from alphaloop.registry.store import default_tracking_uri
from pipelines.common import OFFLINE_ENV, RUNTIME_ENV

SERVICE = "serving.service:AlphaloopService"


def serve_command(params: Params, params_path: Path, overrides: dict[str, Any]
                  ) -> tuple[list[str], dict[str, str], list[str]]:
    """``bentoml serve`` argv, its environment, and the lines to print first.

    Raises:
        ValueError: On an invalid override (e.g. a port out of range).
    """
    serving = ServingParams.model_validate({**params.serving.model_dump(), **overrides})
    settings = Settings()
    # Resolved here: BentoML changes into the service's directory before it loads it.
    uri = settings.mlflow_tracking_uri or default_tracking_uri(Path.cwd())
    env = {**os.environ, **OFFLINE_ENV, **RUNTIME_ENV,
           "ALPHALOOP_PARAMS": str(params_path.resolve()),
           "ALPHALOOP_SERVING": json.dumps(overrides), "ALPHALOOP_MLFLOW_TRACKING_URI": uri}
    command = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", serving.host,
               "--port", str(serving.port), "--working-dir", str(Path(__file__).parents[1])]
    registry = redact(uri)
    lines = [f"serving @{serving.alias} of every task from {registry} on "
             f"http://{serving.host}:{serving.port} (poll every {serving.poll_interval_s:g} s, "
             f"batching {'on' if serving.batching else 'off'}, "
             f"token {'required' if settings.api_token else 'not required'})"]
    if not _is_loopback(serving.host):
        lines.append(f"[yellow]warning:[/yellow] binding {serving.host} exposes the server "
                     "beyond this machine; set ALPHALOOP_API_TOKEN")
    return command, env, lines


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
