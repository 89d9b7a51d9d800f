"""Service layer: the use cases (handlers) and the ports they need."""
