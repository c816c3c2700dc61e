"""Sending to a real Orthanc (STOW-RS, C-STORE) and receiving from it (our storage SCP)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pydicom
import pytest
from conftest import MANAGED_NAME, check_consistent, storage_files
from orthanc_server import HOST, OUR_AE, Orthanc
from pacs_data import (
    Study,
    assert_study_in_library,
    dicomweb_source,
    dimse_source,
    library_uids,
    new_uid,
    write_study,
)
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from workstation.pacs import open_database
from workstation.pacs.nodes import PrefetchSettings
from workstation.pacs.scp import StorageSCP
from workstation.pacs.sync import JobState, Prefetcher, SendJob, TransferQueue, send_paths

BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"


def write_sr(path: Path, study: Study) -> str:
    """A small Basic Text SR about ``study`` (a result to send back to the PACS)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = BASIC_TEXT_SR
    ds.SOPInstanceUID = new_uid()
    ds.StudyInstanceUID = study.uid
    ds.SeriesInstanceUID = new_uid()
    ds.PatientName, ds.PatientID = study.patient_name, study.patient_id
    ds.Modality = "SR"
    ds.StudyDate = study.date
    ds.SeriesNumber = 99
    ds.InstanceNumber = 1
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    concept = Dataset()
    concept.CodeValue, concept.CodingSchemeDesignator = "18748-4", "LN"
    concept.CodeMeaning = "Diagnostic Imaging Report"
    ds.ConceptNameCodeSequence = [concept]
    ds.save_as(path, enforce_file_format=True)
    return str(ds.SOPInstanceUID)


@pytest.mark.parametrize("protocol", ("dicomweb", "dimse"))
def test_send_study_and_result(protocol: str, orthanc: Orthanc, tmp_path: Path) -> None:
    study = write_study(
        tmp_path, Study(f"sent-{protocol}", "PAT900", "Send^Test", "20240301", "CT", "ACC-9"), [3]
    )
    sr_uid = write_sr(tmp_path / "report.dcm", study)
    source = dicomweb_source(orthanc) if protocol == "dicomweb" else dimse_source(orthanc)
    try:
        report = send_paths(source, [tmp_path / study.key, tmp_path / "report.dcm"])
        assert (report.sent, report.failed) == (4, [])
        series = source.find_series(study.uid)
        listed = {
            i.sop_instance_uid
            for s in series
            for i in source.find_instances(study.uid, s.series_instance_uid)
        }
    finally:
        source.close()
    assert listed == study.sop_uids | {sr_uid}


def test_send_reports_bad_files_and_cli(orthanc: Orthanc, tmp_path: Path) -> None:
    study = write_study(
        tmp_path / "in", Study("cli-send", "PAT901", "Cli^Send", "20240302", "MR", "ACC-10"), [2]
    )
    (tmp_path / "in" / "notes.txt").write_text("not DICOM")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "workstation",
            "--home",
            str(tmp_path / "home"),
            "pacs",
            "send",
            orthanc.dicomweb_spec,
            str(tmp_path / "in"),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr  # sent, but one file failed
    document = json.loads(result.stdout)
    assert document["sent"] == 2
    assert [f["object"] for f in document["failed"]] == [str(tmp_path / "in" / "notes.txt")]
    source = dicomweb_source(orthanc)
    try:
        (found,) = source.find_series(study.uid)
    finally:
        source.close()
    assert found.n_instances == 2


@pytest.mark.dcmtk
def test_storage_scp_files_pushed_instances(
    orthanc: Orthanc, tmp_path: Path, home: Path, scp_port: int
) -> None:
    study = write_study(
        tmp_path, Study("pushed", "PAT902", "Push^Test", "20240303", "CT", "ACC-11"), [5]
    )
    arrived: list[dict[str, str]] = []
    with StorageSCP(OUR_AE, scp_port, host=HOST, on_series=arrived.append) as scp:
        echo = subprocess.run(
            ["/usr/bin/echoscu", "-aec", OUR_AE, HOST, str(scp.port)],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        assert echo.returncode == 0, echo.stderr
        wrong = subprocess.run(
            ["/usr/bin/echoscu", "-aec", "NOT-US", HOST, str(scp.port)],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        assert wrong.returncode != 0  # our SCP checks the called AE title
        push = subprocess.run(
            [
                "/usr/bin/storescu",
                "-aec",
                OUR_AE,
                "+sd",
                "+r",
                HOST,
                str(scp.port),
                str(tmp_path / "pushed"),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert push.returncode == 0, push.stderr
        assert scp.received == 5
    with open_database() as db:
        assert_study_in_library(db, study)
        check_consistent(db)
    assert {study.uid} == {uid for batch in arrived for uid in batch.values()}
    assert all(MANAGED_NAME.fullmatch(name) for name in storage_files(home))


def test_prefetch_priors_when_a_study_arrives(
    orthanc: Orthanc, catalogue: dict[str, Study], home: Path, scp_port: int
) -> None:
    """A study pushed to our SCP by the PACS arrives; its two latest CT priors follow."""
    queue = TransferQueue(workers=2)
    settings = PrefetchSettings(enabled=True, priors=2, same_modality=True)
    prefetcher = Prefetcher(queue, lambda: dicomweb_source(orthanc), settings, node="orthanc")
    all_done = threading.Event()
    retrievals: list[object] = []

    def watch(job: object) -> None:
        if getattr(job, "kind", "") == "retrieve":
            retrievals.append(job)
            job.finished.connect(
                lambda _: (
                    all_done.set()
                    if all(  # type: ignore[attr-defined]
                        j.state == JobState.FINISHED for j in retrievals
                    )
                    and len(retrievals) == 2
                    else None
                )
            )

    queue.job_added.connect(watch)
    current = catalogue["current"]
    try:
        with StorageSCP(OUR_AE, scp_port, host=HOST, on_series=prefetcher.series_arrived):
            orthanc.push_study(current.uid, "workstation")  # as a routing rule of the PACS would
            assert all_done.wait(60), [repr(j) for j in queue.jobs()]
    finally:
        queue.close()
    with open_database() as db:
        uids = library_uids(db)
        for key in ("current", "prior1", "prior2"):
            assert catalogue[key].sop_uids <= uids, key
        assert not catalogue["prior3"].sop_uids & uids  # only two priors
        assert not catalogue["mr"].sop_uids & uids  # same modality only
        assert not catalogue["other"].sop_uids & uids  # same patient only
        check_consistent(db)
    kinds = [job.kind for job in queue.jobs()]
    assert kinds.count("prefetch") == 1  # the priors' arrival triggered no prefetch of their own


def test_send_job(orthanc: Orthanc, tmp_path: Path) -> None:
    study = write_study(
        tmp_path, Study("job-send", "PAT903", "Job^Send", "20240304", "CT", "ACC-12"), [2]
    )
    job = SendJob(lambda: dimse_source(orthanc), [tmp_path / study.key], node="orthanc")
    progress: list[tuple[int, int]] = []
    job.progressed.connect(lambda j: progress.append((j.done, j.total)))
    job.run()
    assert job.state == JobState.FINISHED, job.error
    assert job.result is not None and job.result.sent == 2
    assert progress[-1] == (2, 2)
    ds = pydicom.dcmread(study.files[0])
    assert orthanc.instance_count() >= 2 and ds.StudyInstanceUID == study.uid
