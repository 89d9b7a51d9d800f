"""What every service process gets from the platform, set up in one place (traces, ...)."""
