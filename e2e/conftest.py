"""The e2e suite's fixtures, markers and end-of-run summary.

``pytest e2e`` from the repository root, against a stack ``docker compose up`` started.
``e2e/pytest.ini`` sets ``--strict-markers`` and the default timeout; the markers are registered
here too: ``e2e`` on every test, ``slow`` on the HA and worker-loss scenarios (``-m "not slow"``
skips them).

Each scenario is one ``test_<scenario>.py``; tests record their numbers with the ``record``
fixture, and the run ends with ONE line per scenario (outcome and numbers).
"""

from __future__ import annotations

import os
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.clients import settings as settings_module
from e2e.clients.amqp import connection
from e2e.clients.broker_admin import BrokerAdmin
from e2e.clients.containers import Containers
from e2e.clients.databases import Databases
from e2e.clients.edge import Edge, Issuer
from e2e.clients.flower import Flower
from e2e.clients.prometheus import Prometheus
from e2e.clients.settings import Settings
from e2e.clients.waits import wait_until

DEFAULT_TIMEOUT = 300
HERE = Path(__file__).parent
_RECORDS: dict[str, dict[str, Any]] = defaultdict(dict)
_OUTCOMES: dict[str, list[str]] = defaultdict(list)
_DURATIONS: dict[str, float] = defaultdict(float)
_unreachable: dict[str, str] = {}
# e2e/swarm/ runs against the Swarm stack only (`make swarm-test` sets E2E_SWARM_STACK).
collect_ignore = [] if os.environ.get("E2E_SWARM_STACK") else ["swarm"]
# test_new_service.py needs the throwaway consumer `make new-service-e2e` starts (E2E_NEW_SERVICE).
if not os.environ.get("E2E_NEW_SERVICE"):
    collect_ignore.append("test_new_service.py")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end against the running containers")
    config.addinivalue_line(
        "markers", "slow: kills or floods containers (HA, worker loss, faults under load)"
    )


# Run order: the quick behaviours first, the container-killing ones last.
ORDER = (
    "submit",
    "chargeback",
    "versions",
    "flower",
    "poison",
    "dlq_replay",
    "observability",
    "tracing",
    "least_privilege",
    "bad_input",
    "edge_auth",
    "flower_browser",
    "sync_rpc",
    "worker_loss",
    "ha",
    "faults_under_load",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(ORDER)}
    items.sort(key=lambda item: rank.get(scenario_of(item.nodeid), len(ORDER)))
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)
            if item.get_closest_marker("timeout") is None and not config.getini("timeout"):
                item.add_marker(pytest.mark.timeout(DEFAULT_TIMEOUT))


def scenario_of(nodeid: str) -> str:
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    return module.removeprefix("test_").removesuffix(".py")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    scenario = scenario_of(item.nodeid)
    _DURATIONS[scenario] += report.duration
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _OUTCOMES[scenario].append(report.outcome)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    scenarios = list(dict.fromkeys([*_OUTCOMES, *_RECORDS]))
    if not scenarios:
        return
    terminalreporter.section("e2e scenarios")
    for scenario in scenarios:
        outcomes = _OUTCOMES.get(scenario, [])
        verdict = (
            "FAILED"
            if "failed" in outcomes
            else "PASSED"
            if "passed" in outcomes
            else "SKIPPED"
            if outcomes
            else "NOT RUN"
        )
        counts = ", ".join(
            f"{outcomes.count(o)} {o}" for o in ("passed", "failed", "skipped") if outcomes.count(o)
        )
        numbers = " ".join(f"{k}={_fmt(v)}" for k, v in _RECORDS.get(scenario, {}).items())
        terminalreporter.write_line(
            f"e2e {scenario:<14} {verdict:<7} ({counts or 'no test'}; {_DURATIONS[scenario]:.1f} s) {numbers}"
        )


