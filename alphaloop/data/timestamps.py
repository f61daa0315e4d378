"""Reading a file's timestamp column: one layout for the whole column, chosen from evidence.

A column is never parsed row by row with guessing: its layout (ISO 8601, year-first with
other separators, day-first or month-first, unix seconds/ms/us/ns, or one layout pandas infers
from the first value) is decided once from all rows and then applied to every row.

- Day-first vs month-first (``05/06/2024``) is decided by a field above 12 (``13/06`` can only
  be day-first), then by the order of the rows (only one reading keeps them in time order),
  then by coverage (a reading that would leave most of its time span empty, such as hourly bars
  read as one day per month, is rejected). Anything else is refused with a
  :class:`TimestampError` naming the settings to add (``dayfirst`` or ``timestamp_format``).
- A column mixing layouts (``2024-01-02`` and ``02/01/2024``, or times with and without a UTC
  offset, or unix seconds beside milliseconds) is refused: it cannot be read with certainty.
- Naive times are local times in ``timezone`` (default UTC) and are converted to UTC with the
  zone's daylight-saving rules; the repeated autumn hour is resolved from the row order, and
  times that cannot be resolved (or do not exist, in the spring gap) become ``NaT`` so that
  validation counts them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

Unit = Literal["s", "ms", "us", "ns"]
_UNIT_BANDS: tuple[tuple[Unit, float, float], ...] = (
    # Magnitudes of epoch values between 1973 and 5138 (s) and the like for finer units.
    ("s", 1e8, 1e11), ("ms", 1e11, 1e14), ("us", 1e14, 1e17), ("ns", 1e17, 1e20),
)
_ISO = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}(?:[ T].*)?$")
_YMD = re.compile(r"^(\d{4})([./])(\d{1,2})\2(\d{1,2})(.*)$")
_DMY = re.compile(r"^(\d{1,2})([./-])(\d{1,2})\2(\d{4}|\d{2})(.*)$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_EPOCH = re.compile(r"^-?\d+(\.\d+)?$")
_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")
_GMT = re.compile(r"\s*(?:GMT|UTC)\s*([+-])(\d{2}):?(\d{2})$")
_ZULU_WORD = re.compile(r"\s+(?:GMT|UTC)$")
_SETTINGS_HINT = ("set dayfirst: true|false or timestamp_format (e.g. '%d/%m/%Y %H:%M') on "
                  "ingest.source (CLI: --dayfirst/--monthfirst or --timestamp-format)")


class TimestampError(ValueError):
    """A timestamp column cannot be read with certainty; the message names the setting to add."""


@dataclass(frozen=True)
class TimestampSettings:
    """How to read a timestamp column (all optional: the layout is inferred when unset)."""

    format: str | None = None  # an explicit strftime format, applied to every row
    dayfirst: bool | None = None  # for 05/06/2024-style dates
    timezone: str = "UTC"  # the zone of naive times
    unit: Unit | None = None  # for unix times; inferred from their magnitude when unset


@dataclass(frozen=True)
class ParsedTimestamps:
    """UTC timestamps (``NaT`` where unreadable), each row's offset text and how they were read."""

    values: pd.Series
    offsets: pd.Series
    layout: str


def parse_timestamps(column: pd.Series, settings: TimestampSettings | None = None,
                     where: str = "timestamp") -> ParsedTimestamps:
    """Parse a whole timestamp column to UTC with one layout (see the module docstring).

    Args:
        column: The column as read (text, numbers or datetimes).
        settings: Explicit format, day order, time zone or unit; inferred when unset.
        where: The file (and column) named in error messages.

    Raises:
        TimestampError: Mixed layouts, or a day/month order the data cannot decide.
    """
    settings = settings or TimestampSettings()
    column = column.reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(column):
        aware = column.dt.tz is not None
        values = column.dt.tz_convert("UTC") if aware else _localize(column, settings.timezone)
        offset = "+00:00" if aware else ""
        return ParsedTimestamps(_utc(values), _text([offset] * len(column)),
                                "datetime" if aware else f"naive datetime in {settings.timezone}")
    if pd.api.types.is_numeric_dtype(column):
        return _epoch(column.astype("float64"), settings, where)
    text = column.astype("string").str.strip()
    if settings.format is not None:
        parsed = pd.to_datetime(text, format=settings.format, errors="coerce", utc=True)
        return _finish(parsed, text, settings, f"format {settings.format!r}", where)
    present = text.dropna()
    present = present[present != ""]
    if len(present) and present.str.fullmatch(_EPOCH.pattern).all() \
            and not present.str.fullmatch(_COMPACT.pattern).all():
        return _epoch(pd.to_numeric(text, errors="coerce"), settings, where)
    return _text_layout(text, settings, where)


