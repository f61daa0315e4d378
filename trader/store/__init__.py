"""The trader's durable state (``StateStore``), SQLite by default or PostgreSQL by URL."""

from trader.store.records import Decision, EquitySnapshot, StoredOrder
from trader.store.state import (
    DEFAULT_STORE_PATH,
    StateStore,
    StoreError,
    default_store_url,
)

__all__ = ["DEFAULT_STORE_PATH", "Decision", "EquitySnapshot", "StateStore", "StoreError",
           "StoredOrder", "default_store_url"]
