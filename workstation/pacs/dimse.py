"""A DIMSE node (PS3.4, PS3.7, PS3.8) through pynetdicom: C-ECHO, C-FIND, C-GET, C-MOVE, C-STORE.

Each operation opens one association and releases it; every wait is bounded (connection,
ACSE, DIMSE and network timeouts all set from the node's ``timeout``). Failures become
:class:`~workstation.pacs.errors.PacsError`: an association rejected because of an AE title
(PS3.8 §9.3.4: "calling / called AE title not recognized") is ``wrong_ae_title``, other
rejections ``refused``, nothing listening ``unreachable``, silence ``timeout``, a connection
lost mid-transfer ``interrupted``.

Retrieval
---------
- **C-GET** (default): the node sends the instances back on our own association, so no
  inbound connection and no registration at the node is needed. We propose, for each SOP class
  the series holds (learnt from an image-level C-FIND), the uncompressed syntaxes plus one
  context per compressed syntax the engine decodes, so the node can send what it stores
  without transcoding; each instance is handed to the sink with its file meta, undecoded.
  The C-GET runs through the lean receiver of :mod:`~workstation.pacs.cget` (one thread,
  only the needed command elements decoded); pynetdicom's stack takes over when that
  receiver is turned off, the node needs TLS, or the node's acceptance does not suit it
  (:meth:`DimseSource.uses_lean_get`).
- **C-MOVE**: the node opens an association to our storage SCP
  (:class:`~workstation.pacs.scp.StorageSCP`), which must be running under our AE title and
  be registered at the node. Instances arrive there and are routed to this retrieval's sink by
  the Move Originator Message ID.

Resuming asks for given SOP Instance UIDs at the IMAGE level (list matching, in chunks).
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workstation.core.errors import DicomFileError
from workstation.io import syntax
from workstation.pacs import cget
from workstation.pacs.cget import (
    MAX_PDU,
    next_message_id,
    part10_prefix,
)
from workstation.pacs.encoding import encode_dataset, object_info
from workstation.pacs.errors import PacsError, PacsReason
from workstation.pacs.nodes import Node, check_ae_title
from workstation.pacs.retry import OnRetry, RetryPolicy, with_retries
from workstation.pacs.source import (
    DEFAULT_TRANSFER_LIMITS,
    Cancel,
    InstanceSink,
    Progress,
    RemoteInstance,
    RemoteSeries,
    RemoteStudy,
    Storable,
    StoreReport,
    StudyQuery,
    TransferLimits,
    bounded_int,
    check_uid,
    clean_text,
    sop_classes_of,
    valid_uid,
)

if TYPE_CHECKING:
    from workstation.pacs.scp import StorageSCP

log = logging.getLogger(__name__)

#: SOP Instance UIDs per C-GET / C-MOVE request when resuming (list matching).
UIDS_PER_REQUEST = 200

UNCOMPRESSED = (syntax.EXPLICIT_VR_LITTLE_ENDIAN, syntax.IMPLICIT_VR_LITTLE_ENDIAN)
#: Other syntaxes the engine decodes, most common first (HTJ2K left out: few nodes know it).
COMPRESSED = (
    syntax.JPEG_2000_LOSSLESS,
    syntax.JPEG_LOSSLESS_SV1,
    syntax.JPEG_LS_LOSSLESS,
    syntax.RLE_LOSSLESS,
    syntax.JPEG_BASELINE,
    syntax.JPEG_EXTENDED,
    syntax.JPEG_2000,
    syntax.JPEG_LS_NEAR_LOSSLESS,
    syntax.JPEG_LOSSLESS,
    syntax.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    syntax.EXPLICIT_VR_BIG_ENDIAN,
)
#: SOP classes proposed for a C-GET when the series' classes are unknown.
COMMON_IMAGE_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.2",  # CT
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT
    "1.2.840.10008.5.1.4.1.1.4",  # MR
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR
    "1.2.840.10008.5.1.4.1.1.1",  # CR
    "1.2.840.10008.5.1.4.1.1.1.1",  # DX
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
    "1.2.840.10008.5.1.4.1.1.128",  # PET
    "1.2.840.10008.5.1.4.1.1.20",  # NM
    "1.2.840.10008.5.1.4.1.1.6.1",  # US
    "1.2.840.10008.5.1.4.1.1.12.1",  # XA
    "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
    "1.2.840.10008.5.1.4.1.1.1.2",  # Mammography
    "1.2.840.10008.5.1.4.1.1.3.1",  # US multi-frame
)

#: SOP classes of the services used (PS3.4 Annex A and C.6.2).
VERIFICATION = "1.2.840.10008.1.1"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"

_STATUS_PENDING = (0xFF00, 0xFF01)
_STATUS_CANCEL = 0xFE00
_STORE_OUT_OF_RESOURCES = 0xA700
_STORE_CANNOT_UNDERSTAND = 0xC000


@dataclass
class _Negotiation:
    """What we learnt while associating, to explain a failure."""

    connected: bool = False
    response: Any = None
    #: (result, source, reason) of an A-ASSOCIATE-RJ PDU, seen as soon as it is decoded (the
    #: node may close the connection right after it, before the ACSE has looked at it).
    rejection: tuple[int, int, int] | None = None


def _rejection(rejection: tuple[int, int, int], node: Node, our_ae: str) -> PacsError:
    """The error for an A-ASSOCIATE-RJ (PS3.8 §9.3.4): (result, source, reason)."""
    result, source, reason = rejection
    if source == 1 and reason == 7:
        return PacsError(
            PacsReason.AE_TITLE,
            f"{node.host}:{node.port} does not answer to the called AE title {node.ae_title!r}",
        )
    if source == 1 and reason == 3:
        return PacsError(
            PacsReason.AE_TITLE,
            f"{node.address} does not accept our AE title {our_ae!r} "
            "(register it at the node, or set ours with --ae)",
        )
    if source == 3 and reason in (1, 2):
        return PacsError(PacsReason.SERVER, f"{node.address} is busy (association rejected)")
    permanence = "permanently" if result == 1 else "for now"
    return PacsError(
        PacsReason.REFUSED,
        f"{node.address} rejected the association {permanence} (source {source}, reason {reason})",
    )


def no_delay(event: Any) -> None:
    """Tune a new connection (``EVT_CONN_OPEN``) for bulk transfers.

    - Nagle's algorithm off: DIMSE exchanges are small request/answer pairs, which Nagle plus
      delayed ACKs would hold back by ~40 ms each.
    - PDUs read whole: pynetdicom reads a PDU 4 KiB per ``recv`` call (a Python loop turn
      each: ~50,000 of them for 200 MB); :func:`_whole_pdu_reader` reads straight into one
      buffer of the PDU's size. Same contract: the bytes read, fewer on end of stream.
    - The DUL thread polls every :data:`DUL_POLL_S` instead of every millisecond while idle:
      each C-GET sub-operation waits for it twice (our response out, the next request in).
    - pynetdicom's own logging handlers are unbound while its logger would drop what they
      write (:func:`_unbind_silent_loggers`).
    """
    _unbind_silent_loggers(event.assoc)
    wrapper: Any = getattr(getattr(event.assoc, "dul", None), "socket", None)
    raw: Any = getattr(wrapper, "socket", None)
    if wrapper is None or raw is None:
        return
    with contextlib.suppress(OSError):  # not TCP, or closed already
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if hasattr(raw, "recv_into"):
        with contextlib.suppress(AttributeError, TypeError):
            wrapper.recv = _whole_pdu_reader(wrapper)
    dul = event.assoc.dul
    if isinstance(getattr(dul, "_run_loop_delay", None), float):
        dul._run_loop_delay = DUL_POLL_S


def _unbind_silent_loggers(assoc: Any) -> None:
    """Unbind pynetdicom's standard logging handlers when its logger drops INFO and DEBUG.

    They describe every PDU and DIMSE message: per received instance a few dozen formatted
    lines and a copy of the whole dataset (to say whether one is present), all discarded
    unless the ``pynetdicom`` logger is enabled for INFO. Enabled, they stay bound.
    """
    if logging.getLogger("pynetdicom").isEnabledFor(logging.INFO):
        return
    from pynetdicom import _handlers, evt

    for event, handler in (
        (evt.EVT_DIMSE_RECV, _handlers.standard_dimse_recv_handler),
        (evt.EVT_DIMSE_SENT, _handlers.standard_dimse_sent_handler),
        (evt.EVT_PDU_RECV, _handlers.standard_pdu_recv_handler),
        (evt.EVT_PDU_SENT, _handlers.standard_pdu_sent_handler),
    ):
        with contextlib.suppress(AttributeError, KeyError, TypeError, ValueError):
            assoc.unbind(event, handler)


def _whole_pdu_reader(wrapper: Any) -> Callable[[int], bytearray]:
    def recv(nr_bytes: int) -> bytearray:
        buffer = bytearray(nr_bytes)
        done = 0
        with memoryview(buffer) as view:
            while done < nr_bytes:
                count = wrapper.socket.recv_into(view[done:], nr_bytes - done)
                if not count:
                    break
                done += count
        if done < nr_bytes:
            del buffer[done:]
        return buffer

    return recv


#: How long pynetdicom's DUL thread sleeps between polls of an idle connection (its default,
#: 1 ms, adds up to 2 ms to every request/answer turn: ~0.8 s over a 400-instance C-GET).
DUL_POLL_S = 0.0002


def received_instance(event: Any) -> bytes:
    """The Part 10 bytes of a C-STORE request's dataset (``EVT_C_STORE``), not decoded."""
    request = event.request
    prefix = part10_prefix(
        str(request.AffectedSOPClassUID or ""),
        str(request.AffectedSOPInstanceUID or ""),
        str(event.context.transfer_syntax or ""),
    )
    stream = event.request.DataSet
    if isinstance(stream, io.BytesIO):
        with stream.getbuffer() as view:  # one copy of the dataset, not two
            return b"".join((prefix, view))
    dataset: bytes = event.encoded_dataset(include_meta=False)
    return prefix + dataset


