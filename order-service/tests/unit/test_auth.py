"""Who may call what: bearer tokens at the edge (the dev issuer over real HTTP, SQLite, fake
billing). The live matrix over every endpoint runs in e2e/test_edge_auth.py; here each rule and
each kind of bad token is pinned down in-process, with what it leaves in the outbox."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient
from sqlalchemy import select

from order_service import bootstrap
from order_service.adapters import orm
from order_service.adapters.tokens import (
    InvalidToken,
    IssuerUnavailable,
    OidcSettings,
    TokenVerifier,
)
from order_service.entrypoints.flask_app import create_app
from order_service.settings import Settings
from tests.conftest import AUDIENCE, IssuerForTests
from tests.fakes import FakeBilling

pytestmark = pytest.mark.unit

BODY = {"currency": "EUR", "lines": [{"id": 1, "quantity": 2, "unit_price": "4.50"}]}


@pytest.fixture
def services(database_url: str, verifier: TokenVerifier) -> Iterator[bootstrap.Services]:
    settings = Settings(database_url=database_url, broker_urls=("amqp://x:y@127.0.0.1:1/shop",))
    services = bootstrap.bootstrap(settings, billing=FakeBilling(), verifier=verifier)
    yield services
    services.engine.dispose()


@pytest.fixture
def client(services: bootstrap.Services) -> FlaskClient:
    return create_app(services).test_client()


def place(client: FlaskClient, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/orders", json={**BODY, **body}, headers=headers)


def outbox(services: bootstrap.Services) -> list[dict[str, Any]]:
    with services.engine.connect() as connection:
        rows = connection.execute(select(orm.outbox).order_by(orm.outbox.c.id))
        return [dict(row._mapping) for row in rows]


# --- 401: no token, or one this edge does not accept --------------------------------------------


def test_no_token_is_401_with_a_bare_bearer_challenge(client: FlaskClient) -> None:
    response = client.get("/orders/1")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="shop"'
    assert response.get_json()["error"].startswith("authentication required")


def test_another_scheme_is_401_without_an_error_code(client: FlaskClient) -> None:
    response = client.get("/orders/1", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="shop"'


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("malformed", "not a JWT"),
        ("expired", "has expired"),
        ("not yet valid", "not valid yet"),
        ("wrong audience", "not meant for this API"),
        ("wrong issuer", "not issued by"),
        ("bad signature", "signature does not verify"),
        ("unknown key", "key the issuer does not publish"),
        ("no kid", "names no key"),
        ("alg none", "algorithm"),
        ("HS256 with the public key", "algorithm"),
    ],
)
def test_a_bad_token_is_401_invalid_token_and_writes_nothing(
    client: FlaskClient,
    services: bootstrap.Services,
    dev_issuer: IssuerForTests,
    case: str,
    message: str,
) -> None:
    token = bad_token(dev_issuer, case)
    response = place(client, {"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.get_json()
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="shop", error="invalid_token", error_description="')
    assert message in response.get_json()["error"]
    assert message in challenge
    assert outbox(services) == []


def bad_token(dev_issuer: IssuerForTests, case: str) -> str:  # noqa: PLR0911 - one per case
    issuer = dev_issuer.issuer
    good = dev_issuer.token("c-1", "customer")
    now = int(time.time())
    claims = {"iss": issuer.issuer, "sub": "c-1", "aud": AUDIENCE, "exp": now + 600}
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    match case:
        case "malformed":
            return "not-a-jwt"
        case "expired":
            return dev_issuer.token("c-1", "customer", expires_in=-120)
        case "not yet valid":
            return issuer.mint("c-1", ["customer"], nbf=now + 600, exp=now + 1200)
        case "wrong audience":
            return dev_issuer.token("c-1", "customer", audience="another-api")
        case "wrong issuer":
            return issuer.mint("c-1", ["customer"], iss="http://evil.example")
        case "bad signature":
            return jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": issuer.kid})
        case "unknown key":
            return jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": "rotated-away"})
        case "no kid":
            return jwt.encode(claims, issuer.key, algorithm="RS256")
        case "alg none":
            return jwt.encode(claims, "", algorithm="none", headers={"kid": issuer.kid})
        case "HS256 with the public key":
            _, payload, _ = good.split(".")
            return f"{_hs256_header(issuer.kid)}.{payload}.c2lnbmF0dXJl"
    raise AssertionError(case)


def _hs256_header(kid: str) -> str:
    raw = json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_token_without_a_role_may_do_nothing_but_is_authenticated(
    client: FlaskClient, dev_issuer: IssuerForTests
) -> None:
    headers = dev_issuer.bearer("nobody")
    for response in (
        place(client, headers),
        client.get("/orders/1", headers=headers),
        client.get("/orders/1/invoice", headers=headers),
        client.post("/orders/1/chargeback", headers=headers),
    ):
        assert response.status_code == 403
        assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


# --- customers act for themselves ----------------------------------------------------------------


def test_a_customer_places_orders_for_its_subject_and_the_event_names_who(
    client: FlaskClient, services: bootstrap.Services, dev_issuer: IssuerForTests
) -> None:
    token = dev_issuer.token("c-1", "customer")
    response = place(client, {"Authorization": f"Bearer {token}"})
    assert response.status_code == 201
    assert response.get_json()["customer_id"] == "c-1"
    [row] = outbox(services)
    assert row["actor_subject"] == "c-1"
    assert row["actor_token_id"] == jwt.decode(token, options={"verify_signature": False})["jti"]
    assert token not in str(row)


def test_a_customer_cannot_order_in_another_customers_name(
    client: FlaskClient, services: bootstrap.Services, dev_issuer: IssuerForTests
) -> None:
    response = place(client, dev_issuer.bearer("c-1", "customer"), customer_id="c-2")
    assert response.status_code == 403
    assert response.get_json()["errors"][0]["path"] == "$.customer_id"
    assert outbox(services) == []


def test_another_customers_order_does_not_exist_for_a_customer(
    client: FlaskClient, dev_issuer: IssuerForTests
) -> None:
    order_id = place(client, dev_issuer.bearer("c-1", "customer")).get_json()["id"]
    theirs = client.get(f"/orders/{order_id}", headers=dev_issuer.bearer("c-2", "customer"))
    unknown = client.get("/orders/999999", headers=dev_issuer.bearer("c-2", "customer"))
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.get_json()["error"] == f"order {order_id} does not exist"
    invoice = client.get(
        f"/orders/{order_id}/invoice", headers=dev_issuer.bearer("c-2", "customer")
    )
    assert invoice.status_code == 404
    mine = client.get(f"/orders/{order_id}", headers=dev_issuer.bearer("c-1", "customer"))
    assert mine.status_code == 200


def test_an_idempotency_key_never_replays_another_customers_order(
    client: FlaskClient, dev_issuer: IssuerForTests
) -> None:
    key = {"Idempotency-Key": "shared-key-1"}
    first = place(client, {**dev_issuer.bearer("c-1", "customer"), **key})
    other = place(client, {**dev_issuer.bearer("c-2", "customer"), **key})
    assert first.status_code == 201
    assert other.status_code == 422
    assert "c-1" not in other.get_data(as_text=True)


# --- support --------------------------------------------------------------------------------------


def test_only_support_charges_back_and_the_event_names_who(
    client: FlaskClient, services: bootstrap.Services, dev_issuer: IssuerForTests
) -> None:
    order_id = place(client, dev_issuer.bearer("c-1", "customer")).get_json()["id"]
    refused = client.post(
        f"/orders/{order_id}/chargeback", headers=dev_issuer.bearer("c-1", "customer")
    )
    assert refused.status_code == 403
    assert len(outbox(services)) == 1
    read = client.get(f"/orders/{order_id}", headers=dev_issuer.bearer("agent-7", "support"))
    assert read.status_code == 200
    done = client.post(
        f"/orders/{order_id}/chargeback", headers=dev_issuer.bearer("agent-7", "support")
    )
    assert done.status_code == 202
    chargeback = outbox(services)[-1]
    assert chargeback["routing_key"] == "order.v2.chargeback"
    assert chargeback["actor_subject"] == "agent-7"


def test_support_does_not_place_orders(client: FlaskClient, dev_issuer: IssuerForTests) -> None:
    assert place(client, dev_issuer.bearer("agent-7", "support")).status_code == 403


def test_open_endpoints_need_no_token(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").status_code == 200


# --- the verifier and the issuer's keys ---------------------------------------------------------


def test_an_unknown_kid_is_not_refetched_within_the_cooldown(dev_issuer: IssuerForTests) -> None:
    """Random key ids cannot make the edge fetch the issuer's keys on every request."""
    verifier = dev_issuer.verifier(jwks_cooldown=60)
    assert verifier.verify(dev_issuer.token("c-1", "customer")).subject == "c-1"
    old_key, old_kid = dev_issuer.issuer.key, dev_issuer.issuer.kid
    try:
        dev_issuer.issuer.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        dev_issuer.issuer.kid = "rotated"
        # the issuer publishes the new key, but a refetch would be within the cooldown
        with pytest.raises(InvalidToken, match="does not publish"):
            verifier.verify(dev_issuer.token("c-1", "customer"))
    finally:
        dev_issuer.issuer.key, dev_issuer.issuer.kid = old_key, old_kid


