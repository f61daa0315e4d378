"""BentoML services: thin adapters over alphaloop models."""
