"""Enhanced MR, X-ray angiography, radiographs and colour images read back as claimed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom import uid
from pydicom.pixels.processing import apply_modality_lut

from workstation.core import geometry
from workstation.testing.factories import (
    SeriesSpec,
    write_enhanced_mr,
    write_multiframe_xa,
    write_rgb,
    write_single_image,
)


def enhanced_frames_in_true_order(
    path: Path,
) -> tuple[np.ndarray, dict[tuple[int, int], list[float]]]:
    """Frames rearranged by their dimension indices, and each (t, k) frame's position."""
    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array.reshape(int(ds.NumberOfFrames), ds.Rows, ds.Columns)
    shared = ds.SharedFunctionalGroupsSequence[0]
    transform = shared.PixelValueTransformationSequence[0]
    values = pixels * float(transform.RescaleSlope) + float(transform.RescaleIntercept)
    pointers = [item.DimensionIndexPointer for item in ds.DimensionIndexSequence]
    by_index: dict[tuple[int, int], np.ndarray] = {}
    positions: dict[tuple[int, int], list[float]] = {}
    for frame, groups in zip(values, ds.PerFrameFunctionalGroupsSequence, strict=True):
        content = groups.FrameContentSequence[0]
        index = dict(zip(pointers, content.DimensionIndexValues, strict=True))
        k = index[pydicom.tag.Tag("InStackPositionNumber")] - 1
        assert content.InStackPositionNumber == k + 1
        t = index.get(pydicom.tag.Tag("TemporalPositionIndex"), 1) - 1
        by_index[(t, k)] = frame
        positions[(t, k)] = [float(v) for v in groups.PlanePositionSequence[0].ImagePositionPatient]
    n_t = 1 + max(t for t, _ in by_index)
    n_k = 1 + max(k for _, k in by_index)
    stacked = np.stack([by_index[(t, k)] for t in range(n_t) for k in range(n_k)])
    return stacked.reshape(n_t, n_k, ds.Rows, ds.Columns), positions


def test_enhanced_mr_cine_with_shuffled_frames(tmp_path: Path) -> None:
    spec = SeriesSpec(
        modality="MR",
        phases=5,
        n_slices=4,
        shuffle=True,
        rescale_slope=2.0,
        rescale_intercept=-10.0,
        gantry_tilt_degrees=5.0,
    )
    written = write_enhanced_mr(tmp_path / "cine.dcm", spec)
    assert written.values.shape == (5, 4, 32, 40)
    assert written.frame_order != tuple(range(20))
    assert sorted(written.frame_order) == list(range(20))
    values, positions = enhanced_frames_in_true_order(written.paths[0])
    np.testing.assert_array_equal(values, written.values)
    for (_t, k), position in positions.items():
        np.testing.assert_allclose(position, written.positions[k], atol=1e-5)
        np.testing.assert_allclose(
            position, (written.affine @ np.array([0, 0, k, 1.0]))[:3], atol=1e-5
        )
    ds = pydicom.dcmread(written.paths[0])
    assert ds.SOPClassUID == uid.EnhancedMRImageStorage
    assert ds.SOPInstanceUID == written.sop_instance_uids[0]
    shared = ds.SharedFunctionalGroupsSequence[0]
    assert [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing] == [0.8, 0.7]
    iop = [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient]
    assert iop == list(spec.orientation)
    assert written.phase_times is not None
    for groups, index in zip(ds.PerFrameFunctionalGroupsSequence, written.frame_order, strict=True):
        t = index // spec.n_slices
        delay = groups.CardiacSynchronizationSequence[0].NominalCardiacTriggerDelayTime
        assert float(delay) == written.phase_times[t]
        assert groups.FrameContentSequence[0].TemporalPositionIndex == t + 1


def test_enhanced_mr_volume_compressed(tmp_path: Path) -> None:
    spec = SeriesSpec(
        modality="MR",
        transfer_syntax=uid.JPEG2000Lossless,
        rescale_slope=1.0,
        rescale_intercept=0.0,
        pixel_representation=1,
        bits_stored=16,
    )
    written = write_enhanced_mr(tmp_path / "volume.dcm", spec)
    assert written.values.shape == (8, 32, 40)
    values, _ = enhanced_frames_in_true_order(written.paths[0])
    np.testing.assert_array_equal(values[0], written.values)
    ds = pydicom.dcmread(written.paths[0])
    assert ds.file_meta.TransferSyntaxUID == uid.JPEG2000Lossless
    assert "CardiacSynchronizationSequence" not in ds.PerFrameFunctionalGroupsSequence[0]


def test_enhanced_mr_refuses_single_frame_defects(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="single-frame"):
        write_enhanced_mr(tmp_path / "x.dcm", SeriesSpec(modality="MR", missing_slices=(1,)))
    with pytest.raises(ValueError, match="MR"):
        write_enhanced_mr(tmp_path / "x.dcm", SeriesSpec(modality="CT"))


def test_multiframe_xa(tmp_path: Path) -> None:
    written = write_multiframe_xa(tmp_path / "xa.dcm", frames=7, rows=30, columns=26)
    ds = pydicom.dcmread(written.path)
    assert ds.SOPClassUID == uid.XRayAngiographicImageStorage
    assert int(ds.NumberOfFrames) == 7
    assert ds.FrameIncrementPointer == pydicom.tag.Tag("FrameTime")
    assert "ImagePositionPatient" not in ds
    assert written.values.shape == (7, 30, 26)
    np.testing.assert_array_equal(ds.pixel_array, written.values)
    assert len({frame.tobytes() for frame in written.stored}) == 7  # the bolus moves


