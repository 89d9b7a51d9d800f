"""Adapters: the database (tables, migrations under the advisory lock), repository, unit of work."""
