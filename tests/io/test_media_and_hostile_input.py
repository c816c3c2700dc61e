"""Zip archives and DICOMDIR media; hostile and broken files get named errors, the rest loads."""

from __future__ import annotations

import struct
import warnings
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest

from workstation.core.errors import ErrorCode
from workstation.io import Limits, load_stack, load_tolerant, scan
from workstation.testing.factories import SeriesSpec, make_dicomdir, make_zip, write_series

SPEC = SeriesSpec(shuffle=True, n_slices=6)


def _codes(result) -> list[str]:
    return sorted(error.code.value for error in result.errors)


def test_zip_archive_loads_like_the_folder(tmp_path) -> None:
    written = write_series(tmp_path / "series", SPEC)
    archive = make_zip(tmp_path / "series", tmp_path / "study.zip")
    result = scan(archive)
    assert not result.errors
    (stack,) = result.stacks
    np.testing.assert_array_equal(load_stack(stack).array.astype(float), written.values)
    assert all("study.zip!" in ref.header.source.display for ref in stack.frames)


def test_zip_inside_a_folder_is_opened(tmp_path) -> None:
    write_series(tmp_path / "series", SPEC)
    make_zip(tmp_path / "series", tmp_path / "inbox" / "study.zip")
    result = scan(tmp_path / "inbox")
    assert [s.shape for s in result.stacks] == [(6, 32, 40)]


def test_dicomdir_media(tmp_path) -> None:
    written = write_series(tmp_path / "cd", SPEC)
    dicomdir = make_dicomdir(tmp_path / "cd")
    result = scan(dicomdir)
    assert not result.errors
    (stack,) = result.stacks
    np.testing.assert_array_equal(load_stack(stack).array.astype(float), written.values)


def test_dicomdir_cannot_point_outside_its_folder(tmp_path) -> None:
    write_series(tmp_path / "cd", replace(SPEC, n_slices=2))
    dicomdir = make_dicomdir(tmp_path / "cd")
    secret = tmp_path / "secret.dcm"
    secret.write_bytes(b"not for you")
    dataset = pydicom.dcmread(dicomdir)
    images = [r for r in dataset.DirectoryRecordSequence if "ReferencedFileID" in r]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom rightly objects to ".." in a CS value
        images[0].ReferencedFileID = ["..", "secret.dcm"]
        dataset.save_as(dicomdir)
    result = scan(dicomdir)
    assert _codes(result) == ["corrupt"]
    assert "outside" in result.errors[0].message
    assert len(result.stacks) == 1 and result.stacks[0].n_files == 1


def test_bad_files_are_named_and_the_rest_loads(tmp_path) -> None:
    written = write_series(tmp_path, SPEC)
    (tmp_path / "notes.txt").write_text("reading-room notes")
    paths = [written.slice_paths[(0, k)] for k in range(6)]
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[: len(data) - 300])  # cut inside the pixel data
    result = scan(tmp_path)
    assert _codes(result) == ["not_dicom", "truncated"]
    (stack,) = result.stacks
    assert stack.shape == (5, 32, 40)
    assert {w.code.value for w in stack.warnings} == {"missing_slices"}
    volume = load_stack(stack)
    np.testing.assert_array_equal(volume.array.astype(float), written.values[[0, 1, 3, 4, 5]])


def _patch_us(path: Path, group: int, element: int, value: int) -> None:
    """Overwrite a US value in an explicit VR little endian file, as a hostile writer would."""
    data = bytearray(path.read_bytes())
    at = data.find(struct.pack("<HH", group, element) + b"US")
    assert at > 0
    data[at + 8 : at + 10] = struct.pack("<H", value)
    path.write_bytes(bytes(data))


def test_declared_dimensions_are_checked_before_allocation(tmp_path) -> None:
    written = write_series(tmp_path, replace(SPEC, n_slices=2))
    _patch_us(written.paths[0], 0x0028, 0x0010, 0xFFFF)  # Rows 65535 in a tiny file
    result = scan(tmp_path)
    assert _codes(result) == ["truncated"]
    assert len(result.stacks) == 1


def test_dimension_cap_refuses_huge_objects(tmp_path) -> None:
    write_series(tmp_path, replace(SPEC, n_slices=2))
    result = scan(tmp_path, Limits(max_frame_pixels=100))
    assert _codes(result) == ["too_large", "too_large"]


