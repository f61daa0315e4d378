"""Shared by the benchmarks: replace one ``## <title>`` section of bench/RESULTS.md."""

from __future__ import annotations

import platform
import re
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    import os

    return f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}"


def today() -> str:
    return date.today().isoformat()


def median_us(fn: Callable[[], Any], repeats: int, warmup: int = 10) -> float:
    """Median wall time of ``fn`` in microseconds, after ``warmup`` untimed calls."""
    for _ in range(min(warmup, repeats)):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def update_section(title: str, section: str, path: Path = RESULTS) -> None:
    """Replace (or append) the ``## {title}`` section, keeping every other section."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        # Keep one blank line before the next section.
        text = pattern.sub(lambda _: section.rstrip("\n") + "\n\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")
