"""Adapters: the database (tables, mapping, repository, migrations) and the Celery pipeline."""
