"""Service layer: billing's use cases (handlers), its read side (views), the unit of work."""
