"""A running collaboration server per backend (SQLite file, PostgreSQL database).

PostgreSQL at 127.0.0.1:5432 (database ``test``, user ``postgres``) is required: a fresh
database is created for the session and dropped afterwards. If it cannot be reached the
tests fail, loudly; they never skip.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from workstation.collab.server.testkit import Deployment

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5"


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    import psycopg

    name = f"ws_collab_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL at 127.0.0.1:5432 (database test, user postgres) is required by the "
            f"collaboration tests and cannot be reached: {exc}"
        )
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("sqlite-server")
    deployment = Deployment.start(
        "sqlite", f"sqlite:///{folder / 'server.sqlite'}", folder / "files"
    )
    yield deployment
    deployment.stop()


@pytest.fixture(scope="session")
def postgresql_deployment(
    postgresql_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("pg-server")
    deployment = Deployment.start("postgresql", postgresql_url, folder / "files")
    yield deployment
    deployment.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def deployment(request: pytest.FixtureRequest) -> Deployment:
    """The server of each backend in turn."""
    name = f"{request.param}_deployment"
    value: Deployment = request.getfixturevalue(name)
    return value


@pytest.fixture
def store_factory(tmp_path: Path) -> Iterator[object]:
    """``make(name)`` → a fresh AnnotationStore in the test's folder (closed afterwards)."""
    from workstation.collab.store import AnnotationStore

    opened: list[AnnotationStore] = []

    def make(name: str = "client") -> AnnotationStore:
        store = AnnotationStore(tmp_path / f"{name}-{len(opened)}.sqlite")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
