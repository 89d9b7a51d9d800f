"""A new consumer service from the template, and the proof that adding one needs no producer change.

``make new-service NAME=<name>`` (:func:`create`): renders ``templates/service`` into
``<name>-service/``, locks its dependencies (event-contracts: a release from the wheelhouse,
the newest unless ``CONTRACTS_VERSION`` names another), and wires it into the repository: its lines in
event-contracts' topology, the regenerated broker artefacts, ``PACKAGES`` in the Makefile, its
passwords in ``.env.example``, its compose block and passwords (and its Swarm role and the Swarm
stack files generated from compose), its database in the PostgreSQL init script. ``docs/adding-a-service.md``
lists what is left to do by hand.

``make new-service-e2e NAME=<name>`` (:func:`e2e`): against the RUNNING stack (compose project
``COMPOSE_PROJECT_NAME``), renders a throwaway service into a git-ignored scratch directory, runs
its generated unit tests, provisions its broker user, permissions, queues and bindings (its part
of the generated definitions, through the management API) and its PostgreSQL database and role,
builds its image (its lock pins ``CONTRACTS_VERSION``: CI pins the previous release, next to
services on the newest; ``--template-at-release``: the template as it was at that release's
commit), starts it in a compose project of its own on the stack's network, runs
``e2e/test_new_service.py``, and removes everything again; order-service's containers must be the
same ones, never restarted, from start to end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "event-contracts"))  # its release.py: the release records and locks
import release as contracts_release  # noqa: E402

WHEELHOUSE = contracts_release.WHEELHOUSE
TEMPLATE = REPO / "templates" / "service"
SCRATCH = REPO / "artifacts" / "new-service"
VHOST = "shop"
NAME_PATTERN = re.compile(r"^[a-z][a-z_]*$")
TOPOLOGY_FILE = REPO / "event-contracts" / "src" / "event_contracts" / "topology.py"
SERVICES_MARKER = "        # new services: make new-service adds them above this line"
SUBSCRIPTIONS_MARKER = "        # new subscriptions: make new-service adds them above this line"


def log(message: str) -> None:
    print(f"new-service: {message}", flush=True)


def run(*argv: str | Path, cwd: Path = REPO, env: dict[str, str] | None = None) -> str:
    """Run a command; its output, or exit with it when it fails."""
    result = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(
            f"new-service: {' '.join(map(str, argv))} failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return result.stdout


def names(name: str) -> tuple[str, str]:
    """(service, package): ``audit`` → ``audit-service``, ``audit_service``."""
    if not NAME_PATTERN.match(name):
        sys.exit(f"new-service: NAME={name!r}: lower-case letters and '_' only, a letter first")
    return f"{name}-service", f"{name}_service"


def env_var(service: str, suffix: str) -> str:
    return f"{service.upper().replace('-', '_')}_{suffix}"


def released_version(wanted: str) -> str:
    """A released event-contracts version: ``newest``, ``previous`` (the one before it) or a
    version listed in event-contracts/releases.toml."""
    try:
        return contracts_release.pick(wanted).version
    except contracts_release.ReleaseError as error:
        sys.exit(f"new-service: {error}")


def template_at_release(contracts: str, scratch: Path) -> Path:
    """``templates/service`` as it was at the commit event-contracts ``contracts`` was released
    from: a service made then, never regenerated, for a template that has since moved to API
    only newer releases have. Needs that commit; a shallow clone fetches it from origin."""
    commit = contracts_release.release(contracts).commit
    if subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=REPO, check=False).returncode:
        run("git", "fetch", "--quiet", "--depth", "1", "origin", commit)
    archive = subprocess.run(
        ["git", "archive", commit, "templates/service"], cwd=REPO, capture_output=True, check=True
    ).stdout
    scratch.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(scratch)], input=archive, check=True)
    log(f"template as of event-contracts {contracts} (commit {commit[:12]})")
    return scratch / "templates" / "service"


# --- rendering --------------------------------------------------------------------------------
def render(name: str, dest: Path, contracts: str, template: Path = TEMPLATE) -> Path:
    """``template`` rendered into ``dest/<name>-service``, its lock compiled with event-contracts
    ``contracts`` (a released version)."""
    service, _ = names(name)
    target = dest / service
    if target.exists():
        sys.exit(f"new-service: {target} exists already")
    run(
        sys.executable,
        "-m",
        "copier",
        "copy",
        "--trust",
        "--defaults",
        "--quiet",
        "--data",
        f"name={name}",
        "--data",
        f"contracts_version={contracts}",
        template,
        target,
    )
    contracts_release.compile_lock(target, pin=contracts)
    log(f"rendered {target} on event-contracts {contracts}")
    return target


# --- make new-service: wiring into the repository ---------------------------------------------
def insert_before(path: Path, marker: str, line: str) -> None:
    text = path.read_text()
    if marker not in text:
        sys.exit(f"new-service: {path.relative_to(REPO)} has no line {marker.strip()!r}")
    if line in text:
        return
    path.write_text(text.replace(marker, f"{line}\n{marker}", 1))


def wire(name: str) -> None:
    """The lines outside the service's folder that the repository needs for it."""
    service, _ = names(name)
    insert_before(TOPOLOGY_FILE, SERVICES_MARKER, f'        Service("{name}"),')
    insert_before(
        TOPOLOGY_FILE,
        SUBSCRIPTIONS_MARKER,
        f'        Subscription("{name}", "order", ("submit", "chargeback")),',
    )
    generated = {
        "definitions": REPO / "infra/rabbitmq/definitions.json",
        "users": REPO / "infra/rabbitmq/users.tsv",
        "asyncapi": REPO / "event-contracts/asyncapi.json",
        "kubernetes": REPO / "deploy/kubernetes/base/rabbitmq/topology.yaml",
    }
    for artefact, path in generated.items():
        path.write_text(run(sys.executable, "-m", "event_contracts", artefact))
    makefile = REPO / "Makefile"
    text = makefile.read_text()
    packages = re.search(r"^PACKAGES := (.*)$", text, re.MULTILINE)
    if packages is None:
        sys.exit("new-service: no `PACKAGES := ...` line in the Makefile")
    if service not in packages[1].split():
        makefile.write_text(text.replace(packages[0], f"{packages[0]} {service}", 1))
    example = REPO / ".env.example"
    text = example.read_text()
    for suffix, default in (("BROKER_PASSWORD", f"{service}-dev"), ("DB_PASSWORD", f"{service}-db-dev")):
        variable = env_var(service, suffix)
        if f"\n{variable}=" not in text:
            text = text.rstrip("\n") + f"\n{variable}={default}\n"
    example.write_text(text)
    wire_compose(service)
    swarm = REPO / "deploy/swarm/swarm.py"  # its stack files are generated from compose
    worker_role = '    "billing-service": Role(**WORKER),  # type: ignore[arg-type]\n'
    text = swarm.read_text()
    if f'    "{service}": Role(' not in text:
        if text.count(worker_role) != 1:
            sys.exit(f"new-service: {swarm.relative_to(REPO)}: no billing-service line in ROLES to follow")
        swarm.write_text(
            text.replace(worker_role, worker_role + worker_role.replace("billing-service", service))
        )
    run(sys.executable, swarm, "generate")
    run(
        sys.executable,
        swarm,
        "generate",
        "--routing-mesh",
        "-o",
        REPO / "deploy/swarm/shop-stack.routing-mesh.yml",
    )
    init = REPO / "infra/postgres/initdb/10-service-databases.sh"
    text = init.read_text()
    defaults = re.search(r"\$\{SHOP_DB_SERVICES:-([^}]*)\}", text)
    if defaults is None:
        sys.exit(f"new-service: no ${{SHOP_DB_SERVICES:-...}} default in {init.relative_to(REPO)}")
    if service not in defaults[1].split():
        init.write_text(text.replace(defaults[0], f"${{SHOP_DB_SERVICES:-{defaults[1]} {service}}}"))
    log(
        f"wired {service}: topology, generated artefacts, Makefile PACKAGES, .env.example, "
        "docker-compose.yml (and the Swarm stack files), the PostgreSQL init script"
    )


