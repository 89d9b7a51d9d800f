"""``order-service``: migrate the database, then exec gunicorn (the image's CMD).

The migration is the skeleton's (``entrypoints/cli.py``: wait for the database, upgrade under
the advisory lock), so replicas of the edge, the relay and the worker may start together.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from order_service import bootstrap
from order_service.entrypoints import cli

GUNICORN_CONF = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"
WSGI_APP = "order_service.entrypoints.flask_app:create_wsgi_app()"


def main() -> None:
    bootstrap.configure_logging("edge")
    cli.migrate()
    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
    os.execv(gunicorn, [gunicorn, "--config", str(GUNICORN_CONF), *sys.argv[1:], WSGI_APP])


if __name__ == "__main__":
    main()