def test_an_unknown_kid_refetches_the_keys_the_issuer_rotated(dev_issuer: IssuerForTests) -> None:
    verifier = dev_issuer.verifier(jwks_cooldown=0)
    verifier.verify(dev_issuer.token("c-1", "customer"))  # keys fetched and cached
    old_key, old_kid = dev_issuer.issuer.key, dev_issuer.issuer.kid
    try:
        dev_issuer.issuer.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        dev_issuer.issuer.kid = "rotated"
        assert verifier.verify(dev_issuer.token("c-9", "support")).subject == "c-9"
    finally:
        dev_issuer.issuer.key, dev_issuer.issuer.kid = old_key, old_kid


def test_a_verified_token_is_remembered_until_it_expires(
    dev_issuer: IssuerForTests, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = dev_issuer.verifier(leeway=0)
    token = dev_issuer.token("c-1", "customer", expires_in=2)
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    decoded: list[str] = []
    original = jwt.decode

    def counting(*args: Any, **kwargs: Any) -> Any:
        decoded.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    assert verifier.verify(token) == verifier.verify(token)
    assert len(decoded) == 1  # the second call was a cache hit
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(InvalidToken):  # another string is verified afresh
        verifier.verify(forged)
    deadline = time.monotonic() + 10
    while True:  # the clock passing exp is what is tested; poll until it has
        try:
            verifier.verify(token)
        except InvalidToken as exc:
            assert "expired" in str(exc)
            break
        assert time.monotonic() < deadline, "the remembered token never expired"
    assert time.time() >= exp


def test_an_unreachable_issuer_is_503_not_401(database_url: str) -> None:
    dead = TokenVerifier(
        OidcSettings(issuer="http://127.0.0.1:1", audience=AUDIENCE, fetch_timeout=0.5)
    )
    with pytest.raises(IssuerUnavailable):
        dead.verify(jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256", headers={"kid": "k"}))
    settings = Settings(database_url=database_url, broker_urls=("amqp://x:y@127.0.0.1:1/shop",))
    services = bootstrap.bootstrap(settings, billing=FakeBilling(), verifier=dead)
    try:
        token = jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256", headers={"kid": "k"})
        response = (
            create_app(services)
            .test_client()
            .get("/orders/1", headers={"Authorization": f"Bearer {token}"})
        )
        assert response.status_code == 503
    finally:
        services.engine.dispose()


def test_the_edge_refuses_to_start_without_an_issuer(database_url: str) -> None:
    settings = Settings(database_url=database_url, broker_urls=("amqp://x:y@127.0.0.1:1/shop",))
    services = bootstrap.bootstrap(settings, billing=FakeBilling())
    try:
        with pytest.raises(RuntimeError, match="OIDC_ISSUER"):
            create_app(services)
    finally:
        services.engine.dispose()


def test_openapi_declares_bearer_security_per_operation(client: FlaskClient) -> None:
    document = client.get("/openapi.json").get_json()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    paths = document["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            secured = path.startswith("/orders")
            assert (operation.get("security") == [{"bearer": []}]) is secured, (method, path)
            if secured:
                assert {"401", "403"} <= set(operation["responses"]), (method, path)
