"""Entrypoints: the Celery app (callbacks, warehouse tasks, beat job) and the console scripts."""
