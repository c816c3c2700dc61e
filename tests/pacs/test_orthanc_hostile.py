"""Hostile answers: UIDs holding ``../``, slashes or absurd lengths never become paths or steer
requests; oversize, bomb and truncated answers are refused with a named error."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pydicom
import pytest
from conftest import MANAGED_NAME, check_consistent, storage_files
from orthanc_server import HOST, OUR_AE, Orthanc
from pacs_data import (
    FAST_RETRY,
    PROTOCOLS,
    Study,
    library_uids,
    set_attributes,
    source_for,
    write_study,
)

from workstation.pacs import open_database
from workstation.pacs.dicomweb import DicomWebSource
from workstation.pacs.dimse import DimseSource
from workstation.pacs.errors import PacsError, PacsReason
from workstation.pacs.filing import LibraryFiler, LibrarySink
from workstation.pacs.nodes import parse_node_spec
from workstation.pacs.source import StudyQuery, TransferLimits
from workstation.pacs.sync import retrieve_study

#: pydicom warns of every invalid UI value it writes or reads: here they are on purpose.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Invalid value for VR UI:UserWarning"),
    pytest.mark.filterwarnings("ignore:The value length:UserWarning"),
]

EVIL_SERIES = "1.2.3/../../../../../tmp/evil-series"
EVIL = ("../../etc/passwd", "1.2.3/../../x", "1.2.3/4", "9" * 65, "1.2.3\\4.5", "", "1..2")


@pytest.fixture(scope="module")
def hostile_study(orthanc: Orthanc, tmp_path_factory: pytest.TempPathFactory) -> Study:
    """A study on Orthanc with a normal series and a series whose UID holds ``../``
    (Orthanc accepts it; it refuses over-long UIDs)."""
    study = write_study(
        tmp_path_factory.mktemp("hostile"),
        Study("hostile", "PAT666", "Hostile^Uid", "20240105", "CT", "ACC-666"),
        [3, 2],
    )
    set_attributes(study.series[1].paths, SeriesInstanceUID=EVIL_SERIES)
    orthanc.upload(study.files)
    return study


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_hostile_series_uid_from_orthanc(
    protocol: str, orthanc: Orthanc, hostile_study: Study, home: Path
) -> None:
    good = hostile_study.series[0]
    source = source_for(protocol, orthanc)
    try:
        listed = source.find_series(hostile_study.uid)
        assert [s.series_instance_uid for s in listed] == [good.series_instance_uid]
        report = retrieve_study(source, hostile_study.uid)
        assert report.complete and report.fetched == 3
        # The study asked for whole: the hostile instances arrive too, and are filed by hash.
        with LibraryFiler() as filer:
            source.retrieve(hostile_study.uid, sink=LibrarySink(filer))
    finally:
        source.close()
    with open_database() as db:
        assert library_uids(db) == hostile_study.sop_uids
        series = {row[0] for row in db.connection.execute("SELECT series_uid FROM series")}
        assert series == {good.series_instance_uid, EVIL_SERIES}
        check_consistent(db)
    assert all(MANAGED_NAME.fullmatch(name) for name in storage_files(home))
    assert not any("evil" in str(p) for p in home.parent.rglob("*"))
    assert not Path("/tmp/evil-series").exists()


# --- crafted DICOMweb answers ------------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


def crafted(handler: Handler, **limits: int) -> tuple[DicomWebSource, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        response = handler(request)
        if isinstance(response.stream, httpx.ByteStream):  # as a network would: streamed
            body = b"".join(response.stream)  # the raw (still encoded) body
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
            return httpx.Response(
                response.status_code, headers=headers, content=iter([body[:100], body[100:]])
            )
        return response

    source = DicomWebSource(
        parse_node_spec("dicomweb:http://pacs.invalid/dicom-web"),
        retry=FAST_RETRY,
        transport=httpx.MockTransport(record),
        limits=TransferLimits(**limits),
    )
    return source, seen


def uid_value(uid: str) -> dict[str, object]:
    return {"vr": "UI", "Value": [uid]}


def test_crafted_qido_answers_drop_hostile_uids() -> None:
    good = "1.2.840.99.1"
    studies = [
        {
            "0020000D": uid_value(good),
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "A\x00B\x1b[31m"}]},
        }
    ]
    studies += [{"0020000D": uid_value(bad)} for bad in EVIL]
    studies += [
        {"0020000D": {"vr": "UI", "Value": [good, good]}},
        {"0020000D": {"vr": "UI", "Value": [{"x": 1}]}},
        {},
    ]

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/studies"):
            return httpx.Response(200, json=studies)
        if path.endswith("/series"):
            return httpx.Response(
                200,
                json=[{"0020000E": uid_value(u)} for u in (good + ".1", *EVIL)]
                + [{"0020000E": uid_value(good + ".2"), "0020000D": uid_value("1.2.3.999")}],
            )
        return httpx.Response(
            200, json=[{"00080018": uid_value(u)} for u in (good + ".1.1", *EVIL)]
        )

    source, seen = crafted(answer)
    (study,) = source.find_studies(StudyQuery())
    assert study.study_instance_uid == good
    assert study.patient_name == "A B [31m"  # control characters gone
    assert [s.series_instance_uid for s in source.find_series(good)] == [good + ".1"]
    assert [i.sop_instance_uid for i in source.find_instances(good, good + ".1")] == [good + ".1.1"]

    # A hostile UID never reaches a request path.
    sink = LibrarySinkStub()
    before = len(seen)
    for bad in EVIL:
        with pytest.raises(PacsError) as caught:
            source.retrieve(good, bad, sink=sink)
        assert caught.value.reason == PacsReason.PROTOCOL
        with pytest.raises(PacsError):
            source.retrieve(good, good + ".1", instance_uids=[bad], sink=sink)
        with pytest.raises(PacsError):
            source.find_series(bad)
    assert len(seen) == before and sink.count == 0


class LibrarySinkStub:
    def __init__(self) -> None:
        self.count = 0
        self.items: list[bytes] = []

    def put(self, data: bytes) -> None:
        self.count += 1
        self.items.append(data)


def test_oversize_and_bomb_answers_are_refused() -> None:
    huge = json.dumps([{"0020000D": uid_value("1.2.3")}] * 50_000).encode()
    bomb = gzip.compress(b"[" + b" " * (50 << 20) + b"]")
    assert len(bomb) < 100_000

    def answer(request: httpx.Request) -> httpx.Response:
        if "bomb" in request.url.params.get("PatientID", ""):
            return httpx.Response(
                200,
                content=bomb,
                headers={"Content-Encoding": "gzip", "Content-Type": "application/dicom+json"},
            )
        return httpx.Response(200, content=huge, headers={"Content-Type": "application/dicom+json"})

    source, _ = crafted(answer, max_json_bytes=1 << 20)
    for patient in ("plain", "bomb"):
        with pytest.raises(PacsError) as caught:
            source.find_studies(StudyQuery(patient_id=patient))
        assert caught.value.reason == PacsReason.PROTOCOL and "larger than" in caught.value.message


def multipart(
    parts: list[bytes], boundary: str = "b0undary", close: bool = True, headers: str = ""
) -> bytes:
    body = b"".join(
        f"--{boundary}\r\nContent-Type: application/dicom\r\n{headers}\r\n".encode()
        + part
        + b"\r\n"
        for part in parts
    )
    return body + (f"--{boundary}--\r\n".encode() if close else b"")


def wado(body: bytes, boundary: str = "b0undary") -> Handler:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            content=iter([body[i : i + 1000] for i in range(0, len(body), 1000)]),
            headers={
                "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'
            },
        )

    return answer


def test_multipart_bounds_and_truncation(tmp_path: Path) -> None:
    instance = pydicom_bytes(tmp_path)
    sink = LibrarySinkStub()
    source, _ = crafted(wado(multipart([instance, instance, instance[:500]], close=False)))
    with pytest.raises(PacsError) as caught:
        source.retrieve("1.2.3", "1.2.3.4", sink=sink)
    assert caught.value.reason == PacsReason.INTERRUPTED
    assert sink.items == [instance, instance]  # the whole parts, never the cut one

    source, _ = crafted(wado(multipart([instance * 4])), max_instance_bytes=len(instance) * 2)
    with pytest.raises(PacsError) as caught:
        source.retrieve("1.2.3", "1.2.3.4", sink=LibrarySinkStub())
    assert caught.value.reason == PacsReason.PROTOCOL

    source, _ = crafted(wado(multipart([instance], headers=f"Content-Length: {1 << 40}\r\n")))
    with pytest.raises(PacsError) as caught:
        source.retrieve("1.2.3", "1.2.3.4", sink=LibrarySinkStub())
    assert caught.value.reason == PacsReason.PROTOCOL and "declares" in caught.value.message

    source, _ = crafted(
        lambda request: httpx.Response(
            200, content=b"{}", headers={"Content-Type": "application/dicom+json"}
        )
    )
    with pytest.raises(PacsError) as caught:
        source.retrieve("1.2.3", "1.2.3.4", sink=LibrarySinkStub())
    assert caught.value.reason == PacsReason.PROTOCOL and "multipart" in caught.value.message


def pydicom_bytes(folder: Path, **attributes: object) -> bytes:
    study = write_study(folder, Study("one", "PATX", "X^Y", "20240101", "CT", "A"), [1])
    if attributes:
        set_attributes(study.files, **attributes)
    return study.files[0].read_bytes()


def test_hostile_instance_in_a_wado_answer_is_filed_by_hash(tmp_path: Path, home: Path) -> None:
    evil = pydicom_bytes(
        tmp_path,
        StudyInstanceUID="../../../../study",
        SeriesInstanceUID="/etc/x",
        SOPInstanceUID="..\\..\\windows",
    )
    source, _ = crafted(wado(multipart([evil, b"not DICOM at all"])))
    with LibraryFiler() as filer:
        assert source.retrieve("1.2.3", "1.2.3.4", sink=LibrarySink(filer)) == 2
        stats = filer.drain()
    assert (stats.added, len(stats.errors)) == (1, 1)  # the garbage part is reported, not fatal
    with open_database() as db:
        assert library_uids(db) == {"..\\..\\windows"}
        check_consistent(db)
    assert all(MANAGED_NAME.fullmatch(name) for name in storage_files(home))


# --- a hostile DIMSE node ----------------------------------------------------------------------


@pytest.fixture
def hostile_scp(tmp_path: Path) -> Iterator[int]:
    """A C-FIND / C-GET SCP answering with hostile identifiers and a hostile instance."""
    from pydicom.dataset import Dataset
    from pynetdicom import AE, StoragePresentationContexts, evt
    from pynetdicom.sop_class import (
        StudyRootQueryRetrieveInformationModelFind,
        StudyRootQueryRetrieveInformationModelGet,
    )

    evil = pydicom.dcmread(tmp_path / "evil.dcm") if (tmp_path / "evil.dcm").exists() else None
    data = pydicom_bytes(
        tmp_path, SOPInstanceUID="1.2.3/../../../../x", SeriesInstanceUID="1.2.3.4"
    )
    (tmp_path / "evil.dcm").write_bytes(data)
    evil = pydicom.dcmread(tmp_path / "evil.dcm")

    def on_find(event: object) -> Iterator[tuple[int, Dataset | None]]:
        for uid in (*EVIL, "1.2.840.5"):
            ds = Dataset()
            ds.QueryRetrieveLevel = "STUDY"
            ds.StudyInstanceUID = uid
            ds.PatientName = "Evil^Node"
            ds.NumberOfStudyRelatedInstances = "99999999999"
            yield 0xFF00, ds
        yield 0x0000, None

    def on_get(event: object) -> Iterator[object]:
        yield 1
        yield 0xFF00, evil
        yield 0x0000, None

    ae = AE(ae_title="EVIL")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelGet)
    for context in StoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, scu_role=False, scp_role=True)
    server = ae.start_server(
        (HOST, 0), block=False, evt_handlers=[(evt.EVT_C_FIND, on_find), (evt.EVT_C_GET, on_get)]
    )
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()


def test_hostile_dimse_answers(hostile_scp: int, home: Path) -> None:
    source = DimseSource(
        parse_node_spec(f"dimse:EVIL@{HOST}:{hostile_scp}"), ae_title=OUR_AE, retry=FAST_RETRY
    )
    studies = source.find_studies(StudyQuery(patient_name="*"))
    assert [s.study_instance_uid for s in studies] == ["1.2.840.5"]
    assert studies[0].n_instances is None  # an absurd count is not believed
    with LibraryFiler() as filer:
        assert source.retrieve("1.2.840.5", sink=LibrarySink(filer)) == 1
    assert source.get_path == "lean"  # the lean C-GET receiver against pynetdicom's SCP
    with open_database() as db:
        assert library_uids(db) == {"1.2.3/../../../../x"}
        check_consistent(db)
    assert all(MANAGED_NAME.fullmatch(name) for name in storage_files(home))
