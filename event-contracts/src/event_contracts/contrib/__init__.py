"""Optional integrations (extras): ``pip install event-contracts[sqlalchemy]``."""
