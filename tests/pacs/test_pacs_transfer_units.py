"""The pieces under the PACS layer without a server: multipart, queries, retries, filing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from conftest import check_consistent
from hypothesis import given
from hypothesis import strategies as st

from workstation.pacs import StudyDatabase
from workstation.pacs.errors import PacsError, PacsReason
from workstation.pacs.filing import LibraryFiler
from workstation.pacs.local import LocalSource
from workstation.pacs.multipart import encode_related, iter_parts
from workstation.pacs.retry import RetryPolicy, with_retries
from workstation.pacs.source import StudyQuery, match_wildcard, valid_uid
from workstation.testing.factories import SeriesSpec, write_series

PARTS = [b"first", b"", b"--b0undary-not-a-delimiter\r\n", bytes(range(256)) * 40]


def chunked(data: bytes, sizes: list[int]) -> list[bytes]:
    chunks, position = [], 0
    for size in sizes:
        chunks.append(data[position : position + size])
        position += size
    chunks.append(data[position:])
    return chunks


@given(st.lists(st.integers(min_value=1, max_value=64), max_size=300))
def test_multipart_round_trip_whatever_the_chunking(sizes: list[int]) -> None:
    body = b"preamble\r\n" + b"".join(encode_related(PARTS, "b0undary", "application/dicom"))
    parts = list(iter_parts(chunked(body, sizes), b"b0undary", max_part_bytes=1 << 20))
    assert [p.content for p in parts] == PARTS
    assert {p.content_type for p in parts} == {"application/dicom"}


def test_multipart_padding_and_epilogue() -> None:
    body = (
        b"--b  \r\nContent-Type: application/dicom\r\n\r\nA\r\n--b\t\r\n\r\nB\r\n--b--\r\nepilogue"
    )
    assert [p.content for p in iter_parts([body], b"b", max_part_bytes=10)] == [b"A", b"B"]
    with pytest.raises(PacsError) as caught:
        list(iter_parts([b"no delimiter at all" * 2000], b"b", max_part_bytes=10))
    assert caught.value.reason == PacsReason.PROTOCOL


def test_query_validation() -> None:
    assert (
        StudyQuery(study_date_from="2024-01-01", study_date_to="20241231").date_range
        == "20240101-20241231"
    )
    assert StudyQuery(study_date_from="20240101").date_range == "20240101-"
    assert StudyQuery(study_date_to="20240101").date_range == "-20240101"
    assert StudyQuery(modality="ct").modality == "CT"
    for bad in (
        {"patient_name": "a\\b"},
        {"patient_id": "x\x00"},
        {"patient_name": "x" * 65},
        {"study_date_from": "20241301"},
        {"study_date_from": "20240201", "study_date_to": "20240101"},
        {"study_instance_uid": "1.2/../3"},
        {"modality": "C*T"},
        {"limit": 0},
    ):
        with pytest.raises(ValueError):
            StudyQuery(**bad)  # type: ignore[arg-type]
    assert valid_uid("1.2.840.10008.1.2") and not valid_uid("1.2.") and not valid_uid("1" * 65)
    assert match_wildcard("doe*", "Doe^Jane", fold=True)
    assert match_wildcard("D?e^J*", "Doe^Jane", fold=True)
    assert not match_wildcard("doe", "Doe^Jane", fold=True)
    assert match_wildcard("", "anything", fold=False)


def test_retries_are_bounded_and_reported() -> None:
    calls: list[float] = []
    retries: list[tuple[int, float]] = []

    def flaky() -> str:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise PacsError(PacsReason.TIMEOUT, "slow")
        return "ok"

    policy = RetryPolicy(attempts=3, initial_delay=0.01, factor=2)
    assert with_retries(flaky, policy, on_retry=lambda a, d, e: retries.append((a, d))) == "ok"
    assert retries == [(2, 0.01), (3, 0.02)]

    def refused() -> None:
        raise PacsError(PacsReason.AE_TITLE, "no")

    with pytest.raises(PacsError) as caught:
        with_retries(refused, policy)
    assert caught.value.attempts == 1  # not transient: not retried
    cancelled = threading.Event()
    cancelled.set()
    calls.clear()
    with pytest.raises(PacsError):
        with_retries(
            lambda: flaky() and "",
            RetryPolicy(attempts=5, initial_delay=10),
            cancel=cancelled.is_set,
        )
    assert len(calls) == 1  # cancelling ends the wait at once


def test_filer_reports_each_instance_and_bounds_memory(tmp_path: Path, db: StudyDatabase) -> None:
    written = write_series(tmp_path / "ct", SeriesSpec(n_slices=6))
    datas = [path.read_bytes() for path in written.paths]
    filed: list[int] = []
    with LibraryFiler(
        on_filed=lambda n, _: filed.append(n), max_queued_bytes=len(datas[0]) * 2
    ) as filer:
        assert filer.put(datas[0], wait=True) is None
        assert filer.put(b"garbage", wait=True) == "not_dicom: not a DICOM file"
        assert filer.put(datas[0], wait=True) is None  # already present: fine, not written twice
        producers = [threading.Thread(target=filer.put, args=(data,)) for data in datas[1:]]
        for thread in producers:
            thread.start()
        for thread in producers:
            thread.join()
        stats = filer.drain()
    assert (stats.added, stats.already_present, len(stats.errors)) == (6, 1, 1)
    assert sum(filed) == 7
    check_consistent(db)
    source = LocalSource(db)
    (study,) = source.find_studies(StudyQuery(patient_name="synthetic*"))
    assert study.n_instances == 6
    (series,) = source.find_series(study.study_instance_uid)
    assert len(source.find_instances(study.study_instance_uid, series.series_instance_uid)) == 6
    thumbnail = db.connection.execute("SELECT thumbnail FROM series").fetchone()[0]
    assert thumbnail is not None  # made once, when drained


def test_threads_opening_a_fresh_database_at_once(tmp_path: Path) -> None:
    """Parallel retrievals into a new home open the database together: none may fail."""
    errors: list[BaseException] = []
    for attempt in range(20):
        path = tmp_path / f"db{attempt}" / "studies.sqlite"
        barrier = threading.Barrier(4)

        def open_it(path: Path = path, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                StudyDatabase.open(path).close()
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []


def test_inline_filer_stays_on_its_thread(tmp_path: Path, db: StudyDatabase) -> None:
    written = write_series(tmp_path / "ct", SeriesSpec(n_slices=5))
    filer = LibraryFiler(threaded=False, batch_instances=2)
    try:
        for path in written.paths:
            filer.put(path.read_bytes())
        assert filer.stats.added == 4  # two full batches filed on the way
        failures: list[BaseException] = []

        def elsewhere() -> None:
            try:
                filer.put(written.paths[0].read_bytes())
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                failures.append(exc)

        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
        assert len(failures) == 1 and "another thread" in str(failures[0])
        assert filer.drain().added == 5
    finally:
        filer.close()
    check_consistent(db)


def test_received_instance_is_prefix_and_dataset_as_sent() -> None:
    import io
    from types import SimpleNamespace

    from workstation.pacs.dimse import part10_prefix, received_instance

    dataset = b"\x08\x00\x16\x00" + bytes(range(256)) * 64
    request = SimpleNamespace(
        AffectedSOPClassUID="1.2.840.10008.5.1.4.1.1.2",
        AffectedSOPInstanceUID="1.2.3.4",
        DataSet=io.BytesIO(dataset),
    )
    event = SimpleNamespace(
        request=request,
        context=SimpleNamespace(transfer_syntax="1.2.840.10008.1.2.1"),
        encoded_dataset=lambda include_meta: dataset,
    )
    prefix = part10_prefix("1.2.840.10008.5.1.4.1.1.2", "1.2.3.4", "1.2.840.10008.1.2.1")
    assert received_instance(event) == prefix + dataset
    request.DataSet.write(b"more")  # the stream is not held exported: still writable
    request.DataSet = None  # not a stream in memory: the event's own accessor
    assert received_instance(event) == prefix + dataset


def test_pynetdicom_log_handlers_unbound_only_while_its_logger_is_quiet() -> None:
    import logging

    from pynetdicom import AE, evt
    from pynetdicom.association import Association

    from workstation.pacs.dimse import _unbind_silent_loggers

    events = (evt.EVT_DIMSE_RECV, evt.EVT_DIMSE_SENT, evt.EVT_PDU_RECV, evt.EVT_PDU_SENT)
    logger = logging.getLogger("pynetdicom")
    level = logger.level
    try:
        logger.setLevel(logging.INFO)
        assoc = Association(AE(), "requestor")
        _unbind_silent_loggers(assoc)
        assert all(assoc.get_handlers(e) for e in events)
        logger.setLevel(logging.WARNING)
        _unbind_silent_loggers(assoc)
        assert not any(assoc.get_handlers(e) for e in events)
    finally:
        logger.setLevel(level)


def test_http_reads_only_ever_raised() -> None:
    from httpcore._sync.http11 import HTTP11Connection

    from workstation.pacs import dicomweb

    before = HTTP11Connection.READ_NUM_BYTES
    try:
        HTTP11Connection.READ_NUM_BYTES = 64 * 1024
        dicomweb._larger_http_reads()
        assert HTTP11Connection.READ_NUM_BYTES == dicomweb.HTTP_READ_BYTES
        HTTP11Connection.READ_NUM_BYTES = 8 << 20
        dicomweb._larger_http_reads()
        assert HTTP11Connection.READ_NUM_BYTES == 8 << 20
    finally:
        HTTP11Connection.READ_NUM_BYTES = before
