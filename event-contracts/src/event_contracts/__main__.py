"""``python -m event_contracts {definitions,users,asyncapi,kubernetes}``: print a generated artefact.

``python -m event_contracts dlq ...``: the dead-letter tool (:mod:`event_contracts.dlq.cli`).
"""

from __future__ import annotations

import argparse
import json
import sys

from event_contracts import __version__, kubernetes
from event_contracts.generate import asyncapi, definitions, users_tsv


def render(artefact: str, vhost: str | None = None) -> str:
    if artefact == "definitions":
        return json.dumps(definitions(vhost=vhost), indent=2) + "\n"
    if artefact == "users":
        return users_tsv()
    if artefact == "asyncapi":
        return json.dumps(asyncapi(version=__version__.split("+")[0]), indent=2) + "\n"
    if artefact == "kubernetes":
        return kubernetes.render()
    raise ValueError(artefact)


def main(argv: list[str] | None = None) -> int:
    args_given = sys.argv[1:] if argv is None else argv
    if args_given[:1] == ["dlq"]:
        from event_contracts.dlq.cli import main as dlq_main

        return dlq_main(args_given[1:])
    parser = argparse.ArgumentParser(
        prog="event_contracts", description=__doc__, epilog="dlq: see `event_contracts dlq --help`"
    )
    parser.add_argument("artefact", choices=["definitions", "users", "asyncapi", "kubernetes"])
    parser.add_argument("--vhost", help="definitions for another vhost (tests use a fresh one)")
    args = parser.parse_args(argv)
    sys.stdout.write(render(args.artefact, args.vhost))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
