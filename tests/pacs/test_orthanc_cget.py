"""C-GET from a real Orthanc through the lean receiver, against pynetdicom's."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import check_consistent
from orthanc_server import HOST, Orthanc
from pacs_data import FAST_RETRY, Study, assert_study_in_library, dimse_source

from workstation.pacs import open_database
from workstation.pacs.dimse import DimseSource
from workstation.pacs.errors import PacsError, PacsReason
from workstation.pacs.filing import LibraryFiler, LibrarySink
from workstation.pacs.nodes import parse_node_spec


class Collect:
    def __init__(self) -> None:
        self.items: list[bytes] = []

    def put(self, data: bytes) -> None:
        self.items.append(data)


def test_lean_receiver_is_used_and_files_what_pynetdicom_files(
    orthanc: Orthanc, catalogue: dict[str, Study], home: Path
) -> None:
    study = catalogue["current"]
    lean, reference = dimse_source(orthanc), dimse_source(orthanc)
    reference.lean_get = False
    by_lean, by_pynetdicom = Collect(), Collect()
    assert lean.retrieve(study.uid, sink=by_lean) == len(study.sop_uids)
    assert reference.retrieve(study.uid, sink=by_pynetdicom) == len(study.sop_uids)
    assert (lean.get_path, reference.get_path) == ("lean", "pynetdicom")
    assert sorted(by_lean.items) == sorted(by_pynetdicom.items)  # byte for byte

    with LibraryFiler() as filer:
        assert lean.retrieve(study.uid, sink=LibrarySink(filer)) == len(study.sop_uids)
    assert lean.get_path == "lean"
    stored = sorted(p.read_bytes() for p in (home / "storage").rglob("*") if p.is_file())
    assert stored == sorted(by_pynetdicom.items)
    with open_database() as db:
        assert_study_in_library(db, study)
        check_consistent(db)


def test_lean_receiver_resumes_by_instance(
    orthanc: Orthanc, catalogue: dict[str, Study], home: Path
) -> None:
    study = catalogue["current"]
    series = study.series[0]
    wanted = list(series.sop_instance_uids)[:2]
    source = dimse_source(orthanc)
    sink = Collect()
    assert (
        source.retrieve(study.uid, series.series_instance_uid, sink=sink, instance_uids=wanted) == 2
    )
    assert source.get_path == "lean"
    assert {uid for uid in wanted if any(uid.encode() in item for item in sink.items)} == set(
        wanted
    )


def test_lean_receiver_wrong_called_ae_title(orthanc: Orthanc, catalogue: dict[str, Study]) -> None:
    node = parse_node_spec(f"dimse:NOT-ORTHANC@{HOST}:{orthanc.dicom_port}")
    source = DimseSource(node, ae_title="WSTEST", retry=FAST_RETRY)
    with pytest.raises(PacsError) as caught:
        source.retrieve(catalogue["current"].uid, sink=Collect())
    assert caught.value.reason == PacsReason.AE_TITLE
    assert "'NOT-ORTHANC'" in caught.value.message
    assert source.get_path is None  # refused while associating: no fallback tried
