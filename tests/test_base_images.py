"""The official base images are named the same everywhere: Dockerfiles, compose, .env.example, CI.

No registry is reachable where CI runs, so the official-image path is never built there; this
test keeps what it would build in step with what `.ci/run` probes the registry for.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
IMAGE_ARG = re.compile(r"^ARG (?P<name>[A-Z]+_IMAGE)=(?P<image>\S+)$", re.M)
COMPOSE_DEFAULT = re.compile(r"\$\{(?P<name>[A-Z]+_IMAGE):-(?P<image>[^}]+)\}")
OFFICIAL = {"PYTHON_IMAGE": "python:3.13-slim", "RABBITMQ_IMAGE": "rabbitmq:4.3-management",
            "POSTGRES_IMAGE": "postgres:17", "PROMETHEUS_IMAGE": "prom/prometheus:v3.14.0"}  # fmt: skip


def dockerfile_defaults() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for dockerfile in ROOT.glob("**/Dockerfile"):
        if ".venv" in dockerfile.parts:
            continue
        for match in IMAGE_ARG.finditer(dockerfile.read_text()):
            found.setdefault(match["name"], set()).add(match["image"])
    return found


def test_every_dockerfile_defaults_to_the_current_official_image() -> None:
    assert dockerfile_defaults() == {name: {image} for name, image in OFFICIAL.items()}


def test_compose_and_env_example_default_to_the_same_images() -> None:
    compose_file = (ROOT / "docker-compose.yml").read_text()
    compose = {m["name"]: m["image"] for m in COMPOSE_DEFAULT.finditer(compose_file)}
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if re.match(r"^[A-Z]+_IMAGE=", line)
    )
    assert compose == OFFICIAL
    assert example == OFFICIAL


def test_ci_probes_the_registry_for_exactly_those_images() -> None:
    match = re.search(r'^OFFICIAL_IMAGES="(?P<images>[^"]+)"$', (ROOT / ".ci/run").read_text(), re.M)
    assert match, ".ci/run names no OFFICIAL_IMAGES"
    assert sorted(shlex.split(match["images"])) == sorted(OFFICIAL.values())