def compose_block(service: str) -> str:
    database = service.replace("-", "_")
    broker, db = env_var(service, "BROKER_PASSWORD"), env_var(service, "DB_PASSWORD")
    urls = ";".join(
        f"amqp://{service}:${{{broker}:-{service}-dev}}@rabbit{n}:5672/{VHOST}" for n in (1, 2, 3)
    )
    return (
        f"  # Celery worker made from templates/service; scale with --scale {service}=N.\n"
        f"  {service}:\n"
        "    <<: *app-service\n"
        f"    image: shop/{service}:${{SHOP_IMAGE_TAG:-dev}}\n"
        "    pull_policy: build\n"
        "    build:\n"
        "      context: .\n"
        f"      dockerfile: {service}/Dockerfile\n"
        "      args: *python-build-args\n"
        "    environment:\n"
        f"      DATABASE_URL: postgresql+psycopg://{database}:${{{db}:-{service}-db-dev}}"
        f"@postgres:5432/{database}\n"
        f'      BROKER_URLS: "{urls}"\n'
    )


def wire_compose(service: str) -> None:
    """Its block, its broker password for rabbitmq-init, its database password for postgres."""
    path = REPO / "docker-compose.yml"
    text = path.read_text()
    if f"\n  {service}:\n" in text:
        return
    broker, db = env_var(service, "BROKER_PASSWORD"), env_var(service, "DB_PASSWORD")
    anchors = {
        "      FLOWER_BROKER_PASSWORD: ${FLOWER_BROKER_PASSWORD": (
            f"      {broker}: ${{{broker}:-{service}-dev}}\n"
        ),
        "    volumes:\n      - postgres-data:": f"      {db}: ${{{db}:-{service}-db-dev}}\n",
        "\nvolumes:\n": "\n" + compose_block(service).rstrip("\n") + "\n",
    }
    for anchor, lines in anchors.items():
        if text.count(anchor) != 1:
            sys.exit(f"new-service: docker-compose.yml: expected one {anchor.strip()!r}, edit it by hand")
        text = text.replace(anchor, lines + anchor)
    path.write_text(text)


