"""Retrieval into the library from a real Orthanc: WADO-RS, C-GET, C-MOVE; resume; jobs; CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import MANAGED_NAME, check_consistent, storage_files
from orthanc_server import HOST, OUR_AE, Orthanc
from pacs_data import (
    Study,
    assert_series_in_library,
    assert_study_in_library,
    dicomweb_source,
    dimse_source,
    library_uids,
)

from workstation.pacs import open_database
from workstation.pacs.filing import LibraryFiler, LibrarySink
from workstation.pacs.scp import StorageSCP
from workstation.pacs.source import DataSource
from workstation.pacs.sync import JobState, RetrieveJob, TransferQueue, retrieve_study

METHODS = ("wado-rs", "c-get", "c-move")


@contextmanager
def opened(method: str, orthanc: Orthanc, scp_port: int) -> Iterator[DataSource]:
    """A source retrieving by ``method`` (C-MOVE: with our storage SCP running)."""
    if method == "wado-rs":
        source: DataSource = dicomweb_source(orthanc)
        yield source
        source.close()
    elif method == "c-get":
        yield dimse_source(orthanc)
    else:
        with StorageSCP(OUR_AE, scp_port, host=HOST) as scp:
            yield dimse_source(orthanc, move=True, scp=scp)


@pytest.mark.parametrize("method", METHODS)
def test_retrieve_study_then_nothing_again(
    method: str, orthanc: Orthanc, catalogue: dict[str, Study], home: Path, scp_port: int
) -> None:
    study = catalogue["current"]
    with opened(method, orthanc, scp_port) as source:
        report = retrieve_study(source, study.uid)
        assert report.complete
        assert (report.fetched, report.added, report.already_local, report.missing) == (
            10,
            10,
            0,
            0,
        )
        assert {s.series_instance_uid for s in report.series} == {
            w.series_instance_uid for w in study.series
        }
        again = retrieve_study(source, study.uid)
    assert (again.fetched, again.added, again.already_local) == (0, 0, 10)
    with open_database() as db:
        assert_study_in_library(db, study)
        assert library_uids(db) == study.sop_uids
        check_consistent(db)


@pytest.mark.parametrize("method", METHODS)
def test_resume_fetches_only_what_is_missing(
    method: str, orthanc: Orthanc, catalogue: dict[str, Study], home: Path, scp_port: int
) -> None:
    study = catalogue["current"]
    first, second = study.series
    with opened(method, orthanc, scp_port) as source:
        # Two instances of the first series are in the library already (an earlier, cut-off run).
        with LibraryFiler() as filer:
            sink = LibrarySink(filer)
            got = source.retrieve(
                study.uid,
                first.series_instance_uid,
                sink=sink,
                instance_uids=first.sop_instance_uids[:2],
            )
        assert got == 2
        report = retrieve_study(source, study.uid)
    assert report.complete
    assert (report.fetched, report.added, report.already_local) == (8, 8, 2)
    by_series = {s.series_instance_uid: s for s in report.series}
    assert (
        by_series[first.series_instance_uid].fetched,
        by_series[first.series_instance_uid].whole,
    ) == (4, False)
    assert (
        by_series[second.series_instance_uid].fetched,
        by_series[second.series_instance_uid].whole,
    ) == (10 - 6, True)
    with open_database() as db:
        assert_study_in_library(db, study)
        check_consistent(db)


def test_retrieve_one_series(orthanc: Orthanc, catalogue: dict[str, Study], home: Path) -> None:
    study = catalogue["current"]
    series = study.series[1]
    source = dicomweb_source(orthanc)
    try:
        report = retrieve_study(source, study.uid, series.series_instance_uid)
    finally:
        source.close()
    assert report.complete and report.fetched == 4
    with open_database() as db:
        assert_series_in_library(db, series)
        assert library_uids(db) == set(series.sop_instance_uids)


@pytest.mark.parametrize("method", ("wado-rs", "c-get"))
def test_job_cancel_then_resume(
    method: str, orthanc: Orthanc, catalogue: dict[str, Study], home: Path, scp_port: int
) -> None:
    study = catalogue["current"]
    events: list[str] = []
    with opened(method, orthanc, scp_port) as source:
        job = RetrieveJob(source, study.uid, node="orthanc")
        job.state_changed.connect(lambda j: events.append(j.state.value))
        job.progressed.connect(lambda j: j.cancel() if j.done >= 3 else None)
        job.start()
        assert job.wait(60)
        assert job.state == JobState.CANCELLED
        assert job.result is not None and job.result.cancelled
        assert 3 <= job.result.fetched < 10
        kept = job.result.added
        assert events == ["running", "cancelled"]
        with open_database() as db:
            assert len(library_uids(db)) == kept
            check_consistent(db)

        resumed = retrieve_study(source, study.uid)
    assert resumed.complete
    assert (resumed.already_local, resumed.fetched) == (kept, 10 - kept)
    with open_database() as db:
        assert_study_in_library(db, study)
        check_consistent(db)


def test_queue_runs_jobs_with_callbacks(
    orthanc: Orthanc, catalogue: dict[str, Study], home: Path
) -> None:
    queue = TransferQueue(workers=2)
    finished: list[int] = []
    done = threading.Event()

    def on_finished(job: object) -> None:
        finished.append(job.id)  # type: ignore[attr-defined]
        if len(finished) == 2:
            done.set()

    try:
        jobs = []
        for key in ("prior1", "other"):
            job = RetrieveJob(lambda: dicomweb_source(orthanc), catalogue[key].uid, node="orthanc")
            job.finished.connect(on_finished)
            job.failed.connect(on_finished)
            jobs.append(queue.submit(job))
        duplicate = RetrieveJob(
            lambda: dicomweb_source(orthanc), catalogue["prior1"].uid, node="orthanc"
        )
        assert queue.submit(duplicate) in jobs  # the same study is not queued twice
        assert done.wait(60)
    finally:
        queue.close()
    assert sorted(finished) == sorted(job.id for job in jobs)
    assert [job.error for job in jobs] == [None, None]
    assert all(job.state == JobState.FINISHED and job.done == job.total for job in jobs)
    with open_database() as db:
        assert_study_in_library(db, catalogue["prior1"])
        assert_study_in_library(db, catalogue["other"])


def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workstation", "--home", str(home), "pacs", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_cli_retrieve_resumable_and_move_node_from_settings(
    orthanc: Orthanc, catalogue: dict[str, Study], tmp_path: Path, scp_port: int
) -> None:
    home = tmp_path / "home"
    study = catalogue["current"]
    result = cli(
        "retrieve",
        orthanc.dicomweb_spec,
        study.uid,
        "--series",
        study.series[0].series_instance_uid,
        "--json",
        home=home,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert list(report)[:4] == ["node", "study_instance_uid", "complete", "fetched"]
    assert (report["complete"], report["fetched"], report["already_local"]) == (True, 6, 0)

    # The rest by C-MOVE, through a node and our identity configured in the user settings.
    home.mkdir(exist_ok=True)
    (home / "settings.json").write_text(
        json.dumps(
            {
                "viewer": {"kept": True},
                "pacs": {
                    "ae_title": OUR_AE,
                    "port": scp_port,
                    "bind": HOST,
                    "nodes": [
                        {
                            "name": "orthanc-move",
                            "kind": "dimse",
                            "ae_title": orthanc.aet,
                            "host": HOST,
                            "port": orthanc.dicom_port,
                            "retrieve": "move",
                        }
                    ],
                },
            }
        )
    )
    result = cli("retrieve", "orthanc-move", study.uid, home=home)
    assert result.returncode == 0, result.stderr
    assert "4 instance(s) transferred (4 new), 6 already in the library" in result.stdout
    listing = subprocess.run(
        [sys.executable, "-m", "workstation", "--home", str(home), "studies", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    (entry,) = json.loads(listing.stdout)["studies"]
    assert entry["study_instance_uid"] == study.uid
    assert sum(s["n_instances"] for s in entry["series"]) == 10
    assert all(MANAGED_NAME.fullmatch(name) for name in storage_files(home))

    bad = cli("retrieve", orthanc.dicomweb_spec, "1.2.3/../../etc", home=home)
    assert bad.returncode == 2 and "not a DICOM UID" in bad.stderr
