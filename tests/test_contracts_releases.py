"""event-contracts is installed by version, like any dependency (event-contracts/README.md, "Releasing").

Every release is a recorded, reproducible wheel in the wheelhouse; the source cannot change
under a released version number; each service's lock pins a released wheel by its hash and
its image installs only from the lock, with no index.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]


def _load_release_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("contracts_release", REPO / "event-contracts/release.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


release = _load_release_tool()
SERVICES = release.services()  # every <name>-service/ with a lock
DOCKERFILES = [REPO / s / "Dockerfile" for s in SERVICES] + [
    REPO / "templates/service/template/Dockerfile.jinja"
]


def locked(service: str) -> dict[str, list[str]]:
    """event-contracts' pinned version and hashes in a service's lock."""
    text = (REPO / service / "requirements.lock").read_text()
    match = re.search(r"^event-contracts==(\S+)((?: \\\n +--hash=sha256:[0-9a-f]{64})+)", text, re.M)
    assert match, f"{service}/requirements.lock pins no event-contracts with hashes"
    return {match[1]: re.findall(r"sha256:([0-9a-f]{64})", match[2])}


def test_the_shops_services_are_all_checked() -> None:
    assert {"order-service", "billing-service", "logistic-service"} <= set(SERVICES)


def test_the_records_the_wheels_and_the_source_agree() -> None:
    assert release.releases(), "no release recorded"
    assert release.check() == []


def test_each_service_pins_a_released_wheel_by_its_hash() -> None:
    recorded = {r.version: r.sha256 for r in release.releases()}
    for service in SERVICES:
        ((version, hashes),) = locked(service).items()
        assert version in recorded, f"{service} pins {version}, never released"
        assert hashes == [recorded[version]], f"{service}'s hash of {version} is not the released wheel's"


def test_every_locked_requirement_has_a_hash() -> None:
    for service in SERVICES:
        text = (REPO / service / "requirements.lock").read_text()
        pins = re.findall(r"^[a-z0-9][^\s=]*==", text, re.M | re.I)
        hashed = re.findall(r"^[a-z0-9][^\s=]*==\S+ \\\n +--hash=", text, re.M | re.I)
        assert pins and len(hashed) == len(pins), service


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_images_install_the_lock_with_hashes_and_no_index_and_never_build_the_contracts(
    dockerfile: Path,
) -> None:
    text = dockerfile.read_text()
    assert "COPY event-contracts/wheelhouse " in text
    assert "COPY event-contracts " not in text and "/src/event-contracts" not in text
    assert re.search(r"pip download [^\n]*--require-hashes", text)
    assert re.search(r"pip install -q --no-index --require-hashes --find-links /wheels \\\n\s+-r ", text)


@pytest.fixture
def source_at_newest_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of event-contracts' source, saying it is the newest release, that release.py checks."""
    copy = tmp_path / "event-contracts"
    shutil.copytree(
        REPO / "event-contracts",
        copy,
        ignore=shutil.ignore_patterns(".venv*", "__pycache__", "*.egg-info", "wheelhouse", ".*_cache"),
    )
    pyproject = copy / "pyproject.toml"
    newest = release.releases()[-1].version
    pyproject.write_text(re.sub(r'(?m)^version = ".*"$', f'version = "{newest}"', pyproject.read_text()))
    monkeypatch.setattr(release, "PACKAGE", copy)
    return copy


def test_a_code_change_under_a_released_version_fails_the_check(source_at_newest_release: Path) -> None:
    errors = source_at_newest_release / "src/event_contracts/errors.py"
    errors.write_text(errors.read_text() + "\n# changed after the release\n")
    (problem,) = release.check()
    assert "event_contracts/errors.py" in problem and "bump the version" in problem


def test_a_docs_edit_needs_no_release(tmp_path: Path) -> None:
    newest = release.releases()[-1].path
    edited = tmp_path / newest.name
    with zipfile.ZipFile(newest) as old, zipfile.ZipFile(edited, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename.endswith(".dist-info/METADATA"):
                data += b"\nA README paragraph written after the release.\n"
            new.writestr(item, data)
    assert release.drift(newest, edited) == []
