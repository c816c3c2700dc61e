"""A server deployment for tests and benchmarks: a running server plus quick accounts.

Not used by the application. Accounts get passwords hashed with cheap argon2 parameters
(the server verifies with the parameters stored in each hash), so a test suite signing in
hundreds of times stays fast; production accounts use the library's defaults.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid as uuid_module
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from argon2 import PasswordHasher

from workstation.collab.client import ServerApi
from workstation.collab.protocol import Role
from workstation.collab.server import admin
from workstation.collab.server.app import ServerConfig
from workstation.collab.server.database import Database
from workstation.collab.server.runner import ServerThread

#: Cheap hashing for test accounts only.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"
_counter = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_counter)}-{uuid_module.uuid4().hex[:6]}"


@dataclass
class Deployment:
    """One database with a server serving it (on a thread of this process)."""

    backend: str
    database_url: str
    storage_dir: Path
    server: ServerThread
    apis: list[ServerApi] = field(default_factory=list)

    @classmethod
    def start(
        cls, backend: str, database_url: str, storage_dir: Path, **config: object
    ) -> Deployment:
        server_config = ServerConfig(
            database_url=database_url,
            storage_dir=storage_dir,
            password_hasher=FAST_HASHER,
            **config,  # type: ignore[arg-type]
        )
        server = ServerThread(server_config).start()
        return cls(backend, database_url, storage_dir, server)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def database(self) -> Database:
        return self.server.database

    def stop(self) -> None:
        for api in self.apis:
            api.close()
        self.server.stop()

    def site(self, prefix: str = "site") -> str:
        name = unique(prefix)
        with self.database.write() as connection:
            admin.create_site(connection, name, actor="test")
        return name

    def user(self, site: str, *, role: Role = Role.RADIOLOGIST, prefix: str = "user") -> str:
        name = unique(prefix)
        with self.database.write() as connection:
            admin.create_user(
                connection, name, PASSWORD, site=site, role=role, actor="test", hasher=FAST_HASHER
            )
        return name

    def token(self, username: str, ttl_s: float = 3600.0) -> str:
        with self.database.write() as connection:
            return admin.token_for(connection, username, ttl_s)

    def api(self, username: str | None = None, *, token: str | None = None) -> ServerApi:
        """An API client: signed in as ``username`` (by token), or with ``token``."""
        if username is not None and token is None:
            token = self.token(username)
        api = ServerApi(self.url, token=token)
        self.apis.append(api)
        return api


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """``workstation server`` as a child process (to kill it for real)."""

    def __init__(
        self,
        database_url: str,
        storage_dir: Path,
        *,
        port: int | None = None,
        home: Path | None = None,
        log: Path | None = None,
    ) -> None:
        self.database_url = database_url
        self.storage_dir = storage_dir
        self.port = port or free_port()
        self.home = home or storage_dir.parent
        self.log = log or storage_dir.parent / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        env = dict(os.environ, WORKSTATION_HOME=str(self.home))
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "workstation",
                    "server",
                    "--db",
                    self.database_url,
                    "--port",
                    str(self.port),
                    "--storage",
                    str(self.storage_dir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"the server did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flushing."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