def _epoch(numbers: pd.Series, settings: TimestampSettings, where: str) -> ParsedTimestamps:
    unit = settings.unit or _infer_unit(numbers, where)
    values = pd.to_datetime(numbers, unit=unit, utc=True, errors="coerce")
    return ParsedTimestamps(_utc(values), _text(["+00:00"] * len(numbers)), f"unix {unit}")


def _infer_unit(numbers: pd.Series, where: str) -> Unit:
    magnitude = numbers.dropna().abs()
    if magnitude.empty:
        return "ms"
    units = {unit for unit, low, high in _UNIT_BANDS
             if ((magnitude >= low) & (magnitude < high)).any()}
    if len(units) != 1:
        found = ", ".join(sorted(units)) or "none"
        raise TimestampError(
            f"{where}: unix times of different magnitudes ({found}) or outside 1973-5138; "
            "set timestamp_unit: s|ms|us|ns on ingest.source")
    return units.pop()


def _family(value: str) -> str:
    if _ISO.match(value):
        return "iso"
    if _YMD.match(value):
        return "ymd"
    if _COMPACT.match(value):
        return "compact"
    match = _DMY.match(value)
    if match:
        return f"dmy{match.group(2)}"
    return "other" if re.search(r"\d", value) else ""


def _text_layout(text: pd.Series, settings: TimestampSettings,
                 where: str) -> ParsedTimestamps:
    normalised = text.str.replace(_GMT, r"\1\2:\3", regex=True).str.replace(
        _ZULU_WORD, "Z", regex=True)
    families = normalised.fillna("").map(_family)
    kinds = families[families != ""].value_counts()
    if len(kinds) > 1:
        raise TimestampError(_mixed_message(normalised, families, kinds, where))
    kind = str(kinds.index[0]) if len(kinds) else "iso"
    if kind == "iso":
        return _finish(_iso(normalised), normalised, settings, "ISO 8601", where)
    if kind == "ymd":
        iso = normalised.str.replace(_YMD, r"\1-\3-\4\5", regex=True)
        return _finish(_iso(iso), iso, settings, "year-first", where)
    if kind == "compact":
        parsed = pd.to_datetime(normalised, format="%Y%m%d", errors="coerce")
        return _finish(parsed, normalised, settings, "YYYYMMDD", where)
    if kind.startswith("dmy"):
        return _day_month(normalised, settings, where)
    # Layouts such as 'Jan 2, 2024': pandas infers one format from the first value and
    # applies it to every row (rows that do not fit become NaT and are counted).
    try:
        parsed = pd.to_datetime(normalised, errors="coerce")
    except (ValueError, TypeError) as exc:
        raise TimestampError(f"{where}: timestamps not understood ({exc}); set "
                             "timestamp_format on ingest.source") from exc
    return _finish(parsed, normalised, settings, "inferred from the first row", where)


def _mixed_message(text: pd.Series, families: pd.Series, kinds: pd.Series, where: str) -> str:
    examples = []
    for kind, count in kinds.items():
        first = int(np.flatnonzero((families == kind).to_numpy())[0])
        examples.append(f"{count:,} rows like {text.iloc[first]!r} (first at row {first})")
    return (f"{where}: the timestamp column mixes layouts: {'; '.join(examples)}. One file must "
            "use one layout: fix the file, or set timestamp_format on ingest.source to read "
            "one of them (rows in the others are then counted as unparseable)")


def _day_month(text: pd.Series, settings: TimestampSettings, where: str) -> ParsedTimestamps:
    parts = text.str.extract(_DMY)
    first, second = (pd.to_numeric(parts[i], errors="coerce").astype("float64") for i in (0, 2))
    short = pd.to_numeric(parts[3], errors="coerce").fillna(0).to_numpy()
    # Two-digit years as strptime's %y reads them: 69-99 -> 19xx, 00-68 -> 20xx.
    century = pd.Series(np.where(short < 69, "20", "19"), index=parts.index)
    year = parts[3].where(parts[3].str.len() == 4, century + parts[3])

    def reading(dayfirst: bool) -> pd.Series:
        day, month = (parts[0], parts[2]) if dayfirst else (parts[2], parts[0])
        iso = year + "-" + month.str.zfill(2) + "-" + day.str.zfill(2) + parts[4].fillna("")
        return iso.where(parts[0].notna())

    dayfirst = settings.dayfirst
    evidence = "set"
    if dayfirst is None:
        dayfirst, evidence = _decide_day_order(first, second, reading, text, where)
    iso = reading(dayfirst)
    layout = f"{'day' if dayfirst else 'month'}-first ({evidence})"
    return _finish(_iso(iso), iso, settings, layout, where)


