"""The Messaging Topology Operator objects: the same topology and users as definitions.json."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from event_contracts import TOPOLOGY
from event_contracts.__main__ import render
from event_contracts.generate import permissions
from event_contracts.kubernetes import as_definitions, credentials_secret, objects

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[3]
COMMITTED = REPO / "deploy/kubernetes/base/rabbitmq/topology.yaml"


def _sorted(defs: dict[str, Any]) -> dict[str, list[str]]:
    return {kind: sorted(json.dumps(item, sort_keys=True) for item in items) for kind, items in defs.items()}


def test_the_objects_read_back_as_the_committed_definitions_json() -> None:
    """One source of truth: what the operator declares is exactly what compose imports."""
    committed = json.loads((REPO / "infra/rabbitmq/definitions.json").read_text())
    assert _sorted(as_definitions(objects())) == _sorted(committed)


def test_a_topology_change_shows_up_as_a_difference() -> None:
    broken = objects()
    queue = next(o for o in broken if o["kind"] == "Queue")
    queue["spec"]["type"] = "classic"
    committed = json.loads((REPO / "infra/rabbitmq/definitions.json").read_text())
    assert _sorted(as_definitions(broken)) != _sorted(committed)


def test_committed_topology_yaml_matches_the_code() -> None:
    assert COMMITTED.exists(), (
        f"missing: python -m event_contracts kubernetes > {COMMITTED.relative_to(REPO)}"
    )
    assert COMMITTED.read_text() == render("kubernetes"), (
        f"{COMMITTED.relative_to(REPO)} is stale: run `python -m event_contracts kubernetes > "
        f"{COMMITTED.relative_to(REPO)}`"
    )
    assert list(yaml.safe_load_all(COMMITTED.read_text())) == objects()


def test_every_service_user_has_its_permissions_and_a_secret_not_a_password() -> None:
    objs = objects()
    users = {o["metadata"]["name"]: o["spec"] for o in objs if o["kind"] == "User"}
    grants = {o["spec"]["userReference"]["name"]: o["spec"] for o in objs if o["kind"] == "Permission"}
    expected = {row["user"]: row for row in permissions()}
    assert set(users) == set(grants) == set(expected) == {s.user for s in TOPOLOGY.services}
    for user, spec in users.items():
        assert spec == {
            "importCredentialsSecret": {"name": credentials_secret(user)},
            "rabbitmqClusterReference": {"name": "shop-rabbitmq"},
        }
        assert grants[user]["vhost"] == TOPOLOGY.vhost
        assert grants[user]["permissions"] == {k: expected[user][k] for k in ("configure", "write", "read")}
    assert "password" not in json.dumps(objs).lower().replace("importcredentialssecret", "")


def test_queues_are_quorum_and_kept_when_their_manifest_goes() -> None:
    queues = [o["spec"] for o in objects() if o["kind"] == "Queue"]
    assert {q["name"] for q in queues} == set(TOPOLOGY.iter_queue_names())
    assert all(q["type"] == "quorum" and q["durable"] and q["deletionPolicy"] == "retain" for q in queues)


def test_object_names_are_unique_valid_kubernetes_names() -> None:
    objs = objects()
    keys = [(o["kind"], o["metadata"]["name"]) for o in objs]
    assert len(keys) == len(set(keys))
    for _, name in keys:
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name) and len(name) <= 253, name


def test_workers_have_a_bounded_soft_shutdown_that_the_environment_can_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A scaled-down worker finishes its running tasks for a while, then returns their messages."""
    from event_contracts import create_app

    app = create_app("billing", broker_urls=["amqp://u:p@localhost:1/shop"])
    assert app.conf.worker_soft_shutdown_timeout == 15.0
    assert app.conf.worker_enable_soft_shutdown_on_idle is False
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    monkeypatch.setenv("WORKER_SOFT_SHUTDOWN_TIMEOUT", "20")
    app = create_app("billing", broker_urls=["amqp://u:p@localhost:1/shop"])
    assert app.conf.worker_soft_shutdown_timeout == 20.0
