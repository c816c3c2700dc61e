"""Importing into the study database: in place, by copy, again, from zip and DICOMDIR media."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from workstation.io import load_stack
from workstation.io.sources import FileSource, ZipMemberSource
from workstation.pacs import (
    StudyDatabase,
    find_studies,
    import_paths,
    instance_count,
    scan_series,
    series_sources,
    study_count,
)
from workstation.testing.factories import (
    SeriesSpec,
    make_dicomdir,
    make_zip,
    write_enhanced_mr,
    write_rgb,
    write_series,
)

from .conftest import MANAGED_NAME, check_consistent, retag, storage_files

CT = SeriesSpec(n_slices=6, uid_seed="ct")
MR = SeriesSpec(
    n_slices=5,
    modality="MR",
    rescale_slope=None,
    rescale_intercept=None,
    uid_seed="mr",
    series_number=4,
    series_description="T1 axial",
)


def rows(db: StudyDatabase, sql: str, *args: object) -> list[tuple[object, ...]]:
    return db.connection.execute(sql, args).fetchall()


def test_import_in_place_records_everything(db: StudyDatabase, tmp_path: Path) -> None:
    ct = write_series(tmp_path / "in" / "ct", CT)
    mr = write_series(tmp_path / "in" / "mr", MR)
    progress: list[tuple[int, int]] = []
    report = import_paths(db, tmp_path / "in", progress=lambda d, t: progress.append((d, t)))
    assert (report.added, report.already_present, report.updated) == (11, 0, 0)
    assert (report.non_image, report.errors, report.thumbnails) == (0, [], 2)
    assert report.files == 11 and not report.cancelled
    assert progress[-1] == (11, 11)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)

    (patient,) = rows(db, "SELECT patient_id, patient_name, birth_date, sex FROM patients")
    assert patient == ("SYN0001", "Synthetic^Patient", "19700101", "O")
    study = rows(
        db,
        "SELECT study_date, study_time, description, accession FROM studies WHERE study_uid = ?",
        ct.study_instance_uid,
    )
    assert study == [("20240115", "093000", "Synthetic study", "")]
    series = rows(
        db,
        "SELECT modality, description, number, frame_of_reference, n_instances FROM series "
        "WHERE series_uid = ?",
        mr.series_instance_uid,
    )
    assert series == [("MR", "T1 axial", 4, mr.frame_of_reference_uid, 5)]
    instances = rows(
        db,
        "SELECT sop_instance_uid, path, member, size, managed, instance_number FROM instances "
        "WHERE series_uid = ? ORDER BY instance_number",
        ct.series_instance_uid,
    )
    assert [r[0] for r in instances] == ct.sop_instance_uids
    assert [r[1] for r in instances] == [str(p) for p in ct.paths]
    assert all(r[2] is None and r[4] == 0 for r in instances)
    assert [r[3] for r in instances] == [p.stat().st_size for p in ct.paths]
    assert [r[5] for r in instances] == [1, 2, 3, 4, 5, 6]
    assert storage_files(db.path.parent) == set()
    assert study_count(db) == 2 and instance_count(db) == 11
    check_consistent(db)

    # The database hands the engine sources it loads exactly as from the files.
    result = scan_series(db, ct.series_instance_uid)
    assert not result.errors
    np.testing.assert_array_equal(load_stack(result.stacks[0]).array, ct.values)


@pytest.mark.parametrize("copy", [False, True])
def test_reimport_is_idempotent(db: StudyDatabase, tmp_path: Path, copy: bool) -> None:
    write_series(tmp_path / "in" / "ct", CT)
    write_series(tmp_path / "in" / "mr", MR)
    first = import_paths(db, tmp_path / "in", copy=copy)
    assert first.added == 11
    before_rows = rows(db, "SELECT * FROM instances ORDER BY sop_instance_uid")
    before_files = storage_files(db.path.parent)
    times = {p: p.stat().st_mtime_ns for p in (db.storage.rglob("*.dcm"))}
    assert len(before_files) == (11 if copy else 0)

    again = import_paths(db, tmp_path / "in", copy=copy)
    assert (again.added, again.already_present, again.updated, again.thumbnails) == (0, 11, 0, 0)
    assert rows(db, "SELECT * FROM instances ORDER BY sop_instance_uid") == before_rows
    assert storage_files(db.path.parent) == before_files
    assert {p: p.stat().st_mtime_ns for p in db.storage.rglob("*.dcm")} == times
    assert study_count(db) == 2 and instance_count(db) == 11
    check_consistent(db)


def test_copy_into_managed_storage(db: StudyDatabase, tmp_path: Path) -> None:
    ct = write_series(tmp_path / "in", CT)
    report = import_paths(db, tmp_path / "in", copy=True)
    assert report.added == 6
    files = storage_files(db.path.parent)
    assert len(files) == 6 and all(MANAGED_NAME.fullmatch(f) for f in files)
    assert rows(db, "SELECT DISTINCT managed, member FROM instances") == [(1, None)]
    shutil.rmtree(tmp_path / "in")  # the copies no longer need the originals
    result = scan_series(db, ct.series_instance_uid)
    assert not result.errors
    np.testing.assert_array_equal(load_stack(result.stacks[0]).array, ct.values)
    check_consistent(db)


def test_copy_after_in_place_switches_to_the_copy(db: StudyDatabase, tmp_path: Path) -> None:
    write_series(tmp_path / "in", CT)
    import_paths(db, tmp_path / "in")
    report = import_paths(db, tmp_path / "in", copy=True)
    assert (report.added, report.updated) == (0, 6)
    assert rows(db, "SELECT DISTINCT managed FROM instances") == [(1,)]
    assert len(list((tmp_path / "in").iterdir())) == 6  # the originals are left alone
    # Indexing in place again does not give up the managed copies.
    again = import_paths(db, tmp_path / "in")
    assert (again.already_present, again.updated) == (6, 0)
    check_consistent(db)


def test_moved_and_changed_files_update_their_location(db: StudyDatabase, tmp_path: Path) -> None:
    ct = write_series(tmp_path / "first", CT)
    import_paths(db, tmp_path / "first")
    (tmp_path / "first").rename(tmp_path / "moved")
    report = import_paths(db, tmp_path / "moved")
    assert (report.added, report.already_present, report.updated) == (0, 0, 6)
    sources = series_sources(db, ct.series_instance_uid)
    assert {Path(s.display).parent for s in sources} == {tmp_path / "moved"}
    assert instance_count(db) == 6

    changed = tmp_path / "moved" / ct.paths[0].name
    retag([changed], InstanceNumber=99)
    report = import_paths(db, tmp_path / "moved")
    assert (report.already_present, report.updated) == (5, 1)
    assert rows(
        db,
        "SELECT instance_number FROM instances WHERE sop_instance_uid = ?",
        ct.sop_instance_uids[0],
    ) == [(99,)]
    check_consistent(db)


def test_a_second_copy_elsewhere_is_already_present(db: StudyDatabase, tmp_path: Path) -> None:
    write_series(tmp_path / "a", CT)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    import_paths(db, tmp_path / "a")
    before = rows(db, "SELECT path FROM instances ORDER BY path")
    report = import_paths(db, tmp_path / "b")
    assert (report.added, report.already_present, report.updated) == (0, 6, 0)
    assert rows(db, "SELECT path FROM instances ORDER BY path") == before
    # Within one import, repeated instances are counted once.
    both = import_paths(db, [tmp_path / "a", tmp_path / "b"])
    assert (both.added, both.already_present, both.updated) == (0, 12, 0)


@pytest.mark.parametrize("copy", [False, True])
def test_zip_archive(db: StudyDatabase, tmp_path: Path, copy: bool) -> None:
    ct = write_series(tmp_path / "in" / "ct", CT)
    archive = make_zip(tmp_path / "in", tmp_path / "study.zip")
    shutil.rmtree(tmp_path / "in")
    report = import_paths(db, archive, copy=copy)
    assert (report.added, report.errors, report.thumbnails) == (6, [], 1)
    members = rows(db, "SELECT path, member, managed FROM instances ORDER BY member")
    if copy:
        assert all(m is None and managed for _, m, managed in members)
    else:
        assert {p for p, _, _ in members} == {str(archive)}
        assert [m for _, m, _ in members] == sorted(f"ct/{p.name}" for p in ct.paths)
        sources = series_sources(db, ct.series_instance_uid)
        assert all(isinstance(s, ZipMemberSource) for s in sources)
    result = scan_series(db, ct.series_instance_uid)
    np.testing.assert_array_equal(load_stack(result.stacks[0]).array, ct.values)
    again = import_paths(db, archive, copy=copy)
    assert (again.added, again.already_present) == (0, 6)
    check_consistent(db)


def test_dicomdir_media(db: StudyDatabase, tmp_path: Path) -> None:
    ct = write_series(tmp_path / "files" / "ct", CT)
    mr = write_series(tmp_path / "files" / "mr", MR)
    dicomdir = make_dicomdir(tmp_path / "media", ct.paths + mr.paths)
    report = import_paths(db, dicomdir)
    assert (report.added, report.non_image, report.errors) == (11, 0, [])
    sources = series_sources(db, mr.series_instance_uid)
    assert all(isinstance(s, FileSource) for s in sources)
    assert all((tmp_path / "media").resolve() in Path(s.display).parents for s in sources)
    check_consistent(db)


def _structured_report(path: Path) -> None:
    """A Basic Text SR: a valid DICOM object without an image."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    ds.file_meta.MediaStorageSOPInstanceUID = uid = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    ds.SOPInstanceUID = uid
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "SR"
    ds.save_as(path, enforce_file_format=True)


