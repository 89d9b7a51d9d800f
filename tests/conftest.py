"""Repository-level tests (files that span the packages: Dockerfiles, compose, CI)."""