def create(name: str, contracts: str) -> None:
    render(name, REPO, contracts)
    wire(name)
    log("left to do by hand: docs/adding-a-service.md")


# --- the running stack --------------------------------------------------------------------------
class Stack:
    """The running compose project: its containers (by label), its broker, its PostgreSQL."""

    def __init__(self, project: str) -> None:
        self.project = project
        host = os.environ.get("INFRA_BIND") or "127.0.0.1"
        port = os.environ.get("RABBITMQ_MANAGEMENT_PORT") or "15672"
        self.management = httpx.Client(
            base_url=f"http://{host}:{port}/api/",
            auth=(
                os.environ.get("RABBITMQ_ADMIN_USER") or "admin",
                os.environ.get("RABBITMQ_ADMIN_PASSWORD") or "admin-dev",
            ),
            timeout=60,
        )

    def containers(self, service_prefix: str) -> list[dict[str, Any]]:
        ids = run(
            "docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={self.project}"
        ).split()
        if not ids:
            return []
        found = json.loads(run("docker", "inspect", *ids))
        return [
            c
            for c in found
            if c["Config"]["Labels"].get("com.docker.compose.service", "").startswith(service_prefix)
        ]

    def snapshot(self, service_prefix: str) -> list[tuple[str, str, str, int]]:
        """(name, id, started at, restarts) of each container of the services named so."""
        return sorted(
            (c["Name"].lstrip("/"), c["Id"], c["State"]["StartedAt"], int(c["RestartCount"]))
            for c in self.containers(service_prefix)
        )

    def container_of(self, service: str) -> str:
        running = [
            c["Id"]
            for c in self.containers(service)
            if c["Config"]["Labels"]["com.docker.compose.service"] == service and c["State"]["Running"]
        ]
        if not running:
            sys.exit(f"new-service: no running {service} container in project {self.project}")
        return str(running[0])

    def network(self) -> str:
        container = json.loads(run("docker", "inspect", self.container_of("postgres")))[0]
        return str(next(iter(container["NetworkSettings"]["Networks"])))

    def api(self, method: str, path: str, body: Any = None) -> Any:
        response = self.management.request(method, path, json=body)
        if method == "DELETE" and response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json() if response.content else None

    # broker ------------------------------------------------------------------------------
    def provision_broker(self, user: str, password: str, provisioning: dict[str, Any]) -> None:
        grant, definitions = provisioning["permissions"], provisioning["definitions"]
        self.api("PUT", f"users/{quote(user, safe='')}", {"password": password, "tags": ""})
        self.api(
            "PUT",
            f"permissions/{VHOST}/{quote(user, safe='')}",
            {k: grant[k] for k in ("configure", "write", "read")},
        )
        self.api("POST", f"definitions/{VHOST}", definitions)
        queues = [q["name"] for q in definitions["queues"]]
        nodes = len(self.api("GET", "nodes"))
        members: dict[str, int] = {}

        def replicated() -> bool:
            for queue in queues:
                info = self.api("GET", f"queues/{VHOST}/{quote(queue, safe='')}")
                members[queue] = len(info.get("online", []))
            return all(n == nodes for n in members.values())

        wait(replicated, 120, f"its quorum queues online on all {nodes} nodes", lambda: str(members))
        log(f"broker: user {user}, {len(queues)} queues, {len(definitions['bindings'])} bindings")

    def deprovision_broker(self, user: str, provisioning: dict[str, Any]) -> None:
        definitions = provisioning["definitions"]
        for queue in definitions["queues"]:
            self.api("DELETE", f"queues/{VHOST}/{quote(queue['name'], safe='')}")
        for exchange in definitions["exchanges"]:
            self.api("DELETE", f"exchanges/{VHOST}/{quote(exchange['name'], safe='')}")
        for policy in definitions["policies"]:
            self.api("DELETE", f"policies/{VHOST}/{quote(policy['name'], safe='')}")
        self.api("DELETE", f"users/{quote(user, safe='')}")
        log(f"broker: removed user {user} and its queues, exchanges, policies")

    # PostgreSQL ---------------------------------------------------------------------------
    def provision_database(self, service: str, password: str) -> None:
        """The stack's own idempotent init script, for this one service."""
        run(
            "docker",
            "exec",
            "-e",
            f"SHOP_DB_SERVICES={service}",
            "-e",
            f"{env_var(service, 'DB_PASSWORD')}={password}",
            self.container_of("postgres"),
            "/docker-entrypoint-initdb.d/10-service-databases.sh",
        )
        log(f"postgres: database and role {service.replace('-', '_')}")

    def deprovision_database(self, service: str) -> None:
        name = service.replace("-", "_")
        for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'DROP ROLE IF EXISTS "{name}"'):
            run(
                "docker",
                "exec",
                self.container_of("postgres"),
                "sh",
                "-c",
                f"psql -v ON_ERROR_STOP=1 -q -U \"${{POSTGRES_USER:-postgres}}\" -d postgres -c '{sql}'",
            )
        log(f"postgres: dropped database and role {name}")


