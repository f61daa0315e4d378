"""The Great Expectations suite for bars, run in an ephemeral (in-memory) context.

Each expectation carries the alphaloop rule name in its ``meta`` so results map back to the
thresholds in ``params.yaml`` and to the cleaning rules.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from alphaloop.data.schema import PRICE_COLUMNS, REQUIRED_COLUMNS

SUITE_NAME = "bars"


@dataclass(frozen=True)
class ExpectationResult:
    """One expectation's outcome: which rule, which column, how many rows failed."""

    rule: str
    expectation: str
    column: str
    success: bool
    unexpected_count: int
    element_count: int
    examples: list[Any]

    @property
    def share(self) -> float:
        return self.unexpected_count / self.element_count if self.element_count else 0.0


def _expectations(has_offsets: bool) -> list[Any]:
    import great_expectations as gx

    ex = gx.expectations
    items: list[Any] = []
    for col in REQUIRED_COLUMNS:
        items.append(ex.ExpectColumnValuesToNotBeNull(column=col, meta={"rule": "not_null"}))
    for col in PRICE_COLUMNS:
        items.append(ex.ExpectColumnValuesToBeBetween(
            column=col, min_value=0, strict_min=True, meta={"rule": "positive_prices"}))
    for other in ("open", "close", "low"):
        items.append(ex.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="high", column_B=other, or_equal=True,
            ignore_row_if="either_value_is_missing", meta={"rule": "high_ge_open_close"}))
    for other in ("open", "close"):
        items.append(ex.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=other, column_B="low", or_equal=True,
            ignore_row_if="either_value_is_missing", meta={"rule": "low_le_open_close"}))
    items += [
        ex.ExpectColumnValuesToBeBetween(column="volume", min_value=0,
                                         meta={"rule": "non_negative_volume"}),
        ex.ExpectColumnValuesToBeUnique(column="timestamp", meta={"rule": "unique_timestamps"}),
        ex.ExpectColumnValuesToBeIncreasing(column="timestamp", strictly=True,
                                            meta={"rule": "increasing_timestamps"}),
        ex.ExpectColumnValuesToBeInSet(column="grid_offset_seconds", value_set=[0.0],
                                       meta={"rule": "on_grid"}),
        ex.ExpectColumnValuesToBeBetween(column="step_bars", max_value=1.0,
                                         meta={"rule": "gaps"}),
        ex.ExpectColumnValuesToBeInSet(column="in_session", value_set=[True],
                                       meta={"rule": "in_session"}),
        ex.ExpectColumnValuesToNotBeInSet(column="volume", value_set=[0, 0.0],
                                          meta={"rule": "zero_volume"}),
    ]
    if has_offsets:
        items.append(ex.ExpectColumnUniqueValueCountToBeBetween(
            column="utc_offset", max_value=1, meta={"rule": "single_utc_offset"}))
    return items


def run_suite(frame: pd.DataFrame, docs_dir: Path | None = None) -> list[ExpectationResult]:
    """Validate typed bars (with the grid helper columns) and return per-expectation counts.

    With ``docs_dir`` the run also writes GX's HTML data docs there.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("bars").add_dataframe_asset("bars")
    batch = asset.add_batch_definition_whole_dataframe("all")
    suite = context.suites.add(gx.ExpectationSuite(name=SUITE_NAME))
    has_offsets = "utc_offset" in frame and bool(frame["utc_offset"].fillna("").ne("").any())
    for expectation in _expectations(has_offsets):
        suite.add_expectation(expectation)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="bars", data=batch, suite=suite))
    data = frame.copy()
    # GX's pandas engine wants plain numpy dtypes; the string extension dtype trips it.
    if "utc_offset" in data:
        data["utc_offset"] = data["utc_offset"].astype(object)
    actions: list[Any] = []
    if docs_dir is not None:
        context.add_data_docs_site(site_name="report", site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(Path(docs_dir).resolve())},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        })
        actions.append(UpdateDataDocsAction(name="docs", site_names=["report"]))
    checkpoint = context.checkpoints.add(gx.Checkpoint(
        name="bars", validation_definitions=[definition], actions=actions,
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5}))
    run = checkpoint.run(batch_parameters={"dataframe": data})
    results = next(iter(run.run_results.values())).results
    minority = 0
    if has_offsets:
        minority = len(frame) - int(frame["utc_offset"].value_counts().max())
    return [_to_result(r, len(frame), minority) for r in results]


def _to_result(result: Any, rows: int, offset_minority: int) -> ExpectationResult:
    config = result.expectation_config
    kwargs = config.kwargs
    column = kwargs.get("column") or f"{kwargs.get('column_A')}/{kwargs.get('column_B')}"
    info = result.result or {}
    if config.type == "expect_column_unique_value_count_to_be_between":
        # A table-level check: count the rows outside the most common offset.
        unexpected = 0 if result.success else offset_minority
        element_count = rows
    else:
        unexpected = int(info.get("unexpected_count") or 0)
        element_count = int(info.get("element_count") or rows)
    return ExpectationResult(
        rule=str((config.meta or {}).get("rule", config.type)),
        expectation=config.type,
        column=str(column),
        success=bool(result.success),
        unexpected_count=unexpected,
        element_count=element_count,
        examples=[_plain(v) for v in (info.get("partial_unexpected_list") or [])[:5]],
    )


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
