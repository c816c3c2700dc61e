"""Sign-in, tokens, TLS, OpenAPI, validation and the audit trail."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from workstation.collab.client import ServerApi, SignInError
from workstation.collab.protocol import ConnectionState
from workstation.collab.server import schema
from workstation.collab.server.app import ServerConfig
from workstation.collab.server.runner import ServerThread
from workstation.collab.server.testkit import FAST_HASHER, PASSWORD, Deployment
from workstation.collab.session import Collaboration
from workstation.collab.store import AnnotationStore


def audit_rows(deployment: Deployment, username: str) -> list[sa.Row[tuple[object, ...]]]:
    with deployment.database.read() as connection:
        return list(
            connection.execute(
                sa.select(schema.audit)
                .where(schema.audit.c.username == username)
                .order_by(schema.audit.c.id)
            )
        )


def test_sign_in_gives_an_expiring_token_and_sign_out_revokes_it(deployment: Deployment) -> None:
    user = deployment.user(deployment.site())
    api = ServerApi(deployment.url)
    try:
        signed = api.login(user, PASSWORD)
        assert signed.user.username == user and signed.expires_at > time.time() + 3600
        assert api.me().username == user
        with pytest.raises(SignInError):
            ServerApi(deployment.url).login(user, "wrong password")
        with pytest.raises(SignInError):
            ServerApi(deployment.url).login("nobody-at-all", "wrong password")
        token = api.token
        api.logout()
        refused = httpx.get(
            f"{deployment.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
    finally:
        api.close()
    actions = [(row.action, row.outcome) for row in audit_rows(deployment, user)]
    assert ("login", "success") in actions and ("login", "failure") in actions
    assert ("logout", "success") in actions
    with deployment.database.read() as connection:
        stored = connection.execute(sa.select(schema.tokens.c.token_hash)).scalars().all()
    assert token not in stored  # only digests are kept


def test_an_expired_token_says_sign_in_again(deployment: Deployment) -> None:
    user = deployment.user(deployment.site())
    token = deployment.token(user, ttl_s=-1)
    response = httpx.get(
        f"{deployment.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401 and "sign in again" in response.json()["detail"]


def test_repeated_failed_sign_ins_are_throttled_and_raise_an_alert(deployment: Deployment) -> None:
    user = deployment.user(deployment.site())
    for _ in range(10):
        response = httpx.post(
            f"{deployment.url}/api/v1/auth/login", json={"username": user, "password": "guess"}
        )
        assert response.status_code == 401
    response = httpx.post(
        f"{deployment.url}/api/v1/auth/login", json={"username": user, "password": PASSWORD}
    )
    assert response.status_code == 429
    assert "security_alert" in {row.action for row in audit_rows(deployment, user)}


def test_the_openapi_schema_lists_every_endpoint(sqlite_deployment: Deployment) -> None:
    schema_ = httpx.get(f"{sqlite_deployment.url}/openapi.json").json()
    paths = set(schema_["paths"])
    for path in (
        "/api/v1/auth/login",
        "/api/v1/sync/push",
        "/api/v1/sync/changes",
        "/api/v1/shares",
        "/api/v1/shares/{share_id}/files/{name}",
        "/api/v1/studies/{study_uid}/annotations",
        "/api/v1/admin/audit",
    ):
        assert path in paths, path
    assert "HTTPBearer" in json.dumps(schema_["components"]["securitySchemes"])


def test_malformed_operations_are_refused_one_by_one(deployment: Deployment) -> None:
    user = deployment.user(deployment.site())
    api = deployment.api(user)
    good = {
        "uuid": "u-good-" + user,
        "kind": "point",
        "created": "2024-01-01T00:00:00Z",
        "reference": {"study_instance_uid": "1.2.3", "series_instance_uid": "1.2.3.4"},
        "points_lps_mm": [[1, 2, 3]],
    }
    results = api.push(
        "c",
        [
            {"op_id": "g-" + user, "kind": "annotation", "annotation": good},
            {"op_id": "b1-" + user, "kind": "annotation", "annotation": {**good, "kind": "blob"}},
            {
                "op_id": "b2-" + user,
                "kind": "annotation",
                "annotation": {**good, "uuid": "x-" + user, "points_lps_mm": []},
            },
            {"op_id": "b3-" + user, "kind": "teleport"},
            {"op_id": "x" * 65, "kind": "annotation", "annotation": good},
            {
                "op_id": "b4-" + user,
                "kind": "comment",
                "comment": {"id": "c", "study_uid": "1.2.3", "text": ""},
            },
        ],
    )
    assert [r["status"] for r in results] == ["applied"] + ["invalid"] * 5
    assert all(r["reason"] for r in results[1:])
    response = httpx.post(
        f"{deployment.url}/api/v1/sync/push",
        headers={"Authorization": f"Bearer {api.token}"},
        content=b"{not json",
    )
    assert response.status_code == 422


def _certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_protects_the_api_and_the_websocket(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    config = ServerConfig(
        database_url=f"sqlite:///{tmp_path / 'tls.sqlite'}",
        storage_dir=tmp_path / "files",
        password_hasher=FAST_HASHER,
    )
    server = ServerThread(config, tls_cert=cert, tls_key=key).start()
    deployment = Deployment("sqlite", config.database_url, config.storage_dir, server)
    try:
        assert server.url.startswith("https://")
        user = deployment.user(deployment.site())
        with pytest.raises(httpx.TransportError):  # plain HTTP to the TLS port
            httpx.get(f"http://127.0.0.1:{server.port}/api/v1/health", timeout=3)
        with pytest.raises(httpx.ConnectError):  # an unknown certificate is not trusted
            httpx.get(f"{server.url}/api/v1/health", timeout=3)
        store = AnnotationStore(tmp_path / "client.sqlite")
        collaboration = Collaboration(store, verify=cert)
        try:
            collaboration.sign_in(server.url, user, PASSWORD)
            collaboration.start()
            deadline = time.monotonic() + 10
            while not collaboration.live_connected and time.monotonic() < deadline:
                time.sleep(0.02)
            assert collaboration.state is ConnectionState.ONLINE
            assert collaboration.live_connected  # wss with the same trust
        finally:
            collaboration.close()
            store.close()
    finally:
        deployment.stop()
