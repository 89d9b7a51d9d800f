"""event-contracts' releases: cut one, check the source against them, lock the services on them.

A release is a wheel in ``wheelhouse/`` and a record in ``releases.toml`` (version, the commit
it was built from, the commit's time as ``SOURCE_DATE_EPOCH``, the wheel's sha256). Services
never build event-contracts: each one's ``requirements.lock`` pins a released version by hash
and its image installs that wheel from the wheelhouse (README.md, "Releasing").

    python event-contracts/release.py cut            # make contracts-release
    python event-contracts/release.py check          # records, wheels and source agree
    python event-contracts/release.py verify 2.0.0   # rebuild a release from its commit (git)
    python event-contracts/release.py lock [SERVICE ...] [--upgrade]   # make locks

Builds are reproducible (hatchling, pinned in pyproject.toml, with ``SOURCE_DATE_EPOCH``): the
same source and epoch give the same bytes, so a wheel can be checked by building it again.
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
WHEELHOUSE = PACKAGE / "wheelhouse"
RELEASES = PACKAGE / "releases.toml"
LOCK_PYTHON = "3.13"  # what the images run
LOCK_COMMAND = "make locks"


class ReleaseError(Exception):
    """A release step refused, with what to do about it."""


@dataclass(frozen=True)
class Release:
    version: str
    commit: str
    source_date_epoch: int
    wheel: str
    sha256: str

    @property
    def path(self) -> Path:
        return WHEELHOUSE / self.wheel


def releases() -> list[Release]:
    """Every recorded release, oldest first."""
    if not RELEASES.exists():
        return []
    records = tomllib.loads(RELEASES.read_text()).get("release", [])
    return sorted((Release(**r) for r in records), key=lambda r: Version(r.version))


def release(version: str) -> Release:
    for r in releases():
        if r.version == version:
            return r
    known = ", ".join(r.version for r in releases()) or "none"
    raise ReleaseError(f"event-contracts {version} was never released (released: {known})")


def pick(wanted: str) -> Release:
    """A release by version, or ``newest`` / ``previous`` (the one before the newest)."""
    recorded = releases()
    picks = {"newest": recorded[-1:], "previous": recorded[-2:-1]}
    found = picks.get(wanted)
    if found is None:
        return release(wanted)
    if not found:
        known = ", ".join(r.version for r in recorded) or "none"
        raise ReleaseError(f"event-contracts has no {wanted} release (released: {known})")
    return found[0]


def source_version(source: Path | None = None) -> str:
    """The version ``source``'s pyproject.toml says (default: PACKAGE, looked up at call time)."""
    return str(tomllib.loads(((source or PACKAGE) / "pyproject.toml").read_text())["project"]["version"])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def build_wheel(source: Path, out: Path, epoch: int) -> Path:
    """The wheel of ``source``, built in isolation with the pinned hatchling at time ``epoch``."""
    subprocess.run(
        ["uv", "build", "--quiet", "--wheel", "--out-dir", str(out), str(source)],
        env={**os.environ, "SOURCE_DATE_EPOCH": str(epoch)},
        check=True,
    )
    (wheel,) = out.glob("event_contracts-*.whl")
    return wheel


def payload(wheel: Path) -> dict[str, bytes]:
    """What a wheel installs and declares: every file but RECORD, and METADATA without its long
    description (the README travels with the next release; a docs edit needs none)."""
    files: dict[str, bytes] = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.endswith(".dist-info/RECORD"):
                continue
            data = archive.read(name)
            if name.endswith(".dist-info/METADATA"):
                metadata = email.parser.BytesHeaderParser().parsebytes(data)
                data = "".join(f"{k}: {v}\n" for k, v in metadata.items()).encode()
            files[name] = data
    return files


def drift(released: Path, built: Path) -> list[str]:
    """The files in which two wheels of one version differ."""
    old, new = payload(released), payload(built)
    return sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))


# --- cut ------------------------------------------------------------------------------------------
def cut() -> Release:
    """Release the version in pyproject.toml from HEAD: build twice, compare, record."""
    version = source_version()
    if any(r.version == version for r in releases()):
        raise ReleaseError(f"{version} is released already: bump the version in pyproject.toml first")
    newest = releases()[-1].version if releases() else None
    if newest is not None and Version(version) <= Version(newest):
        raise ReleaseError(f"{version} is not newer than the newest release, {newest}")
    if f"## {version} — " not in (PACKAGE / "CHANGELOG.md").read_text():
        raise ReleaseError(f"CHANGELOG.md has no '## {version} — <date>' section (rename 'Unreleased')")
    if git("status", "--porcelain", "--", "event-contracts"):
        raise ReleaseError("event-contracts/ has uncommitted changes: commit the release's source first")
    commit = git("rev-parse", "HEAD")
    epoch = int(git("log", "-1", "--format=%ct", commit))
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        wheels = [build_wheel(PACKAGE, Path(out), epoch) for out in (first, second)]
        digests = {sha256(w) for w in wheels}
        if len(digests) != 1:
            raise ReleaseError(f"two builds of one source differ ({sorted(digests)}): not reproducible")
        WHEELHOUSE.mkdir(exist_ok=True)
        shutil.copy2(wheels[0], WHEELHOUSE / wheels[0].name)
    made = Release(version, commit, epoch, wheels[0].name, digests.pop())
    with RELEASES.open("a") as records:
        records.write(
            f'\n[[release]]\nversion = "{made.version}"\ncommit = "{made.commit}"\n'
            f"source_date_epoch = {made.source_date_epoch}\n"
            f'wheel = "{made.wheel}"\nsha256 = "{made.sha256}"\n'
        )
    return made