def wait(predicate: Callable[[], bool], timeout: float, what: str, describe: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            sys.exit(f"new-service: timed out after {timeout:.0f} s waiting for {what} ({describe()})")
        time.sleep(1)


# --- the throwaway service's own venv, image and compose project -------------------------------
def service_venv(service_dir: Path) -> Path:
    """Its own venv with what its lock pins (the released event-contracts, not this tree's)."""
    venv = service_dir / ".venv"
    run("uv", "venv", "-q", "--allow-existing", venv, "-p", "3.11")
    run(
        "uv",
        "pip",
        "install",
        "-q",
        "--python",
        venv / "bin" / "python",
        "--find-links",
        WHEELHOUSE,
        "-r",
        service_dir / "requirements.lock",
        "-e",
        f"{service_dir}[test]",
    )
    return venv / "bin" / "python"


def build_image(service_dir: Path, image: str) -> None:
    """The service's Dockerfile, context = its folder next to event-contracts' wheelhouse."""
    context = service_dir.parent / "context"
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir()
    ignore = shutil.ignore_patterns(
        ".venv*",
        "__pycache__",
        "*.egg-info",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        "*.sqlite3",
        "dist",
        "build",
    )
    shutil.copytree(WHEELHOUSE, context / "event-contracts" / "wheelhouse")
    shutil.copytree(service_dir, context / service_dir.name, ignore=ignore)
    python_image = os.environ.get("PYTHON_IMAGE") or "python:3.13-slim"
    run(
        "docker",
        "build",
        "-q",
        "-f",
        context / service_dir.name / "Dockerfile",
        "--build-arg",
        f"PYTHON_IMAGE={python_image}",
        "-t",
        image,
        context,
    )
    log(f"image {image} (base {python_image})")


def compose_file(service: str, image: str, network: str, broker_password: str, db_password: str) -> str:
    """A compose project of its own whose one service joins the stack's network (no override of
    any stack service, so nothing of the stack is recreated)."""
    package = service.replace("-", "_")
    urls = ";".join(f"amqp://{service}:{broker_password}@rabbit{n}:5672/{VHOST}" for n in (1, 2, 3))
    return json.dumps(
        {
            "services": {
                service: {
                    "image": image,
                    "pull_policy": "never",
                    "restart": "unless-stopped",
                    "cpu_shares": 256,
                    "environment": {
                        "DATABASE_URL": f"postgresql+psycopg://{package}:{db_password}@postgres:5432/{package}",
                        "BROKER_URLS": urls,
                        "WORKER_CONCURRENCY": "1",
                    },
                    "networks": ["shop"],
                }
            },
            "networks": {"shop": {"external": True, "name": network}},
        },
        indent=2,
    )


@contextmanager
def phase(timings: list[tuple[str, float]], name: str) -> Iterator[None]:
    log(f"=== {name}")
    started = time.monotonic()
    try:
        yield
    finally:
        timings.append((name, time.monotonic() - started))


def e2e(
    name: str,
    project: str,
    scratch: Path,
    pytest_args: Sequence[str],
    contracts: str,
    keep: bool = False,
    old_template: bool = False,
) -> int:
    service, _ = names(name)
    stack = Stack(project)
    broker_password = os.environ.get(env_var(service, "BROKER_PASSWORD")) or f"{service}-dev"
    db_password = os.environ.get(env_var(service, "DB_PASSWORD")) or f"{service}-db-dev"
    image = f"shop/{service}:e2e"
    own_project = f"{project}-{name.replace('_', '-')}"
    timings: list[tuple[str, float]] = []
    producer_before = stack.snapshot("order-service")
    if not producer_before:
        sys.exit(f"new-service: no order-service containers in project {project}: is the stack up?")
    scratch.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=scratch))
    compose = ["docker", "compose", "-p", own_project, "-f", str(workdir / "compose.json")]
    provisioning: dict[str, Any] | None = None
    rc = 1
    try:
        with phase(timings, "render"):
            template = template_at_release(contracts, workdir / "template") if old_template else TEMPLATE
            service_dir = render(name, workdir, contracts, template)
            python = service_venv(service_dir)
        with phase(timings, "unit tests"):
            log(
                run(python, "-m", "pytest", "-m", "unit", "-q", "-p", "no:cacheprovider", cwd=service_dir)
                .strip()
                .splitlines()[-1]
            )
        with phase(timings, "provision"):
            provisioning = json.loads(
                run(python, "-m", f"{service.replace('-', '_')}.entrypoints.cli", "provisioning")
            )
            stack.provision_broker(service, broker_password, provisioning)
            stack.provision_database(service, db_password)
        with phase(timings, "image"):
            build_image(service_dir, image)
        with phase(timings, "start"):
            (workdir / "compose.json").write_text(
                compose_file(service, image, stack.network(), broker_password, db_password)
            )
            started = subprocess.run([*compose, "up", "-d", "--wait", "--wait-timeout", "180"], check=False)
            if started.returncode != 0:
                subprocess.run([*compose, "logs", "--no-color", "--tail", "80"], check=False)
                sys.exit(f"new-service: {service} did not become healthy (its logs above)")
            log(f"started {service} in compose project {own_project} on network {stack.network()}")
        with phase(timings, "e2e"):
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "e2e/test_new_service.py",
                    "-p",
                    "no:cacheprovider",
                    *pytest_args,
                ],
                cwd=REPO,
                env={
                    **os.environ,
                    "E2E_NEW_SERVICE": name,
                    "E2E_NEW_SERVICE_PROJECT": own_project,
                    "E2E_NEW_SERVICE_CONTRACTS": contracts,
                },
                check=False,
            )
            rc = result.returncode
    finally:
        if keep:
            log(f"--keep: {service} left running (compose project {own_project}, {workdir})")
            provisioning = None
            compose = ["true"]
        with phase(timings, "remove"):
            subprocess.run([*compose, "down", "--timeout", "20"], cwd=REPO, capture_output=True, check=False)
            if provisioning is not None:
                stack.deprovision_broker(service, provisioning)
                stack.deprovision_database(service)
            if not keep:
                subprocess.run(["docker", "image", "rm", "-f", image], capture_output=True, check=False)
        producer_after = stack.snapshot("order-service")
        if producer_after != producer_before:
            log(
                f"FAILED: order-service's containers changed:\n  before {producer_before}\n"
                f"  after  {producer_after}"
            )
            rc = rc or 1
        else:
            log(f"order-service untouched: the same {len(producer_before)} containers, never restarted")
        if rc == 0 and not keep:
            shutil.rmtree(workdir, ignore_errors=True)  # kept after a failure, for a look
        log(
            "timings: "
            + ", ".join(f"{n} {s:.0f} s" for n, s in timings)
            + f"; total {sum(s for _, s in timings):.0f} s"
        )
    return rc


