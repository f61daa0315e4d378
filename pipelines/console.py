"""What an entry point shows: our log lines (text or JSON), progress, and no library chatter.

- Text (default): one plain line per record. Libraries' INFO records (GX, onnxruntime's
  quantizer, onnxscript, MLflow's database set-up) are dropped, their warnings kept, except a
  few known-harmless ones listed in ``KNOWN_NOISE``.
- JSON (``--log-format json`` or ``ALPHALOOP_LOG_FORMAT=json``): one object per line with
  ``time``, ``level``, ``logger``, ``message``; progress records add ``task``, ``done`` and
  ``total``.
- Progress (:mod:`alphaloop.progress`): rich bars on a terminal; elsewhere (DVC's output in
  CI, a pipe) a log line per step, at most about ten per task.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from alphaloop import progress

FORMAT_ENV = "ALPHALOOP_LOG_FORMAT"
FORMATS = ("text", "json")
OUR_LOGGERS = ("alphaloop", "pipelines", "flows", "trader", "serving", "__main__")
# Warnings libraries print on every run that say nothing about this run.
KNOWN_NOISE: dict[str, tuple[str, ...]] = {
    # Our pyfunc wrappers are our own classes; MLflow warns about pickling any class.
    "mlflow.pyfunc": ("CloudPickle",),
    # torch's "+cpu" wheel: MLflow pins torch without the label, which is what we want.
    "mlflow.utils.requirements_utils": ("local version label",),
    # onnxruntime's dynamic quantizer suggests a pre-processing step for image models.
    "root": ("pre-processing before quantization",),
}
# Environment switches that quiet libraries which do not log through `logging`.
QUIET_ENV = {
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # tqdm bars when logging a model
    "MLFLOW_LOGGING_LEVEL": "WARNING",  # MLflow sets its own logger up when imported
    "TRANSFORMERS_VERBOSITY": "error",  # deprecation notices from inside optimum's export
}
log = logging.getLogger("alphaloop.progress")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for key in ("task", "done", "total"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class OwnInfoOnly(logging.Filter):
    """Our INFO records and everyone's warnings; libraries' INFO chatter is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.split(".")[0] in OUR_LOGGERS


class DropPhrases(logging.Filter):
    def __init__(self, phrases: tuple[str, ...]) -> None:
        super().__init__()
        self.phrases = phrases

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(phrase in message for phrase in self.phrases)


def log_format(requested: str | None = None) -> str:
    """The format asked for (argument, else ``ALPHALOOP_LOG_FORMAT``), checked."""
    chosen = (requested or os.environ.get(FORMAT_ENV) or "text").lower()
    if chosen not in FORMATS:
        raise ValueError(f"{FORMAT_ENV}={chosen!r}: the log format is one of {', '.join(FORMATS)}")
    return chosen


def configure_logging(level: str, fmt: str) -> None:
    """Root handler with our format and filters; known noise silenced at its source."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    handler = logging.StreamHandler()
    handler.addFilter(OwnInfoOnly())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        # Plain lines: DVC pipes stage output, where rich's wrapping would garble them.
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: "
                                               "%(message)s", datefmt="%H:%M:%S"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name, phrases in KNOWN_NOISE.items():
        target = logging.getLogger(None if name == "root" else name)
        if not any(isinstance(f, DropPhrases) for f in target.filters):
            target.addFilter(DropPhrases(phrases))
    # MLflow logs through its own handler: its INFO lines (database set-up, signature
    # checks) are kept out (also when it was imported first), its warnings still show.
    logging.getLogger("mlflow").setLevel(os.environ["MLFLOW_LOGGING_LEVEL"])


@contextmanager
def progress_display() -> Iterator[None]:
    """Show :mod:`alphaloop.progress` reports while the block runs (see the module doc)."""
    if log_format() == "json" or not sys.stderr.isatty():
        with progress.listening(_log_listener()):
            yield
        return
    with _rich_bars():
        yield


def _log_listener() -> progress.Listener:
    """A log line per step: the first, the last, and about every tenth in between."""
    last: dict[str, int] = {}

    def listener(task: str, done: int, total: int) -> None:
        every = max(total // 10, 1)
        if done <= 0 or (done < total and done - last.get(task, 0) < every):
            return
        last[task] = done
        log.info("%s: %d of %d", task, done, total, extra={"task": task, "done": done,
                                                            "total": total})

    return listener


@contextmanager
def _rich_bars() -> Iterator[None]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), transient=False)
    tasks: dict[str, object] = {}

    def listener(task: str, done: int, total: int) -> None:
        if task not in tasks:
            tasks[task] = bars.add_task(task, total=total or None)
        bars.update(tasks[task], completed=done, total=total or None)  # type: ignore[arg-type]

    with bars:
        # Log lines go through rich's stderr proxy, printed above the bars, not through them.
        handlers = [h for h in logging.getLogger().handlers
                    if isinstance(h, logging.StreamHandler)]
        streams = [h.setStream(sys.stderr) for h in handlers]
        try:
            with progress.listening(listener):
                yield
        finally:
            for handler, stream in zip(handlers, streams, strict=True):
                if stream is not None:
                    handler.setStream(stream)