def _decide_day_order(first: pd.Series, second: pd.Series,
                      reading: Callable[[bool], pd.Series], text: pd.Series,
                      where: str) -> tuple[bool, str]:
    day_rows, month_rows = np.flatnonzero(first > 12), np.flatnonzero(second > 12)
    if len(day_rows) and len(month_rows):
        raise TimestampError(
            f"{where}: the timestamp column mixes day-first and month-first dates: row "
            f"{day_rows[0]} {text.iloc[day_rows[0]]!r} can only be day-first, row "
            f"{month_rows[0]} {text.iloc[month_rows[0]]!r} only month-first; fix the file")
    if len(day_rows):
        return True, f"a first field above 12 in {len(day_rows):,} rows"
    if len(month_rows):
        return False, f"a second field above 12 in {len(month_rows):,} rows"
    scores = {flag: _order_score(_iso(reading(flag))) for flag in (True, False)}
    (backward_d, coverage_d), (backward_m, coverage_m) = scores[True], scores[False]
    if backward_d != backward_m and min(backward_d, backward_m) == 0:
        return backward_d == 0, "only this reading keeps the rows in time order"
    if min(coverage_d, coverage_m) < 0.2 <= 0.5 <= max(coverage_d, coverage_m):
        return coverage_d > coverage_m, "the other reading would leave most of its span empty"
    raise TimestampError(
        f"{where}: dates such as {text.dropna().iloc[0]!r} can be day-first or month-first and "
        f"nothing in the file decides (no field above 12, and the row order and spacing fit both readings); "
        f"{_SETTINGS_HINT}")


def _order_score(parsed: pd.Series) -> tuple[int, float]:
    """Backward steps, and the share of the span's bar slots (at the modal step) holding a row."""
    stamps = parsed.dropna()
    steps = stamps.diff().dropna()
    backward = int((steps < pd.Timedelta(0)).sum())
    forward = steps[steps > pd.Timedelta(0)]
    if forward.empty:
        return backward, 1.0
    slots = (stamps.max() - stamps.min()) / forward.mode().iloc[0] + 1
    return backward, float(len(stamps) / slots)


def _iso(text: pd.Series) -> pd.Series:
    """Year-first text to UTC (naive times read as UTC wall-clock; ``_finish`` re-zones them)."""
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    missing = parsed.isna() & text.notna() & (text != "")
    if missing.any():
        # The date part is already year-first; only unusual time parts ('1:45 PM') get here.
        parsed[missing] = pd.to_datetime(text[missing], utc=True, errors="coerce",
                                         format="mixed", dayfirst=False)
    return parsed


def _finish(parsed: pd.Series, text: pd.Series, settings: TimestampSettings, layout: str,
            where: str) -> ParsedTimestamps:
    offsets = text.str.extract(_OFFSET, expand=False).fillna("")
    readable = parsed.notna()
    has_offset = offsets != ""
    if (has_offset & readable).any() and (~has_offset & readable).any():
        first = int(np.flatnonzero((~has_offset & readable).to_numpy())[0])
        raise TimestampError(
            f"{where}: the timestamp column mixes times with a UTC offset and without one "
            f"(row {first}: {text.iloc[first]!r}); fix the file or set timestamp_format")
    values = pd.to_datetime(parsed, errors="coerce", utc=True)
    explicit_zone = settings.format is not None and ("%z" in settings.format
                                                     or "%Z" in settings.format)
    if not (has_offset.any() or explicit_zone):
        values = _localize(values.dt.tz_convert(None), settings.timezone)
        layout += f", naive times in {settings.timezone}"
    return ParsedTimestamps(_utc(values), offsets.astype("string"), layout)


def _localize(values: pd.Series, timezone: str) -> pd.Series:
    """Naive local times to UTC with the zone's DST rules (unresolvable times become NaT)."""
    if timezone.upper() == "UTC":
        return values.dt.tz_localize("UTC")
    try:
        return values.dt.tz_localize(timezone, ambiguous="infer", nonexistent="NaT")
    except ValueError:
        # The repeated autumn hour cannot be told apart from the row order: leave it NaT.
        return values.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")


def _utc(values: pd.Series) -> pd.Series:
    return values.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").reset_index(drop=True)


def _text(items: list[str]) -> pd.Series:
    return pd.Series(items, dtype="string")
