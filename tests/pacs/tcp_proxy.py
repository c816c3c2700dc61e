"""A loopback TCP relay whose link can be cut: "the network is gone" on demand.

Data is relayed only as fast as the client reads (small socket buffers on the client side), so
when :meth:`TcpProxy.cut` resets both sides, whatever the server had already sent but the
client had not yet read is lost with the link, as on a real network failure.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

_CHUNK = 16 * 1024
_SMALL = 8 * 1024


def _reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0): no graceful flush of what is still queued."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes the relay threads blocked on it
    with contextlib.suppress(OSError):
        sock.close()


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._cut = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._cut.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SMALL)
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._cut.is_set():
                    _reset(client)
                    _reset(upstream)
                    return
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while not self._cut.is_set():
                data = source.recv(_CHUNK)
                if not data:
                    break
                target.sendall(data)
            if not self._cut.is_set():
                target.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def cut(self) -> None:
        """Reset every relayed connection and stop accepting new ones."""
        self._cut.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for sock in self._sockets:
                _reset(sock)
            self._sockets.clear()

    def close(self) -> None:
        self.cut()
