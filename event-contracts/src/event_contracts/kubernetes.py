"""The broker topology as Messaging Topology Operator objects, for the Kubernetes deployment.

``python -m event_contracts kubernetes`` prints ``Vhost``, ``Exchange``, ``Queue``, ``Binding``,
``Policy``, ``User`` and ``Permission`` objects (``rabbitmq.com/v1beta1``) built from the same
:func:`~event_contracts.generate.definitions` and :func:`~event_contracts.generate.permissions`
that compose imports, so both deployments get one topology. :func:`as_definitions` reads the
objects back into the definitions' shape: a unit test compares the two.

What the objects add to the definitions: every object names the ``RabbitmqCluster`` it belongs
to; vhost and queues carry ``deletionPolicy: retain`` (deleting a manifest never deletes
messages); each user's credentials come from a Secret named ``<user>-broker`` (keys ``username``
and ``password``) that the deployment provides and the service's pods read too: no password is
ever in a generated object.
"""

from __future__ import annotations

import re
from typing import Any

from event_contracts.generate import definitions, permissions
from event_contracts.topology import TOPOLOGY, Topology

API_VERSION = "rabbitmq.com/v1beta1"
CLUSTER = "shop-rabbitmq"
"""The ``RabbitmqCluster``'s name in deploy/kubernetes."""
LABELS = {"app.kubernetes.io/part-of": "shop", "app.kubernetes.io/managed-by": "event-contracts"}


def credentials_secret(user: str) -> str:
    """The Secret holding a broker user's ``username`` and ``password``."""
    return f"{user}-broker"


def _name(*parts: str) -> str:
    """A Kubernetes object name (RFC 1123 subdomain) for a broker resource.

    ``*`` and ``#`` of binding keys become ``any`` and ``all``, ``_`` becomes ``-``.
    """
    text = ".".join(p for p in parts if p)
    text = text.replace("*", "any").replace("#", "all").replace("_", "-").lower()
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", text) or len(text) > 253:
        raise ValueError(f"{text!r} is not a valid Kubernetes object name")
    return text


def _object(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": name, "labels": dict(LABELS)},
        "spec": {**spec, "rabbitmqClusterReference": {"name": CLUSTER}},
    }


def objects(topology: Topology = TOPOLOGY) -> list[dict[str, Any]]:
    """Every topology object, in the order the operator best creates them (vhost first)."""
    defs = definitions(topology)
    vhost = defs["vhosts"][0]["name"]
    out = [_object("Vhost", _name(vhost), {"name": vhost, "deletionPolicy": "retain"})]
    for x in defs["exchanges"]:
        spec = {"name": x["name"], "vhost": vhost, "type": x["type"], "durable": x["durable"]}
        spec["autoDelete"] = x["auto_delete"]
        if x["arguments"]:
            spec["arguments"] = x["arguments"]
        out.append(_object("Exchange", _name(vhost, x["name"]), spec))
    for q in defs["queues"]:
        arguments = {k: v for k, v in q["arguments"].items() if k != "x-queue-type"}
        spec = {
            "name": q["name"],
            "vhost": vhost,
            "type": q["arguments"]["x-queue-type"],
            "durable": q["durable"],
            "autoDelete": q["auto_delete"],
            "deletionPolicy": "retain",
        }
        if arguments:
            spec["arguments"] = arguments
        out.append(_object("Queue", _name(vhost, q["name"]), spec))
    for b in defs["bindings"]:
        spec = {
            "vhost": vhost,
            "source": b["source"],
            "destination": b["destination"],
            "destinationType": b["destination_type"],
            "routingKey": b["routing_key"],
        }
        if b["arguments"]:
            spec["arguments"] = b["arguments"]
        name = _name(vhost, b["source"], "to", b["destination"], "key", b["routing_key"])
        out.append(_object("Binding", name, spec))
    for p in defs["policies"]:
        spec = {
            "name": p["name"],
            "vhost": vhost,
            "pattern": p["pattern"],
            "applyTo": p["apply-to"],
            "priority": p["priority"],
            "definition": p["definition"],
        }
        out.append(_object("Policy", _name(vhost, p["name"]), spec))
    for row in permissions(topology):
        user = row["user"]
        spec_user: dict[str, Any] = {"importCredentialsSecret": {"name": credentials_secret(user)}}
        if row["tags"]:
            spec_user["tags"] = row["tags"].split(",")
        out.append(_object("User", _name(user), spec_user))
        grants = {k: row[k] for k in ("configure", "write", "read")}
        spec_perm = {"vhost": vhost, "userReference": {"name": _name(user)}, "permissions": grants}
        out.append(_object("Permission", _name(user, vhost), spec_perm))
    return out


def as_definitions(objs: list[dict[str, Any]]) -> dict[str, Any]:
    """The topology objects read back as RabbitMQ definitions (the shape of ``definitions()``)."""
    specs: dict[str, list[dict[str, Any]]] = {}
    for obj in objs:
        specs.setdefault(obj["kind"], []).append(obj["spec"])
    return {
        "vhosts": [{"name": s["name"]} for s in specs.get("Vhost", [])],
        "exchanges": [
            {
                "name": s["name"],
                "vhost": s["vhost"],
                "type": s["type"],
                "durable": s["durable"],
                "auto_delete": s["autoDelete"],
                "internal": False,
                "arguments": s.get("arguments", {}),
            }
            for s in specs.get("Exchange", [])
        ],
        "queues": [
            {
                "name": s["name"],
                "vhost": s["vhost"],
                "durable": s["durable"],
                "auto_delete": s["autoDelete"],
                "arguments": {"x-queue-type": s["type"], **s.get("arguments", {})},
            }
            for s in specs.get("Queue", [])
        ],
        "bindings": [
            {
                "source": s["source"],
                "vhost": s["vhost"],
                "destination": s["destination"],
                "destination_type": s["destinationType"],
                "routing_key": s["routingKey"],
                "arguments": s.get("arguments", {}),
            }
            for s in specs.get("Binding", [])
        ],
        "policies": [
            {
                "vhost": s["vhost"],
                "name": s["name"],
                "pattern": s["pattern"],
                "apply-to": s["applyTo"],
                "priority": s["priority"],
                "definition": s["definition"],
            }
            for s in specs.get("Policy", [])
        ],
    }


def render(topology: Topology = TOPOLOGY) -> str:
    """The objects as one multi-document YAML file (deploy/kubernetes/base/rabbitmq/topology.yaml)."""
    import yaml  # an optional dependency: event-contracts[kubernetes]

    header = (
        "# Generated by `python -m event_contracts kubernetes` from event-contracts' topology:\n"
        "# do not edit (a unit test fails when this file and the code disagree).\n"
    )
    return header + yaml.safe_dump_all(objects(topology), sort_keys=False, explicit_start=True, width=1000)