def _text(dataset: Any, keyword: str, limit: int = 256) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns of invalid values: we judge them
            value = dataset.get(keyword)
    except Exception:  # noqa: BLE001 - a malformed value from the node: treat as absent
        return ""
    if value is None:
        return ""
    if not isinstance(value, str | int | float):
        value = str(value)
    return clean_text(value, limit)


def _uid(dataset: Any, keyword: str) -> str | None:
    value = _text(dataset, keyword, 200)
    return value if valid_uid(value) else None


def _modalities(dataset: Any) -> tuple[str, ...]:
    try:
        value = dataset.get("ModalitiesInStudy")
    except Exception:  # noqa: BLE001 - malformed value
        return ()
    if value is None or value == "":
        return ()
    items = [value] if isinstance(value, str) else list(value)[:64]
    return tuple(clean_text(item, 16) for item in items if str(item).strip())


class DimseSource:
    """A DIMSE node as a :class:`~workstation.pacs.source.DataSource`.

    Parameters
    ----------
    node:
        A node of kind ``dimse``.
    ae_title:
        Our (calling) AE title.
    scp:
        Our running storage SCP: needed for ``node.retrieve == "move"``.
    retry, on_retry:
        Retrying queries and associations that failed transiently, and being told.
    """

    def __init__(
        self,
        node: Node,
        *,
        ae_title: str,
        scp: StorageSCP | None = None,
        retry: RetryPolicy | None = None,
        on_retry: OnRetry | None = None,
        limits: TransferLimits = DEFAULT_TRANSFER_LIMITS,
    ) -> None:
        if node.kind != "dimse":
            raise ValueError(f"node {node.name} is not a DIMSE node")
        self.node = node
        self.name = node.name
        self.ae_title = check_ae_title(ae_title)
        self.scp = scp
        self.retry = retry or RetryPolicy()
        self.on_retry = on_retry
        self.limits = limits
        #: SOP classes of the series seen by :meth:`find_instances` (for C-GET contexts).
        self._classes: dict[str, list[str]] = {}
        #: Whether a C-GET tries :mod:`~workstation.pacs.cget` first (see :meth:`uses_lean_get`).
        self.lean_get = True
        #: Which receiver ran the last C-GET: ``"lean"`` or ``"pynetdicom"``.
        self.get_path: str | None = None

    # --- associations ------------------------------------------------------------------------

    def _ae(self) -> Any:
        from pynetdicom import AE

        ae = AE(ae_title=self.ae_title)
        timeout = self.node.timeout
        ae.acse_timeout = timeout
        ae.dimse_timeout = timeout
        ae.network_timeout = timeout
        ae.connection_timeout = min(timeout, 10.0)
        ae.maximum_pdu_size = MAX_PDU
        return ae

    @contextmanager
    def _association(
        self,
        contexts: list[Any],
        *,
        ext_neg: list[Any] | None = None,
        handlers: list[Any] | None = None,
    ) -> Iterator[Any]:
        from pynetdicom import evt
        from pynetdicom.pdu import A_ASSOCIATE_RJ
        from pynetdicom.pdu_primitives import A_ASSOCIATE

        negotiation = _Negotiation()

        def on_open(event: Any) -> None:
            negotiation.connected = True
            no_delay(event)

        def on_pdu(event: Any) -> None:
            pdu = event.pdu
            if isinstance(pdu, A_ASSOCIATE_RJ):
                negotiation.rejection = (
                    int(pdu.result or 0),
                    int(pdu.source or 0),
                    int(pdu.reason_diagnostic or 0),
                )

        def on_acse(event: Any) -> None:
            primitive = event.primitive
            if isinstance(primitive, A_ASSOCIATE) and primitive.result is not None:
                negotiation.response = primitive

        ae = self._ae()
        tls_args = None
        if self.node.tls.enabled:
            tls_args = (self.node.tls.ssl_context(), self.node.host)
        started = time.monotonic()
        try:
            assoc = ae.associate(
                self.node.host,
                self.node.port,
                contexts=contexts,
                ae_title=self.node.ae_title,
                max_pdu=MAX_PDU,
                ext_neg=ext_neg,
                tls_args=tls_args,
                evt_handlers=[
                    (evt.EVT_CONN_OPEN, on_open),
                    (evt.EVT_ACSE_RECV, on_acse),
                    (evt.EVT_PDU_RECV, on_pdu),
                    *(handlers or []),
                ],
            )
        except (OSError, ValueError, RuntimeError) as exc:
            raise PacsError(
                PacsReason.UNREACHABLE,
                f"cannot connect to {self.node.address}: {exc}",
                node=self.name,
            ) from exc
        if not assoc.is_established:
            raise self._association_error(assoc, negotiation, time.monotonic() - started).at(
                self.name
            )
        try:
            yield assoc
        finally:
            if assoc.is_established:
                assoc.release()
            ae.shutdown()

    def _association_error(
        self, assoc: Any, negotiation: _Negotiation, elapsed: float
    ) -> PacsError:
        node = self.node
        if not negotiation.connected:
            if elapsed >= min(node.timeout, 10.0) * 0.9:
                return PacsError(
                    PacsReason.TIMEOUT, f"no connection to {node.host}:{node.port} in time"
                )
            return PacsError(
                PacsReason.UNREACHABLE,
                f"cannot connect to {node.host}:{node.port} (nothing listening, or blocked)",
            )
        response = negotiation.response
        if negotiation.rejection is not None:
            return _rejection(negotiation.rejection, node, self.ae_title)
        if assoc.is_rejected and response is not None:
            return _rejection(
                (
                    int(response.result or 0),
                    int(response.result_source or 0),
                    int(response.diagnostic or 0),
                ),
                node,
                self.ae_title,
            )
        if response is not None and response.result == 0:
            return PacsError(
                PacsReason.REFUSED,
                f"{node.address} accepted none of the proposed services / transfer syntaxes",
            )
        if response is None and elapsed >= node.timeout * 0.9:
            return PacsError(
                PacsReason.TIMEOUT, f"{node.address} did not answer the association request in time"
            )
        if assoc.is_aborted:
            return PacsError(
                PacsReason.REFUSED,
                f"{node.address} aborted the association request (is it a DICOM port?)",
            )
        return PacsError(
            PacsReason.TIMEOUT, f"{node.address} did not answer the association request"
        )

    def _lost(self, assoc: Any, last: float, what: str) -> PacsError:
        """The error when a DIMSE exchange ended without a final status."""
        if time.monotonic() - last >= self.node.timeout * 0.9:
            return PacsError(
                PacsReason.TIMEOUT,
                f"{what}: no answer from {self.node.address} in time",
                node=self.name,
            )
        return PacsError(
            PacsReason.INTERRUPTED,
            f"{what}: the connection to {self.node.address} was lost",
            node=self.name,
        )

    # --- C-ECHO ------------------------------------------------------------------------------

    def echo(self) -> float:
        from pynetdicom.presentation import build_context

        def attempt() -> float:
            started = time.perf_counter()
            with self._association([build_context(VERIFICATION)]) as assoc:
                status = assoc.send_c_echo()
                if not status or "Status" not in status:
                    raise self._lost(assoc, started, "C-ECHO")
                if status.Status != 0:
                    raise PacsError(
                        PacsReason.SERVER,
                        f"C-ECHO answered status 0x{status.Status:04X}",
                        node=self.name,
                    )
            return time.perf_counter() - started

        return with_retries(attempt, self.retry, on_retry=self.on_retry)

    # --- C-FIND ------------------------------------------------------------------------------

    def _find(self, identifier: Any, what: str, limit: int) -> list[Any]:
        from pynetdicom.presentation import build_context

        def attempt() -> list[Any]:
            results: list[Any] = []
            with self._association([build_context(STUDY_ROOT_FIND)]) as assoc:
                last = time.monotonic()
                for status, found in assoc.send_c_find(identifier, STUDY_ROOT_FIND):
                    if not status or "Status" not in status:
                        raise self._lost(assoc, last, what)
                    last = time.monotonic()
                    code = int(status.Status)
                    if code in _STATUS_PENDING:
                        if found is not None:
                            results.append(found)
                        if len(results) > min(limit, self.limits.max_results):
                            assoc.abort()
                            break
                    elif code in (0x0000, _STATUS_CANCEL):
                        break
                    else:
                        raise PacsError(
                            PacsReason.SERVER if code != 0xA900 else PacsReason.PROTOCOL,
                            f"{what} failed with status 0x{code:04X}",
                            node=self.name,
                        )
            return results[:limit]

        return with_retries(attempt, self.retry, on_retry=self.on_retry)

    @staticmethod
    def _identifier(level: str, **keys: Any) -> Any:
        from pydicom.dataset import Dataset

        ds = Dataset()
        ds.QueryRetrieveLevel = level
        for keyword, value in keys.items():
            setattr(ds, keyword, value)
        return ds

    def find_studies(self, query: StudyQuery) -> list[RemoteStudy]:
        keys: dict[str, Any] = {
            "StudyInstanceUID": query.study_instance_uid,
            "PatientName": query.patient_name,
            "PatientID": query.patient_id,
            "PatientBirthDate": "",
            "PatientSex": "",
            "StudyDate": query.date_range,
            "StudyTime": "",
            "StudyDescription": "",
            "AccessionNumber": query.accession_number,
            "ModalitiesInStudy": query.modality,
            "NumberOfStudyRelatedSeries": "",
            "NumberOfStudyRelatedInstances": "",
        }
        if not query.patient_name.isascii():
            keys["SpecificCharacterSet"] = "ISO_IR 192"
        found = self._find(self._identifier("STUDY", **keys), "study C-FIND", query.limit)
        studies = []
        for ds in found:
            uid = _uid(ds, "StudyInstanceUID")
            if uid is None:
                log.warning("dropped a C-FIND study answer without a valid Study Instance UID")
                continue
            studies.append(
                RemoteStudy(
                    study_instance_uid=uid,
                    patient_name=_text(ds, "PatientName"),
                    patient_id=_text(ds, "PatientID", 64),
                    patient_birth_date=_text(ds, "PatientBirthDate", 8),
                    patient_sex=_text(ds, "PatientSex", 16),
                    study_date=_text(ds, "StudyDate", 8),
                    study_time=_text(ds, "StudyTime", 16),
                    study_description=_text(ds, "StudyDescription"),
                    accession_number=_text(ds, "AccessionNumber", 64),
                    modalities=_modalities(ds),
                    n_series=bounded_int(_text(ds, "NumberOfStudyRelatedSeries", 12)),
                    n_instances=bounded_int(_text(ds, "NumberOfStudyRelatedInstances", 12)),
                )
            )
        return studies

    def find_series(self, study_uid: str) -> list[RemoteSeries]:
        study_uid = self._checked(study_uid, "Study Instance UID")
        identifier = self._identifier(
            "SERIES",
            StudyInstanceUID=study_uid,
            SeriesInstanceUID="",
            Modality="",
            SeriesDescription="",
            SeriesNumber="",
            NumberOfSeriesRelatedInstances="",
        )
        found = self._find(identifier, "series C-FIND", self.limits.max_results)
        series = []
        for ds in found:
            uid = _uid(ds, "SeriesInstanceUID")
            owner = _uid(ds, "StudyInstanceUID") or study_uid
            if uid is None or owner != study_uid:
                log.warning("dropped a C-FIND series answer without a valid Series Instance UID")
                continue
            series.append(
                RemoteSeries(
                    series_instance_uid=uid,
                    study_instance_uid=study_uid,
                    modality=_text(ds, "Modality", 16),
                    series_description=_text(ds, "SeriesDescription"),
                    series_number=bounded_int(_text(ds, "SeriesNumber", 12)),
                    n_instances=bounded_int(_text(ds, "NumberOfSeriesRelatedInstances", 12)),
                )
            )
        return series

    def find_instances(self, study_uid: str, series_uid: str) -> list[RemoteInstance]:
        study_uid = self._checked(study_uid, "Study Instance UID")
        series_uid = self._checked(series_uid, "Series Instance UID")
        identifier = self._identifier(
            "IMAGE",
            StudyInstanceUID=study_uid,
            SeriesInstanceUID=series_uid,
            SOPInstanceUID="",
            SOPClassUID="",
            InstanceNumber="",
        )
        found = self._find(identifier, "image C-FIND", self.limits.max_results)
        instances = []
        for ds in found:
            uid = _uid(ds, "SOPInstanceUID")
            owner = _uid(ds, "SeriesInstanceUID") or series_uid
            if uid is None or owner != series_uid:
                log.warning("dropped a C-FIND image answer without a valid SOP Instance UID")
                continue
            instances.append(
                RemoteInstance(
                    sop_instance_uid=uid,
                    series_instance_uid=series_uid,
                    study_instance_uid=study_uid,
                    sop_class_uid=_uid(ds, "SOPClassUID") or "",
                    instance_number=bounded_int(_text(ds, "InstanceNumber", 12)),
                )
            )
        self._classes[series_uid] = sop_classes_of(instances)
        return instances

    @property
    def delivers_on_caller_thread(self) -> bool:
        """C-GET hands instances to the sink on the calling thread; C-MOVE on the SCP's."""
        return self.node.retrieve == "get"

    def _checked(self, uid: str, what: str) -> str:
        try:
            return check_uid(uid, what)
        except ValueError as exc:
            raise PacsError(PacsReason.PROTOCOL, str(exc), node=self.name) from None

    # --- retrieval ---------------------------------------------------------------------------

    def retrieve(
        self,
        study_uid: str,
        series_uid: str | None = None,
        *,
        sink: InstanceSink,
        instance_uids: Sequence[str] | None = None,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> int:
        study_uid = self._checked(study_uid, "Study Instance UID")
        if series_uid is not None:
            series_uid = self._checked(series_uid, "Series Instance UID")
        if instance_uids is not None:
            if series_uid is None:
                raise ValueError("instance_uids need a series_uid")
            for uid in instance_uids:
                self._checked(uid, "SOP Instance UID")
        fetch = _Fetch(
            requests=self._requests(study_uid, series_uid, instance_uids),
            sink=sink,
            expected=len(instance_uids) if instance_uids is not None else 0,
            progress=progress,
            cancel=cancel,
        )
        if self.node.retrieve == "move":
            return self._move(fetch)
        return self._get(fetch, self._classes_for(series_uid))

    def _requests(
        self, study_uid: str, series_uid: str | None, instance_uids: Sequence[str] | None
    ) -> list[Any]:
        if series_uid is None:
            return [self._identifier("STUDY", StudyInstanceUID=study_uid)]
        if instance_uids is None:
            return [
                self._identifier("SERIES", StudyInstanceUID=study_uid, SeriesInstanceUID=series_uid)
            ]
        uids = list(instance_uids)
        return [
            self._identifier(
                "IMAGE",
                StudyInstanceUID=study_uid,
                SeriesInstanceUID=series_uid,
                SOPInstanceUID=uids[start : start + UIDS_PER_REQUEST],
            )
            for start in range(0, len(uids), UIDS_PER_REQUEST)
        ]

    def _classes_for(self, series_uid: str | None) -> list[str]:
        """SOP classes to propose contexts for: those the series was listed with, else the
        common image classes (no extra C-FIND: the resume check lists a series, learning its
        classes, whenever something it holds did not arrive)."""
        known = self._classes.get(series_uid or "")
        return list(dict.fromkeys([*(known or []), *COMMON_IMAGE_CLASSES]))[:32]

    @staticmethod
    def storage_proposals(
        sop_classes: Sequence[str], budget: int = 127
    ) -> list[tuple[str, tuple[str, ...]]]:
        """(SOP class, transfer syntaxes) per context to receive ``sop_classes``: uncompressed
        first, then one context per compressed syntax while the budget (128 contexts per
        association) lasts."""
        classes = list(dict.fromkeys(sop_classes))[:budget]
        proposals: list[tuple[str, tuple[str, ...]]] = [(uid, UNCOMPRESSED) for uid in classes]
        extra = (budget - len(proposals)) // max(1, len(classes))
        for uid in classes:
            proposals += [(uid, (ts,)) for ts in COMPRESSED[:extra]]
        return proposals

    @classmethod
    def storage_contexts(cls, sop_classes: Sequence[str], budget: int = 127) -> list[Any]:
        """:meth:`storage_proposals` as pynetdicom presentation contexts."""
        from pynetdicom.presentation import build_context

        return [
            build_context(uid, list(syntaxes))
            for uid, syntaxes in cls.storage_proposals(sop_classes, budget)
        ]

    def _get(self, fetch: _Fetch, classes: list[str]) -> int:
        """A C-GET retrieval: through :mod:`~workstation.pacs.cget` when :meth:`uses_lean_get`,
        through pynetdicom otherwise or when the node's acceptance does not suit the lean
        receiver (:class:`~workstation.pacs.cget.Unsupported`, raised before any request)."""
        if self.uses_lean_get():
            try:
                received = self._get_lean(fetch, classes)
            except cget.Unsupported as exc:
                log.info("C-GET through pynetdicom: %s", exc)
            else:
                self.get_path = "lean"
                return received
        self.get_path = "pynetdicom"
        return self._get_pynetdicom(fetch, classes)

    def uses_lean_get(self) -> bool:
        """Whether a C-GET tries the lean receiver first: unless turned off (``lean_get``),
        or the node needs TLS (which the lean receiver does not speak)."""
        return self.lean_get and not self.node.tls.enabled

    def _get_lean(self, fetch: _Fetch, classes: list[str]) -> int:
        node = self.node
        target = cget.Target(
            host=node.host,
            port=node.port,
            called_ae=node.ae_title,
            calling_ae=self.ae_title,
            timeout=node.timeout,
            address=node.address,
            name=self.name,
        )
        try:
            received, finals = cget.run_get(
                target,
                self.storage_proposals(classes),
                fetch.requests,
                max_instance_bytes=self.limits.max_instance_bytes,
                put=fetch.sink.put,
                progress=fetch.report,
                cancel=fetch.cancel,
            )
        except cget.Rejected as rejected:
            raise _rejection(rejected.fields, node, self.ae_title).at(self.name) from None
        failed = sum(self._check_final(final, "C-GET") for final in finals)
        if failed:
            log.warning("C-GET: %d sub-operation(s) failed", failed)
        return received

    def _get_pynetdicom(self, fetch: _Fetch, classes: list[str]) -> int:
        from pynetdicom import evt
        from pynetdicom.presentation import build_context, build_role

        received = 0
        state: dict[str, Any] = {"cancelled": False, "error": None, "message_id": 0}
        cancel = fetch.cancel

        def request_cancel(assoc: Any) -> None:
            # C-CANCEL (PS3.7 §9.3.3.3): the node stops and answers a final "Cancel" status;
            # what it sends meanwhile is still taken.
            if not state["cancelled"]:
                state["cancelled"] = True
                assoc.send_c_cancel(state["message_id"], query_model=STUDY_ROOT_GET)

        def on_store(event: Any) -> int:
            nonlocal received
            if cancel is not None and cancel():
                request_cancel(event.assoc)
            try:
                data = received_instance(event)
            except ValueError:
                return _STORE_CANNOT_UNDERSTAND
            if len(data) > self.limits.max_instance_bytes:
                return _STORE_OUT_OF_RESOURCES
            try:
                fetch.sink.put(data)
            except Exception as exc:  # noqa: BLE001 - reported after the association ends
                state["error"] = exc
                event.assoc.abort()
                return _STORE_OUT_OF_RESOURCES
            received += 1
            fetch.report(received)
            return 0x0000

        contexts = [build_context(STUDY_ROOT_GET), *self.storage_contexts(classes)]
        roles = [build_role(uid, scp_role=True) for uid in dict.fromkeys(classes)]
        failed = 0
        with self._association(
            contexts, ext_neg=roles, handlers=[(evt.EVT_C_STORE, on_store)]
        ) as assoc:
            for identifier in fetch.requests:
                last = time.monotonic()
                final = None
                state["message_id"] = next_message_id()
                for status, _ in assoc.send_c_get(
                    identifier, STUDY_ROOT_GET, msg_id=state["message_id"]
                ):
                    if state["error"] is not None:
                        break
                    if not status or "Status" not in status:
                        if state["cancelled"]:
                            return received
                        raise self._lost(assoc, last, "C-GET")
                    last = time.monotonic()
                    code = int(status.Status)
                    if code in _STATUS_PENDING:
                        if cancel is not None and cancel():
                            request_cancel(assoc)
                        continue
                    final = status
                    break
                if state["error"] is not None:
                    raise state["error"]
                if state["cancelled"]:
                    return received
                failed += self._check_final(final, "C-GET")
        if failed:
            log.warning("C-GET: %d sub-operation(s) failed", failed)
        return received

    def _check_final(self, status: Any, what: str) -> int:
        """Failed sub-operations of a final C-GET / C-MOVE status; raises on failure."""
        if status is None:
            return 0
        code = int(status.Status)
        failed = bounded_int(getattr(status, "NumberOfFailedSuboperations", 0)) or 0
        if code in (0x0000, _STATUS_CANCEL) or code & 0xF000 == 0xB000:
            return failed
        if code == 0xA801:
            raise PacsError(
                PacsReason.AE_TITLE,
                f"{what}: the node does not know our AE title {self.ae_title!r} as a move "
                "destination (register it with our host and storage port)",
                node=self.name,
            )
        if code in (0xA701, 0xA702):
            raise PacsError(
                PacsReason.SERVER, f"{what}: the node is out of resources", node=self.name
            )
        hint = ""
        completed = bounded_int(getattr(status, "NumberOfCompletedSuboperations", 0)) or 0
        if what == "C-MOVE" and not completed:
            hint = (
                f" (is our AE title {self.ae_title!r} registered at the node as a move "
                "destination, with our host and storage port?)"
            )
        raise PacsError(
            PacsReason.SERVER, f"{what} failed with status 0x{code:04X}{hint}", node=self.name
        )

    def _move(self, fetch: _Fetch) -> int:
        from pynetdicom.presentation import build_context

        scp = self.scp
        if scp is None or not scp.running:
            raise PacsError(
                PacsReason.CONFIGURATION,
                "C-MOVE needs our storage SCP running (our AE title and port; or use C-GET)",
                node=self.name,
            )
        counter = _CountingSink(fetch)
        cancel = fetch.cancel
        with self._association([build_context(STUDY_ROOT_MOVE)]) as assoc:
            for identifier in fetch.requests:
                message_id = next_message_id()
                final = None
                with scp.route(self.ae_title, message_id, counter):
                    last = time.monotonic()
                    for status, _ in assoc.send_c_move(
                        identifier, scp.ae_title, STUDY_ROOT_MOVE, msg_id=message_id
                    ):
                        if cancel is not None and cancel():
                            assoc.abort()
                            return counter.count
                        if not status or "Status" not in status:
                            raise self._lost(assoc, last, "C-MOVE")
                        last = time.monotonic()
                        if int(status.Status) in _STATUS_PENDING:
                            continue
                        final = status
                        break
                if counter.error is not None:
                    raise counter.error
                self._check_final(final, "C-MOVE")
        return counter.count

    # --- C-STORE -----------------------------------------------------------------------------

    def store(
        self,
        items: Sequence[Storable],
        *,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> StoreReport:
        from pynetdicom.presentation import build_context

        started = time.perf_counter()
        report = StoreReport()
        prepared: list[tuple[str, Any, str, str]] = []  # (label, payload, class, syntax)
        for index, item in enumerate(items):
            label = str(item) if isinstance(item, str | Path) else f"<object {index}>"
            try:
                payload, sop_class, ts = _prepare(item)
            except (DicomFileError, OSError, ValueError) as exc:
                report.failed.append((label, str(exc)))
                continue
            prepared.append((label, payload, sop_class, ts))
        pending = list(range(len(prepared)))
        # One association per ≤127 (class, syntax) pairs.
        pairs = list(dict.fromkeys((p[2], p[3]) for p in prepared))
        for start in range(0, len(pairs), 127):
            group = set(pairs[start : start + 127])
            contexts = [build_context(cls, [ts]) for cls, ts in group]
            todo = [i for i in pending if (prepared[i][2], prepared[i][3]) in group]

            def attempt(todo: list[int] = todo, contexts: list[Any] = contexts) -> None:
                with self._association(contexts) as assoc:
                    while todo:
                        if cancel is not None and cancel():
                            report.cancelled = True
                            return
                        index = todo[0]
                        label, payload, _, _ = prepared[index]
                        last = time.monotonic()
                        status = assoc.send_c_store(payload, msg_id=next_message_id())
                        if not status or "Status" not in status:
                            raise self._lost(assoc, last, "C-STORE")
                        code = int(status.Status)
                        if code == 0 or code & 0xF000 == 0xB000:
                            report.sent += 1
                        else:
                            report.failed.append((label, f"C-STORE status 0x{code:04X}"))
                        todo.pop(0)
                        if progress is not None:
                            progress(report.sent + len(report.failed), len(items))

            with_retries(attempt, self.retry, on_retry=self.on_retry, cancel=cancel)
            if report.cancelled:
                break
        report.seconds = time.perf_counter() - started
        return report

    def close(self) -> None:
        """Nothing held between calls."""


def _prepare(item: Storable) -> tuple[Any, str, str]:
    """What ``send_c_store`` takes for ``item`` (a path, or a dataset), its class and syntax."""
    if isinstance(item, str | Path):
        from pydicom.filereader import read_file_meta_info

        path = Path(item)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                meta = read_file_meta_info(path)
            except Exception as exc:
                raise ValueError(f"not a DICOM Part 10 file: {exc}") from exc
        sop_class = str(meta.get("MediaStorageSOPClassUID", ""))
        ts = str(meta.get("TransferSyntaxUID", ""))
        if not (sop_class and ts):
            raise ValueError("no SOP Class or Transfer Syntax UID in the file meta")
        return path, sop_class, ts
    is_bytes = isinstance(item, bytes | bytearray | memoryview)
    data = bytes(item) if is_bytes else encode_dataset(item)
    info = object_info(data)
    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = pydicom.dcmread(io.BytesIO(data))
    return dataset, info.sop_class_uid, info.transfer_syntax


@dataclass(frozen=True)
class _Fetch:
    """One retrieval's requests and where what it receives goes."""

    requests: list[Any]
    sink: InstanceSink
    #: instances asked for by UID (0: a whole series or study, the count unknown)
    expected: int
    progress: Progress | None
    cancel: Cancel | None

    def report(self, received: int) -> None:
        if self.progress is not None:
            self.progress(received, max(self.expected, received))


class _CountingSink:
    """Counts what a C-MOVE delivered to this retrieval, and keeps the sink's failure."""

    def __init__(self, fetch: _Fetch) -> None:
        self.sink = fetch.sink
        self.fetch = fetch
        self.count = 0
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def put(self, data: bytes) -> None:
        try:
            self.sink.put(data)
        except BaseException as exc:
            self.error = exc
            raise
        with self._lock:
            self.count += 1
            count = self.count
        self.fetch.report(count)


OnInstance = Callable[[bytes], None]
