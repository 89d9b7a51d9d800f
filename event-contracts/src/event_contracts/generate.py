"""Generated artefacts: RabbitMQ definitions, broker users' permissions, the AsyncAPI document.

All three come from :data:`~event_contracts.topology.TOPOLOGY` and the declared messages;
``python -m event_contracts {definitions,users,asyncapi}`` prints them, and a test fails when a
committed copy differs from what the code generates.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from event_contracts.event import EVENTS, Event
from event_contracts.rpc import REMOTE_CALLS
from event_contracts.schema import schema_of
from event_contracts.topology import DELIVERY_LIMIT, TOPOLOGY, Topology

SYNC_DELIVERY_LIMIT = 3
"""A sync request is worth answering a few times at most; past that the broker drops it."""
UNLIMITED_DELIVERIES = -1
"""Quorum queues on RabbitMQ 4.x drop a message returned more than 20 times where no
dead-letter target exists. Retry and dead-letter queues must never drop what they hold because
someone browsed them (``dlq show``), so their limit is switched off explicitly."""


def _exchange(vhost: str, name: str, type_: str) -> dict[str, Any]:
    return {
        "name": name,
        "vhost": vhost,
        "type": type_,
        "durable": True,
        "auto_delete": False,
        "internal": False,
        "arguments": {},
    }


def _queue(vhost: str, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "vhost": vhost,
        "durable": True,
        "auto_delete": False,
        "arguments": {"x-queue-type": "quorum"},
    }


def _binding(vhost: str, source: str, queue: str, key: str) -> dict[str, Any]:
    return {
        "source": source,
        "vhost": vhost,
        "destination": queue,
        "destination_type": "queue",
        "routing_key": key,
        "arguments": {},
    }


def _policy(vhost: str, queue: str, definition: dict[str, Any]) -> dict[str, Any]:
    return {
        "vhost": vhost,
        "name": queue,
        "pattern": f"^{re.escape(queue)}$",
        "apply-to": "queues",
        "priority": 10,
        "definition": definition,
    }


def definitions(topology: Topology = TOPOLOGY, vhost: str | None = None) -> dict[str, Any]:
    """RabbitMQ definitions (vhost, exchanges, quorum queues, bindings, policies); no users.

    Dead-lettering, retry routing and delivery limits are policies, not queue arguments, so an
    operator can change them on a live queue; only ``x-queue-type`` is a (fixed) argument. Every
    queue has an explicit delivery limit (RabbitMQ 4's default of 20 drops messages where no
    dead-letter target exists): work queues dead-letter after :data:`DELIVERY_LIMIT`, sync
    queues drop after :data:`SYNC_DELIVERY_LIMIT`, retry and dead-letter queues have none.
    """
    vh = vhost or topology.vhost
    exchanges, queues, bindings, policies = [], [], [], []
    for service in topology.services:
        exchanges.append(_exchange(vh, service.exchange, "topic"))
        consumed = topology.consumed_queues(service.name)
        if consumed:
            exchanges.append(_exchange(vh, service.retry_exchange, "direct"))
            exchanges.append(_exchange(vh, service.dead_letter_exchange, "direct"))
        if service.internal_queue:
            exchanges.append(_exchange(vh, service.internal, "direct"))
            bindings.append(_binding(vh, service.internal, service.internal, service.internal))
        for queue in consumed:
            queues += [_queue(vh, queue), _queue(vh, f"{queue}.retry"), _queue(vh, f"{queue}.dlq")]
            bindings.append(_binding(vh, service.retry_exchange, f"{queue}.retry", queue))
            bindings.append(_binding(vh, service.dead_letter_exchange, f"{queue}.dlq", queue))
            policies.append(
                _policy(
                    vh,
                    queue,
                    {
                        "dead-letter-exchange": service.dead_letter_exchange,
                        "dead-letter-routing-key": queue,
                        "dead-letter-strategy": "at-least-once",
                        "overflow": "reject-publish",
                        "delivery-limit": DELIVERY_LIMIT,
                    },
                )
            )
            policies.append(
                _policy(
                    vh,
                    f"{queue}.retry",
                    {
                        "dead-letter-exchange": "",
                        "dead-letter-routing-key": queue,
                        "dead-letter-strategy": "at-least-once",
                        "overflow": "reject-publish",
                        "delivery-limit": UNLIMITED_DELIVERIES,
                    },
                )
            )
            policies.append(_policy(vh, f"{queue}.dlq", {"delivery-limit": UNLIMITED_DELIVERIES}))
        if service.answers_sync:
            exchanges.append(_exchange(vh, service.sync_queue, "direct"))
            queues.append(_queue(vh, service.sync_queue))
            bindings.append(_binding(vh, service.sync_queue, service.sync_queue, service.sync_queue))
            policies.append(_policy(vh, service.sync_queue, {"delivery-limit": SYNC_DELIVERY_LIMIT}))
        if service.calls:
            exchanges.append(_exchange(vh, service.reply_exchange, "direct"))
    for sub in topology.subscriptions:
        bindings += [_binding(vh, sub.producer, sub.queue, key) for key in sub.binding_keys]
    return {
        "vhosts": [{"name": vh}],
        "exchanges": exchanges,
        "queues": queues,
        "bindings": bindings,
        "policies": policies,
    }


def service_definitions(service: str, topology: Topology = TOPOLOGY) -> dict[str, Any]:
    """The part of :func:`definitions` one service owns: its exchanges, its queues with their
    policies, and the bindings into its queues (from any producer's exchange).

    What provisioning that service on a running broker loads (the management API's definitions
    import adds them and leaves everything else as it is); its user's row is in
    :func:`permissions`.
    """
    svc = topology.service(service)
    whole = definitions(topology)
    own_exchanges = {svc.exchange, svc.retry_exchange, svc.dead_letter_exchange, svc.internal, svc.sync_queue}
    if svc.calls:
        own_exchanges.add(svc.reply_exchange)
    queues = {q["name"] for q in whole["queues"] if topology.owner_of_queue(q["name"]).name == service}
    return {
        "exchanges": [x for x in whole["exchanges"] if x["name"] in own_exchanges],
        "queues": [q for q in whole["queues"] if q["name"] in queues],
        "bindings": [b for b in whole["bindings"] if b["destination"] in queues],
        "policies": [p for p in whole["policies"] if p["name"] in queues],
    }


def _alternatives(names: Sequence[str], patterns: Sequence[str] = ()) -> str:
    """One anchored regular expression: any of ``names`` (literally) or of ``patterns``."""
    return "^(" + "|".join([*(re.escape(n) for n in names), *patterns]) + ")$"


def permissions(topology: Topology = TOPOLOGY) -> list[dict[str, str]]:
    """Least privilege per service user: publish only where its own messages belong, read only
    its own queues, configure only its own throwaway queues.

    Nobody may write on ``amq.default``: the default exchange routes by queue name, so that
    write would reach every queue in the vhost. A remote call's answer goes through the
    caller's own reply exchange (``<caller>.reply``), which only the caller can bind, and only
    its own exclusive reply queues; the responder may write there. Besides its own resources a
    worker may declare and use what Celery's monitoring needs: the ``celeryev`` event exchange
    and its own exclusive remote-control (pidbox) queue, named ``<user>@<host>.celery.pidbox``.
    """
    rows = []
    for service in topology.services:
        own_pidbox = re.escape(service.user) + r"@.+\.celery\.pidbox"
        own_replies = [service.reply_queue_pattern] if service.calls else []
        write = [service.exchange, "celeryev", "reply.celery.pidbox"]
        if topology.consumed_queues(service.name):
            write += [service.retry_exchange, service.dead_letter_exchange]
        if service.internal_queue:
            write.append(service.internal)
        write += [topology.service(callee).sync_queue for callee in service.calls]
        if service.answers_sync:
            write += [caller.reply_exchange for caller in topology.callers_of(service.name)]
        read = [*topology.worker_queues(service.name), "celery.pidbox"]
        if service.calls:
            read.append(service.reply_exchange)
        configure = ["celeryev", "celery.pidbox", "reply.celery.pidbox"]
        rows.append(
            {
                "user": service.user,
                "tags": "",
                "configure": _alternatives(configure, [*own_replies, own_pidbox]),
                # write on its reply queues: queue.bind needs it on the destination queue
                "write": _alternatives(write, [*own_replies, own_pidbox]),
                "read": _alternatives(read, [*own_replies, own_pidbox]),
            }
        )
    return rows


def users_tsv(topology: Topology = TOPOLOGY) -> str:
    """``user  tags  configure  write  read`` (vhost ``shop``); passwords come from the environment."""
    lines = ["user\ttags\tconfigure\twrite\tread"]
    lines += [
        "\t".join(r[k] for k in ("user", "tags", "configure", "write", "read")) for r in permissions(topology)
    ]
    return "\n".join(lines) + "\n"


def _event_channels(
    event: Event[Any], components: dict[str, Any], messages: dict[str, Any]
) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    for routing_key, message_type in event.versions().items():
        message_name = routing_key.replace(".", "_")
        messages[message_name] = {
            "name": message_name,
            "title": f"{routing_key} ({message_type.__name__})",
            "summary": event.summary,
            "contentType": "application/json",
            "headers": {
                "type": "object",
                "properties": {
                    "task": {"const": routing_key, "description": "Celery task name = routing key"},
                    "id": {"type": "string", "description": "Celery task id = event id"},
                    "event-id": {"type": "string", "format": "uuid"},
                    "correlation-id": {"type": "string"},
                    "occurred-at": {"type": "string", "format": "date-time"},
                },
                "required": ["task", "id"],
            },
            "payload": {
                "description": "Celery protocol 2 body: [args, kwargs, embed]; the event is kwargs.instance.",
                "type": "array",
                "prefixItems": [
                    {"type": "array", "maxItems": 0},
                    {
                        "type": "object",
                        "required": ["instance"],
                        "properties": {"instance": schema_of(message_type, components)},
                    },
                    {"type": "object"},
                ],
            },
        }
        channels[routing_key] = {
            "address": routing_key,
            "title": routing_key,
            "messages": {message_name: {"$ref": f"#/components/messages/{message_name}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {
                        "name": event.exchange,
                        "type": "topic",
                        "durable": True,
                        "autoDelete": False,
                        "vhost": TOPOLOGY.vhost,
                    },
                    "bindingVersion": "0.3.0",
                }
            },
        }
    return channels


def asyncapi(topology: Topology = TOPOLOGY, version: str = "1.0.0") -> dict[str, Any]:
    """An AsyncAPI 3.0 document: every channel (event version and sync call) and its schema."""
    components: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for newest in sorted(EVENTS):
        event = EVENTS[newest]
        event_channels = _event_channels(event, components, messages)
        channels.update(event_channels)
        producer = topology.service(event.exchange)
        operations[f"{producer.user}.publishes.{newest}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{newest}"},
            "summary": f"{producer.user} publishes {newest} on exchange {event.exchange}.",
        }
        for sub in topology.subscriptions:
            if sub.producer == event.exchange and event.key.event in sub.events:
                consumer = topology.service(sub.consumer)
                for routing_key in event_channels:
                    operations[f"{consumer.user}.receives.{routing_key}"] = {
                        "action": "receive",
                        "channel": {"$ref": f"#/channels/{routing_key}"},
                        "summary": f"{consumer.user} receives it on queue {sub.queue} "
                        f"(bound {event.binding_key}); older versions upcast.",
                        "bindings": {"amqp": {"ack": True, "bindingVersion": "0.3.0"}},
                    }
    for name in sorted(REMOTE_CALLS):
        call = REMOTE_CALLS[name]
        request_name, reply_name = f"{name}.request", f"{name}.reply"
        messages[request_name.replace(".", "_")] = {
            "name": request_name,
            "contentType": "application/json",
            "summary": call.summary,
            "payload": {
                "type": "array",
                "prefixItems": [
                    {"type": "array", "maxItems": 0},
                    {
                        "type": "object",
                        "required": ["request"],
                        "properties": {"request": schema_of(call.request_type, components)},
                    },
                    {"type": "object"},
                ],
            },
        }
        messages[reply_name.replace(".", "_")] = {
            "name": reply_name,
            "contentType": "application/json",
            "payload": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["ok", "result"],
                        "properties": {
                            "ok": {"const": True},
                            "result": schema_of(call.response_type, components),
                        },
                    },
                    {
                        "type": "object",
                        "required": ["ok", "kind", "message"],
                        "properties": {
                            "ok": {"const": False},
                            "kind": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                ]
            },
        }
        channels[name] = {
            "address": call.queue,
            "title": name,
            "messages": {
                request_name.replace(".", "_"): {
                    "$ref": f"#/components/messages/{request_name.replace('.', '_')}"
                }
            },
            "bindings": {
                "amqp": {
                    "is": "queue",
                    "queue": {
                        "name": call.queue,
                        "durable": True,
                        "exclusive": False,
                        "autoDelete": False,
                        "vhost": topology.vhost,
                    },
                    "bindingVersion": "0.3.0",
                }
            },
        }
        channels[reply_name] = {
            "address": None,
            "title": reply_name,
            "description": "The request's reply_to: an exclusive reply queue of the caller, "
            "<caller>.reply.<32 hex>, reached through the caller's direct exchange <caller>.reply "
            f"({', '.join(c.reply_exchange for c in topology.callers_of(call.service))}) with the "
            "queue's name as routing key.",
            "messages": {
                reply_name.replace(".", "_"): {
                    "$ref": f"#/components/messages/{reply_name.replace('.', '_')}"
                }
            },
        }
        operations[f"{name}.call"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{name}"},
            "reply": {"channel": {"$ref": f"#/channels/{reply_name}"}},
            "summary": call.summary,
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "The shop platform's events",
            "version": version,
            "description": "Generated by `python -m event_contracts asyncapi`. One topic "
            "exchange per producing service; routing keys "
            "<service>.v<N>.<event>; consumers bind <service>.*.<event>.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": "rabbit1:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "pathname": f"/{topology.vhost}",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": components, "messages": messages},
    }