@pytest.mark.dcmtk
def test_multiframe_xa_jpeg_lossless_8_bit(tmp_path: Path) -> None:
    written = write_multiframe_xa(
        tmp_path / "xa.dcm", bits_stored=8, transfer_syntax=uid.JPEGLosslessSV1
    )
    ds = pydicom.dcmread(written.path)
    assert ds.BitsAllocated == 8
    np.testing.assert_array_equal(ds.pixel_array, written.stored)


@pytest.mark.parametrize("modality", ["CR", "DX"])
def test_single_image(tmp_path: Path, modality: str) -> None:
    written = write_single_image(
        tmp_path / "image.dcm",
        modality=modality,
        photometric="MONOCHROME1",
        rescale_slope=0.5,
        rescale_intercept=100.0,
    )
    ds = pydicom.dcmread(written.path)
    assert ds.Modality == modality
    assert "ImagePositionPatient" not in ds and "NumberOfFrames" not in ds
    assert written.values.shape == (1, 64, 48)
    np.testing.assert_array_equal(apply_modality_lut(ds.pixel_array, ds), written.values[0])
    np.testing.assert_array_equal(
        written.values, np.asarray(written.stored, dtype=np.float64) * 0.5 + 100.0
    )
    assert [float(v) for v in ds.ImagerPixelSpacing] == [0.2, 0.15]


def test_single_image_takes_given_pixels(tmp_path: Path) -> None:
    stored = np.arange(12 * 10, dtype=np.uint16).reshape(12, 10)
    written = write_single_image(tmp_path / "cr.dcm", stored=stored)
    np.testing.assert_array_equal(pydicom.dcmread(written.path).pixel_array, stored)


@dataclass(frozen=True)
class Colour:
    photometric: str
    transfer_syntax: str
    planar: int
    frames: int
    tolerance: int  # largest difference from the source RGB


def colour(*args: object, dcmtk: bool = False) -> object:
    case = Colour(*args)  # type: ignore[arg-type]
    name = f"{case.photometric}-{uid.UID(case.transfer_syntax).keyword}-pc{case.planar}"
    return pytest.param(case, marks=[pytest.mark.dcmtk] if dcmtk else [], id=name)


@pytest.mark.parametrize(
    "case",
    [
        colour("RGB", uid.ExplicitVRLittleEndian, 0, 1, 0),
        colour("RGB", uid.ExplicitVRLittleEndian, 1, 3, 0),
        colour("RGB", uid.ImplicitVRLittleEndian, 1, 1, 0),
        colour("RGB", uid.ExplicitVRBigEndian, 0, 2, 0),
        colour("RGB", uid.RLELossless, 0, 2, 0),
        colour("RGB", uid.JPEGLSLossless, 0, 1, 0),
        colour("RGB", uid.JPEG2000Lossless, 0, 1, 0),
        colour("YBR_FULL", uid.ExplicitVRLittleEndian, 0, 2, 2),
        colour("YBR_FULL", uid.RLELossless, 0, 1, 2),
        colour("YBR_FULL_422", uid.JPEGBaseline8Bit, 0, 2, 40, dcmtk=True),
        colour("YBR_FULL", uid.JPEGBaseline8Bit, 0, 1, 40, dcmtk=True),
    ],
)
def test_rgb(tmp_path: Path, case: Colour) -> None:
    written = write_rgb(
        tmp_path / "rgb.dcm",
        frames=case.frames,
        photometric=case.photometric,
        transfer_syntax=case.transfer_syntax,
        planar_configuration=case.planar,
    )
    ds = pydicom.dcmread(written.path)
    assert ds.file_meta.TransferSyntaxUID == case.transfer_syntax
    assert ds.PhotometricInterpretation == case.photometric
    assert ds.SamplesPerPixel == 3
    assert ds.PlanarConfiguration == case.planar
    assert written.values.shape == (case.frames, 36, 44, 3)
    np.testing.assert_array_equal(ds.pixel_array.reshape(written.values.shape), written.values)
    error = np.abs(written.values.astype(int) - written.stored)
    assert error.max() <= case.tolerance
    if case.tolerance > 2:  # lossy JPEG: still the same picture
        assert error.mean() < 4


def test_rgb_planar_configuration_1_layout(tmp_path: Path) -> None:
    written = write_rgb(tmp_path / "rgb.dcm", planar_configuration=1)
    raw = np.frombuffer(pydicom.dcmread(written.path).PixelData, dtype=np.uint8)
    np.testing.assert_array_equal(raw[: 36 * 44], written.stored[0, :, :, 0].ravel())


def test_rgb_refuses_impossible_combinations(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="JPEG baseline"):
        write_rgb(tmp_path / "x.dcm", photometric="YBR_FULL_422")
    with pytest.raises(ValueError, match="planar"):
        write_rgb(tmp_path / "x.dcm", planar_configuration=1, transfer_syntax=uid.RLELossless)


def test_geometry_free_images_have_no_frame_of_reference(tmp_path: Path) -> None:
    for written in (
        write_multiframe_xa(tmp_path / "xa.dcm"),
        write_single_image(tmp_path / "cr.dcm"),
        write_rgb(tmp_path / "sc.dcm"),
    ):
        ds = pydicom.dcmread(written.path)
        assert "ImageOrientationPatient" not in ds
        assert "FrameOfReferenceUID" not in ds


def test_enhanced_default_is_a_cine(tmp_path: Path) -> None:
    written = write_enhanced_mr(tmp_path / "e.dcm")
    assert written.values.ndim == 4
    assert geometry.tilt_degrees(written.affine) == pytest.approx(0.0)
