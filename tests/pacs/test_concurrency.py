"""The GUI's use: an import in a worker thread, the browser reading, the user cancelling."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from workstation.io.sources import MemorySource, Reader
from workstation.pacs import (
    ImportReport,
    find_studies,
    import_paths,
    import_sources,
    instance_count,
    make_missing_thumbnails,
    open_database,
    study_count,
)
from workstation.testing.factories import SeriesSpec, write_series

from .conftest import check_consistent, storage_files


class GatedSource(MemorySource):
    """Bytes in memory whose second read (the copy, inside the write transaction) waits."""

    def __init__(self, data: bytes, display: str, gate: threading.Event, entered: threading.Event):
        super().__init__(data, display)
        self.reads = 0
        self.gate = gate
        self.entered = entered

    def reader(self) -> Reader:
        self.reads += 1
        if self.reads == 2:
            self.entered.set()
            assert self.gate.wait(20), "the test never opened the gate"
        return super().reader()


def test_browser_reads_while_an_import_holds_the_write_lock(home: Path, tmp_path: Path) -> None:
    first = write_series(tmp_path / "a", SeriesSpec(n_slices=4, patient_id="A"))
    second = write_series(tmp_path / "b", SeriesSpec(n_slices=4, patient_id="B"))
    in_transaction, release = threading.Event(), threading.Event()
    sources = [MemorySource(p.read_bytes(), str(p)) for p in first.paths]
    sources.append(GatedSource(second.paths[0].read_bytes(), "gated", release, in_transaction))
    sources += [MemorySource(p.read_bytes(), str(p)) for p in second.paths[1:]]
    reports: list[ImportReport] = []
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            with open_database() as db:  # the worker's own connection
                reports.append(import_sources(db, sources, batch_size=4))
        except Exception as exc:  # noqa: BLE001 - any failure is asserted on below
            failures.append(exc)
            in_transaction.set()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert in_transaction.wait(20)
        started = time.monotonic()
        with open_database() as reader:  # the browser's connection
            # The first batch is committed; the second is being written and is not visible.
            assert study_count(reader) == 1
            (study,) = find_studies(reader)
            assert study.patient_id == "A" and study.n_instances == 4
        assert time.monotonic() - started < 5  # WAL: the reader did not wait for the writer
    finally:
        release.set()
        thread.join(30)
    assert not failures, failures
    assert reports[0].added == 8
    with open_database() as db:
        assert study_count(db) == 2 and instance_count(db) == 8
        check_consistent(db)


def test_reads_in_a_loop_during_a_threaded_import(home: Path, tmp_path: Path) -> None:
    for index in range(6):
        write_series(tmp_path / "in" / str(index), SeriesSpec(n_slices=6, patient_id=f"P{index}"))
    done = threading.Event()
    reports: list[ImportReport] = []

    def worker() -> None:
        try:
            with open_database() as db:
                reports.append(import_paths(db, tmp_path / "in", batch_size=5))
        finally:
            done.set()

    with open_database() as reader:
        thread = threading.Thread(target=worker)
        thread.start()
        seen = []
        while not done.is_set():
            seen.append(instance_count(reader))
            find_studies(reader)
        thread.join()
        seen.append(instance_count(reader))
    assert seen == sorted(seen) and seen[-1] == 36
    assert reports[0].added == 36


def test_cancel_midway_leaves_a_consistent_database(db, home: Path, tmp_path: Path) -> None:
    for index in range(3):
        write_series(tmp_path / "in" / str(index), SeriesSpec(n_slices=10, patient_id=f"P{index}"))
    polls = 0

    def cancel() -> bool:
        nonlocal polls
        polls += 1
        return polls > 25  # in the middle of the third batch

    report = import_paths(db, tmp_path / "in", copy=True, cancel=cancel, batch_size=10)
    assert report.cancelled
    assert (report.added, report.thumbnails) == (20, 0)  # two whole batches, no thumbnails yet
    assert instance_count(db) == 20
    assert len(storage_files(home)) == 20
    check_consistent(db)

    assert make_missing_thumbnails(db) == 2
    rest = import_paths(db, tmp_path / "in", copy=True, batch_size=10)
    assert (rest.added, rest.already_present, rest.cancelled) == (10, 20, False)
    assert rest.thumbnails == 1
    assert all(s.series[0].thumbnail is not None for s in find_studies(db))
    check_consistent(db)


def test_cancel_before_start_changes_nothing(db, tmp_path: Path) -> None:
    write_series(tmp_path / "in", SeriesSpec(n_slices=3))
    report = import_paths(db, tmp_path / "in", cancel=lambda: True)
    assert report.cancelled and report.imported == 0
    assert study_count(db) == 0
