"""``regime.json``: what a saved regime forecaster needs beside its transformers checkpoint.

Keys: ``format`` (``alphaloop-regime``), ``format_version``, ``params`` (``RegimeParams``),
``head`` (``regression`` or ``prediction``), ``scaling`` (``Scaling.to_dict``: input mean and
std, target means and stds), ``high_vol_threshold``, ``onnx`` (the graph's file name) and
``versions`` (torch, transformers, alphaloop at save time).
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

STATE_FILE = "regime.json"
ONNX_FILE = "model.onnx"
FORMAT = "alphaloop-regime"
FORMAT_VERSION = 1


def read_state(path: Path) -> dict[str, Any]:
    """``regime.json``: the normalisation, thresholds and params of a saved forecaster.

    Raises:
        ValueError: If the file is not an alphaloop regime state this version can read.
    """
    try:
        state: dict[str, Any] = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from exc
    if state.get("format") != FORMAT or int(state.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{path}: not a {FORMAT} state of version <= {FORMAT_VERSION}")
    missing = {"params", "scaling", "high_vol_threshold"} - set(state)
    if missing:
        raise ValueError(f"{path}: missing keys {sorted(missing)}")
    return state


def package_versions(*names: str) -> dict[str, str]:
    """Installed version of each package (``unknown`` when not installed)."""
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "unknown"
    return found
