"""The models a server holds, one per task, following the registry's aliases.

``ModelPool.refresh`` is one poll: a single registry search lists every task and where its
aliases point; a task whose alias moved gets the new version loaded (off the request path) and
swapped in by replacing one reference, so a request sees either the old or the new version,
never a mix. A version that fails to load never replaces a working one. When the registry
cannot be read, every task keeps what it serves; after ``stale_after_s`` the tasks are marked
stale. A task whose alias is removed stops being served (the registry is what everyone
follows), and answers 503 with that reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from alphaloop.registry.task import Task
from alphaloop.serving.loaders import LoadedVersion, LoadError

log = logging.getLogger(__name__)

RETRY_FAILED_S = 300.0  # a version that failed to load is tried again after this long

Loader = Callable[[Any, str, str, Task, str], LoadedVersion]


class PoolListener(Protocol):
    """Told what the pool does (the service turns it into Prometheus metrics)."""

    def polled(self, ok: bool) -> None: ...
    def loaded(self, loaded: LoadedVersion, role: str) -> None: ...
    def load_failed(self, name: str, version: str, role: str) -> None: ...
    def dropped(self, dropped: LoadedVersion, role: str) -> None: ...


@dataclass(frozen=True)
class TaskSlot:
    """What one task serves now (immutable: the pool swaps whole slots)."""

    name: str
    task: Task
    served: LoadedVersion | None = None
    shadow: LoadedVersion | None = None
    registry_version: str | None = None  # where the alias pointed at the last good poll
    shadow_version: str | None = None
    reason: str | None = None  # why nothing, or an older version, is served
    failed: tuple[str, float] | None = None  # (version, when) of the last failed load


@dataclass(frozen=True)
class RegistryHealth:
    reachable: bool
    stale: bool
    last_success: datetime | None
    last_error: str | None


class ModelPool:
    """Per-task served models, refreshed from the registry.

    Args:
        connect: Returns a registry client (``MlflowClient``); called on every poll.
        load: ``(client, name, version, task, alias) -> LoadedVersion``; raises ``LoadError``.
        alias: The alias served per task.
        shadow_alias: Also loaded and scored beside ``alias``; None for none.
        stale_after_s: Registry unreadable this long -> served tasks are stale.
        listener: Told about polls, loads and drops.
    """

    def __init__(self, connect: Callable[[], Any], load: Loader, alias: str,
                 shadow_alias: str | None = None, stale_after_s: float = 60.0,
                 listener: PoolListener | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._connect = connect
        self._load = load
        self.alias = alias
        self.shadow_alias = shadow_alias
        self.stale_after_s = stale_after_s
        self._listener = listener
        self._clock = clock
        self._slots: dict[str, TaskSlot] = {}
        self._refresh_lock = threading.Lock()  # one poll at a time
        self._last_success: float | None = None
        self._last_success_at: datetime | None = None
        self._last_error: str | None = None
        self._started = clock()

    def slots(self) -> dict[str, TaskSlot]:
        """A snapshot of every task (the dict is replaced, never mutated, on a swap)."""
        return self._slots

    def health(self) -> RegistryHealth:
        since = self._last_success if self._last_success is not None else self._started
        stale = self._last_error is not None and self._clock() - since > self.stale_after_s
        return RegistryHealth(self._last_error is None, stale, self._last_success_at,
                              self._last_error)

    def refresh(self) -> None:
        """One poll of the registry; never raises (failures are recorded and logged)."""
        with self._refresh_lock:
            try:
                client = self._connect()
                listing = self._list(client)
            except Exception as exc:  # unreachable, timed out, misconfigured: keep serving
                self._registry_failed(exc)
                return
            self._last_success, self._last_success_at = self._clock(), datetime.now(UTC)
            if self._last_error is not None:
                log.info("registry reachable again")
            self._last_error = None
            if self._listener is not None:
                self._listener.polled(True)
            slots = dict(self._slots)
            for name in set(slots) - set(listing):
                log.warning("%s is no longer a registered task; no longer served", name)
                del slots[name]
            for name, (task, aliases) in sorted(listing.items()):
                slots[name] = self._update(client, slots.get(name) or TaskSlot(name, task),
                                           aliases)
                self._slots = {**slots}  # publish each swap as soon as it is ready

    def _list(self, client: Any) -> dict[str, tuple[Task, dict[str, str]]]:
        """Registered name -> (task, alias -> version) in one search."""
        found = client.search_registered_models(max_results=1000)
        listing = {}
        for model in found:
            task = Task.from_tags(dict(model.tags or {}))
            if task is not None:
                listing[model.name] = (task, {k: str(v) for k, v in (model.aliases or {}).items()})
        return listing

    def _registry_failed(self, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        if self._last_error is None:
            log.warning("registry unreachable (%s); serving the last good models", message)
        self._last_error = message
        if self._listener is not None:
            self._listener.polled(False)

    def _update(self, client: Any, slot: TaskSlot, aliases: dict[str, str]) -> TaskSlot:
        wanted = aliases.get(self.alias)
        slot = replace(slot, registry_version=wanted)
        recent = slot.failed is not None and slot.failed[0] == wanted \
            and self._clock() - slot.failed[1] < RETRY_FAILED_S
        if recent:  # this version failed to load a moment ago: not again on every poll
            return slot
        served, reason = self._follow(client, slot, slot.served, wanted, self.alias, "served")
        failed = (str(wanted), self._clock()) if reason and reason.startswith("load failed") \
            else None
        slot = replace(slot, served=served, reason=reason, failed=failed)
        if self.shadow_alias is not None:
            shadow_wanted = aliases.get(self.shadow_alias)
            shadow, _ = self._follow(client, slot, slot.shadow, shadow_wanted,
                                     self.shadow_alias, "shadow")
            slot = replace(slot, shadow=shadow, shadow_version=shadow_wanted)
        return slot

    def _follow(self, client: Any, slot: TaskSlot, current: LoadedVersion | None,
                wanted: str | None, alias: str, role: str
                ) -> tuple[LoadedVersion | None, str | None]:
        """The version to hold for ``alias`` and, when it is not ``wanted``, why."""
        if wanted is None:
            if current is not None:
                log.warning("%s@%s was removed in the registry; v%s is no longer served",
                            slot.name, alias, current.version)
                if self._listener is not None:
                    self._listener.dropped(current, role)
            return None, f"no '{alias}' alias in the registry for {slot.name}"
        if current is not None and current.version == wanted:
            return current, None
        try:
            loaded = self._load(client, slot.name, wanted, slot.task, alias)
        except LoadError as exc:
            log.error("%s v%s (@%s) failed to load, keeping %s: %s", slot.name, wanted, alias,
                      f"v{current.version}" if current else "nothing", exc)
            if self._listener is not None:
                self._listener.load_failed(slot.name, wanted, role)
            return current, f"load failed for v{wanted} (@{alias}): {exc}"
        log.info("%s@%s: now serving v%s (was %s, %s)", slot.name, alias, wanted,
                 f"v{current.version}" if current else "nothing", loaded.runtime)
        if self._listener is not None:
            self._listener.loaded(loaded, role)
        return loaded, None


class Poller:
    """Calls ``pool.refresh`` every ``interval_s`` on a daemon thread until stopped."""

    def __init__(self, pool: ModelPool, interval_s: float) -> None:
        self.pool = pool
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="registry-poll", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.pool.refresh()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