def test_hostile_element_length_is_checked_against_file_size(tmp_path) -> None:
    written = write_series(tmp_path, replace(SPEC, n_slices=2))
    data = bytearray(written.paths[0].read_bytes())
    at = data.find(b"\x10\x00\x10\x00PN")  # Patient's Name
    data[at + 6 : at + 8] = struct.pack("<H", 0xFFF0)
    written.paths[0].write_bytes(bytes(data))
    result = scan(tmp_path)
    assert _codes(result) == ["truncated"]
    assert "declares" in result.errors[0].message


def test_deflate_bomb_is_refused(tmp_path) -> None:
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    write_series(
        tmp_path,
        replace(
            SPEC, n_slices=2, rows=256, columns=256, transfer_syntax=DeflatedExplicitVRLittleEndian
        ),
        stored=np.zeros((2, 256, 256), np.uint16),
    )
    result = scan(tmp_path, Limits(max_inflated_bytes=64_000))
    assert _codes(result) == ["too_large", "too_large"]


def test_zip_bomb_member_is_refused(tmp_path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bomb:
        bomb.writestr("a.dcm", b"\0" * 50_000_000)
    result = scan(archive)
    assert _codes(result) == ["too_large"]


def test_unsupported_transfer_syntax_is_named(tmp_path) -> None:
    written = write_series(tmp_path, replace(SPEC, n_slices=2))
    data = written.paths[0].read_bytes()
    old = b"\x10\x00UI\x14\x001.2.840.10008.1.2.1\x00"
    new = b"\x10\x00UI\x18\x001.2.840.10008.1.2.4.100\x00"  # MPEG2 Main Profile
    assert old in data
    data = data.replace(old, new, 1)
    group_length = data.find(b"\x02\x00\x00\x00UL\x04\x00")
    (value,) = struct.unpack_from("<L", data, group_length + 8)
    data = data[: group_length + 8] + struct.pack("<L", value + 4) + data[group_length + 12 :]
    written.paths[0].write_bytes(data)
    result = scan(tmp_path)
    assert _codes(result) == ["unsupported_transfer_syntax"]


def test_corrupt_compressed_frame_drops_only_its_file(tmp_path) -> None:
    from pydicom.uid import JPEGLSLossless

    written = write_series(tmp_path, replace(SPEC, transfer_syntax=JPEGLSLossless))
    victim = written.slice_paths[(0, 3)]
    data = bytearray(victim.read_bytes())
    start = data.find(b"\xff\xd8")
    data[start + 2 : start + 40] = b"\xff\x99" * 19  # markers no decoder knows
    victim.write_bytes(bytes(data))
    (stack,) = scan(tmp_path).stacks
    volume, loaded, errors = load_tolerant(stack)
    assert [e.path for e in errors] == [str(victim)]
    assert errors[0].code is ErrorCode.CORRUPT
    assert volume is not None and volume.array.shape == (5, 32, 40)
    assert "missing_slices" in {w.code.value for w in loaded.warnings}


def test_codestream_claiming_other_dimensions_is_refused(tmp_path) -> None:
    from pydicom.uid import JPEGLSLossless

    written = write_series(tmp_path, replace(SPEC, n_slices=2, transfer_syntax=JPEGLSLossless))
    data = bytearray(written.paths[0].read_bytes())
    sof = data.find(b"\xff\xf7")  # JPEG-LS start of frame
    data[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)
    written.paths[0].write_bytes(bytes(data))
    (stack,) = scan(tmp_path).stacks
    _, _, errors = load_tolerant(stack)
    assert len(errors) == 1 and "declares 60000 × 60000" in errors[0].message


def test_stack_larger_than_the_limit_is_refused_before_allocation(tmp_path) -> None:
    write_series(tmp_path, SPEC)
    (stack,) = scan(tmp_path).stacks
    with pytest.raises(Exception) as raised:
        load_stack(stack, Limits(max_stack_bytes=1000))
    assert getattr(raised.value, "code", None) is ErrorCode.TOO_LARGE


def test_tag_rows_for_the_browser(tmp_path) -> None:
    from workstation.io.sources import FileSource
    from workstation.io.tags import read_tags

    written = write_series(tmp_path, replace(SPEC, n_slices=1, patient_name="Doe^Jane"))
    rows = read_tags(FileSource(written.paths[0]))
    by_keyword = {row.keyword: row for row in rows}
    assert by_keyword["PatientName"].value == "Doe^Jane"
    assert by_keyword["PatientName"].tag == "(0010,0010)"
    assert by_keyword["TransferSyntaxUID"].vr == "UI"
    assert "PixelData" not in by_keyword
