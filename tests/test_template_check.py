"""The drift check: it names a skeleton file a service edited, and its list is the README's."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]


def load_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("template_check", REPO / "templates/template_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["template_check"] = module
    spec.loader.exec_module(module)
    return module


check = load_check()


def test_the_readme_lists_exactly_the_skeleton_files() -> None:
    readme = (REPO / "templates/service/README.md").read_text()
    listed = re.search(r"<!-- skeleton:.*?-->\n(.*?)<!-- /skeleton -->", readme, re.S)
    assert listed is not None
    names = re.findall(r"^- `([^`]+)`$", listed.group(1), re.M)
    assert names == [path.replace("{package}", "<package>") for path in check.SKELETON]


def test_an_edited_skeleton_file_is_reported_with_a_diff(tmp_path: Path) -> None:
    rendered, package = check.render(REPO / "billing-service", tmp_path / "rendered")
    service = tmp_path / "billing-service"
    for pattern in check.SKELETON:
        relative = pattern.format(package=package)
        (service / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(rendered / relative, service / relative)
    assert check.drift(service, rendered, package) == []

    edited = service / "src" / package / "adapters" / "database.py"
    edited.write_text(edited.read_text() + "ENGINE_OPTIONS = {}\n")
    (service / "alembic.ini").unlink()

    diffs = check.drift(service, rendered, package)
    assert len(diffs) == 2
    assert f"+++ billing-service/src/{package}/adapters/database.py" in diffs[1]
    assert "+ENGINE_OPTIONS = {}" in diffs[1]
    assert "-[alembic]" in diffs[0]


def test_every_service_with_answers_is_on_the_skeleton() -> None:
    assert check.main([]) == 0
