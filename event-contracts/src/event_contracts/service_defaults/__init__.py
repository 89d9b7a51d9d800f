"""Cross-cutting defaults every service gets from one place: metrics, logging, tracing."""
