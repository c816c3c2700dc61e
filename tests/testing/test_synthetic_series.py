"""write_series: the files pydicom reads back hold the values and geometry the factory claims."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels.processing import apply_modality_lut

from workstation.core import geometry
from workstation.testing.factories import SeriesSpec, WrittenSeries, default_stored, write_series


def read(path: Path) -> pydicom.Dataset:
    return pydicom.dcmread(path)


def values_of(ds: pydicom.Dataset) -> np.ndarray:
    return np.asarray(apply_modality_lut(ds.pixel_array, ds), dtype=np.float64)


def affine_from_files(written: WrittenSeries) -> np.ndarray:
    """The affine a loader derives from the tags of slices 0 and 1 (DESIGN.md convention)."""
    first = read(written.slice_paths[(0, 0)])
    second = read(written.slice_paths[(0, 1)])
    iop = [float(v) for v in first.ImageOrientationPatient]
    spacing = [float(v) for v in first.PixelSpacing]
    origin = [float(v) for v in first.ImagePositionPatient]
    step = np.array([float(v) for v in second.ImagePositionPatient]) - origin
    return geometry.plane_affine(origin, iop, spacing, step)


def assert_slices_match(written: WrittenSeries) -> None:
    n_t = written.spec.phases or 1
    values = written.values.reshape(n_t, written.spec.n_slices, written.spec.rows, -1)
    for (t, k), path in written.slice_paths.items():
        ds = read(path)
        np.testing.assert_array_equal(values_of(ds), values[t, k])
        position = [float(v) for v in ds.ImagePositionPatient]
        np.testing.assert_allclose(position, written.positions[k], atol=1e-5)


def test_default_ct_round_trips_values_and_geometry(tmp_path: Path) -> None:
    written = write_series(tmp_path)
    spec = written.spec
    assert len(written.paths) == spec.n_slices
    assert written.stored.shape == (8, 32, 40)
    assert written.stored.dtype == np.uint16
    np.testing.assert_array_equal(written.values, written.stored.astype(np.float64) - 1024.0)
    assert_slices_match(written)
    np.testing.assert_allclose(affine_from_files(written), written.affine, atol=1e-5)
    # Column 0 is the row cosine × PixelSpacing[1], column 1 the column cosine × PixelSpacing[0].
    np.testing.assert_allclose(written.affine[:3, 0], [0.7, 0, 0])
    np.testing.assert_allclose(written.affine[:3, 1], [0, 0.8, 0])
    np.testing.assert_allclose(written.affine[:3, 2], [0, 0, 2.5])
    ds = read(written.paths[0])
    assert ds.Modality == "CT"
    assert ds.SOPClassUID == pydicom.uid.CTImageStorage
    assert (ds.Rows, ds.Columns) == (32, 40)
    assert ds.SeriesInstanceUID == written.series_instance_uid
    assert ds.StudyInstanceUID == written.study_instance_uid
    assert ds.FrameOfReferenceUID == written.frame_of_reference_uid
    assert [read(p).SOPInstanceUID for p in written.paths] == written.sop_instance_uids


def test_every_slice_and_phase_differs(tmp_path: Path) -> None:
    stored = default_stored((3, 5, 12, 10), 12, False, np.dtype(np.uint16))
    flat = stored.reshape(15, -1)
    assert len({row.tobytes() for row in flat}) == 15
    assert int(stored.max()) <= 4095


def test_oblique_tilted_series_keeps_exact_positions(tmp_path: Path) -> None:
    a, b = np.radians(25), np.radians(-17)
    about_z = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    about_x = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    rotation = about_x @ about_z
    orientation = [*rotation[:, 0], *rotation[:, 1]]
    spec = SeriesSpec(
        orientation=tuple(round(float(v), 6) for v in orientation),  # type: ignore[arg-type]
        gantry_tilt_degrees=15.0,
        pixel_spacing=(0.9, 0.6),
    )
    written = write_series(tmp_path, spec)
    assert_slices_match(written)
    np.testing.assert_allclose(affine_from_files(written), written.affine, atol=1e-5)
    assert geometry.tilt_degrees(written.affine) == pytest.approx(15.0, abs=1e-3)
    normal = geometry.slice_normal(spec.orientation)
    assert written.affine[:3, 2] @ normal == pytest.approx(spec.slice_spacing, abs=1e-6)
    assert float(read(written.paths[0]).GantryDetectorTilt) == 15.0


def test_shuffled_names_and_instance_numbers_do_not_give_the_true_order(tmp_path: Path) -> None:
    written = write_series(tmp_path, SeriesSpec(shuffle=True, n_slices=10, seed=3))
    true_paths = [written.slice_paths[(0, k)] for k in range(10)]
    assert sorted(true_paths) != true_paths
    numbers = [int(read(p).InstanceNumber) for p in true_paths]
    assert sorted(numbers) == list(range(1, 11))
    assert numbers != sorted(numbers)
    assert written.paths != true_paths  # written in a random order too
    # Sorting by position along the normal restores the truth.
    datasets = sorted(
        (read(p) for p in written.paths), key=lambda ds: float(ds.ImagePositionPatient[2])
    )
    np.testing.assert_array_equal(np.stack([values_of(ds) for ds in datasets]), written.values)


def test_missing_duplicate_and_nonuniform_slices(tmp_path: Path) -> None:
    spec = SeriesSpec(missing_slices=(3,), duplicate_slices=(5,), nonuniform={6: 0.8})
    written = write_series(tmp_path, spec)
    assert len(written.paths) == spec.n_slices  # one missing, one written twice
    assert (0, 3) not in written.slice_paths
    uids = [read(p).SOPInstanceUID for p in written.paths]
    assert written.sop_instance_uids[3] not in uids
    assert uids.count(written.sop_instance_uids[5]) == 2
    assert len(set(map(str, written.paths))) == len(written.paths)
    assert written.stored.shape[0] == spec.n_slices  # the truth keeps the missing slice
    expected = written.affine @ np.array([0, 0, 6, 1.0])
    np.testing.assert_allclose(written.positions[6], expected[:3] + np.array([0, 0, 0.8]))
    assert_slices_match(written)


def test_localizer_is_perpendicular_and_in_the_same_series(tmp_path: Path) -> None:
    written = write_series(tmp_path, SeriesSpec(localizer=True, shuffle=True))
    assert written.localizer_path in written.paths
    assert written.localizer_path is not None
    scout = read(written.localizer_path)
    assert list(scout.ImageType)[2] == "LOCALIZER"
    assert scout.SeriesInstanceUID == written.series_instance_uid
    scout_normal = geometry.slice_normal([float(v) for v in scout.ImageOrientationPatient])
    assert abs(scout_normal @ geometry.slice_normal(written.spec.orientation)) < 1e-6


def test_cine_writes_every_phase_with_trigger_times(tmp_path: Path) -> None:
    spec = SeriesSpec(
        modality="MR", phases=4, n_slices=3, rescale_slope=None, rescale_intercept=None
    )
    written = write_series(tmp_path, spec)
    assert written.values.shape == (4, 3, 32, 40)
    assert len(written.paths) == 12
    assert written.phase_times == (0.0, 250.0, 500.0, 750.0)
    for (t, _k), path in written.slice_paths.items():
        ds = read(path)
        assert float(ds.TriggerTime) == written.phase_times[t]
        assert int(ds.TemporalPositionIdentifier) == t + 1
        assert int(ds.NumberOfTemporalPositions) == 4
        assert "RescaleSlope" not in ds
    assert_slices_match(written)
    assert not np.array_equal(written.values[0], written.values[1])


def test_explicit_trigger_times(tmp_path: Path) -> None:
    spec = SeriesSpec(modality="MR", phases=2, n_slices=2, trigger_times=(10.0, 420.5))
    written = write_series(tmp_path, spec)
    assert float(read(written.slice_paths[(1, 0)]).TriggerTime) == 420.5


@dataclass(frozen=True)
class PixelFormat:
    bits_allocated: int
    bits_stored: int
    signed: bool
    slope: float
    intercept: float
    dtype: type


@pytest.mark.parametrize(
    "case",
    [
        PixelFormat(16, 16, True, 1.0, 0.0, np.int16),
        PixelFormat(16, 12, True, 1.0, -1024.0, np.int16),
        PixelFormat(8, 8, False, 0.5, -10.0, np.uint8),
        PixelFormat(16, 16, False, 0.25, 3.0, np.uint16),
        PixelFormat(32, 20, False, 2.0, 0.0, np.uint32),
    ],
    ids=str,
)
def test_pixel_formats_and_rescale(tmp_path: Path, case: PixelFormat) -> None:
    spec = SeriesSpec(
        bits_allocated=case.bits_allocated,
        bits_stored=case.bits_stored,
        pixel_representation=int(case.signed),
        rescale_slope=case.slope,
        rescale_intercept=case.intercept,
        n_slices=3,
    )
    written = write_series(tmp_path, spec)
    assert written.stored.dtype == case.dtype
    bits = case.bits_stored
    low = -(1 << (bits - 1)) if case.signed else 0
    high = (1 << (bits - 1)) - 1 if case.signed else (1 << bits) - 1
    assert low <= int(written.stored.min()) and int(written.stored.max()) <= high
    np.testing.assert_array_equal(written.values, written.stored * case.slope + case.intercept)
    assert_slices_match(written)


def test_given_stored_values_are_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    stored = rng.integers(-2000, 2000, size=(8, 32, 40)).astype(np.int16)
    spec = SeriesSpec(pixel_representation=1, bits_stored=16, rescale_intercept=0.0)
    written = write_series(tmp_path, spec, stored)
    np.testing.assert_array_equal(written.stored, stored)
    assert_slices_match(written)


def test_stored_values_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"0\.\.4095"):
        write_series(tmp_path, SeriesSpec(), np.full((8, 32, 40), 5000, dtype=np.uint16))
    with pytest.raises(ValueError, match="shape"):
        write_series(tmp_path, SeriesSpec(), np.zeros((8, 40, 32), dtype=np.uint16))


def test_optional_tags(tmp_path: Path) -> None:
    spec = SeriesSpec(
        photometric="MONOCHROME1",
        rescale_slope=None,
        rescale_intercept=None,
        write_smallest_largest=True,
        window_center=40.0,
        window_width=400.0,
        lossy=True,
        series_description="Chest 1 mm",
        series_number=7,
    )
    written = write_series(tmp_path, spec)
    ds = read(written.paths[0])
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    assert "RescaleSlope" not in ds and "RescaleIntercept" not in ds
    assert ds.SmallestImagePixelValue == int(written.stored[0].min())
    assert ds.LargestImagePixelValue == int(written.stored[0].max())
    assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (40.0, 400.0)
    assert ds.LossyImageCompression == "01"
    assert (ds.SeriesDescription, ds.SeriesNumber) == ("Chest 1 mm", 7)
    np.testing.assert_array_equal(written.values, written.stored.astype(np.float64))


@pytest.mark.parametrize(
    ("name", "charset", "expected_charset"),
    [
        ("Müller^Jürgen", None, "ISO_IR 192"),
        ("Müller^Jürgen", "ISO_IR 100", "ISO_IR 100"),
        ("山田^太郎", None, "ISO_IR 192"),
    ],
)
def test_non_ascii_patient_names(
    tmp_path: Path, name: str, charset: str | None, expected_charset: str
) -> None:
    spec = SeriesSpec(patient_name=name, specific_character_set=charset, n_slices=2)
    written = write_series(tmp_path, spec)
    ds = read(written.paths[0])
    assert ds.SpecificCharacterSet == expected_charset
    assert str(ds.PatientName) == name
    raw = written.paths[0].read_bytes()
    assert name.encode("utf-8" if expected_charset == "ISO_IR 192" else "latin-1") in raw


def test_uid_seed_makes_rewrites_identical(tmp_path: Path) -> None:
    first = write_series(tmp_path / "a", SeriesSpec(uid_seed="case-1"))
    second = write_series(tmp_path / "b", SeriesSpec(uid_seed="case-1"))
    third = write_series(tmp_path / "c", SeriesSpec())
    assert first.sop_instance_uids == second.sop_instance_uids
    assert first.series_instance_uid == second.series_instance_uid
    assert first.paths[0].read_bytes() == second.paths[0].read_bytes()
    assert third.series_instance_uid != first.series_instance_uid
    assert all(uid.startswith("2.25.") and len(uid) <= 64 for uid in first.sop_instance_uids)


def test_explicit_uids_are_used(tmp_path: Path) -> None:
    spec = SeriesSpec(study_instance_uid="1.2.3.4", series_instance_uid="1.2.3.4.5", n_slices=2)
    written = write_series(tmp_path, spec)
    ds = read(written.paths[1])
    assert (ds.StudyInstanceUID, ds.SeriesInstanceUID) == ("1.2.3.4", "1.2.3.4.5")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"modality": "PT"}, "modality"),
        ({"orientation": (1, 0, 0, 1, 0, 0)}, "orthogonal"),
        ({"missing_slices": (8,)}, "missing_slices"),
        ({"missing_slices": (2,), "duplicate_slices": (2,)}, "both"),
        ({"bits_stored": 17}, "bits_stored"),
        ({"high_bit": 15}, "high_bit"),
        ({"phases": 2, "trigger_times": (0.0,)}, "trigger_times"),
        ({"nonuniform": {1: -3.0}}, "ascending"),
        ({"transfer_syntax": pydicom.uid.JPEGBaseline8Bit}, "8-bit"),
        ({"transfer_syntax": "1.2.3"}, "not one"),
        ({"photometric": "RGB"}, "photometric"),
    ],
)
def test_spec_rejects_what_cannot_be_written(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SeriesSpec(**changes)  # type: ignore[arg-type]
