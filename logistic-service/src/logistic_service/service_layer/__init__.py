"""Use cases: each handler opens a unit of work, loads a shipment, calls the domain, commits."""