def _fmt(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Callable[..., None]:
    """``record(orders=1000, lost=0)``: numbers for this scenario's summary line (and printed now)."""
    scenario = scenario_of(request.node.nodeid)

    def add(**numbers: Any) -> None:
        _RECORDS[scenario].update(numbers)
        print(f"[{scenario}] " + " ".join(f"{k}={_fmt(v)}" for k, v in numbers.items()))

    return add


# --- the stack ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def settings() -> Settings:
    return settings_module.load()


def _reachable(name: str, probe: Callable[[], Any], timeout: float = 30) -> None:
    """Fail fast (once per session and thing) when part of the stack is not there at all."""
    if name in _unreachable:
        pytest.fail(_unreachable[name], pytrace=False)
    try:
        wait_until(probe, timeout=timeout, interval=1, what=f"{name} to answer")
    except AssertionError as exc:
        _unreachable[name] = f"{name} is not reachable (is the stack up?): {exc}"
        pytest.fail(_unreachable[name], pytrace=False)


@pytest.fixture(scope="session")
def issuer(settings: Settings) -> Iterator[Issuer]:
    client = Issuer(settings.issuer_url)
    _reachable(
        f"the dev token issuer at {settings.issuer_url}",
        lambda: client.http.get("/healthz").status_code == 200,
    )
    yield client
    client.close()


@pytest.fixture(scope="session")
def edge(settings: Settings, issuer: Issuer) -> Iterator[Edge]:
    client = Edge(settings.edge_url, issuer)
    _reachable(f"the edge at {settings.edge_url}", lambda: client.http.get("/healthz").status_code == 200)
    yield client
    client.close()


@pytest.fixture(scope="session")
def broker(settings: Settings) -> Iterator[BrokerAdmin]:
    admin = BrokerAdmin(settings.management_url, settings.admin_user, settings.admin_password, settings.vhost)
    _reachable(
        f"the RabbitMQ management API at {settings.management_url}", lambda: admin.queue("billing.order")
    )
    yield admin
    admin.close()


WORK_QUEUES = (
    "billing.order",
    "logistic.order",
    "logistic.internal",
    "order.billing",
    "order.logistic",
    "billing.order.retry",
    "logistic.order.retry",
    "logistic.internal.retry",
    "order.billing.retry",
    "order.logistic.retry",
)


@pytest.fixture(scope="session", autouse=True)
def quiet_stack(request: pytest.FixtureRequest) -> None:
    """Before the first scenario: wait until the services' work queues are empty (a previous,
    interrupted run may have left a backlog that would make time-bound checks fail)."""
    broker: BrokerAdmin = request.getfixturevalue("broker")
    busy: dict[str, int] = {}

    def empty() -> bool:
        busy.clear()
        busy.update({q: n for q in WORK_QUEUES if (n := broker.counters(q)["messages"])})
        return not busy

    wait_until(
        empty, timeout=600, interval=2, what="the services' work queues to drain", describe=lambda: str(busy)
    )


@pytest.fixture(scope="session")
def dbs(settings: Settings) -> Iterator[Databases]:
    databases = Databases(settings)
    _reachable(
        "PostgreSQL (order, billing, logistic databases)",
        lambda: all(
            db.value("SELECT 1") == 1 for db in (databases.order, databases.billing, databases.logistic)
        ),
    )
    yield databases
    databases.close()


@pytest.fixture(scope="session")
def containers(settings: Settings) -> Containers:
    return Containers(settings.compose_project)


@pytest.fixture(scope="session")
def flower(settings: Settings) -> Iterator[Flower]:
    client = Flower(settings.flower_url, settings.flower_user, settings.flower_password)
    _reachable(f"Flower at {settings.flower_url}", lambda: client.http.get("/healthcheck").status_code == 200)
    yield client
    client.close()


@pytest.fixture(scope="session")
def prometheus(settings: Settings) -> Iterator[Prometheus]:
    client = Prometheus(settings.prometheus_url)
    _reachable(
        f"Prometheus at {settings.prometheus_url}", lambda: client.http.get("/-/ready").status_code == 200
    )
    yield client
    client.close()


@pytest.fixture(scope="session")
def amqp_ok(settings: Settings) -> Settings:
    def probe() -> bool:
        with connection(settings, settings.admin_user) as conn:
            return bool(conn.connected)

    _reachable("RabbitMQ (AMQP)", probe)
    return settings


@pytest.fixture
def unique_order_id() -> Callable[[], int]:
    """Order ids for messages the suite publishes itself: far above any id the DB assigns."""
    rng = random.Random(time.time_ns())
    return lambda: 9_000_000_000 + rng.randrange(1_000_000_000)
