"""The Swarm stack (deploy/swarm/shop-stack.yml) and docker-compose.yml describe the same shop.

The stack file is generated from compose; these tests fail when it was not regenerated after a
compose change, and pin what the stack adds: credentials only as Docker secrets, the singletons,
the update order, one broker node per labelled node, dnsrr and host-mode ports on a host
without IPVS.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
SWARM = ROOT / "deploy" / "swarm"
APP_SERVICES = {"order-service", "order-service-worker", "billing-service", "logistic-service"}
SINGLETONS = {"order-service-relay", "logistic-service-beat"}


def _swarm_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("shop_swarm", SWARM / "swarm.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


swarm = _swarm_module()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return {name: svc for name, svc in services.items() if not svc.get("profiles")}


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return dict(yaml.safe_load((SWARM / "shop-stack.yml").read_text()))


@pytest.mark.parametrize(
    ("file", "routing_mesh"), [("shop-stack.yml", False), ("shop-stack.routing-mesh.yml", True)]
)
def test_committed_stack_files_are_what_compose_generates(file: str, routing_mesh: bool) -> None:
    assert (SWARM / file).read_text() == swarm.render(routing_mesh=routing_mesh), (
        f"deploy/swarm/{file} is stale: python deploy/swarm/swarm.py generate"
        + (" --routing-mesh -o deploy/swarm/shop-stack.routing-mesh.yml" if routing_mesh else "")
    )


def test_same_services_and_images(compose: dict[str, Any], stack: dict[str, Any]) -> None:
    assert {n: s["image"] for n, s in stack["services"].items()} == {
        n: s["image"] for n, s in compose.items()
    }


def test_same_variables_and_plain_values(compose: dict[str, Any], stack: dict[str, Any]) -> None:
    for name, service in compose.items():
        env = {k: str(v) for k, v in (service.get("environment") or {}).items()}
        mine = stack["services"][name]
        plain = mine.get("environment") or {}
        secret_targets = {s["target"] for s in mine.get("secrets") or []}
        assert set(plain) | secret_targets == set(env), name
        assert not set(plain) & secret_targets, name
        assert plain == {k: env[k] for k in plain}, name


def test_credentials_only_as_secrets(compose: dict[str, Any], stack: dict[str, Any]) -> None:
    credential = re.compile(r"PASSWORD|COOKIE|BASIC_AUTH")
    for name, service in compose.items():
        env = {k: str(v) for k, v in (service.get("environment") or {}).items()}
        mine = stack["services"][name]
        for var, value in (mine.get("environment") or {}).items():
            assert not credential.search(value), f"{name}: {var} carries a credential in plain env"
        for secret in mine.get("secrets") or []:
            assert credential.search(env[secret["target"]]), f"{name}: {secret['target']} is no credential"
            assert stack["secrets"][secret["source"]] == {"external": True}
        # Every process starts through the wrapper that turns /run/secrets files into variables.
        assert mine["entrypoint"][0] == swarm.WRAPPER_TARGET
        assert {"source": "secrets_env", "target": swarm.WRAPPER_TARGET, "mode": 0o555} in mine["configs"]
    assert "postgresql+psycopg://" not in (SWARM / "shop-stack.yml").read_text()
    assert "amqp://" not in (SWARM / "shop-stack.yml").read_text()


def test_commands_are_compose_commands_or_the_images_own(
    compose: dict[str, Any], stack: dict[str, Any]
) -> None:
    expected_default = {
        "rabbit1": ["rabbitmq-server"],
        "postgres": ["postgres"],
        "flower": ["celery", "--config", "flowerconfig", "flower"],
        "order-service": ["order-service"],
        "billing-service": ["billing-service-worker"],
        "logistic-service": ["logistic-service-worker"],
    }
    for name, service in compose.items():
        command = stack["services"][name]["command"]
        if "command" in service:
            assert command == service["command"], name
        elif name in expected_default:
            assert command == expected_default[name], name
    assert stack["services"]["rabbit1"]["entrypoint"][1:] == ["shop-entrypoint.sh"]
    assert stack["services"]["postgres"]["entrypoint"][1:] == ["docker-entrypoint.sh"]


def test_same_ports_published_in_host_mode_on_dnsrr_services(
    compose: dict[str, Any], stack: dict[str, Any]
) -> None:
    for name, service in compose.items():
        want = sorted(swarm.parse_port(p) for p in service.get("ports") or [])
        mine = stack["services"][name]
        got = sorted((p["published"], p["target"]) for p in mine.get("ports") or [])
        assert got == want, name
        assert all(p["mode"] == "host" for p in mine.get("ports") or []), name
        if mine["deploy"]["mode"] == "replicated":
            assert mine["deploy"]["endpoint_mode"] == "dnsrr", name


def test_same_volumes_and_health_checks(compose: dict[str, Any], stack: dict[str, Any]) -> None:
    for name, service in compose.items():
        mine = stack["services"][name]
        assert [v for v in mine.get("volumes") or [] if isinstance(v, str)] == service.get("volumes", []), (
            name
        )
        expected = swarm.ROLES[name].healthcheck or service.get("healthcheck")
        assert mine.get("healthcheck") == expected, name


def test_three_broker_nodes_pinned_one_per_labelled_node(stack: dict[str, Any]) -> None:
    constraints = {
        name: stack["services"][name]["deploy"]["placement"]["constraints"]
        for name in ("rabbit1", "rabbit2", "rabbit3")
    }
    assert constraints == {n: [f"node.labels.shop.{n} == true"] for n in constraints}
    assert {f"shop.{n}" for n in constraints} <= set(swarm.NODE_LABELS)
    for name in constraints:
        service = stack["services"][name]
        assert service["hostname"] == name  # the Erlang node name rabbit@rabbitN
        assert service["deploy"]["replicas"] == 1
        assert service["deploy"]["update_config"]["order"] == "stop-first"


def test_singletons_stop_first_and_workers_start_first(stack: dict[str, Any]) -> None:
    services = stack["services"]
    for name in SINGLETONS:
        deploy = services[name]["deploy"]
        assert deploy["replicas"] == 1
        assert deploy["placement"]["max_replicas_per_node"] == 1
        assert deploy["update_config"]["order"] == deploy["rollback_config"]["order"] == "stop-first"
    for name in APP_SERVICES - {"order-service"}:
        assert services[name]["deploy"]["update_config"]["order"] == "start-first", name
    # The edge holds a host-mode port: one task per node, so it is replaced stop-first here
    # and start-first on a full swarm (routing mesh).
    assert services["order-service"]["deploy"]["update_config"]["order"] == "stop-first"
    mesh = swarm.generate(routing_mesh=True)["services"]["order-service"]["deploy"]
    assert mesh["update_config"]["order"] == "start-first" and mesh["endpoint_mode"] == "vip"


def test_init_is_a_job_retried_on_failure_and_everything_has_limits(stack: dict[str, Any]) -> None:
    init = stack["services"]["rabbitmq-init"]["deploy"]
    assert init["mode"] == "replicated-job"
    assert init["restart_policy"]["condition"] == "on-failure"
    for name, service in stack["services"].items():
        limits = service["deploy"]["resources"]["limits"]
        assert float(limits["cpus"]) > 0 and limits["memory"], name
        if name != "rabbitmq-init":
            assert service["deploy"]["update_config"]["failure_action"] == "rollback", name
            assert service["deploy"]["restart_policy"]["condition"] == "any", name
