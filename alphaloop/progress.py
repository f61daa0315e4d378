"""Progress of the long loops (CV folds, walk-forward windows, epochs, exchange pages).

Core code reports ``report("walk-forward windows", done, total)`` and stays free of I/O: the
entry point that owns the terminal decides what a report becomes (a rich bar, a log line, a
JSON record) by installing a listener with :func:`listening`. With no listener a report does
nothing, so library users and tests see no output they did not ask for.

The listener lives in a context variable, like a logging handler it is set once by the
entry point; threads and processes started elsewhere (Dask workers) report to no one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Listener = Callable[[str, int, int], None]

_listener: ContextVar[Listener | None] = ContextVar("alphaloop_progress", default=None)


def report(task: str, done: int, total: int) -> None:
    """``done`` of ``total`` steps of ``task`` are finished (``total`` 0: unknown)."""
    listener = _listener.get()
    if listener is not None:
        listener(task, done, total)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send this context's progress reports to ``listener``."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)