# --- check ----------------------------------------------------------------------------------------
def check() -> list[str]:
    """What is wrong: a wheel missing or changed, or source changes under a released version."""
    problems = []
    recorded = releases()
    for r in recorded:
        if not r.path.is_file():
            problems.append(f"{r.version}: {r.path.relative_to(REPO)} is missing")
        elif sha256(r.path) != r.sha256:
            problems.append(f"{r.version}: {r.wheel} is not the released wheel (sha256 {sha256(r.path)})")
    unlisted = {p.name for p in WHEELHOUSE.glob("*.whl")} - {r.wheel for r in recorded}
    problems += [f"wheelhouse/{name} is in no release record" for name in sorted(unlisted)]
    version = source_version()
    released = next((r for r in recorded if r.version == version), None)
    if released is None:
        newest = recorded[-1].version if recorded else None
        if newest is not None and Version(version) <= Version(newest):
            problems.append(f"pyproject.toml says {version}, older than the newest release {newest}")
        return problems
    if released.path.is_file():
        with tempfile.TemporaryDirectory() as out:
            changed = drift(released.path, build_wheel(PACKAGE, Path(out), released.source_date_epoch))
        if changed:
            problems.append(
                f"the source differs from the released {version} in {', '.join(changed)}: "
                "bump the version in pyproject.toml (and say why in CHANGELOG.md)"
            )
    return problems


def verify(version: str) -> str:
    """Rebuild a release from its commit (needs that commit in the clone); its sha256."""
    r = release(version)
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "src"
        source.mkdir()
        archive = subprocess.run(
            ["git", "archive", r.commit, "event-contracts"], cwd=REPO, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
        built = sha256(build_wheel(source / "event-contracts", Path(scratch) / "out", r.source_date_epoch))
    if built != r.sha256:
        raise ReleaseError(f"{version} rebuilt from {r.commit[:12]}: sha256 {built}, recorded {r.sha256}")
    return built


# --- lock -----------------------------------------------------------------------------------------
def services() -> list[str]:
    """Every service folder with a lock: ``<name>-service/requirements.lock``."""
    return sorted(lock.parent.name for lock in REPO.glob("*-service/requirements.lock"))


def lock(services: Sequence[str], upgrade: bool = False) -> None:
    """Each service's requirements.lock from its pyproject (:func:`compile_lock`); an existing
    event-contracts pin is kept unless ``upgrade``."""
    for service in services:
        compile_lock(REPO / service, upgrade=upgrade)
        print(f"{service}/requirements.lock: event-contracts {locked_version(REPO / service)}")


def compile_lock(service_dir: Path, *, pin: str | None = None, upgrade: bool = False) -> None:
    """``service_dir/requirements.lock`` from its pyproject: every version pinned with hashes,
    event-contracts only from the wheelhouse; exactly release ``pin`` when given (a new service
    made on an older release), the newest with ``upgrade``."""
    command = [
        "uv",
        "pip",
        "compile",
        "--quiet",
        "--generate-hashes",
        "--python-version",
        LOCK_PYTHON,
        "--find-links",
        str(WHEELHOUSE),
        "--custom-compile-command",
        LOCK_COMMAND,
        f"{service_dir.name}/pyproject.toml",
        "-o",
        f"{service_dir.name}/requirements.lock",
    ]
    if upgrade:
        command += ["--upgrade-package", "event-contracts"]
    with tempfile.TemporaryDirectory() as scratch:
        if pin is not None:
            constraint = Path(scratch) / "contracts.txt"
            constraint.write_text(f"event-contracts=={release(pin).version}\n")
            command += ["--constraint", str(constraint)]
        subprocess.run(command, cwd=service_dir.parent, check=True)


def locked_version(service_dir: Path) -> str:
    for line in (service_dir / "requirements.lock").read_text().splitlines():
        if line.startswith("event-contracts=="):
            return line.split("==", 1)[1].split()[0]
    raise ReleaseError(f"{service_dir.name}/requirements.lock pins no event-contracts")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("cut", help="release the version in pyproject.toml from HEAD")
    commands.add_parser("check", help="the records, the wheels and the source agree")
    commands.add_parser("verify", help="rebuild a release from its commit").add_argument("version")
    locking = commands.add_parser("lock", help="the services' requirements.lock, with hashes")
    locking.add_argument("services", nargs="*", help="default: every <name>-service/ with a lock")
    locking.add_argument("--upgrade", action="store_true", help="move event-contracts to the newest release")
    args = parser.parse_args(argv)
    try:
        if args.command == "cut":
            made = cut()
            print(f"event-contracts {made.version}: wheelhouse/{made.wheel} sha256 {made.sha256}")
            print(
                "next: commit event-contracts/wheelhouse/ and releases.toml; move services with "
                "make locks UPGRADE=1 [LOCK_SERVICES=...]"
            )
        elif args.command == "check":
            problems = check()
            for problem in problems:
                print(f"event-contracts release check: {problem}", file=sys.stderr)
            return 1 if problems else 0
        elif args.command == "verify":
            print(f"event-contracts {args.version}: rebuilt, sha256 {verify(args.version)} as recorded")
        else:
            lock(args.services or services(), upgrade=args.upgrade)
    except ReleaseError as error:
        print(f"event-contracts release: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
