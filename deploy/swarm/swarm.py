"""The shop on Docker Swarm: the stack file generated from docker-compose.yml, and its life cycle.

    python deploy/swarm/swarm.py generate [--check] [--routing-mesh] [-o FILE]
    python deploy/swarm/swarm.py up   [--stack shopswarm] [--env-file F ...] [--compose CMD]
    python deploy/swarm/swarm.py wait [--stack shopswarm]
    python deploy/swarm/swarm.py down [--stack shopswarm]

docker-compose.yml stays the one source of truth (services, images, variables, ports, volumes,
health checks); this module adds what only Swarm has (``deploy:``, secrets, placement) and drops
what Swarm ignores (``build``, ``depends_on`` conditions, ``restart``, ``cpu_shares``). Every
variable built from a credential (``*PASSWORD*``, ``*COOKIE*``, ``*BASIC_AUTH*``) becomes a Docker
secret mounted as ``/run/secrets/<VARIABLE>``; ``secrets-env.sh`` (a Docker config used as the
entrypoint) exports those files as variables and execs the image's own entrypoint and command.

``up`` initialises a single-node swarm when the engine is in none (and refuses while a compose
project runs on the engine: joining or leaving a swarm breaks their name resolution), labels the
node for the placement constraints, creates the secrets from the values compose resolves (its
dev defaults, or .env), deploys and waits. ``down`` removes the stack, waits for its containers,
removes its volumes and secrets, and leaves the swarm only if ``up`` created it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
STACK_FILE = HERE / "shop-stack.yml"
WRAPPER_FILE = HERE / "secrets-env.sh"
WRAPPER_TARGET = "/run/shop/secrets-env"
DEFAULT_STACK = "shopswarm"

# A value built from one of these variables is a credential: it goes into a Docker secret.
CREDENTIAL_REF = re.compile(r"\$\{(?P<var>[A-Z0-9_]*(?:PASSWORD|COOKIE|BASIC_AUTH)[A-Z0-9_]*)[:}]")
# Compose's short port syntax here: "${INFRA_BIND:-127.0.0.1}:${RABBIT1_AMQP_PORT:-5672}:5672".
PORT = re.compile(r"^(?:\$\{[A-Z_]+:-[^}]*\}:)?(?P<published>\$\{[A-Z0-9_]+:-\d+\}|\d+):(?P<target>\d+)$")
EXEC_FORM = re.compile(r"^(?P<kind>ENTRYPOINT|CMD) (?P<argv>\[.*\])\s*$", re.M)
# Entrypoint and command of a base image whose Dockerfile here sets neither (postgres: the
# official image and the offline stand-in, infra/offline/postgres.Dockerfile, agree).
BASE_PROCESS: dict[str, tuple[list[str], list[str]]] = {
    "shop/postgres": (["docker-entrypoint.sh"], ["postgres"]),
}
# Node labels `make swarm-up` puts on the one node of a dev swarm; on a real swarm, put each
# on the node that should hold that stateful task (and its volume).
NODE_LABELS = (
    "shop.rabbit1",
    "shop.rabbit2",
    "shop.rabbit3",
    "shop.postgres",
    "shop.flower",
    "shop.prometheus",
)
INIT_LABEL = "shop.swarm-initialised-by"  # on the node when `up` created the swarm


@dataclass(frozen=True)
class Role:
    """How Swarm runs one compose service: count, update order, placement, resources."""

    replicas: int = 1
    order: str = "start-first"  # stop-first where at most one may run, or a host port is held
    node_label: str | None = None  # pinned to the node carrying this label (stateful tasks)
    cpus: str = "1.0"
    memory: str = "512M"
    reserve_memory: str = "64M"
    job: bool = False
    stop_grace_period: str | None = None
    singleton: bool = False  # exactly one may run: never scale it, never overlap two
    publishes_edge: bool = False
    healthcheck: dict[str, Any] | None = None  # replaces compose's, where Swarm needs another


# Swarm's DNS lists a task only once its health check passes, and a RabbitMQ node opens 5672
# only after it found its peers by name: with compose's check the three nodes never resolve
# each other. The Erlang distribution port (25672) opens before peer discovery; readiness for
# AMQP is what the services' failover lists and rabbitmq-init's wait cover.
BROKER_HEALTHCHECK = {
    "test": ["CMD", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/25672"],
    "interval": "5s",
    "timeout": "3s",
    "retries": 3,
    "start_period": "30s",
}


BROKER = {
    "cpus": "1.0",
    "memory": "2G",
    "reserve_memory": "256M",
    "order": "stop-first",
    "healthcheck": BROKER_HEALTHCHECK,
}
WORKER = {"cpus": "1.0", "memory": "512M", "stop_grace_period": "30s"}
ROLES: dict[str, Role] = {
    "rabbit1": Role(node_label="shop.rabbit1", **BROKER),  # type: ignore[arg-type]
    "rabbit2": Role(node_label="shop.rabbit2", **BROKER),  # type: ignore[arg-type]
    "rabbit3": Role(node_label="shop.rabbit3", **BROKER),  # type: ignore[arg-type]
    "rabbitmq-init": Role(job=True, cpus="0.5", memory="256M"),
    "postgres": Role(node_label="shop.postgres", order="stop-first", memory="1G", reserve_memory="256M"),
    "flower": Role(node_label="shop.flower", order="stop-first", cpus="0.5", memory="256M"),
    "prometheus": Role(node_label="shop.prometheus", order="stop-first", cpus="0.5", memory="512M"),
    "order-service": Role(publishes_edge=True),
    "order-service-relay": Role(order="stop-first", singleton=True, cpus="0.5", memory="256M"),
    # Its signing key lives in its memory: one replica, replaced stop-first.
    "order-service-dev-issuer": Role(order="stop-first", singleton=True, cpus="0.25", memory="256M"),
    "order-service-worker": Role(**WORKER),  # type: ignore[arg-type]
    "billing-service": Role(**WORKER),  # type: ignore[arg-type]
    "logistic-service": Role(**WORKER),  # type: ignore[arg-type]
    "logistic-service-beat": Role(order="stop-first", singleton=True, cpus="0.25", memory="256M"),
}


# --- generation ------------------------------------------------------------------------------
def load_compose(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    """docker-compose.yml as written (anchors and merge keys resolved, variables not), without
    the services of optional profiles (``docker compose up`` does not start them either)."""
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    data["services"] = {n: s for n, s in data["services"].items() if not s.get("profiles")}
    return data


def credential_vars(value: str) -> list[str]:
    return [m["var"] for m in CREDENTIAL_REF.finditer(value)]


def image_process(compose: Mapping[str, Any], image: str) -> tuple[list[str], list[str]]:
    """(ENTRYPOINT, CMD) of ``image`` (tag ignored), read from the Dockerfile that builds it."""
    repo = image.split(":", 1)[0]
    for service in compose["services"].values():
        build = service.get("build")
        if build and service["image"].split(":", 1)[0] == repo:
            dockerfile = ROOT / build["context"] / build.get("dockerfile", "Dockerfile")
            found: dict[str, list[str]] = {}
            for match in EXEC_FORM.finditer(dockerfile.read_text()):
                found[match["kind"]] = json.loads(match["argv"])
            base_entrypoint, base_cmd = BASE_PROCESS.get(repo, ([], []))
            return found.get("ENTRYPOINT", base_entrypoint), found.get("CMD", base_cmd)
    raise KeyError(f"no service in {COMPOSE_FILE.name} builds {image}")


def secret_names(compose: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """(service, variable) → secret name, for every credential-bearing variable.

    Services sharing a value share its secret: ``shop_<variable>`` when the variable has one
    value everywhere, else ``shop_<first service with that value>_<variable>``.
    """
    values: dict[str, dict[str, list[str]]] = {}  # variable → raw value → services
    for name, service in compose["services"].items():
        for var, value in (service.get("environment") or {}).items():
            if credential_vars(str(value)):
                values.setdefault(var, {}).setdefault(str(value), []).append(name)
    names: dict[tuple[str, str], str] = {}
    for var, by_value in values.items():
        for services in by_value.values():
            prefix = "shop" if len(by_value) == 1 else f"shop_{services[0]}"
            for service in services:
                names[(service, var)] = f"{prefix}_{var.lower()}"
    return names


def parse_port(spec: str) -> tuple[str, int]:
    match = PORT.match(spec)
    if not match:
        raise ValueError(f"unexpected port syntax in {COMPOSE_FILE.name}: {spec!r}")
    return match["published"], int(match["target"])


def deploy_section(role: Role, routing_mesh: bool) -> dict[str, Any]:
    """``deploy:`` of one service (the update/rollback policy, resources, placement)."""
    deploy: dict[str, Any] = {}
    if role.job:
        # A one-shot job: Swarm runs it to completion once per deploy; rabbitmq-init is
        # idempotent and waits for the cluster itself, so a failed attempt is simply retried.
        deploy["mode"] = "replicated-job"
        deploy["restart_policy"] = {"condition": "on-failure", "delay": "5s", "max_attempts": 20}
    else:
        deploy["mode"] = "replicated"
        deploy["replicas"] = role.replicas
        # No IPVS on this host: no virtual IP, the service name resolves to its tasks' IPs.
        deploy["endpoint_mode"] = "vip" if routing_mesh else "dnsrr"
    order = role.order
    if role.publishes_edge and not routing_mesh:
        # A host-mode port is held by one task per node: a second task on the same node cannot
        # start until the first has stopped, so start-first would never complete here.
        order = "stop-first"
    placement: dict[str, Any] = {}
    if role.node_label:
        placement["constraints"] = [f"node.labels.{role.node_label} == true"]
    if role.singleton or (role.publishes_edge and not routing_mesh):
        placement["max_replicas_per_node"] = 1
    if placement:
        deploy["placement"] = placement
    deploy["resources"] = {
        "limits": {"cpus": role.cpus, "memory": role.memory},
        "reservations": {"memory": role.reserve_memory},
    }
    if not role.job:
        deploy["restart_policy"] = {"condition": "any", "delay": "5s", "window": "30s"}
        # One task at a time; a task counts as started once its health check passes. A new
        # task failing within `monitor` rolls the service back to the previous spec.
        deploy["update_config"] = {
            "parallelism": 1,
            "delay": "2s",
            "order": order,
            "failure_action": "rollback",
            "monitor": "30s",
        }
        deploy["rollback_config"] = {
            "parallelism": 1,
            "delay": "0s",
            "order": order,
            "failure_action": "pause",
            "monitor": "30s",
        }
    return deploy


def generate(compose: Mapping[str, Any] | None = None, *, routing_mesh: bool = False) -> dict[str, Any]:
    """The stack file (as data) for ``docker stack deploy``."""
    compose = compose if compose is not None else load_compose()
    secrets = secret_names(compose)
    wrapper_hash = hashlib.sha256(WRAPPER_FILE.read_bytes()).hexdigest()[:12]
    services: dict[str, Any] = {}
    for name, svc in compose["services"].items():
        role = ROLES[name]
        entrypoint, cmd = image_process(compose, svc["image"])
        out: dict[str, Any] = {"image": svc["image"]}
        if "hostname" in svc:
            out["hostname"] = svc["hostname"]
        out["entrypoint"] = [WRAPPER_TARGET, *entrypoint]
        out["command"] = list(svc.get("command") or cmd)
        env = svc.get("environment") or {}
        plain = {var: str(value) for var, value in env.items() if (name, var) not in secrets}
        if plain:
            out["environment"] = plain
        mine = sorted((var, secret) for (service, var), secret in secrets.items() if service == name)
        if mine:
            out["secrets"] = [{"source": secret, "target": var} for var, secret in mine]
        out["configs"] = [{"source": "secrets_env", "target": WRAPPER_TARGET, "mode": 0o555}]
        volumes: list[Any] = list(svc.get("volumes") or [])
        volumes += [{"type": "tmpfs", "target": path} for path in svc.get("tmpfs") or []]
        if volumes:
            out["volumes"] = volumes
        ports = [parse_port(p) for p in svc.get("ports") or []]
        if ports:
            out["ports"] = [
                {
                    "target": target,
                    "published": published,
                    "protocol": "tcp",
                    "mode": "ingress" if routing_mesh else "host",
                }
                for published, target in ports
            ]
        if role.healthcheck is not None:
            out["healthcheck"] = role.healthcheck
        elif "healthcheck" in svc:
            out["healthcheck"] = svc["healthcheck"]
        grace = svc.get("stop_grace_period") or role.stop_grace_period
        if grace:
            out["stop_grace_period"] = grace
        out["deploy"] = deploy_section(role, routing_mesh)
        services[name] = out
    return {
        "version": "3.9",
        "services": services,
        "volumes": {name: {} for name in compose.get("volumes") or {}},
        "secrets": {secret: {"external": True} for secret in sorted(set(secrets.values()))},
        "configs": {
            "secrets_env": {"name": f"shop_secrets_env_{wrapper_hash}", "file": f"./{WRAPPER_FILE.name}"}
        },
    }


class _NoAliases(yaml.SafeDumper):
    """Every service spelled out in full: no YAML anchors for equal health checks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


