"""Validate raw bars with the GX suite, stop on unusable data, then apply the cleaning rules.

``validate_bars`` is the one entry point: it returns the cleaned bars and a JSON-ready
report, or raises :class:`DataValidationError` naming the rule, the column and the count.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alphaloop.config import ValidateParams
from alphaloop.data import corporate, rules
from alphaloop.data.expectations import ExpectationResult, run_suite
from alphaloop.data.schema import BAR_COLUMNS, REQUIRED_COLUMNS, parse_timeframe

log = logging.getLogger(__name__)


class DataValidationError(ValueError):
    """The bars are unusable; the message names the rule, the column and the failing rows."""

    def __init__(self, rule: str, column: str, failing: int, total: int, detail: str) -> None:
        self.rule, self.column, self.failing, self.total = rule, column, failing, total
        super().__init__(f"rule '{rule}' failed on column '{column}': {detail}")


@dataclass
class ValidationReport:
    """Everything the validate stage found and did, ready for ``report.json``."""

    source: str
    rows_in: int
    rows_out: int = 0
    passed: bool = False
    unparseable: dict[str, int] = field(default_factory=dict)
    expectations: list[dict[str, Any]] = field(default_factory=list)
    cleaning: list[dict[str, Any]] = field(default_factory=list)
    utc_offsets: dict[str, int] = field(default_factory=dict)
    gaps: list[dict[str, object]] = field(default_factory=list)
    flaws: dict[str, int] = field(default_factory=dict)
    segments: int = 0
    session: str = "continuous"
    order: str = "oldest first"
    jumps: list[dict[str, object]] = field(default_factory=list)
    adjustments: list[dict[str, object]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ValidationOutcome:
    bars: pd.DataFrame
    report: ValidationReport


# Which threshold guards which rule; rules without one are repaired or flagged, never fatal.
_THRESHOLDS = {
    "not_null": "max_null_share",
    "positive_prices": "max_ohlc_violation_share",
    "high_ge_open_close": "max_ohlc_violation_share",
    "low_le_open_close": "max_ohlc_violation_share",
    "non_negative_volume": "max_negative_volume_share",
    "unique_timestamps": "max_duplicate_share",
    "on_grid": "max_off_grid_share",
    "in_session": "max_off_session_share",
    "zero_volume": "max_zero_volume_share",
}


def validate_bars(raw: pd.DataFrame, params: ValidateParams, source: str = "bars",
                  docs_dir: Path | None = None,
                  actions: pd.DataFrame | None = None) -> ValidationOutcome:
    """Check raw bars against the suite; stop on unusable data; clean and report the rest.

    ``actions`` is the user's splits/dividends table for ``adjust_from: actions``.
    """
    report = ValidationReport(source=source, rows_in=len(raw), session=params.session)
    _require_columns(raw)
    if raw.empty:
        raise DataValidationError("min_rows", "timestamp", 0, 0, "the file has no rows")
    interval = parse_timeframe(str(raw["timeframe"].iloc[0]))
    typed = _in_time_order(_coerce(raw, params, report), params, report)
    checked = rules.add_grid_columns(typed, interval, params.session)
    results = run_suite(checked, docs_dir)
    report.expectations = [_result_row(r, params) for r in results]
    _stop_on_failures(results, params)
    if "utc_offset" in typed:
        counts = typed["utc_offset"].fillna("").replace("", "naive").value_counts()
        report.utc_offsets = {str(k): int(v) for k, v in counts.items()}
    bars = _clean(typed, interval, params, report, actions)
    bars = bars[[c for c in BAR_COLUMNS if c in bars.columns]]
    report.rows_out, report.passed = len(bars), True
    report.segments = int(bars["segment"].nunique())
    return ValidationOutcome(bars=bars, report=report)


def _in_time_order(typed: pd.DataFrame, params: ValidateParams,
                   report: ValidationReport) -> pd.DataFrame:
    """Reverse a newest-first file; stop when more rows step back than allowed."""
    steps = typed["timestamp"].diff()
    backward, forward = int((steps < pd.Timedelta(0)).sum()), int((steps > pd.Timedelta(0)).sum())
    if backward > forward:
        typed = typed.iloc[::-1].reset_index(drop=True)
        report.order = "newest first (reversed to oldest first)"
        backward = forward
    total = len(typed)
    if total > 1 and backward / (total - 1) > params.max_out_of_order_share:
        back = np.flatnonzero((typed["timestamp"].diff() < pd.Timedelta(0)).to_numpy())
        examples = [f"row {i}: {typed['timestamp'].iloc[i - 1]} then "
                    f"{typed['timestamp'].iloc[i]}" for i in back[:3]]
        raise DataValidationError(
            "increasing_timestamps", "timestamp", backward, total,
            f"{backward:,} of {total:,} rows ({backward / (total - 1):.1%}) step back in time "
            f"(allowed: {params.max_out_of_order_share:.1%}; validate.max_out_of_order_share "
            "in params.yaml). A file is not re-sorted silently: misread dates (day-first read "
            "as month-first) look like this, so check ingest.source.dayfirst / "
            f"timestamp_format; examples: {examples}")
    return typed


def _require_columns(raw: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        found = ", ".join(c for c in raw.columns if c not in ("symbol", "timeframe",
                                                               "utc_offset"))
        raise DataValidationError(
            "required_columns", missing[0], len(raw), len(raw),
            f"missing column(s) {', '.join(missing)} (found: {found}); map them with "
            "ingest.source.column_map")


def _coerce(raw: pd.DataFrame, params: ValidateParams,
            report: ValidationReport) -> pd.DataFrame:
    typed, unparseable = rules.coerce_numeric(raw)
    # Timestamps were parsed by the source; NaT where text could not be read.
    unparseable = {"timestamp": int(raw["timestamp"].isna().sum()), **unparseable}
    report.unparseable = unparseable
    total = len(raw)
    for column, count in unparseable.items():
        if total and count / total > params.max_unparseable_share:
            raise DataValidationError(
                "parseable_values", column, count, total,
                f"{count:,} of {total:,} rows ({count / total:.1%}) are not valid "
                f"{'timestamps' if column == 'timestamp' else 'numbers'} "
                f"(allowed: {params.max_unparseable_share:.1%})")
    return typed


def _result_row(result: ExpectationResult, params: ValidateParams) -> dict[str, Any]:
    key = _THRESHOLDS.get(result.rule)
    row = asdict(result)
    row["share"] = round(result.share, 6)
    row["threshold"] = getattr(params, key) if key else None
    row["fatal"] = key is not None and result.share > row["threshold"]
    return row


def _stop_on_failures(results: list[ExpectationResult], params: ValidateParams) -> None:
    for result in results:
        key = _THRESHOLDS.get(result.rule)
        if key is None or result.share <= getattr(params, key):
            continue
        limit = getattr(params, key)
        raise DataValidationError(
            result.rule, result.column, result.unexpected_count, result.element_count,
            f"{result.unexpected_count:,} of {result.element_count:,} rows "
            f"({result.share:.1%}) fail {result.expectation} (allowed: {limit:.1%}; "
            f"validate.{key} in params.yaml); examples: {result.examples[:3]}")


def _clean(typed: pd.DataFrame, interval: pd.Timedelta, params: ValidateParams,
           report: ValidationReport, actions: pd.DataFrame | None) -> pd.DataFrame:
    outcomes: list[rules.RuleOutcome] = []
    bars, done = rules.drop_invalid_rows(typed)
    outcomes += done
    bars, done = rules.sort_and_dedupe(bars, params.duplicate_keep)
    outcomes += done
    bars, done = rules.drop_off_grid(bars, interval, params.session)
    outcomes += done
    bars, done = rules.drop_off_session(bars, interval, params.session)
    outcomes += done
    bars, done = _corporate_actions(bars.reset_index(drop=True), params, report, actions)
    outcomes += done
    bars, done, report.gaps = rules.mark_gaps(bars, interval, params.session)
    outcomes += done
    if params.gap_policy == "split" and bars["segment"].nunique() > 1:
        bars, done = rules.split_largest_segment(bars)
        outcomes += done
    bars, done = rules.flag_zero_volume(bars)
    outcomes += done
    for outcome in outcomes:
        log.info("cleaning rule %s: %s (%d rows)", outcome.rule, outcome.action, outcome.rows)
    report.cleaning = [asdict(o) for o in outcomes]
    report.flaws = _flaws(outcomes, report)
    if len(bars) < params.min_rows:
        raise DataValidationError(
            "min_rows", "timestamp", len(bars), len(typed),
            f"only {len(bars):,} usable bars remain after cleaning "
            f"(need validate.min_rows = {params.min_rows:,})")
    return bars.reset_index(drop=True)


def _corporate_actions(bars: pd.DataFrame, params: ValidateParams, report: ValidationReport,
                       actions: pd.DataFrame | None
                       ) -> tuple[pd.DataFrame, list[rules.RuleOutcome]]:
    """Adjust from adj_close or an actions file, then find jumps and apply ``jump_policy``."""
    adjustments: list[corporate.Adjustment] = []
    if params.adjust_from == "adj_close":
        if "adj_close" not in bars or bars["adj_close"].isna().any():
            raise DataValidationError(
                "adjust_from", "adj_close", len(bars), len(bars),
                "validate.adjust_from: adj_close needs an adjusted-close column with a number "
                "in every row (map it with ingest.source.column_map: {adj_close: <column>})")
        bars, adjustments = corporate.adjust_from_adj_close(bars)
    elif params.adjust_from == "actions":
        if actions is None:
            raise DataValidationError("adjust_from", "actions_file", 0, len(bars),
                                      "validate.adjust_from: actions needs the actions file "
                                      "(validate.actions_file)")
        adjustments = corporate.actions_adjustments(bars, actions)
        bars = corporate.back_adjust(bars, adjustments)
    jumps = corporate.find_jumps(bars, params.jump_z, params.split_tolerance)
    splits = corporate.split_adjustments(jumps)
    if splits and params.jump_policy == "fail":
        listed = "; ".join(f"{a.timestamp[:10]}: {a.reason}" for a in splits[:5])
        raise DataValidationError(
            "corporate_actions", "close", len(splits), len(bars),
            f"{len(splits)} split-like move(s) that unadjusted prices would pass off as real "
            f"returns: {listed}. Set validate.adjust_from: adj_close (the file has an adjusted "
            "close) or actions (a splits file), validate.jump_policy: adjust to back-adjust "
            "by the detected ratio, or jump_policy: flag to keep the prices as they are")
    if splits and params.jump_policy == "adjust":
        bars = corporate.back_adjust(bars, splits)
        adjustments += splits
    report.jumps = [j.to_dict() for j in jumps]
    report.adjustments = [a.to_dict() for a in adjustments]
    outcomes = []
    if adjustments:
        outcomes.append(rules.RuleOutcome("corporate_actions", "back-adjusted prices and volume",
                                          len(adjustments)))
    if jumps:
        outcomes.append(rules.RuleOutcome("jumps", f"flagged moves beyond |z| {params.jump_z:g}",
                                          len(jumps)))
    return bars, outcomes


def _flaws(outcomes: list[rules.RuleOutcome], report: ValidationReport) -> dict[str, int]:
    """The headline counts a user looks for first, one per known kind of flaw."""
    by_rule = {o.rule: o.rows for o in outcomes}
    offsets = report.utc_offsets
    return {
        "duplicate_timestamps": by_rule.get("unique_timestamps", 0),
        "out_of_order_rows": by_rule.get("increasing_timestamps", 0),
        "off_grid_partial_bars": by_rule.get("on_grid", 0),
        "off_session_bars": by_rule.get("in_session", 0),
        "gaps": len(report.gaps),
        "missing_bars_in_gaps": sum(int(g["missing_bars"]) for g in report.gaps),  # type: ignore[call-overload]
        "zero_volume_bars": by_rule.get("zero_volume", 0),
        "jumps_flagged": len(report.jumps),
        "split_like_moves": sum(1 for j in report.jumps if j["split"]),
        "price_adjustments": len(report.adjustments),
        "invalid_rows_dropped": sum(by_rule.get(r, 0) for r in (
            "not_null", "positive_prices", "high_ge_open_close", "low_le_open_close",
            "non_negative_volume")),
        "utc_offsets_seen": len(offsets),
        "rows_not_in_main_utc_offset": (sum(offsets.values()) - max(offsets.values())
                                        if offsets else 0),
    }
