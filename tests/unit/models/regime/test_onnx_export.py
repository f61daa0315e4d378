"""export_onnx: the dynamo exporter, a dynamic batch, and the parity check that guards it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from alphaloop.models.regime import export_onnx
from alphaloop.models.regime.onnx_export import (
    INPUT_NAME,
    OUTPUT_NAME,
    OnnxParityError,
    onnx_session,
    run_onnx,
)


@pytest.fixture(scope="module")
def linear() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(12, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))


def test_export_has_one_input_one_output_and_a_dynamic_batch(linear: torch.nn.Module,
                                                             tmp_path: Path) -> None:
    path = export_onnx(linear, tmp_path / "m.onnx", context_length=12)
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == [INPUT_NAME]
    assert [o.name for o in model.graph.output] == [OUTPUT_NAME]
    assert list(tmp_path.iterdir()) == [path]  # weights inside, no external data file
    session = onnx_session(path)
    for rows in (1, 5):
        x = np.random.default_rng(rows).standard_normal((rows, 12))
        with torch.inference_mode():
            expected = linear(torch.tensor(x, dtype=torch.float32)).numpy()
        np.testing.assert_allclose(run_onnx(session, x), expected, atol=1e-6)


def test_the_file_holds_no_source_paths(linear: torch.nn.Module, tmp_path: Path) -> None:
    # The exporter stamps each node with the Python stack that made it (absolute paths of
    # this checkout): dropped, the same model exports to the same bytes from any clone.
    first = export_onnx(linear, tmp_path / "a" / "m.onnx", context_length=12).read_bytes()
    assert b'File "' not in first and str(Path(torch.__file__).parent).encode() not in first
    assert export_onnx(linear, tmp_path / "b" / "m.onnx", context_length=12).read_bytes() \
        == first


def test_a_failed_parity_check_raises(linear: torch.nn.Module, tmp_path: Path) -> None:
    with pytest.raises(OnnxParityError, match="differs from torch"):
        export_onnx(linear, tmp_path / "m.onnx", context_length=12, tolerance=-1.0)


def test_bad_example_is_refused(linear: torch.nn.Module, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="example"):
        export_onnx(linear, tmp_path / "m.onnx", context_length=12, example=np.zeros((1, 12)))