HEADER = """\
# GENERATED from docker-compose.yml by deploy/swarm/swarm.py ({variant}): do not edit.
# Regenerate: python deploy/swarm/swarm.py generate{flag}   (tests/test_swarm_stack.py checks it)
# Deploy: make swarm-up (creates the external secrets first; see deploy/swarm/README.md).
"""


def render(*, routing_mesh: bool = False) -> str:
    variant = "full swarm: routing mesh, virtual IPs" if routing_mesh else "no IPVS: dnsrr, host-mode ports"
    flag = " --routing-mesh -o deploy/swarm/shop-stack.routing-mesh.yml" if routing_mesh else ""
    body = yaml.dump(generate(routing_mesh=routing_mesh), Dumper=_NoAliases, sort_keys=False, width=110)
    return HEADER.format(variant=variant, flag=flag) + body


# --- docker ----------------------------------------------------------------------------------
def docker(
    *args: str, stdin: str | None = None, check: bool = True, env: Mapping[str, str] | None = None
) -> str:
    result = subprocess.run(
        ["docker", *args], input=stdin, capture_output=True, text=True, check=False, env=env
    )
    if check and result.returncode != 0:
        raise SystemExit(f"docker {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip()


def log(message: str) -> None:
    print(f"swarm: {message}", flush=True)


def wait_for(ready: Callable[[], bool], *, timeout: float, what: str, state: Callable[[], str]) -> None:
    """Poll ``ready`` until it holds; on the deadline, fail saying what was awaited and the state."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"swarm: gave up after {timeout:g} s waiting for {what}:\n{state()}")
        time.sleep(2)


def read_env_files(paths: Iterable[str]) -> dict[str, str]:
    """KEY=VALUE lines of the env files compose reads (later files win; the shell wins over all)."""
    values: dict[str, str] = {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip().strip("'\"")
    return values


def compose_running_projects() -> set[str]:
    out = docker(
        "ps",
        "--filter",
        "label=com.docker.compose.project",
        "--format",
        '{{.Label "com.docker.compose.project"}}',
    )
    return {p for p in out.splitlines() if p}


def node_id() -> str:
    return docker("info", "--format", "{{.Swarm.NodeID}}")


def ensure_swarm(stack: str, force: bool) -> None:
    state = docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}")
    if state == "active true":
        log("engine is already a swarm manager")
        return
    if state.startswith("active"):
        raise SystemExit("swarm: this engine is a swarm worker; run `make swarm-up` on a manager")
    projects = compose_running_projects()
    if projects and not force:
        raise SystemExit(
            f"swarm: compose projects run on this engine ({', '.join(sorted(projects))}); initialising "
            "a swarm breaks their containers' name resolution. Stop them first (or pass --force)."
        )
    docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    docker("node", "update", "--label-add", f"{INIT_LABEL}={stack}", node_id())
    log("initialised a single-node swarm (advertise 127.0.0.1)")


def label_node() -> None:
    args = [a for label in NODE_LABELS for a in ("--label-add", f"{label}=true")]
    docker("node", "update", *args, node_id())
    log(f"node labels: {', '.join(NODE_LABELS)}")


def stack_secrets(stack_file: Path) -> list[tuple[str, str, str]]:
    """(secret, service, variable) of every secret the stack file mounts."""
    data = yaml.safe_load(stack_file.read_text())
    return sorted(
        {
            (s["source"], name, s["target"])
            for name, svc in data["services"].items()
            for s in svc.get("secrets") or []
        }
    )


def create_secrets(stack: str, stack_file: Path, compose_cmd: list[str]) -> None:
    """Each secret from the value compose resolves for that service's variable (idempotent).

    Secrets are immutable: one whose value changed is replaced while no service uses it;
    the value's hash (a label) tells whether it changed.
    """
    config = json.loads(
        subprocess.run(
            [*compose_cmd, "config", "--format", "json"], capture_output=True, text=True, check=True
        ).stdout
    )
    wanted: dict[str, str] = {}
    for secret, service, var in stack_secrets(stack_file):
        value = str(config["services"][service]["environment"][var])
        if wanted.setdefault(secret, value) != value:
            raise SystemExit(f"swarm: secret {secret} would have two values ({service} {var})")
    for secret, value in wanted.items():
        digest = hashlib.sha256(value.encode()).hexdigest()
        existing = docker(
            "secret", "inspect", "--format", '{{index .Spec.Labels "shop.sha256"}}', secret, check=False
        )
        if existing == digest:
            continue
        if existing:
            docker("secret", "rm", secret)  # fails (and says why) while a service still uses it
        docker(
            "secret",
            "create",
            "--label",
            f"shop.stack={stack}",
            "--label",
            f"shop.sha256={digest}",
            secret,
            "-",
            stdin=value,
        )
    log(f"{len(wanted)} secrets in place")


def service_states(stack: str) -> dict[str, tuple[str, str]]:
    out = docker(
        "service",
        "ls",
        "--filter",
        f"label=com.docker.stack.namespace={stack}",
        "--format",
        "{{.Name}}\t{{.Mode}}\t{{.Replicas}}",
    )
    states = {}
    for line in out.splitlines():
        name, mode, replicas = line.split("\t")
        states[name] = (mode, replicas)
    return states


def converged(mode: str, replicas: str) -> bool:
    """`1/1` running for a service; `(1/1 completed)` for a job."""
    if "job" in mode:
        match = re.search(r"\((\d+)/(\d+) completed\)", replicas)
        return match is not None and match[1] == match[2]
    running, _, desired = replicas.partition("/")
    return running == desired.split(" ", 1)[0] and running != "0"


def wait_stack(stack: str, expected: int, timeout: float) -> None:
    def ready() -> bool:
        states = service_states(stack)
        return len(states) == expected and all(converged(*s) for s in states.values())

    def state() -> str:
        lines = [f"  {n}: {m} {r}" for n, (m, r) in sorted(service_states(stack).items())]
        lines += [
            docker(
                "stack",
                "ps",
                stack,
                "--no-trunc",
                "--format",
                "{{.Name}} {{.CurrentState}} {{.Error}}",
                check=False,
            )
        ]
        return "\n".join(lines)

    wait_for(
        ready,
        timeout=timeout,
        what=f"the {expected} services of stack {stack} to run (healthy) or complete",
        state=state,
    )
    log(f"stack {stack}: every service running and healthy, rabbitmq-init completed")


def up(args: argparse.Namespace) -> None:
    stack_file = Path(args.stack_file)
    env = {**read_env_files(args.env_file), **os.environ}
    ensure_swarm(args.stack, args.force)
    label_node()
    create_secrets(args.stack, stack_file, shlex.split(args.compose))
    started = time.monotonic()
    docker(
        "stack", "deploy", "--resolve-image", "never", "--prune", "-c", str(stack_file), args.stack, env=env
    )
    expected = len(yaml.safe_load(stack_file.read_text())["services"])
    wait_stack(args.stack, expected, args.timeout)
    log(f"deployed in {time.monotonic() - started:.0f} s")


def down(args: argparse.Namespace) -> None:
    stack = args.stack
    state = docker("info", "--format", "{{.Swarm.LocalNodeState}}")
    if state != "active":
        log("engine is in no swarm: nothing to remove")
        return
    stack_file = Path(args.stack_file)
    docker("stack", "rm", stack, check=False)

    def containers() -> list[str]:
        """The stack's containers left; exited ones removed (the one-shot rabbitmq-init's
        completed task keeps its container after `stack rm`)."""
        stack_label = f"label=com.docker.stack.namespace={stack}"
        for exited in docker("ps", "-aq", "--filter", stack_label, "--filter", "status=exited").split():
            docker("rm", "-f", exited, check=False)
        return docker("ps", "-aq", "--filter", stack_label).split()

    wait_for(
        lambda: not containers(),
        timeout=args.timeout,
        what=f"the containers of stack {stack} to be gone",
        state=lambda: " ".join(containers()),
    )

    def networks_left() -> list[str]:
        """Removes what it can: the engine can keep listing a stack's network for a while after
        `stack rm` (its last endpoint released late); an explicit `network rm` then removes it."""
        left = docker("network", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={stack}").split()
        for network in left:
            docker("network", "rm", network, check=False)
        return docker("network", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={stack}").split()

    wait_for(
        lambda: not networks_left(),
        timeout=120,
        what=f"the networks of stack {stack} to be gone",
        state=lambda: docker("network", "ls", "--filter", f"label=com.docker.stack.namespace={stack}"),
    )
    volumes = [f"{stack}_{v}" for v in yaml.safe_load(stack_file.read_text()).get("volumes") or {}]

    def volumes_left() -> list[str]:
        """Removes what it can (a volume stays busy until its task's container is gone)."""
        present = set(docker("volume", "ls", "-q").split())
        for volume in set(volumes) & present:
            docker("volume", "rm", volume, check=False)
        return sorted(set(volumes) & set(docker("volume", "ls", "-q").split()))

    wait_for(
        lambda: not volumes_left(),
        timeout=120,
        what=f"the volumes of stack {stack} to be removed",
        state=lambda: " ".join(volumes_left()),
    )
    for secret in docker("secret", "ls", "-q", "--filter", f"label=shop.stack={stack}").split():
        docker("secret", "rm", secret)
    log(f"stack {stack} removed with its volumes and secrets")
    initialised_by = docker(
        "node", "inspect", "--format", f'{{{{index .Spec.Labels "{INIT_LABEL}"}}}}', "self", check=False
    )
    if initialised_by == stack:
        docker("swarm", "leave", "--force")
        log("left the swarm `make swarm-up` had initialised")
    else:
        log("the swarm was there before `make swarm-up`: left in place")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write the stack file from docker-compose.yml")
    gen.add_argument(
        "--routing-mesh", action="store_true", help="full-swarm variant: virtual IPs, ingress ports"
    )
    gen.add_argument("-o", "--output", help=f"default {STACK_FILE.relative_to(ROOT)}")
    gen.add_argument("--check", action="store_true", help="fail if the file differs instead of writing it")
    for name in ("up", "wait", "down"):
        p = sub.add_parser(name)
        p.add_argument("--stack", default=os.environ.get("SWARM_STACK", DEFAULT_STACK))
        p.add_argument("--stack-file", default=str(STACK_FILE))
        p.add_argument("--timeout", type=float, default=float(os.environ.get("SWARM_TIMEOUT", "600")))
        if name == "up":
            p.add_argument("--env-file", action="append", default=[], help="env files compose reads too")
            p.add_argument(
                "--compose", default="docker compose", help="compose command (with its --env-file options)"
            )
            p.add_argument(
                "--force", action="store_true", help="init a swarm even though compose projects run"
            )
    args = parser.parse_args(argv)
    if args.command == "generate":
        output = Path(args.output) if args.output else STACK_FILE
        text = render(routing_mesh=args.routing_mesh)
        if args.check:
            if not output.exists() or output.read_text() != text:
                raise SystemExit(f"{output} is not what docker-compose.yml generates: run without --check")
        else:
            output.write_text(text)
    elif args.command == "up":
        up(args)
    elif args.command == "wait":
        wait_stack(
            args.stack, len(yaml.safe_load(Path(args.stack_file).read_text())["services"]), args.timeout
        )
    else:
        down(args)


if __name__ == "__main__":
    main()
