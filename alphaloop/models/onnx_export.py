"""Export the ensemble's members to ONNX and run them with ONNX Runtime.

Each member becomes one ``<name>.onnx`` graph with a single output: the ``(n, 2)`` float
tensor of class probabilities (the converters' ``label`` output and CatBoost's ZipMap
"list of dicts" are cut off, so nothing is unpacked per row). ``manifest.json`` repeats the
saved ensemble's manifest, so ``OnnxEnsemble`` applies the very same combiner and
calibrator with numpy.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from alphaloop.models.combine import Calibrator, Combiner
from alphaloop.models.ensemble import MANIFEST, EnsemblePredictor, read_manifest
from alphaloop.models.inputs import Rows, feature_matrix
from alphaloop.models.members import Member

# onnxmltools converts up to opset 15; ONNX Runtime 1.18+ runs it.
TARGET_OPSET = 15
INPUT_NAME = "input"


def _lightgbm_to_onnx(member: Member, n_features: int) -> onnx.ModelProto:
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    return onnxmltools.convert_lightgbm(
        member.model, initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
        target_opset=TARGET_OPSET, zipmap=False)


def _xgboost_to_onnx(member: Member, n_features: int) -> onnx.ModelProto:
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    return onnxmltools.convert_xgboost(
        member.model, initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
        target_opset=TARGET_OPSET)


def _catboost_to_onnx(member: Member, n_features: int) -> onnx.ModelProto:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catboost.onnx"
        member.model.save_model(str(path), format="onnx")
        return onnx.load(str(path))


# Member name -> converter; register more here for plugin members.
CONVERTERS: dict[str, Callable[[Member, int], onnx.ModelProto]] = {
    "lightgbm": _lightgbm_to_onnx,
    "xgboost": _xgboost_to_onnx,
    "catboost": _catboost_to_onnx,
}


def probability_graph(model: onnx.ModelProto) -> onnx.ModelProto:
    """Keep one graph output: the ``(n, 2)`` probability tensor (before any ZipMap)."""
    graph = model.graph
    zipmaps = [node for node in graph.node if node.op_type == "ZipMap"]
    if zipmaps:
        tensor = zipmaps[0].input[0]
        graph.node.remove(zipmaps[0])
    else:
        names = [out.name for out in graph.output]
        tensor = next((n for n in names if "prob" in n.lower()), names[-1])
    del graph.output[:]
    graph.output.append(onnx.helper.make_tensor_value_info(
        tensor, onnx.TensorProto.FLOAT, [None, 2]))
    onnx.checker.check_model(model)
    return model


def export_onnx(predictor: EnsemblePredictor, directory: Path) -> dict[str, Path]:
    """Write ``<member>.onnx`` for every member and ``manifest.json`` into ``directory``.

    Args:
        predictor: A trained or loaded ensemble.
        directory: Created if needed; existing files of the same names are replaced.

    Returns:
        Member name -> ONNX file, plus ``"manifest"`` -> the manifest file.

    Raises:
        ValueError: If a member has no registered converter.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    n_features = len(predictor.feature_columns)
    paths: dict[str, Path] = {}
    entries = {}
    for name, member in predictor.fitted.members.items():
        if name not in CONVERTERS:
            raise ValueError(f"no ONNX converter for member {name!r}; "
                             f"available: {sorted(CONVERTERS)}")
        model = probability_graph(CONVERTERS[name](member, n_features))
        # The converters name the graph with a random uuid and list the opsets in set order
        # (which differs per process): fixed, the file is byte-identical from run to run, so
        # DVC sees an unchanged model as unchanged.
        model.graph.name = name
        opsets = sorted(model.opset_import, key=lambda op: (op.domain, op.version))
        del model.opset_import[:]
        model.opset_import.extend(opsets)
        paths[name] = directory / f"{name}.onnx"
        onnx.save(model, str(paths[name]))
        entries[name] = {"file": paths[name].name, "best_iteration": member.best_iteration,
                         "params": member.params}
    paths["manifest"] = directory / MANIFEST
    paths["manifest"].write_text(json.dumps(predictor.manifest(entries), indent=2))
    return paths


class OnnxEnsemble:
    """The exported ensemble on ONNX Runtime: members as graphs, combination in numpy.

    Args:
        sessions: Member name -> inference session, in combination order.
        feature_columns: Input columns in model order.
        combiner: Member probabilities -> one probability.
        calibrator: Map applied to the combined probability.
    """

    def __init__(self, sessions: dict[str, Any], feature_columns: list[str],
                 combiner: Combiner, calibrator: Calibrator) -> None:
        self.sessions = sessions
        self.feature_columns = list(feature_columns)
        self.combiner = combiner
        self.calibrator = calibrator
        # CatBoost names its input "features", the converters "input": ask each graph.
        self._io = {name: (s.get_inputs()[0].name, [s.get_outputs()[0].name])
                    for name, s in sessions.items()}

    @classmethod
    def load(cls, directory: Path, threads: int = 1) -> OnnxEnsemble:
        """Open the graphs written by ``export_onnx``.

        Args:
            directory: The export directory.
            threads: Intra-op threads per session (1 is fastest for single rows).
        """
        import onnxruntime as ort

        directory = Path(directory)
        manifest = read_manifest(directory)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        sessions = {
            name: ort.InferenceSession(str(directory / entry["file"]), sess_options=options,
                                       providers=["CPUExecutionProvider"])
            for name, entry in manifest["members"].items()
        }
        return cls(sessions, manifest["feature_columns"],
                   Combiner.from_dict(manifest["combiner"]),
                   Calibrator.from_dict(manifest["calibrator"]))

    def member_proba(self, X: Rows) -> np.ndarray:
        """Each member's ``P(up)``, shape ``(n, n_members)``."""
        return self._member_proba(feature_matrix(X, self.feature_columns))

    def run_member(self, name: str, matrix: np.ndarray) -> np.ndarray:
        """``P(up)`` of one member (float32 output) for a validated float32 matrix."""
        input_name, outputs = self._io[name]
        proba: np.ndarray = self.sessions[name].run(outputs, {input_name: matrix})[0]
        return proba[:, 1]

    def _member_proba(self, matrix: np.ndarray) -> np.ndarray:
        columns = [self.run_member(name, matrix) for name in self.sessions]
        return np.column_stack(columns).astype(np.float64)

    def predict_proba(self, X: Rows) -> np.ndarray:
        """Calibrated ensemble ``P(up)``, shape ``(n,)`` (same inputs as the native model)."""
        member_proba = self._member_proba(feature_matrix(X, self.feature_columns))
        return self.calibrator.apply(self.combiner.apply(member_proba))
