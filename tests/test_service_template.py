"""The service template renders into a service that passes its own lint (ruff, its pyproject's rules).

The rendered service's tests and type check run in ``make new-service-e2e`` (its own venv).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).parent / "ruff"
# new_service.py passes the release a service is made against; here, the newest one recorded
NEWEST_RELEASE = tomllib.loads((REPO / "event-contracts/releases.toml").read_text())["release"][-1]["version"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("template") / "long_named_thing-service"
    subprocess.run(
        [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--quiet"]
        + ["--data", "name=long_named_thing", "--data", f"contracts_version={NEWEST_RELEASE}"]
        + [str(REPO / "templates/service"), str(target)],
        check=True,
    )
    return target


def test_it_renders_the_skeleton_under_the_services_names(rendered: Path) -> None:
    package = rendered / "src" / "long_named_thing_service"
    for part in (
        "settings.py",
        "bootstrap.py",
        "topology.py",
        "service_layer/ports.py",
        "entrypoints/worker.py",
        "entrypoints/cli.py",
        "adapters/database.py",
        "adapters/unit_of_work.py",
        "migrations/env.py",
    ):
        assert (package / part).is_file(), part
    for part in ("Dockerfile", "pyproject.toml", "README.md", "tests/fakes.py", ".copier-answers.yml"):
        assert (rendered / part).is_file(), part
    assert "{{" not in (package / "topology.py").read_text()
    assert 'NAME = "long_named_thing"' in (package / "topology.py").read_text()


def test_the_rendered_service_passes_ruff(rendered: Path) -> None:
    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        result = subprocess.run([str(RUFF), *command], cwd=rendered, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_its_dockerfile_has_billing_services_structure(rendered: Path) -> None:
    def skeleton(path: Path) -> list[str]:
        return [line.split()[0] for line in path.read_text().splitlines() if line[:1].isupper()]

    assert skeleton(rendered / "Dockerfile") == skeleton(REPO / "billing-service/Dockerfile")


def test_it_refuses_a_release_older_than_its_service_defaults(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--quiet"]
        + ["--data", "name=old", "--data", "contracts_version=2.1.0"]
        + [str(REPO / "templates/service"), str(tmp_path / "old-service")],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode != 0
    assert "needs event-contracts 2.2.0 or newer" in result.stdout + result.stderr
