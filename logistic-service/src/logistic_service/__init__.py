"""logistic-service: owns shipments. A Celery worker (plus exactly one beat)."""