def test_broken_files_are_reported_and_the_rest_imported(db: StudyDatabase, tmp_path: Path) -> None:
    ct = write_series(tmp_path / "in", CT)
    data = ct.paths[-1].read_bytes()
    ct.paths[-1].write_bytes(data[: len(data) - 500])  # pixel data cut short
    (tmp_path / "in" / "notes.txt").write_text("not DICOM")
    _structured_report(tmp_path / "in" / "report.dcm")
    report = import_paths(db, tmp_path / "in")
    assert report.added == 5
    assert report.non_image == 1
    assert sorted((Path(e.path).name, e.code.value) for e in report.errors) == [
        (ct.paths[-1].name, "truncated"),
        ("notes.txt", "not_dicom"),
    ]
    check_consistent(db)


def test_hostile_uids_and_descriptions_never_become_paths(
    db: StudyDatabase, tmp_path: Path
) -> None:
    written = write_series(tmp_path / "in" / "a", CT)
    retag(
        written.paths,
        SeriesDescription="../../x",
        SeriesInstanceUID="../../../series",
        StudyInstanceUID="/tmp/study",
    )
    for index, path in enumerate(written.paths):
        retag([path], SOPInstanceUID=f"1.2/../../../evil{index}")
    before = {p for p in tmp_path.rglob("*") if "home" not in p.parts}
    report = import_paths(db, tmp_path / "in", copy=True)
    assert (report.added, report.errors) == (6, [])
    after = {p for p in tmp_path.rglob("*") if "home" not in p.parts}
    assert after == before  # nothing written outside the home folder
    files = storage_files(db.path.parent)
    assert len(files) == 6 and all(MANAGED_NAME.fullmatch(f) for f in files)
    assert not any("evil" in p.name or p.name == "x" for p in tmp_path.parent.rglob("*"))
    (study,) = find_studies(db)
    assert study.study_instance_uid == "/tmp/study"
    assert study.series[0].series_description == "../../x"
    assert study.series[0].series_instance_uid == "../../../series"
    result = scan_series(db, "../../../series")
    assert not result.errors and result.stacks[0].shape == (6, 32, 40)
    check_consistent(db)


