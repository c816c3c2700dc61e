"""Our storage SCP: receives C-STORE (pushes from a PACS or modality, C-MOVE sub-operations).

It runs with the application under our AE title and port (settings, ``--ae``, ``--port``),
accepts every storage SOP class pynetdicom knows in every transfer syntax the engine decodes,
answers C-ECHO, and files each received instance into the local library through a
:class:`~workstation.pacs.filing.LibraryFiler` (managed storage, hash-named files). A C-STORE
is answered "success" only once its instance is committed to the library, so a sender never
believes we hold something we lost.

Instances that are sub-operations of one of *our* C-MOVE requests (the Move Originator AE
title and Message ID of PS3.7 §9.3.1.1 match a :meth:`StorageSCP.route`) go to that
retrieval's sink instead, so the retrieval can count and drain what it asked for.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from workstation.io import syntax
from workstation.pacs.dimse import VERIFICATION, no_delay, received_instance
from workstation.pacs.errors import PacsError, PacsReason
from workstation.pacs.filing import FilingError, LibraryFiler
from workstation.pacs.nodes import check_ae_title
from workstation.pacs.source import DEFAULT_TRANSFER_LIMITS, InstanceSink, TransferLimits

log = logging.getLogger(__name__)

_SUCCESS = 0x0000
_OUT_OF_RESOURCES = 0xA700
_CANNOT_UNDERSTAND = 0xC000
#: Every syntax the engine decodes, uncompressed first (an acceptor takes the proposer's order).
ACCEPTED_SYNTAXES = (
    syntax.EXPLICIT_VR_LITTLE_ENDIAN,
    syntax.IMPLICIT_VR_LITTLE_ENDIAN,
    *[
        uid
        for uid in syntax.SYNTAXES
        if uid not in (syntax.EXPLICIT_VR_LITTLE_ENDIAN, syntax.IMPLICIT_VR_LITTLE_ENDIAN)
    ],
)


class StorageSCP:
    """A running storage SCP; use as a context manager or call :meth:`start` / :meth:`stop`.

    Parameters
    ----------
    ae_title, port:
        Ours (``port=0`` picks a free one: see :attr:`port` after :meth:`start`).
    host:
        The address to listen on ("0.0.0.0": every interface, as a PACS must reach us).
    db_path:
        The library to file into (default: the home folder's).
    on_series:
        Told (from the filer's thread) which series → study received instances.
    require_called_ae:
        Refuse associations not addressed to our AE title.
    """

    def __init__(
        self,
        ae_title: str,
        port: int,
        *,
        host: str = "0.0.0.0",
        db_path: Path | None = None,
        on_series: Callable[[dict[str, str]], None] | None = None,
        on_received: Callable[[int], None] | None = None,
        require_called_ae: bool = True,
        limits: TransferLimits = DEFAULT_TRANSFER_LIMITS,
        timeout: float = 30.0,
    ) -> None:
        self.ae_title = check_ae_title(ae_title)
        self.requested_port = port
        self.host = host
        self.db_path = db_path
        self.on_series = on_series
        self.on_received = on_received
        self.require_called_ae = require_called_ae
        self.limits = limits
        self.timeout = timeout
        self.port = port
        self.received = 0
        self._routes: dict[tuple[str, int], InstanceSink] = {}
        self._lock = threading.Lock()
        self._server: Any = None
        self._ae: Any = None
        self._filer: LibraryFiler | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> StorageSCP:
        """Listen; raises :class:`PacsError` (configuration) when the port cannot be bound."""
        from pynetdicom import AE, AllStoragePresentationContexts, evt
        from pynetdicom.presentation import build_context

        if self.running:
            return self
        self._filer = LibraryFiler(self.db_path, on_series=self.on_series, name="scp-filer")
        ae = AE(ae_title=self.ae_title)
        ae.supported_contexts = [
            build_context(str(cx.abstract_syntax), list(ACCEPTED_SYNTAXES))
            for cx in AllStoragePresentationContexts
            if cx.abstract_syntax
        ] + [build_context(VERIFICATION)]
        ae.require_called_aet = self.require_called_ae
        ae.maximum_pdu_size = 4 << 20
        ae.acse_timeout = self.timeout
        ae.dimse_timeout = self.timeout
        ae.network_timeout = self.timeout
        try:
            self._server = ae.start_server(
                (self.host, self.requested_port),
                block=False,
                evt_handlers=[(evt.EVT_C_STORE, self._on_store), (evt.EVT_CONN_OPEN, no_delay)],
            )
        except OSError as exc:
            self._filer.close()
            self._filer = None
            raise PacsError(
                PacsReason.CONFIGURATION,
                f"our storage SCP cannot listen on {self.host}:{self.requested_port}: "
                f"{exc.strerror or exc} (another program uses the port? choose one with --port)",
            ) from exc
        self._ae = ae
        self.port = int(self._server.server_address[1])
        log.info("storage SCP %s listening on %s:%d", self.ae_title, self.host, self.port)
        return self

    def stop(self) -> None:
        """Stop listening, end the associations, file what was received."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._ae is not None:
            self._ae.shutdown()
            self._ae = None
        if self._filer is not None:
            filer, self._filer = self._filer, None
            filer.close()

    def drain(self, timeout: float | None = None) -> None:
        """Wait until everything received so far is in the library."""
        if self._filer is not None:
            self._filer.drain(timeout)

    def __enter__(self) -> StorageSCP:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @contextmanager
    def route(self, originator_ae: str, message_id: int, sink: InstanceSink) -> Iterator[None]:
        """Send the sub-operations of one C-MOVE of ours to ``sink`` while the block runs."""
        key = (originator_ae.strip(), int(message_id))
        with self._lock:
            self._routes[key] = sink
        try:
            yield
        finally:
            with self._lock:
                self._routes.pop(key, None)

    def _sink_for(self, request: Any) -> InstanceSink | None:
        originator = getattr(request, "MoveOriginatorApplicationEntityTitle", None)
        message_id = getattr(request, "MoveOriginatorMessageID", None)
        with self._lock:
            if originator and message_id is not None:
                if isinstance(originator, bytes):
                    originator = originator.decode("ascii", "replace")
                found = self._routes.get((str(originator).strip(), int(message_id)))
                if found is not None:
                    return found
            if len(self._routes) == 1 and not originator:
                # A node that does not say which C-MOVE this is: the only one running.
                return next(iter(self._routes.values()))
        return None

    def _on_store(self, event: Any) -> int:
        try:
            data = received_instance(event)
        except Exception:  # noqa: BLE001 - an undecodable request: refuse it, keep serving
            log.warning("a received C-STORE could not be read")
            return _CANNOT_UNDERSTAND
        if len(data) > self.limits.max_instance_bytes:
            return _OUT_OF_RESOURCES
        sink = self._sink_for(event.request)
        try:
            if sink is not None:
                sink.put(data)
                outcome = None
            else:
                filer = self._filer
                if filer is None:
                    return _OUT_OF_RESOURCES
                outcome = filer.put(data, wait=True, timeout=self.timeout)
        except (FilingError, PacsError, OSError) as exc:
            log.error("a received instance could not be filed: %s", exc)
            return _OUT_OF_RESOURCES
        with self._lock:
            self.received += 1
            count = self.received
        if outcome is not None:
            log.warning("a received instance was not filed: %s", outcome)
            return _CANNOT_UNDERSTAND if "not filed in time" not in outcome else _OUT_OF_RESOURCES
        if self.on_received is not None:
            self.on_received(count)
        return _SUCCESS
