"""Celery settings for Flower (``celery --config flowerconfig flower``).

Flower options themselves come from ``FLOWER_*`` environment variables (compose sets
FLOWER_BASIC_AUTH and FLOWER_BROKER_API; the image sets FLOWER_PERSISTENT, FLOWER_DB).
"""

import os

# One URL per cluster node, ';'-separated: Celery fails over between them.
broker_url = os.environ["BROKER_URLS"]
broker_failover_strategy = "round-robin"
broker_connection_retry_on_startup = True
broker_connection_timeout = 4.0
broker_heartbeat = 10

# Flower's own queues (event receiver celeryev.<uuid>, remote-control replies
# <uuid>.reply.celery.pidbox) are transient; RabbitMQ 4 deprecates transient
# non-exclusive queues, so they are exclusive. These are Celery 5.7's defaults,
# stated here so that no other default can make them non-exclusive.
event_queue_exclusive = True
event_queue_durable = False
control_queue_exclusive = True
control_queue_durable = False

accept_content = ["json"]
task_serializer = "json"
result_serializer = "json"
