"""``order-service-dev-issuer``: a tiny OpenID Connect token issuer for development and tests.

NOT an identity provider: it mints a token for whoever asks. It exists so the shop runs and is
tested without one: an RSA key generated at start (never written anywhere), its public half
served as a JWKS, a discovery document pointing to it, and ``GET /token`` minting RS256 tokens
in the shape Keycloak issues (``realm_access.roles``). Compose publishes it on loopback only.

    GET /.well-known/openid-configuration   issuer, jwks_uri
    GET /jwks.json                          the public key
    GET /token?sub=c-1&role=customer        {"access_token": ..., "token_type": "Bearer", ...}
        role: repeatable (none: a token without roles); aud: another audience;
        expires_in: seconds, negative for an already expired token (tests)
    GET /healthz

A restart generates a new key: the edge fetches the new JWKS on the first token with the new
key id (see adapters/tokens.py), and tokens minted before the restart stop verifying.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, jsonify, request

MAX_LIFETIME = 30 * 24 * 3600


class DevIssuer:
    """One signing key, its JWKS, and tokens minted with it."""

    def __init__(self, issuer: str, audience: str) -> None:
        self.issuer, self.audience = issuer.rstrip("/"), audience
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex[:16]

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/jwks.json",
            "token_endpoint": f"{self.issuer}/token",
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
        }

    def mint(
        self,
        subject: str,
        roles: list[str],
        *,
        audience: str | None = None,
        expires_in: int = 3600,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience or self.audience,
            "iat": min(now, now + expires_in),
            "nbf": min(now, now + expires_in),
            "exp": now + expires_in,
            "jti": str(uuid.uuid4()),
            "realm_access": {"roles": roles},
            **claims,
        }
        return jwt.encode(payload, self.key, algorithm="RS256", headers={"kid": self.kid})


def create_app(issuer: DevIssuer) -> Flask:
    app = Flask("order_service_dev_issuer")

    @app.get("/.well-known/openid-configuration")
    def discovery() -> Response:
        return jsonify(issuer.discovery())

    @app.get("/jwks.json")
    def jwks() -> Response:
        return jsonify(issuer.jwks())

    @app.route("/token", methods=["GET", "POST"])
    def token() -> tuple[Response, int] | Response:
        args = request.values
        subject = args.get("sub", "")
        try:
            expires_in = int(args.get("expires_in", "3600"))
        except ValueError:
            expires_in = 0
        if not subject or not -MAX_LIFETIME <= expires_in <= MAX_LIFETIME or expires_in == 0:
            return jsonify(
                error="invalid_request",
                error_description="sub is required; expires_in is a non-zero number of "
                f"seconds within ±{MAX_LIFETIME}",
            ), 400
        roles = [role for role in args.getlist("role") if role]
        access_token = issuer.mint(
            subject, roles, audience=args.get("aud") or None, expires_in=expires_in
        )
        return jsonify(access_token=access_token, token_type="Bearer", expires_in=expires_in)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    return app


def create_wsgi_app() -> Flask:
    """gunicorn's factory: one worker process, so one key for the process's lifetime."""
    port = os.environ.get("PORT", "8080")
    return create_app(
        DevIssuer(
            os.environ.get("DEV_ISSUER_URL") or f"http://127.0.0.1:{port}",
            os.environ.get("OIDC_AUDIENCE") or "shop-edge",
        )
    )


def main() -> None:
    """Exec gunicorn with exactly one worker (the key lives in its memory) and no recycling."""
    bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8080')}"
    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
    app = "order_service.entrypoints.dev_issuer:create_wsgi_app()"
    options = ["--workers", "1", "--threads", "4", "--bind", bind, "--max-requests", "0"]
    os.execv(gunicorn, [gunicorn, *options, "--access-logfile", "-", app])


if __name__ == "__main__":
    main()
