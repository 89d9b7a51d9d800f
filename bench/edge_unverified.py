"""The edge without token verification: the benchmark's "verification off" side. Never deploy it.

``python -m bench`` copies this file into a throwaway container of the stack's own
order-service image (same environment, network, database and CPU shares as the stack's edge)
and runs it there: the real edge (gunicorn with the service's ``gunicorn.conf.py``, the real
Flask app and handlers) with one difference, the token verifier. This one takes any bearer
token as the benchmark's customer without reading it: no signature, issuer, audience or expiry
check, no cache of verified tokens. The stack's edge, verifying as deployed, and this one take
the same requests in alternating rounds, so the difference in CPU per request is what
verification costs.

It cannot be left on anywhere real: any string after ``Bearer`` would place orders as that
customer. That is why it is no setting of the service: it exists only in the benchmark's
folder, never in the image, and the benchmark removes its container when it is done.

Runs inside the order-service image only (it imports ``order_service``).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

SUBJECT = "bench"
"""The customer every request is taken for (the subject of the benchmark's own token)."""


class TrustAnyToken:
    """A verifier that verifies nothing: every token is :data:`SUBJECT`, a customer."""

    def __init__(self) -> None:
        from order_service.domain.identity import Caller, Role

        self.caller = Caller(subject=SUBJECT, roles=frozenset({Role.CUSTOMER.value}), token_id="unverified")

    def verify(self, token: str) -> Any:
        return self.caller


def create_wsgi_app() -> Any:
    """gunicorn's factory: the service's own (``order_service.entrypoints.flask_app``), with
    :class:`TrustAnyToken` as its verifier, so this edge differs from the stack's in nothing else
    (an earlier copy of the factory here left out its request tracing, about a tenth of the
    edge's CPU per request, and that difference read as verification's cost)."""
    from order_service.entrypoints.flask_app import create_wsgi_app as service_factory

    return service_factory(verifier=TrustAnyToken())


def main() -> None:
    """Exec gunicorn as the image's ``order-service`` command does, with this module's app."""
    from order_service.entrypoints.api import GUNICORN_CONF

    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
    here = str(Path(__file__).resolve().parent)
    app = f"{Path(__file__).stem}:create_wsgi_app()"
    os.execv(gunicorn, [gunicorn, "--config", str(GUNICORN_CONF), "--pythonpath", here, app])


if __name__ == "__main__":
    main()
