"""Where the running stack is and how to log in: the environment, with docker-compose.yml's defaults.

The variable names are those of ``.env.example`` (``EDGE_PORT``, ``RABBIT1_AMQP_PORT``,
``BILLING_SERVICE_DB_PASSWORD``, ...), so a developer's ``.env`` exported into the shell points
the suite at the same stack. ``E2E_EDGE_URL``, ``E2E_MANAGEMENT_URL``, ``E2E_FLOWER_URL``,
``E2E_PROMETHEUS_URL``, ``E2E_GRAFANA_URL`` and ``E2E_HOST`` override whole URLs or the host.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

SERVICES = ("order-service", "billing-service", "logistic-service")


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _service_var(service: str, suffix: str) -> str:
    return f"{service.upper().replace('-', '_')}_{suffix}"


@dataclass(frozen=True)
class Settings:
    host: str
    edge_url: str
    issuer_url: str
    """The dev token issuer (order-service-dev-issuer), where the suite gets its bearer tokens."""
    management_url: str
    admin_user: str
    admin_password: str
    amqp_ports: tuple[int, ...]
    vhost: str
    broker_passwords: dict[str, str]
    flower_url: str
    flower_user: str
    flower_password: str
    prometheus_url: str
    grafana_url: str
    """Grafana, where the compose profile ``grafana`` runs it (``GRAFANA_PORT``)."""
    postgres_port: int
    db_passwords: dict[str, str]
    compose_project: str
    artifacts: Path
    invoice_timeout: float
    extra: dict[str, str] = field(default_factory=dict)

    def amqp_url(self, user: str) -> str:
        """A failover list over the three nodes (kombu: ``;``-separated), vhost ``shop``."""
        password = self.admin_password if user == self.admin_user else self.broker_passwords[user]
        return ";".join(
            f"amqp://{quote(user, safe='')}:{quote(password, safe='')}@{self.host}:{port}/{self.vhost}"
            for port in self.amqp_ports
        )

    def dsn(self, service: str) -> str:
        """libpq DSN of ``service``'s own database as its owner role (``order_service``...)."""
        name = service.replace("-", "_")
        return (
            f"host={self.host} port={self.postgres_port} dbname={name} user={name} "
            f"password={self.db_passwords[service]} connect_timeout=5"
        )


def load() -> Settings:
    host = _env("E2E_HOST", _env("INFRA_BIND", "127.0.0.1"))
    edge_host = _env("E2E_HOST", _env("EDGE_BIND", "127.0.0.1"))
    issuer_host = _env("E2E_HOST", _env("DEV_ISSUER_BIND", "127.0.0.1"))
    flower_user, _, flower_password = _env("FLOWER_BASIC_AUTH", "admin:flower-dev").partition(":")
    repo = Path(__file__).resolve().parents[2]
    return Settings(
        host=host,
        edge_url=_env("E2E_EDGE_URL", f"http://{edge_host}:{_env('EDGE_PORT', '8000')}"),
        issuer_url=_env("E2E_ISSUER_URL", f"http://{issuer_host}:{_env('DEV_ISSUER_PORT', '8001')}"),
        management_url=_env(
            "E2E_MANAGEMENT_URL", f"http://{host}:{_env('RABBITMQ_MANAGEMENT_PORT', '15672')}"
        ),
        admin_user=_env("RABBITMQ_ADMIN_USER", "admin"),
        admin_password=_env("RABBITMQ_ADMIN_PASSWORD", "admin-dev"),
        amqp_ports=tuple(int(_env(f"RABBIT{n}_AMQP_PORT", str(5671 + n))) for n in (1, 2, 3)),
        vhost=_env("E2E_VHOST", "shop"),
        broker_passwords={s: _env(_service_var(s, "BROKER_PASSWORD"), f"{s}-dev") for s in SERVICES},
        flower_url=_env("E2E_FLOWER_URL", f"http://{host}:{_env('FLOWER_PORT', '5555')}"),
        flower_user=flower_user,
        flower_password=flower_password,
        prometheus_url=_env("E2E_PROMETHEUS_URL", f"http://{host}:{_env('PROMETHEUS_PORT', '9090')}"),
        grafana_url=_env("E2E_GRAFANA_URL", f"http://{host}:{_env('GRAFANA_PORT', '3000')}"),
        postgres_port=int(_env("POSTGRES_PORT", "5432")),
        db_passwords={s: _env(_service_var(s, "DB_PASSWORD"), f"{s}-db-dev") for s in SERVICES},
        compose_project=_env("COMPOSE_PROJECT_NAME", "shop"),
        artifacts=Path(_env("E2E_ARTIFACTS", str(repo / "artifacts"))),
        invoice_timeout=float(_env("INVOICE_TIMEOUT", "2")),
    )
