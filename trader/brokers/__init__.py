"""Brokers: one interface (``Broker``) over a simulated venue and live exchanges.

``PaperBroker`` is imported from :mod:`trader.brokers.paper`; ``CcxtBroker`` (which imports
ccxt) from :mod:`trader.brokers.ccxt_broker`, or via this package on first use.
"""

from alphaloop._lazy import lazy_attributes
from trader.brokers.base import (
    Broker,
    BrokerConfigError,
    BrokerError,
    OrderRejected,
    SubmitTimeout,
    VenueQueryError,
)

__all__ = ["Broker", "BrokerConfigError", "BrokerError", "CcxtBroker", "OrderRejected",
           "PaperBroker", "SubmitTimeout", "VenueQueryError"]

__getattr__ = lazy_attributes(__name__, {"PaperBroker": "trader.brokers.paper",
                                         "CcxtBroker": "trader.brokers.ccxt_broker"})
