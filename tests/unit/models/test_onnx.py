"""ONNX export: every member and the whole ensemble match the native models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest

from alphaloop.models import EnsemblePredictor, OnnxEnsemble, TrainReport, export_onnx
from alphaloop.models.onnx_export import TARGET_OPSET

Trained = tuple[EnsemblePredictor, TrainReport]
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def exported(trained: Trained, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[EnsemblePredictor, dict[str, Path]]:
    predictor, _ = trained
    return predictor, export_onnx(predictor, tmp_path_factory.mktemp("onnx"))


def test_export_writes_one_graph_per_member(exported: tuple[EnsemblePredictor,
                                                             dict[str, Path]]) -> None:
    _, paths = exported
    assert set(paths) == {"lightgbm", "xgboost", "catboost", "manifest"}
    for name in ("lightgbm", "xgboost", "catboost"):
        model = onnx.load(str(paths[name]))
        onnx.checker.check_model(model)
        assert [out.name for out in model.graph.output] and len(model.graph.output) == 1
        assert "ZipMap" not in {node.op_type for node in model.graph.node}
        default = [op.version for op in model.opset_import if op.domain in ("", "ai.onnx")]
        assert all(v <= TARGET_OPSET for v in default)


def test_exports_are_byte_identical_whatever_order_the_converter_lists_opsets(
        exported: tuple[EnsemblePredictor, dict[str, Path]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # onnxmltools fills opset_import from a set of (domain, version) pairs: its order changes
    # with the process's hash seed (a fresh clone's `make run` met the other order).
    from alphaloop.models import onnx_export

    predictor, first = exported
    for name, convert in list(onnx_export.CONVERTERS.items()):
        def reversed_opsets(member: object, n: int, convert: object = convert) -> object:
            model = convert(member, n)  # type: ignore[operator]
            opsets = list(model.opset_import)[::-1]
            del model.opset_import[:]
            model.opset_import.extend(opsets)
            model.graph.name = "a-random-uuid"
            return model

        monkeypatch.setitem(onnx_export.CONVERTERS, name, reversed_opsets)
    second = export_onnx(predictor, tmp_path)
    for name, path in first.items():
        assert path.read_bytes() == second[name].read_bytes(), name


def _max_diffs(native: EnsemblePredictor, runtime: OnnxEnsemble,
               rows: pd.DataFrame) -> tuple[np.ndarray, float]:
    members = np.abs(native.member_proba(rows) - runtime.member_proba(rows)).max(axis=0)
    ensemble = float(np.abs(native.predict_proba(rows) - runtime.predict_proba(rows)).max())
    return members, ensemble


def test_onnx_matches_native(exported: tuple[EnsemblePredictor, dict[str, Path]],
                             signal_frame: pd.DataFrame) -> None:
    predictor, paths = exported
    runtime = OnnxEnsemble.load(paths["manifest"].parent)
    rows = signal_frame.iloc[-400:]
    members, ensemble = _max_diffs(predictor, runtime, rows)
    assert members.shape == (3,)
    assert (members < TOLERANCE).all(), dict(zip(predictor.fitted.members, members,
                                                 strict=True))
    assert ensemble < TOLERANCE


def test_onnx_matches_native_stacked_isotonic(trained_stacked: Trained,
                                              signal_frame: pd.DataFrame,
                                              tmp_path: Path) -> None:
    predictor, _ = trained_stacked
    export_onnx(predictor, tmp_path)
    members, ensemble = _max_diffs(predictor, OnnxEnsemble.load(tmp_path, threads=2),
                                   signal_frame.iloc[:300])
    assert (members < TOLERANCE).all() and ensemble < TOLERANCE


def test_onnx_validates_input(exported: tuple[EnsemblePredictor, dict[str, Path]],
                              signal_frame: pd.DataFrame) -> None:
    predictor, paths = exported
    runtime = OnnxEnsemble.load(paths["manifest"].parent)
    assert runtime.feature_columns == predictor.feature_columns
    rows = signal_frame.iloc[:2]
    with pytest.raises(ValueError, match="missing feature column 'f9'"):
        runtime.predict_proba(rows.drop(columns=["f9"]))
    single = rows[predictor.feature_columns].iloc[0].to_dict()
    assert runtime.predict_proba(single) == pytest.approx(predictor.predict_proba(single),
                                                          abs=TOLERANCE)
