"""Export the regime network to ONNX (dynamo exporter) and run it with ONNX Runtime.

Only the dynamo exporter is used: the legacy TorchScript exporter writes a PatchTST graph that
ONNX Runtime refuses (the positional encoder's ``Add`` gets incompatible dimensions). The
graph has one input, ``returns`` ``(batch, c)`` float32 with a dynamic batch, and one output,
``forecast`` ``(batch, 2)``. Every export is checked against torch before it is returned.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

INPUT_NAME = "returns"
OUTPUT_NAME = "forecast"
TOLERANCE = 1e-5
# The exporter needs a batch > 1 to keep the batch dimension symbolic.
_EXAMPLE_ROWS = 8


class OnnxParityError(RuntimeError):
    """The exported graph's outputs differ from torch's by more than the tolerance."""


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    # The exporter logs one warning per missing torchvision op and emits pytree warnings.
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        logger.setLevel(level)


def export_onnx(model: torch.nn.Module, path: str | Path, context_length: int,
                example: np.ndarray | None = None, tolerance: float = TOLERANCE) -> Path:
    """Write ``model`` as one self-contained ONNX file and check it against torch.

    Args:
        model: Maps a float32 ``(batch, context_length)`` tensor to a ``(batch, k)`` tensor
            (``RegimeNet``); put in eval mode.
        path: Destination file; its folder is created.
        context_length: Input width.
        example: ``(n, context_length)`` inputs (``n >= 2``) to trace and to compare
            outputs on; None draws standard-normal rows.
        tolerance: Largest accepted absolute difference between torch and ONNX Runtime.

    Returns:
        ``path``.

    Raises:
        OnnxParityError: If ONNX Runtime's outputs differ from torch's by more than
            ``tolerance`` on ``example``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if example is None:
        example = np.random.default_rng(0).standard_normal((_EXAMPLE_ROWS, context_length))
    x = torch.from_numpy(np.ascontiguousarray(example, dtype=np.float32))
    if x.ndim != 2 or x.shape[1] != context_length or x.shape[0] < 2:
        raise ValueError(f"example must be (n >= 2, {context_length}), got {tuple(x.shape)}")
    model.eval()
    batch = torch.export.Dim("batch", min=1)
    with _quiet_exporter():
        torch.onnx.export(model, (x,), str(path), dynamo=True, external_data=False,
                          verbose=False, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_shapes=({0: batch},))
    _drop_source_paths(path)
    with torch.inference_mode():
        expected = model(x).numpy()
    actual = run_onnx(onnx_session(path), x.numpy())
    diff = float(np.abs(expected - actual).max())
    if not diff <= tolerance:
        raise OnnxParityError(f"{path}: ONNX Runtime differs from torch by {diff:.3g} "
                              f"(tolerance {tolerance:g})")
    return path


def _drop_source_paths(path: Path) -> None:
    """Remove the exporter's per-node Python stack traces: they hold this checkout's absolute
    file paths, so the same model exported from another clone would differ byte for byte."""
    import onnx

    model = onnx.load(str(path))
    graphs = [model.graph, *(f for f in model.functions)]
    for graph in graphs:
        for node in graph.node:
            kept = [p for p in node.metadata_props if p.key != STACK_TRACE]
            del node.metadata_props[:]
            node.metadata_props.extend(kept)
    onnx.save(model, str(path))


STACK_TRACE = "pkg.torch.onnx.stack_trace"


def onnx_session(source: str | Path | bytes, threads: int = 1) -> Any:
    """An ONNX Runtime CPU session for a graph file (or its bytes).

    Args:
        source: The ``.onnx`` file, or the serialised model.
        threads: Intra-op threads (1 is fastest for single windows).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    model = source if isinstance(source, bytes) else str(source)
    return ort.InferenceSession(model, sess_options=options,
                                providers=["CPUExecutionProvider"])


def run_onnx(session: Any, inputs: np.ndarray) -> np.ndarray:
    """``(m, 2)`` float64 forecasts for ``(m, c)`` raw returns, in ONNX Runtime."""
    x = np.ascontiguousarray(inputs, dtype=np.float32)
    out: np.ndarray = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    return out.astype(np.float64)
