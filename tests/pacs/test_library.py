"""The library as the browser uses it: thumbnails, searches, deletion, the schema."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from workstation.pacs import (
    StudyDatabase,
    StudyDatabaseError,
    delete_series,
    delete_study,
    find_studies,
    import_paths,
    instance_count,
    open_database,
    study_count,
)
from workstation.pacs.records import StudyRecord, Thumbnail
from workstation.pacs.schema import SCHEMA_VERSION
from workstation.pacs.thumbnails import MAX_SIDE
from workstation.testing.factories import SeriesSpec, write_series

from .conftest import check_consistent, retag, storage_files


def _thumbnail(db: StudyDatabase, series_uid: str) -> Thumbnail:
    for study in find_studies(db):
        for series in study.series:
            if series.series_instance_uid == series_uid:
                assert series.thumbnail is not None
                return series.thumbnail
    raise AssertionError(f"series {series_uid} not found")


def test_thumbnail_is_the_windowed_middle_slice(db: StudyDatabase, tmp_path: Path) -> None:
    spec = SeriesSpec(n_slices=7, window_center=40.0, window_width=400.0, shuffle=True)
    written = write_series(tmp_path / "in", spec)
    import_paths(db, tmp_path / "in")
    thumbnail = _thumbnail(db, written.series_instance_uid)
    assert (thumbnail.width, thumbnail.height) == (40, 32)  # small images keep their size
    centre, width = 40.0, 400.0
    linear = (written.values[3] - (centre - 0.5)) / (width - 1) + 0.5
    expected = np.rint(np.clip(linear, 0, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(thumbnail.array(), expected)


def test_thumbnail_without_window_spans_the_range_and_shrinks(
    db: StudyDatabase, tmp_path: Path
) -> None:
    wide = write_series(tmp_path / "in" / "wide", SeriesSpec(rows=150, columns=250, n_slices=3))
    tall = write_series(
        tmp_path / "in" / "tall",
        SeriesSpec(rows=200, columns=64, n_slices=2, photometric="MONOCHROME1"),
    )
    import_paths(db, tmp_path / "in")
    small = _thumbnail(db, wide.series_instance_uid)
    assert (small.width, small.height) == (MAX_SIDE, 58)
    pixels = small.array()
    assert pixels.min() == 0 and pixels.max() >= 250
    # The pattern brightens along rows and columns (MONOCHROME2).
    assert pixels[-1, -1] > pixels[0, 0]
    inverted = _thumbnail(db, tall.series_instance_uid)
    assert (inverted.width, inverted.height) == (31, MAX_SIDE)
    # MONOCHROME1 shows low values white.
    assert inverted.array()[0, 0] > inverted.array()[-1, -1]


def test_thumbnail_record_checks_its_size() -> None:
    with pytest.raises(ValueError, match="needs 6 bytes"):
        Thumbnail(3, 2, b"12345")


@pytest.fixture
def library(db: StudyDatabase, tmp_path: Path) -> StudyDatabase:
    """Four studies of three patients, on three dates, CT and MR."""
    mr = {"modality": "MR", "rescale_slope": None, "rescale_intercept": None}
    studies = [
        ("doe", SeriesSpec(patient_name="Doe^John", patient_id="PID-001", n_slices=2), "20230105"),
        (
            "muller",
            SeriesSpec(patient_name="Müller^Anna", patient_id="X77", n_slices=2, **mr),
            "20240320",
        ),
        ("smith", SeriesSpec(patient_name="Smith^Jane", patient_id="PID-002", n_slices=2), ""),
        (
            "doe2",
            SeriesSpec(patient_name="Doe^John", patient_id="PID-001", n_slices=3, **mr),
            "20241231",
        ),
    ]
    for name, spec, date in studies:
        written = write_series(tmp_path / "lib" / name, spec)
        retag(written.paths, StudyDate=date)
    report = import_paths(db, tmp_path / "lib")
    assert report.added == 9
    return db


def _names(studies: list[StudyRecord]) -> list[tuple[str, str]]:
    return [(s.patient_name, s.study_date) for s in studies]


def test_find_studies_filters(library: StudyDatabase) -> None:
    everything = find_studies(library)
    # Newest first; undated studies last.
    assert _names(everything) == [
        ("Doe^John", "20241231"),
        ("Müller^Anna", "20240320"),
        ("Doe^John", "20230105"),
        ("Smith^Jane", ""),
    ]
    assert study_count(library) == 4
    assert library.connection.execute("SELECT count(*) FROM patients").fetchone() == (3,)
    assert _names(find_studies(library, text="DOE")) == [
        ("Doe^John", "20241231"),
        ("Doe^John", "20230105"),
    ]
    assert _names(find_studies(library, text="doe john")) == _names(
        find_studies(library, text="Doe^")
    )
    assert _names(find_studies(library, text="müller")) == [("Müller^Anna", "20240320")]
    assert _names(find_studies(library, text="MÜLLER^a")) == [("Müller^Anna", "20240320")]
    assert _names(find_studies(library, text="d-002")) == [("Smith^Jane", "")]  # the ID
    assert _names(find_studies(library, text="x7")) == [("Müller^Anna", "20240320")]
    assert find_studies(library, text="nobody") == []
    assert _names(find_studies(library, date_from="20240101")) == [
        ("Doe^John", "20241231"),
        ("Müller^Anna", "20240320"),
    ]
    assert _names(find_studies(library, date_to="20240320")) == [
        ("Müller^Anna", "20240320"),
        ("Doe^John", "20230105"),
    ]
    assert _names(find_studies(library, date_from="20240101", date_to="20241130")) == [
        ("Müller^Anna", "20240320")
    ]
    assert _names(find_studies(library, modality="mr")) == [
        ("Doe^John", "20241231"),
        ("Müller^Anna", "20240320"),
    ]
    assert _names(find_studies(library, modality="CT", text="doe")) == [("Doe^John", "20230105")]
    assert find_studies(library, modality="MR", date_to="20240101") == []
    with pytest.raises(ValueError, match="YYYYMMDD"):
        find_studies(library, date_from="2024-01-01")
    with pytest.raises(ValueError, match="YYYYMMDD"):
        find_studies(library, date_to="20241340")


def test_study_records_carry_their_series(library: StudyDatabase) -> None:
    (study,) = find_studies(library, date_from="20241231")
    assert (study.patient_id, study.patient_birth_date, study.patient_sex) == (
        "PID-001",
        "19700101",
        "O",
    )
    assert (study.study_time, study.study_description) == ("093000", "Synthetic study")
    (series,) = study.series
    assert (series.modality, series.series_number, series.n_instances) == ("MR", 1, 3)
    assert series.thumbnail is not None and series.thumbnail.width == 40
    assert study.modalities == ("MR",) and study.n_instances == 3
    bare = find_studies(library, date_from="20241231", with_thumbnails=False)
    assert bare[0].series[0].thumbnail is None


def test_delete_removes_managed_copies_but_never_files_in_place(
    db: StudyDatabase, tmp_path: Path
) -> None:
    kept = write_series(tmp_path / "in_place", SeriesSpec(patient_id="A", n_slices=3))
    copied = write_series(tmp_path / "copied", SeriesSpec(patient_id="B", n_slices=4))
    other = write_series(
        tmp_path / "copied2",
        SeriesSpec(patient_id="B", n_slices=2, series_number=2),
    )
    retag(other.paths, StudyInstanceUID=copied.study_instance_uid)
    import_paths(db, tmp_path / "in_place")
    import_paths(db, [tmp_path / "copied", tmp_path / "copied2"], copy=True)
    assert len(storage_files(db.path.parent)) == 6

    assert delete_series(db, copied.series_instance_uid) == 4
    assert len(storage_files(db.path.parent)) == 2
    assert study_count(db) == 2  # the study keeps its other series
    check_consistent(db)

    assert delete_study(db, copied.study_instance_uid) == 2
    assert storage_files(db.path.parent) == set()
    assert list((db.storage).iterdir()) == []  # the hash folders went with the files
    assert delete_study(db, kept.study_instance_uid) == 3
    assert all(p.exists() for p in kept.paths)  # the user's files are never deleted
    assert study_count(db) == 0 and instance_count(db) == 0
    assert db.connection.execute("SELECT count(*) FROM patients").fetchone() == (0,)
    assert delete_study(db, "unknown") == 0
    check_consistent(db)


def test_schema_is_versioned(home: Path) -> None:
    with open_database() as db:
        assert db.path == home / "studies.sqlite"
        assert db.connection.execute("SELECT version FROM schema_version").fetchall() == [
            (SCHEMA_VERSION,)
        ]
        assert db.connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with open_database() as db:  # opening again migrates nothing
        assert db.connection.execute("SELECT count(*) FROM schema_version").fetchone() == (1,)
        db.connection.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(StudyDatabaseError, match="schema version 99"):
        open_database()


def test_a_file_that_is_no_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "studies.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StudyDatabaseError, match="not a usable study database"):
        open_database(path)


def test_connection_belongs_to_its_thread(db: StudyDatabase) -> None:
    failures: list[BaseException] = []

    def use() -> None:
        try:
            study_count(db)
        except sqlite3.ProgrammingError as exc:
            failures.append(exc)

    thread = threading.Thread(target=use)
    thread.start()
    thread.join()
    assert len(failures) == 1


def test_a_writer_blocked_past_the_timeout_gets_a_named_error(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_series(tmp_path / "in", SeriesSpec(n_slices=2))
    monkeypatch.setattr("workstation.pacs.database.BUSY_TIMEOUT_S", 0.2)
    with open_database() as holder, open_database() as importer:
        holder.connection.execute("BEGIN IMMEDIATE")
        with pytest.raises(StudyDatabaseError, match="cannot write"):
            import_paths(importer, tmp_path / "in", copy=True)
        holder.connection.execute("ROLLBACK")
        assert storage_files(home) == set()  # nothing was copied
        assert import_paths(importer, tmp_path / "in").added == 2


def test_a_failing_batch_leaves_no_rows_and_no_copies(
    db: StudyDatabase, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_series(tmp_path / "in", SeriesSpec(n_slices=3))

    def fail(*_: object) -> None:
        raise RuntimeError("simulated failure after the copies were written")

    monkeypatch.setattr("workstation.pacs.importer._Session._write_hierarchy", fail)
    with pytest.raises(RuntimeError, match="simulated"):
        import_paths(db, tmp_path / "in", copy=True)
    assert instance_count(db) == 0
    assert list(db.storage.iterdir()) == []  # no copy and no empty hash folder left
    check_consistent(db)
