"""Adapters: the database (tables, mapping, repository, migrations)."""
