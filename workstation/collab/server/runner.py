"""Running the server: in the foreground (``workstation server``) or on a thread (tests).

uvicorn serves the app; TLS when a certificate and key are given. Several processes may
serve one PostgreSQL database behind a load balancer: pushes are serialized in the
database and live notifications travel through LISTEN/NOTIFY (see
:mod:`workstation.collab.server.notify`). With SQLite, run one process.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from workstation.collab.server.app import ServerConfig, create_app
from workstation.collab.server.database import Database

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Listen:
    host: str = "127.0.0.1"
    port: int = 8470
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"


def _uvicorn_config(config: ServerConfig, listen: Listen, database: Database) -> uvicorn.Config:
    app = create_app(config, database)
    return uvicorn.Config(
        app,
        host=listen.host,
        port=listen.port,
        ssl_certfile=str(listen.tls_cert) if listen.tls_cert else None,
        ssl_keyfile=str(listen.tls_key) if listen.tls_key else None,
        log_level="warning",
        access_log=False,  # request lines name study UIDs; the audit table is the record
        ws_max_size=1 << 20,
        timeout_graceful_shutdown=5,
        lifespan="on",
    )


def serve(config: ServerConfig, listen: Listen) -> None:
    """Migrate, then serve until interrupted (SIGINT/SIGTERM)."""
    database = Database(config.database_url)
    database.migrate()
    config.migrate = False
    server = uvicorn.Server(_uvicorn_config(config, listen, database))
    _log.info(
        "serving %s on %s://%s:%d", database.describe(), listen.scheme, listen.host, listen.port
    )
    server.run()


class ServerThread:
    """A server on a background thread of this process, on a free loopback port."""

    def __init__(
        self, config: ServerConfig, *, tls_cert: Path | None = None, tls_key: Path | None = None
    ) -> None:
        self.database = Database(config.database_url)
        self.database.migrate()
        config.migrate = False
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        self.listen = Listen("127.0.0.1", self.port, tls_cert, tls_key)
        uvicorn_config = _uvicorn_config(config, self.listen, self.database)
        self.app = uvicorn_config.app
        self._server = uvicorn.Server(uvicorn_config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            daemon=True,
            name=f"collab-server-{self.port}",
        )

    @property
    def url(self) -> str:
        return f"{self.listen.scheme}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> ServerThread:
        self._thread.start()
        deadline = threading.Event()
        for _ in range(int(timeout / 0.02)):
            if self._server.started:
                return self
            if not self._thread.is_alive():
                break
            deadline.wait(0.02)
        raise RuntimeError("the collaboration server did not start")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()
