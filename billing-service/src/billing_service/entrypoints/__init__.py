"""Entrypoints: the Celery worker (consumers + sync responders) and the migration command."""
