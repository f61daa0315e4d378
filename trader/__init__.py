"""The trading service: market feed, serving client, brokers, state store."""
