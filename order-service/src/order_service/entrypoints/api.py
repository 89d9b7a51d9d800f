"""``order-service``: migrate the database, then exec gunicorn (the image's CMD)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from order_service import bootstrap
from order_service.adapters.database import make_engine, migrate
from order_service.settings import Settings

GUNICORN_CONF = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"
WSGI_APP = "order_service.entrypoints.flask_app:create_wsgi_app()"


def main() -> None:
    bootstrap.configure_logging("edge")
    engine = make_engine(Settings().database_url)
    migrate(engine)
    engine.dispose()
    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
    os.execv(gunicorn, [gunicorn, "--config", str(GUNICORN_CONF), *sys.argv[1:], WSGI_APP])


if __name__ == "__main__":
    main()