def add_contracts_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--contracts-version",
        default=os.environ.get("CONTRACTS_VERSION") or "newest",
        help="the event-contracts release its lock pins: newest, previous or a released version "
        "(default: $CONTRACTS_VERSION, else newest)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("create", help="render <name>-service/ and wire it into the repository")
    make.add_argument("name")
    add_contracts_option(make)
    proof = commands.add_parser("e2e", help="a throwaway service on the running stack, proven, removed")
    proof.add_argument("name")
    proof.add_argument("--project", default=os.environ.get("COMPOSE_PROJECT_NAME") or "shop")
    proof.add_argument("--scratch", type=Path, default=SCRATCH)
    proof.add_argument("--keep", action="store_true", help="leave it running (debugging)")
    add_contracts_option(proof)
    proof.add_argument(
        "--template-at-release",
        action="store_true",
        default=bool(os.environ.get("TEMPLATE_AT_RELEASE")),
        help="render the template as it was at that release's commit, not this tree's "
        "(default: $TEMPLATE_AT_RELEASE set)",
    )
    proof.add_argument("pytest_args", nargs="*")
    args = parser.parse_args(argv)
    release = released_version(args.contracts_version)
    if args.command == "create":
        create(args.name, release)
        return 0
    return e2e(
        args.name,
        args.project,
        args.scratch,
        args.pytest_args,
        release,
        keep=args.keep,
        old_template=args.template_at_release,
    )


if __name__ == "__main__":
    raise SystemExit(main())
