"""The drift check: every service's skeleton files are the template's, rendered with its answers.

``make template-check`` (run by ``make lint``): for each ``<name>-service/.copier-answers.yml`` in
the repository, renders ``templates/service`` with those answers into a temporary directory and
compares the :data:`SKELETON` files; any difference fails with a unified diff (``---`` the
template's rendering, ``+++`` the service's file). A service extends its skeleton through the
hooks ``templates/service/README.md`` documents (its settings class, topology, orm, repositories,
unit of work, handlers, worker), never by editing a skeleton file.

``python templates/template_check.py --write [SERVICE ...]`` writes the rendered skeleton files
into the service instead (after a template change, or to put a service on the skeleton).
"""

from __future__ import annotations

import argparse
import difflib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "event-contracts"))  # its release.py: the release records and locks
import release as contracts_release  # noqa: E402

TEMPLATE = REPO / "templates" / "service"
ANSWERS = ".copier-answers.yml"

SKELETON = (
    ".gitignore",
    "Dockerfile",
    "alembic.ini",
    "src/{package}/adapters/database.py",
    "src/{package}/entrypoints/cli.py",
    "src/{package}/migrations/env.py",
    "src/{package}/migrations/script.py.mako",
    "tests/__init__.py",
    "tests/unit/__init__.py",
    "tests/unit/test_settings.py",
    "tests/integration/__init__.py",
    "tests/integration/test_least_privilege.py",
)
"""Files every service shares verbatim modulo its answers (``{package}``: ``<name>_service``)."""


def services(names: Sequence[str] = ()) -> Iterator[Path]:
    """The repository's services made from the template (those with an answers file)."""
    found = sorted(path.parent for path in REPO.glob(f"*-service/{ANSWERS}"))
    for service in found:
        if not names or service.name in names:
            yield service
    unknown = set(names) - {service.name for service in found}
    if unknown:
        sys.exit(f"template-check: no {ANSWERS} in {', '.join(sorted(unknown))}")


def render(service: Path, into: Path) -> tuple[Path, str]:
    """The template rendered with ``service``'s answers; returns the folder and the package."""
    answers = yaml.safe_load((service / ANSWERS).read_text())
    try:
        answers["contracts_version"] = contracts_release.locked_version(service)
    except contracts_release.ReleaseError as error:
        sys.exit(f"template-check: {error}")
    data = [f"{key}={value}" for key, value in answers.items() if not key.startswith("_")]
    target = into / service.name
    subprocess.run(
        [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--quiet"]
        + [arg for item in data for arg in ("--data", item)]
        + [str(TEMPLATE), str(target)],
        check=True,
    )
    return target, f"{answers['name']}_service"


def drift(service: Path, rendered: Path, package: str) -> list[str]:
    """Unified diffs of the skeleton files that differ (a missing file differs from everything)."""
    diffs: list[str] = []
    for pattern in SKELETON:
        relative = pattern.format(package=package)
        expected, actual = rendered / relative, service / relative
        theirs = expected.read_text().splitlines(keepends=True)
        ours = actual.read_text().splitlines(keepends=True) if actual.is_file() else []
        if theirs != ours:
            diffs.append(
                "".join(
                    difflib.unified_diff(
                        theirs,
                        ours,
                        fromfile=f"template/{service.name}/{relative}",
                        tofile=f"{service.name}/{relative}",
                    )
                )
            )
    return diffs


def write(service: Path, rendered: Path, package: str) -> None:
    for pattern in SKELETON:
        relative = pattern.format(package=package)
        (service / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(rendered / relative, service / relative)
        print(f"template-check: wrote {service.name}/{relative}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("services", nargs="*", help="service folders (default: every one)")
    parser.add_argument("--write", action="store_true", help="write the skeleton, do not check")
    args = parser.parse_args(argv)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="template-check-") as scratch:
        for service in services(args.services):
            rendered, package = render(service, Path(scratch))
            if args.write:
                write(service, rendered, package)
                continue
            diffs = drift(service, rendered, package)
            if diffs:
                failed += 1
                print(f"template-check: {service.name}: skeleton files differ from the template")
                print("".join(diffs), end="")
            else:
                print(f"template-check: {service.name}: skeleton as rendered ({len(SKELETON)} files)")
    if failed:
        print(
            "template-check: change the template (templates/service) and re-render "
            "(python templates/template_check.py --write <service>), or move the service's "
            "own code into one of its hooks (templates/service/README.md)",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
