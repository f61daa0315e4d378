"""`bentoml build` makes a Bento of the service here, offline, with the pinned versions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

pytestmark = pytest.mark.integration


def test_bentofile_pins_equal_the_constraints() -> None:
    pins = dict(line.split("==", 1) for line in (REPO / "constraints.txt").read_text()
                .splitlines() if "==" in line and not line.startswith("#"))
    lower = {k.lower().replace("_", "-"): v for k, v in pins.items()}
    packages = yaml.safe_load((REPO / "bentofile.yaml").read_text())["python"]["packages"]
    for package in packages:
        name, version = package.split("==")
        assert lower[name.lower().replace("_", "-")] == version, package


def test_bentoml_build_succeeds_offline(tmp_path: Path) -> None:
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"}
    bentoml = str(Path(sys.executable).parent / "bentoml")
    built = subprocess.run([bentoml, "build", "--output", "tag"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    tag = built.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    assert tag.startswith("alphaloop:"), built.stdout
    listed = subprocess.run([bentoml, "get", tag, "-o", "yaml"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    info = yaml.safe_load(listed.stdout)
    assert info["service"] == "serving.service:AlphaloopService"
    bento_dir = tmp_path / "bentoml" / "bentos" / "alphaloop" / tag.split(":", 1)[1]
    assert (bento_dir / "src" / "serving" / "service.py").exists()
    assert (bento_dir / "src" / "params.yaml").exists()
