"""Turning caller input into the model's float32 feature matrix, with errors naming columns.

The members see float32 (the precision XGBoost, CatBoost and ONNX Runtime use), so training,
native prediction and ONNX prediction all read the very same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from alphaloop.data.schema import BAR_COLUMNS
from alphaloop.labels import LABEL_COLUMNS

NON_FEATURE_COLUMNS: frozenset[str] = frozenset((*BAR_COLUMNS, *LABEL_COLUMNS))

Rows = pd.DataFrame | np.ndarray | Mapping[str, Any] | Sequence[Mapping[str, Any]]


def default_feature_columns(frame: pd.DataFrame) -> list[str]:
    """Every float column of ``frame`` that is not a bar or label column, in frame order."""
    return [c for c in frame.columns
            if c not in NON_FEATURE_COLUMNS and pd.api.types.is_float_dtype(frame[c].dtype)]


def feature_matrix(data: Rows, columns: Sequence[str]) -> np.ndarray:
    """Validate ``data`` and return a C-contiguous float32 matrix in ``columns`` order.

    Args:
        data: A DataFrame (extra columns are ignored), a 2-D array whose columns are
            ``columns`` in order (a 1-D array is one row), one row as a mapping, or a
            sequence of such mappings.
        columns: Feature columns the model expects.

    Returns:
        Array of shape ``(n_rows, len(columns))``.

    Raises:
        ValueError: Naming the column that is missing, not numeric or not finite (NaN, inf,
            or beyond float32 range), or describing a wrongly shaped array.
    """
    if isinstance(data, pd.DataFrame):
        matrix = _from_frame(data, columns)
    elif isinstance(data, np.ndarray):
        matrix = _from_array(data, columns)
    elif isinstance(data, Mapping):
        matrix = _from_mappings([data], columns)
    elif isinstance(data, Sequence) and not isinstance(data, str):
        matrix = _from_mappings(data, columns)
    else:
        raise ValueError(f"expected a DataFrame, an array or mapping(s) of features, got "
                         f"{type(data).__name__}")
    _check_finite(matrix, columns)
    return matrix


def _from_frame(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    # Plain dict look-ups over a list: several times cheaper than frame[columns] or
    # get_indexer for a single row (pandas' own machinery dominates small calls).
    names = frame.columns.tolist()
    position = dict(zip(names, range(len(names)), strict=True))
    where = [position.get(c, -1) for c in columns]
    if -1 in where:
        raise ValueError(_missing_message([c for c, i in zip(columns, where, strict=True)
                                           if i < 0]))
    dtypes = frame.dtypes.to_numpy()
    for column, i in zip(columns, where, strict=True):
        # numpy and pandas extension dtypes both expose a numpy-style kind.
        if getattr(dtypes[i], "kind", "O") not in "biuf":
            raise ValueError(f"feature column {column!r} has dtype {dtypes[i]}, "
                             "expected numbers")
    # The caller's frame often is exactly the feature frame: skip the column selection then.
    exact = len(where) == len(names) and where == list(range(len(where)))
    selected = frame if exact else frame.take(where, axis=1)
    return np.ascontiguousarray(selected.to_numpy(dtype=np.float32, na_value=np.nan))


def _from_array(array: np.ndarray, columns: Sequence[str]) -> np.ndarray:
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2 or array.shape[1] != len(columns):
        raise ValueError(f"expected an array of shape (n, {len(columns)}) in feature-column "
                         f"order, got {array.shape}")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"feature array has dtype {array.dtype}, expected numbers")
    return np.ascontiguousarray(array, dtype=np.float32)


def _from_mappings(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> np.ndarray:
    matrix = np.empty((len(rows), len(columns)), dtype=np.float32)
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"row {i} is a {type(row).__name__}, expected a mapping")
        try:
            values = np.array([row[c] for c in columns])
        except KeyError:
            raise ValueError(_missing_message([c for c in columns if c not in row])) from None
        except ValueError:  # ragged: some value is a sequence
            values = np.array([row[c] for c in columns], dtype=object)
        # Numbers give a numeric array at once; anything else (text, None) is named below.
        if values.dtype.kind not in "biuf":
            _name_non_number(row, columns)
        matrix[i] = values
    return matrix


def _name_non_number(row: Mapping[str, Any], columns: Sequence[str]) -> None:
    for column in columns:
        value = row[column]
        # bool is an int subclass; numpy scalars register as numbers.Real.
        if not isinstance(value, Real):
            raise ValueError(f"feature column {column!r} holds {value!r} "
                             f"({type(value).__name__}), expected a number")


def _check_finite(matrix: np.ndarray, columns: Sequence[str]) -> None:
    finite = np.isfinite(matrix)
    if finite.all():
        return
    bad = np.flatnonzero(~finite.all(axis=0))
    names = [columns[int(j)] for j in bad]
    rows = int((~finite.all(axis=1)).sum())
    raise ValueError(f"feature column {names[0]!r} is NaN/inf (or beyond float32 range) in "
                     f"{rows} row(s); non-finite columns: {names[:10]}")


def _missing_message(missing: list[str]) -> str:
    more = f" (and {len(missing) - 10} more)" if len(missing) > 10 else ""
    return f"missing feature column {missing[0]!r}; missing: {missing[:10]}{more}"
