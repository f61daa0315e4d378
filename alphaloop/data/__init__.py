"""Market data: the canonical bar schema, sources, validation rules and cleaning."""
