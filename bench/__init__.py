"""python -m bench: throughput and latency of the shop platform next to raw Celery and raw kombu."""
