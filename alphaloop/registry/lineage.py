"""Lineage: the tags every registered model version carries (data, code, params, metrics)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def params_hash(params: dict[str, Any]) -> str:
    """A stable short hash of a parameter dict (key order does not matter)."""
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def data_version_from_lock(lock: dict[str, Any], stage: str, path: str) -> str | None:
    """The DVC hash of ``path`` as an output of ``stage`` in a parsed ``dvc.lock``."""
    for out in lock.get("stages", {}).get(stage, {}).get("outs", []):
        if out.get("path") == path:
            return str(out.get("md5") or out.get("hash"))
    return None


def lineage_tags(*, data_version: str | None, git_commit: str | None,
                 params: dict[str, Any], metrics: dict[str, float],
                 data_path: str) -> dict[str, str]:
    """Flat string tags for an MLflow model version."""
    tags = {
        "data_version": data_version or "unknown",
        "data_path": data_path,
        "git_commit": git_commit or "unknown",
        "params_hash": params_hash(params),
    }
    # Full precision: the gate compares a later candidate with these exact values.
    tags.update({f"metric.{k}": repr(float(v)) for k, v in metrics.items()})
    return tags


def git_commit(root: Path) -> str | None:
    """HEAD's hash, marked ``-dirty`` when tracked files differ from it."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
        # dvc.lock is rewritten by `dvc repro` itself before the register stage runs.
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                 ".", ":(exclude)dvc.lock"], cwd=root, capture_output=True,
                                text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if head and status else head or None


def redact(uri: str) -> str:
    """A tracking URI without credentials, safe to write into reports and logs."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
