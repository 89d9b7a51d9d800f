"""Cross-cutting defaults every service process gets from one place: metrics, logging, tracing."""
