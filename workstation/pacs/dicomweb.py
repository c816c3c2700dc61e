"""A DICOMweb node (PS3.18): QIDO-RS queries, WADO-RS retrieval, STOW-RS storage, over httpx.

- Queries (``/studies``, ``/studies/{uid}/series``, ``.../instances``) answer DICOM JSON,
  read with a size bound (decompressed by us, with a bound, so a gzip bomb cannot inflate);
- a series is retrieved as one ``multipart/related; type="application/dicom"`` stream read
  part by part (:mod:`workstation.pacs.multipart`): each instance goes to the sink as soon as it
  is complete, the study is never held in memory. ``transfer-syntax=*`` asks for the stored
  encoding (no transcoding on the server);
- given instances (resuming) are retrieved one request each, on a kept-alive connection;
- STOW-RS posts batches of at most :attr:`TransferLimits.store_batch_bytes`.

UIDs go into request paths only after :func:`~workstation.pacs.source.check_uid` (and are
percent-encoded anyway), so an answer holding ``../`` cannot steer a later request.
Idempotent requests are retried on transient failures (:mod:`workstation.pacs.retry`).
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpx

from workstation.core.errors import DicomFileError
from workstation.pacs import dicomjson
from workstation.pacs.encoding import object_bytes, object_info
from workstation.pacs.errors import PacsError, PacsReason
from workstation.pacs.multipart import boundary_of, encode_related, iter_parts, new_boundary
from workstation.pacs.nodes import Node
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
    check_uid,
)

log = logging.getLogger(__name__)

DICOM_JSON = "application/dicom+json"
ACCEPT_INSTANCES = 'multipart/related; type="application/dicom"; transfer-syntax=*'
ACCEPT_INSTANCES_DEFAULT = 'multipart/related; type="application/dicom"'
_STUDY_FIELDS = ("00081030", "00080061", "00201206", "00201208", "00100030", "00100040")
_SERIES_FIELDS = ("0008103E", "00200011", "00201209", "00080060")
_INSTANCE_FIELDS = ("00080016", "00200013")
_USER_AGENT = "workstation-pacs/1"
#: Bytes asked of the socket per read of an HTTP/1.1 answer. httpcore asks 64 KiB; a series
#: (hundreds of MB) then costs thousands of trips through h11's parser, a third of the
#: transfer's CPU time on a fast link. A read returns what has arrived, so small answers are
#: not delayed.
HTTP_READ_BYTES = 1 << 20


def _larger_http_reads() -> None:
    """Make httpcore's HTTP/1.1 connections read up to :data:`HTTP_READ_BYTES` at a time.

    A class setting of httpcore (the same for every connection of the process): only ever
    raised, never lowered below what someone else set.
    """
    try:
        from httpcore._sync.http11 import HTTP11Connection
    except ImportError:  # another httpcore layout: keep its default
        return
    current = getattr(HTTP11Connection, "READ_NUM_BYTES", None)
    if isinstance(current, int) and current < HTTP_READ_BYTES:
        HTTP11Connection.READ_NUM_BYTES = HTTP_READ_BYTES


def _segment(uid: str, what: str) -> str:
    try:
        return quote(check_uid(uid, what), safe="")
    except ValueError as exc:
        raise PacsError(PacsReason.PROTOCOL, str(exc)) from None


#: Left as they are in query values: some nodes (Orthanc 1.10) match on the raw query string,
#: so a wildcard sent as %2A or a PN separator as %5E would never match there.
_QUERY_SAFE = "*?^,.-_~:"


def query_path(path: str, params: dict[str, str]) -> str:
    """``path?key=value&...`` with values percent-encoded except wildcards and ``^``."""
    if not params:
        return path
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe=_QUERY_SAFE)}" for k, v in params.items())
    return f"{path}?{query}"


def map_transport_error(exc: httpx.HTTPError, node: Node) -> PacsError:
    """The :class:`PacsError` for an httpx failure."""
    where = node.url
    if isinstance(exc, httpx.ConnectTimeout):
        return PacsError(PacsReason.TIMEOUT, f"no connection to {where} within the time allowed")
    if isinstance(exc, httpx.TimeoutException):
        return PacsError(
            PacsReason.TIMEOUT, f"{where} did not answer in time ({type(exc).__name__})"
        )
    if isinstance(exc, httpx.ConnectError):
        text = str(exc)
        if "SSL" in text or "certificate" in text.lower() or "TLS" in text:
            return PacsError(PacsReason.TLS, f"TLS with {where} failed: {text[:200]}")
        return PacsError(
            PacsReason.UNREACHABLE, f"cannot connect to {where}: {text[:200] or 'refused'}"
        )
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return PacsError(
            PacsReason.INTERRUPTED, f"the connection to {where} was lost: {str(exc)[:200]}"
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return PacsError(PacsReason.CONFIGURATION, f"bad URL {where}: {exc}")
    if isinstance(exc, httpx.DecodingError):
        return PacsError(PacsReason.PROTOCOL, f"undecodable answer from {where}: {exc}")
    return PacsError(PacsReason.PROTOCOL, f"HTTP failure with {where}: {type(exc).__name__}: {exc}")


def status_error(response: httpx.Response, what: str, *, with_credentials: bool) -> PacsError:
    """The :class:`PacsError` for an HTTP error status (the body is never quoted)."""
    code = response.status_code
    phrase = f"HTTP {code} {response.reason_phrase}".strip()
    if code == 401:
        why = (
            "the credentials were refused" if with_credentials else "the node requires credentials"
        )
        return PacsError(PacsReason.UNAUTHORIZED, f"{what}: {why} ({phrase})")
    if code == 403:
        return PacsError(PacsReason.UNAUTHORIZED, f"{what}: not allowed ({phrase})")
    if code == 404:
        return PacsError(PacsReason.NOT_FOUND, f"{what}: not found ({phrase})")
    if code in (408, 429) or code >= 500:
        return PacsError(PacsReason.SERVER, f"{what}: the node failed ({phrase})")
    return PacsError(PacsReason.PROTOCOL, f"{what}: refused ({phrase})")


def read_bounded(response: httpx.Response, limit: int, what: str) -> bytes:
    """The decoded body of a streamed response, refusing more than ``limit`` bytes.

    Content-Encoding gzip and deflate are inflated here with ``max_length``, so a small
    compressed answer cannot expand beyond the bound (the gzip-bomb class of CVE).
    """
    declared = response.headers.get("content-length", "")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity") and declared.isdigit() and int(declared) > limit:
        raise PacsError(
            PacsReason.PROTOCOL, f"the {what} answer declares {declared} bytes, over {limit}"
        )
    decoder: Any = None
    if encoding in ("gzip", "x-gzip"):
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decoder = zlib.decompressobj()
    elif encoding not in ("", "identity"):
        raise PacsError(PacsReason.PROTOCOL, f"the {what} answer uses encoding {encoding[:40]!r}")
    out = bytearray()
    if response.is_stream_consumed:  # read already (not by us: a custom transport)
        raw: Iterable[bytes] = [response.content]
        decoder = None
    else:
        raw = response.iter_raw()
    try:
        for chunk in raw:
            if decoder is None:
                out += chunk
            else:
                pending = chunk
                while pending and len(out) <= limit:
                    out += decoder.decompress(pending, limit + 1 - len(out))
                    pending = decoder.unconsumed_tail
            if len(out) > limit:
                raise PacsError(
                    PacsReason.PROTOCOL, f"the {what} answer is larger than {limit} bytes"
                )
    except zlib.error as exc:
        raise PacsError(PacsReason.PROTOCOL, f"the {what} answer does not inflate: {exc}") from exc
    return bytes(out)


class DicomWebSource:
    """A DICOMweb node as a :class:`~workstation.pacs.source.DataSource`.

    Parameters
    ----------
    node:
        A node of kind ``dicomweb``.
    secret:
        Its password (basic) or token (bearer), from :func:`workstation.pacs.nodes.secret_for`.
    retry:
        How transient failures of idempotent requests are retried.
    on_retry:
        Told about each retry (attempt, delay, error), to show it.
    transport:
        An httpx transport to use instead of the network (tests with crafted answers).
    """

    #: Retrieved instances reach the sink on the thread that called :meth:`retrieve`.
    delivers_on_caller_thread = True

    def __init__(
        self,
        node: Node,
        *,
        secret: str | None = None,
        retry: RetryPolicy | None = None,
        on_retry: OnRetry | None = None,
        limits: TransferLimits = DEFAULT_TRANSFER_LIMITS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if node.kind != "dicomweb":
            raise ValueError(f"node {node.name} is not a DICOMweb node")
        self.node = node
        self.name = node.name
        self.retry = retry or RetryPolicy()
        self.on_retry = on_retry
        self.limits = limits
        auth: httpx.Auth | None = None
        headers = {"User-Agent": _USER_AGENT}
        if node.auth == "basic":
            auth = httpx.BasicAuth(node.username, secret or "")
        elif node.auth == "bearer":
            headers["Authorization"] = f"Bearer {secret or ''}"
        self._with_credentials = node.auth != "none"
        # Plain http needs no TLS context (httpx would build the default one: ~30 ms).
        verify: Any = False
        if node.url.lower().startswith("https"):
            verify = node.tls.ssl_context()
        _larger_http_reads()
        self._client = httpx.Client(
            base_url=node.url.rstrip("/") + "/",
            auth=auth,
            headers=headers,
            verify=verify,
            timeout=httpx.Timeout(node.timeout, connect=min(node.timeout, 10.0)),
            transport=transport,
            follow_redirects=False,
        )

    # --- plumbing ----------------------------------------------------------------------------

    @contextmanager
    def _stream(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> Iterator[httpx.Response]:
        """A response whose status is a success, its body not read yet."""
        request = self._client.build_request(
            method, query_path(path, params or {}), headers=headers, content=content
        )
        try:
            response = self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, self.node).at(self.name) from None
        try:
            if response.status_code >= 400:
                raise status_error(response, what, with_credentials=self._with_credentials).at(
                    self.name
                )
            if response.status_code >= 300:
                raise PacsError(
                    PacsReason.PROTOCOL,
                    f"{what}: redirected (HTTP {response.status_code}); configure the final URL",
                    node=self.name,
                )
            yield response
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, self.node).at(self.name) from None
        finally:
            response.close()

    def _json(self, path: str, params: dict[str, str], what: str) -> list[dict[str, Any]]:
        def attempt() -> list[dict[str, Any]]:
            with self._stream(
                "GET",
                path,
                what=what,
                params=params,
                headers={"Accept": DICOM_JSON, "Accept-Encoding": "gzip, deflate"},
            ) as response:
                if response.status_code == 204:
                    return []
                data = read_bounded(response, self.limits.max_json_bytes, what)
            try:
                return dicomjson.parse_document(data, what)
            except PacsError as error:
                raise error.at(self.name) from None

        return with_retries(attempt, self.retry, on_retry=self.on_retry)

    # --- DataSource ----------------------------------------------------------------------------

    def echo(self) -> float:
        started = time.perf_counter()
        self._json("studies", {"limit": "1"}, "QIDO-RS echo")
        return time.perf_counter() - started

    def find_studies(self, query: StudyQuery) -> list[RemoteStudy]:
        params = {
            "limit": str(min(query.limit, self.limits.max_results)),
            "includefield": ",".join(_STUDY_FIELDS),
        }
        for key, value in (
            ("PatientID", query.patient_id),
            ("PatientName", query.patient_name),
            ("StudyDate", query.date_range),
            ("ModalitiesInStudy", query.modality),
            ("AccessionNumber", query.accession_number),
            ("StudyInstanceUID", query.study_instance_uid),
        ):
            if value:
                params[key] = value
        found = dicomjson.studies(self._json("studies", params, "study query"))
        return found[: query.limit]

    def find_series(self, study_uid: str) -> list[RemoteSeries]:
        path = f"studies/{_segment(study_uid, 'Study Instance UID')}/series"
        params = {"includefield": ",".join(_SERIES_FIELDS)}
        return dicomjson.series(self._json(path, params, "series query"), study_uid)

    def find_instances(self, study_uid: str, series_uid: str) -> list[RemoteInstance]:
        path = (
            f"studies/{_segment(study_uid, 'Study Instance UID')}/series/"
            f"{_segment(series_uid, 'Series Instance UID')}/instances"
        )
        params = {
            "includefield": ",".join(_INSTANCE_FIELDS),
            "limit": str(self.limits.max_results),
        }
        return dicomjson.instances(
            self._json(path, params, "instance query"), study_uid, series_uid
        )

    def series_metadata(self, study_uid: str, series_uid: str) -> list[dict[str, Any]]:
        """WADO-RS metadata of a series (DICOM JSON, bulk data by reference), size-bounded."""
        path = (
            f"studies/{_segment(study_uid, 'Study Instance UID')}/series/"
            f"{_segment(series_uid, 'Series Instance UID')}/metadata"
        )
        return self._json(path, {}, "series metadata")

    def frames(
        self, study_uid: str, series_uid: str, sop_instance_uid: str, numbers: Sequence[int]
    ) -> list[bytes]:
        """WADO-RS frames (PS3.18 §10.4.1.1.3): the pixel data of the given frames (1-based),
        as stored (``transfer-syntax=*``: raw or a compressed codestream), e.g. to preview the
        middle slice of a series before retrieving it."""
        if not numbers or any(not 1 <= n <= 1_000_000 for n in numbers):
            raise ValueError("frame numbers are 1-based and at most 1000000")
        path = (
            f"studies/{_segment(study_uid, 'Study Instance UID')}/series/"
            f"{_segment(series_uid, 'Series Instance UID')}/instances/"
            f"{_segment(sop_instance_uid, 'SOP Instance UID')}/frames/"
            + ",".join(str(n) for n in numbers)
        )
        accept = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'

        def attempt() -> list[bytes]:
            with self._stream(
                "GET",
                path,
                what="WADO-RS frames",
                headers={"Accept": accept, "Accept-Encoding": "identity"},
            ) as response:
                boundary = boundary_of(response.headers.get("content-type", ""))
                try:
                    parts = iter_parts(
                        response.iter_bytes(),
                        boundary,
                        max_part_bytes=self.limits.max_instance_bytes,
                    )
                    return [part.content for part in parts][: len(numbers)]
                except httpx.HTTPError as exc:
                    raise map_transport_error(exc, self.node).at(self.name) from None

        return with_retries(attempt, self.retry, on_retry=self.on_retry)

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
        study = f"studies/{_segment(study_uid, 'Study Instance UID')}"
        if series_uid is None:
            if instance_uids is not None:
                raise ValueError("instance_uids need a series_uid")
            targets = [study]
        else:
            series = f"{study}/series/{_segment(series_uid, 'Series Instance UID')}"
            if instance_uids is None:
                targets = [series]
            else:
                targets = [
                    f"{series}/instances/{_segment(uid, 'SOP Instance UID')}"
                    for uid in instance_uids
                ]
        total = len(instance_uids) if instance_uids is not None else 0
        done = 0
        for target in targets:
            if cancel is not None and cancel():
                break
            for data in self._instances(target, cancel):
                sink.put(data)
                done += 1
                if progress is not None:
                    progress(done, max(total, done))
                if cancel is not None and cancel():
                    return done
        return done

    def _instances(self, path: str, cancel: Cancel | None) -> Iterator[bytes]:
        """The instances of one WADO-RS answer, as they arrive."""
        accept = ACCEPT_INSTANCES
        for _ in range(2):
            try:
                with self._stream(
                    "GET",
                    path,
                    what="WADO-RS retrieval",
                    headers={"Accept": accept, "Accept-Encoding": "identity"},
                ) as response:
                    boundary = boundary_of(response.headers.get("content-type", ""))
                    parts = iter_parts(
                        response.iter_bytes(),
                        boundary,
                        max_part_bytes=self.limits.max_instance_bytes,
                    )
                    try:
                        for part in parts:
                            if part.content_type not in ("application/dicom", ""):
                                raise PacsError(
                                    PacsReason.PROTOCOL,
                                    f"WADO-RS part of type {part.content_type[:60]!r}, "
                                    "expected application/dicom",
                                )
                            yield part.content
                            if cancel is not None and cancel():
                                return
                    except httpx.HTTPError as exc:
                        raise map_transport_error(exc, self.node) from None
                return
            except PacsError as error:
                error.at(self.name)
                # A node that cannot send the stored syntax as is: take its default instead.
                if "HTTP 406" in error.message and accept == ACCEPT_INSTANCES:
                    accept = ACCEPT_INSTANCES_DEFAULT
                    continue
                raise

    def store(
        self,
        items: Sequence[Storable],
        *,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> StoreReport:
        started = time.perf_counter()
        report = StoreReport()
        batch: list[bytes] = []
        size = 0
        done = 0

        def flush() -> None:
            nonlocal batch, size
            if batch:
                self._stow(batch, report)
            batch, size = [], 0

        for index, item in enumerate(items):
            if cancel is not None and cancel():
                report.cancelled = True
                break
            label = str(item) if not isinstance(item, bytes) else f"<object {index}>"
            try:
                data = object_bytes(item)
                object_info(data)
            except (DicomFileError, OSError) as exc:
                report.failed.append((label, str(exc)))
                continue
            if batch and (
                len(batch) >= self.limits.store_batch_instances
                or size + len(data) > self.limits.store_batch_bytes
            ):
                flush()
            batch.append(data)
            size += len(data)
            done += 1
            if progress is not None:
                progress(done, len(items))
        if not report.cancelled:
            flush()
        report.seconds = time.perf_counter() - started
        return report

    def _stow(self, batch: list[bytes], report: StoreReport) -> None:
        boundary = new_boundary()
        body = b"".join(encode_related(batch, boundary, "application/dicom"))
        headers = {
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
            "Accept": DICOM_JSON,
        }

        def attempt() -> tuple[int, bytes]:
            request_status = 0
            try:
                with self._stream(
                    "POST", "studies", what="STOW-RS", headers=headers, content=body
                ) as response:
                    request_status = response.status_code
                    return request_status, read_bounded(
                        response, self.limits.max_json_bytes, "STOW-RS"
                    )
            except PacsError as error:
                # 409: every instance failed; the body says why.
                if "HTTP 409" in error.message:
                    return 409, b""
                raise

        status, answer = with_retries(attempt, self.retry, on_retry=self.on_retry)
        failed = _stow_failures(answer)
        if status == 409 and not failed:
            failed = [("<batch>", "the node refused every instance (HTTP 409)")]
        report.failed.extend(failed)
        report.sent += max(0, len(batch) - (len(batch) if status == 409 else len(failed)))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> DicomWebSource:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _stow_failures(answer: bytes) -> list[tuple[str, str]]:
    """(SOP Instance UID, reason) of each FailedSOPSequence (0008,1198) item of a STOW answer."""
    if not answer.strip():
        return []
    try:
        document = json.loads(answer)
    except ValueError:
        return []
    if isinstance(document, list):
        document = document[0] if document and isinstance(document[0], dict) else {}
    if not isinstance(document, dict):
        return []
    failures = []
    for item in dicomjson.values(document, "00081198")[:10_000]:
        if not isinstance(item, dict):
            continue
        uid = dicomjson.uid(item, "00081155") or "<unknown instance>"
        reason = dicomjson.number(item, "00081197")
        failures.append((uid, f"failure reason {reason:#06x}" if reason is not None else "failed"))
    return failures
