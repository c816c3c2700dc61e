"""make_zip and make_dicomdir package written series as users receive them."""

from __future__ import annotations

import re
import zipfile
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom.fileset import FileSet

from workstation.testing.factories import SeriesSpec, make_dicomdir, make_zip, write_series


def two_series(root: Path) -> set[str]:
    ct = write_series(root / "ct", SeriesSpec(n_slices=3, shuffle=True))
    mr = write_series(root / "mr", SeriesSpec(modality="MR", n_slices=2, phases=2))
    return set(ct.sop_instance_uids) | set(mr.sop_instance_uids)


def test_zip_of_a_folder_keeps_relative_paths(tmp_path: Path) -> None:
    uids = two_series(tmp_path / "study")
    archive = make_zip(tmp_path / "study", tmp_path / "out" / "study.zip")
    with zipfile.ZipFile(archive) as opened:
        names = opened.namelist()
        assert {name.split("/")[0] for name in names} == {"ct", "mr"}
        found = {pydicom.dcmread(BytesIO(opened.read(name))).SOPInstanceUID for name in names}
    assert found == uids


def test_zip_of_files(tmp_path: Path) -> None:
    written = write_series(tmp_path / "ct", SeriesSpec(n_slices=2))
    archive = make_zip(written.paths, tmp_path / "files.zip")
    with zipfile.ZipFile(archive) as opened:
        assert sorted(opened.namelist()) == sorted(p.name for p in written.paths)
    with pytest.raises(ValueError, match="at least one"):
        make_zip([], tmp_path / "empty.zip")


def test_dicomdir_moves_files_into_media_layout(tmp_path: Path) -> None:
    media = tmp_path / "media"
    uids = two_series(media)
    dicomdir = make_dicomdir(media)
    assert dicomdir == media / "DICOMDIR"
    file_set = FileSet(pydicom.dcmread(dicomdir))
    assert {instance.SOPInstanceUID for instance in file_set} == uids
    for instance in file_set:
        components = Path(instance.path).relative_to(media).parts
        assert all(re.fullmatch(r"[A-Z0-9_]{1,8}", part) for part in components)
        assert pydicom.dcmread(instance.path).SOPInstanceUID == instance.SOPInstanceUID
    leftovers = [p for p in media.rglob("*.dcm")]
    assert leftovers == []
    assert not (media / "ct").exists()


def test_dicomdir_copies_given_files(tmp_path: Path) -> None:
    written = write_series(tmp_path / "source", SeriesSpec(n_slices=2))
    dicomdir = make_dicomdir(tmp_path / "usb", written.paths)
    assert all(path.exists() for path in written.paths)
    assert len(FileSet(pydicom.dcmread(dicomdir))) == 2
