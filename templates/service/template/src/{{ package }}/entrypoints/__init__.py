"""Entrypoints: the Celery worker (its callbacks in consumers.py) and the command line."""