def test_objects_without_uids_are_errors(db: StudyDatabase, tmp_path: Path) -> None:
    written = write_series(tmp_path / "in", CT)
    retag(written.paths[:1], SeriesInstanceUID="")
    report = import_paths(db, tmp_path / "in")
    assert report.added == 5
    assert [(Path(e.path).name, e.code.value) for e in report.errors] == [
        (written.paths[0].name, "corrupt")
    ]


def test_missing_file_is_reported_when_loading(db: StudyDatabase, tmp_path: Path) -> None:
    ct = write_series(tmp_path / "in", CT)
    import_paths(db, tmp_path / "in")
    ct.paths[2].unlink()
    result = scan_series(db, ct.series_instance_uid)
    assert [Path(e.path).name for e in result.errors] == [ct.paths[2].name]
    assert sum(len(s.frames) for s in result.stacks) == 5
    assert series_sources(db, "no.such.series") == []


def test_colour_and_enhanced_objects(db: StudyDatabase, tmp_path: Path) -> None:
    rgb = write_rgb(tmp_path / "in" / "rgb.dcm", rows=36, columns=44)
    enhanced = write_enhanced_mr(tmp_path / "in" / "cine.dcm")
    report = import_paths(db, tmp_path / "in")
    assert (report.added, report.thumbnails) == (2, 2)
    by_uid = {s.series_instance_uid: s for study in find_studies(db) for s in study.series}
    colour = by_uid[rgb.series_instance_uid].thumbnail
    cine = by_uid[enhanced.series_instance_uid].thumbnail
    assert colour is not None and (colour.width, colour.height) == (44, 36)
    assert cine is not None and (cine.width, cine.height) == (40, 32)
    assert by_uid[enhanced.series_instance_uid].n_instances == 1


def test_import_of_a_missing_path_reports_it(db: StudyDatabase, tmp_path: Path) -> None:
    report = import_paths(db, tmp_path / "nothing")
    assert report.imported == 0
    assert [e.code.value for e in report.errors] == ["not_dicom"]


def test_series_split_over_two_imports_gets_one_thumbnail(
    db: StudyDatabase, tmp_path: Path
) -> None:
    ct = write_series(tmp_path / "in", replace(CT, window_center=0.0, window_width=2000.0))
    half = tmp_path / "half"
    half.mkdir()
    for path in ct.paths[:3]:
        shutil.copy2(path, half / path.name)
    import_paths(db, half)
    first = find_studies(db)[0].series[0].thumbnail
    report = import_paths(db, tmp_path / "in")
    assert (report.added, report.already_present, report.thumbnails) == (3, 3, 1)
    whole = find_studies(db)[0].series[0]
    assert whole.n_instances == 6
    assert whole.thumbnail is not None and first is not None
    assert whole.thumbnail.pixels != first.pixels  # the middle of 6 slices, not of 3
    assert (whole.thumbnail.width, whole.thumbnail.height) == (40, 32)
