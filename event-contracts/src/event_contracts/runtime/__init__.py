"""The Celery/kombu adapter: app factory, publisher, consumer, request/response client, worker.

It depends on the contracts (:mod:`event_contracts.messages`, the codec, the topology), never
the reverse: ``import event_contracts.messages`` loads no broker library.
"""

from event_contracts.runtime.app import broker_urls_from_env, connect, create_app
from event_contracts.runtime.conf import subscriptions_of
from event_contracts.runtime.consumer import RetryPolicy, ServiceTask, ShopConsumer
from event_contracts.runtime.publisher import Publisher, default_publisher, use_publisher
from event_contracts.runtime.rpc_client import RpcClient
from event_contracts.runtime.worker import add_periodic_job, run_beat, run_worker, use_pool, worker_argv

__all__ = [
    "Publisher",
    "RetryPolicy",
    "RpcClient",
    "ServiceTask",
    "ShopConsumer",
    "add_periodic_job",
    "broker_urls_from_env",
    "connect",
    "create_app",
    "default_publisher",
    "run_beat",
    "run_worker",
    "subscriptions_of",
    "use_pool",
    "use_publisher",
    "worker_argv",
]
