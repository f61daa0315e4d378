"""Shared by the benchmarks: replace one ``## <title>`` section of bench/RESULTS.md."""

from __future__ import annotations

import platform
import re
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    import os

    return f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}"


def today() -> str:
    return date.today().isoformat()


def update_section(title: str, section: str, path: Path = RESULTS) -> None:
    """Replace (or append) the ``## {title}`` section, keeping every other section."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")
