"""Slices are placed by their position along the normal, with the affine DICOM implies."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workstation.core.volume import StackKind
from workstation.io import scan
from workstation.testing.factories import SeriesSpec, write_enhanced_mr, write_series

from .conftest import warning_codes

CT = SeriesSpec(shuffle=True)


def _assert_matches(volume, written) -> None:
    np.testing.assert_allclose(volume.affine, written.affine, atol=1e-4)
    np.testing.assert_array_equal(volume.array, written.values.astype(volume.array.dtype))
    assert np.array_equal(volume.array.astype(np.float64), written.values)


def test_shuffled_names_and_instance_numbers_do_not_change_the_order(tmp_path, load_one) -> None:
    written = write_series(tmp_path, CT)
    stack, volume = load_one(tmp_path)
    assert stack.kind is StackKind.VOLUME
    assert volume.array.shape == (8, 32, 40)
    assert volume.array.dtype == np.int16  # 12-bit unsigned − 1024 fits int16 exactly
    assert not stack.warnings
    _assert_matches(volume, written)


@pytest.mark.parametrize(
    "orientation",
    [
        (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),  # axial
        (1.0, 0.0, 0.0, 0.0, 0.0, -1.0),  # coronal
        (0.0, 1.0, 0.0, 0.0, 0.0, -1.0),  # sagittal
        (0.866025, 0.5, 0.0, -0.353553, 0.612372, -0.707107),  # double oblique
    ],
    ids=["axial", "coronal", "sagittal", "oblique"],
)
def test_planes_and_oblique_orientations(tmp_path, load_one, orientation) -> None:
    written = write_series(
        tmp_path,
        replace(CT, orientation=orientation, rows=24, columns=36, pixel_spacing=(0.6, 1.1)),
    )
    _, volume = load_one(tmp_path)
    _assert_matches(volume, written)
    normal = np.cross(orientation[:3], orientation[3:])
    assert np.dot(volume.affine[:3, 2], normal) > 0  # k ascends along row × column


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rotation=st.tuples(st.floats(-3.1, 3.1), st.floats(-1.4, 1.4), st.floats(-3.1, 3.1)),
    rows=st.integers(3, 20),
    columns=st.integers(3, 20),
    n_slices=st.integers(2, 7),
    spacing=st.tuples(st.floats(0.3, 3.0), st.floats(0.3, 3.0)),
    slice_spacing=st.floats(0.5, 8.0),
)
def test_any_grid_round_trips(
    tmp_path_factory, rotation, rows, columns, n_slices, spacing, slice_spacing
) -> None:
    a, b, c = rotation
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rx = np.array([[1, 0, 0], [0, np.cos(c), -np.sin(c)], [0, np.sin(c), np.cos(c)]])
    matrix = rz @ ry @ rx
    orientation = tuple(round(float(v), 6) for v in (*matrix[:, 0], *matrix[:, 1]))
    folder = tmp_path_factory.mktemp("grid")
    written = write_series(
        folder,
        replace(
            CT,
            orientation=orientation,
            rows=rows,
            columns=columns,
            n_slices=n_slices,
            pixel_spacing=spacing,
            slice_spacing=slice_spacing,
        ),
    )
    result = scan(folder)
    assert len(result.stacks) == 1
    from workstation.io import load_stack

    volume = load_stack(result.stacks[0])
    np.testing.assert_allclose(volume.affine, written.affine, atol=2e-4)
    np.testing.assert_array_equal(volume.array.astype(np.float64), written.values)


def test_cine_with_oblique_short_axis(tmp_path, load_one) -> None:
    spec = replace(
        CT,
        modality="MR",
        rescale_slope=None,
        rescale_intercept=None,
        phases=7,
        n_slices=5,
        orientation=(0.6, 0.8, 0.0, -0.48, 0.36, -0.8),
        pixel_spacing=(1.4, 1.4),
        slice_spacing=8.0,
    )
    written = write_series(tmp_path, spec)
    stack, volume = load_one(tmp_path)
    assert stack.kind is StackKind.CINE
    assert stack.phases == 7
    assert volume.array.shape == (7, 5, 32, 40)
    assert volume.array.dtype == np.uint16
    np.testing.assert_array_equal(volume.array, written.values)
    np.testing.assert_allclose(volume.affine, written.affine, atol=1e-4)
    assert volume.phase_times_ms == pytest.approx(written.phase_times)


def test_enhanced_multiframe_cine_with_shuffled_frames(tmp_path, load_one) -> None:
    spec = replace(
        CT,
        modality="MR",
        rescale_slope=None,
        rescale_intercept=None,
        phases=4,
        n_slices=3,
        orientation=(0.6, 0.8, 0.0, -0.48, 0.36, -0.8),
    )
    written = write_enhanced_mr(tmp_path / "enhanced.dcm", spec)
    stack, volume = load_one(tmp_path / "enhanced.dcm")
    assert stack.kind is StackKind.CINE
    assert volume.array.shape == (4, 3, 32, 40)
    np.testing.assert_array_equal(volume.array, written.values)
    np.testing.assert_allclose(volume.affine, written.affine, atol=1e-4)


def test_enhanced_multiframe_volume(tmp_path, load_one) -> None:
    spec = replace(CT, modality="MR", rescale_slope=None, rescale_intercept=None, n_slices=6)
    written = write_enhanced_mr(tmp_path / "enhanced.dcm", spec)
    stack, volume = load_one(tmp_path / "enhanced.dcm")
    assert stack.kind is StackKind.VOLUME
    np.testing.assert_array_equal(volume.array, written.values)
    np.testing.assert_allclose(volume.affine, written.affine, atol=1e-4)


def test_non_square_pixels_and_matrix_keep_i_along_columns(tmp_path, load_one) -> None:
    written = write_series(tmp_path, replace(CT, rows=20, columns=50, pixel_spacing=(2.0, 0.5)))
    _, volume = load_one(tmp_path)
    assert volume.array.shape == (8, 20, 50)
    assert volume.spacing_ijk == pytest.approx((0.5, 2.0, 2.5))
    _assert_matches(volume, written)


def test_gantry_tilt_is_reported_and_geometry_kept_exact(tmp_path, load_one) -> None:
    written = write_series(tmp_path, replace(CT, gantry_tilt_degrees=12.0))
    stack, volume = load_one(tmp_path)
    assert "gantry_tilt" in warning_codes(stack)
    _assert_matches(volume, written)
    for k, position in enumerate(written.positions):
        np.testing.assert_allclose(volume.index_to_lps((0, 0, k)), position, atol=1e-4)


def test_missing_slices_are_reported_not_filled(tmp_path, load_one) -> None:
    written = write_series(tmp_path, replace(CT, missing_slices=(3, 4)))
    stack, volume = load_one(tmp_path)
    assert warning_codes(stack) == {"missing_slices"}
    assert "2 slice" in stack.warnings[0].message
    present = [k for k in range(8) if k not in (3, 4)]
    np.testing.assert_array_equal(volume.array.astype(np.float64), written.values[present])


def test_nonuniform_spacing_is_reported(tmp_path, load_one) -> None:
    write_series(tmp_path, replace(CT, nonuniform={5: 0.9}))
    stack, _ = load_one(tmp_path)
    assert warning_codes(stack) == {"nonuniform_spacing"}


def test_duplicate_instances_are_reported_and_used_once(tmp_path, load_one) -> None:
    written = write_series(tmp_path, replace(CT, duplicate_slices=(2,)))
    stack, volume = load_one(tmp_path)
    assert warning_codes(stack) == {"duplicate_instances"}
    _assert_matches(volume, written)


def test_localizer_becomes_its_own_stack(tmp_path) -> None:
    write_series(tmp_path, replace(CT, localizer=True))
    result = scan(tmp_path)
    assert [s.kind for s in result.stacks] == [StackKind.VOLUME, StackKind.IMAGE2D]
    main, localizer = result.stacks
    assert main.shape == (8, 32, 40)
    assert "localizer_split" in warning_codes(main)
    assert "localizer_split" in warning_codes(localizer)
    assert (main.index, localizer.index) == (0, 1)


def test_two_orientations_in_one_series_split(tmp_path) -> None:
    axial = write_series(tmp_path / "a", replace(CT, uid_seed="split"))
    write_series(
        tmp_path / "b",
        replace(
            CT,
            uid_seed="split-b",
            n_slices=4,
            orientation=(1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
            series_instance_uid=axial.series_instance_uid,
            study_instance_uid=axial.study_instance_uid,
        ),
    )
    result = scan(tmp_path)
    assert sorted(s.shape for s in result.stacks) == [(4, 32, 40), (8, 32, 40)]
    assert all("orientation_split" in warning_codes(s) for s in result.stacks)
    assert len(result.tree.patients[0].studies[0].series) == 1


def test_monochrome1_and_lossy_are_reported_values_kept(tmp_path, load_one) -> None:
    written = write_series(tmp_path, replace(CT, photometric="MONOCHROME1", lossy=True))
    stack, volume = load_one(tmp_path)
    assert warning_codes(stack) == {"monochrome1", "lossy_compression"}
    _assert_matches(volume, written)


def test_study_tree_carries_identity(tmp_path) -> None:
    written = write_series(
        tmp_path,
        replace(
            CT,
            patient_name="Doe^Jane",
            patient_id="P42",
            series_description="Chest 1.25",
            series_number=3,
        ),
    )
    tree = scan(tmp_path).tree
    (patient,) = tree.patients
    assert (patient.patient_name, patient.patient_id) == ("Doe^Jane", "P42")
    (study,) = patient.studies
    assert study.study_instance_uid == written.study_instance_uid
    (series,) = study.series
    assert (series.series_description, series.series_number, series.modality) == (
        "Chest 1.25",
        3,
        "CT",
    )


def test_first_frame_is_the_first_slice_along_the_normal(tmp_path) -> None:
    from workstation.io import load_frame

    written = write_series(
        tmp_path,
        replace(
            CT, modality="MR", rescale_slope=None, rescale_intercept=None, phases=3, n_slices=4
        ),
    )
    (stack,) = scan(tmp_path).stacks
    np.testing.assert_array_equal(load_frame(stack, 0), written.values[0, 0])
    np.testing.assert_array_equal(load_frame(stack, 4 + 2), written.values[1, 2])  # phase 1
    assert load_frame(stack, 0).dtype == np.dtype(stack.dtype)


def test_progressive_load_fills_the_wanted_slice_first_then_outwards(tmp_path) -> None:
    from workstation.io.progressive import ProgressiveLoad, outward_order

    assert list(outward_order(5, 2)) == [2, 3, 1, 4, 0]
    written = write_series(tmp_path, replace(CT, n_slices=40))
    (stack,) = scan(tmp_path).stacks
    load = ProgressiveLoad(stack)
    assert load.load([20]) == [20]
    assert load.loaded.sum() == 1
    np.testing.assert_array_equal(load.array[20], written.values[20])
    batches: list[list[int]] = []
    assert load.run(first=20, on_batch=batches.append)
    assert load.loaded.all() and not load.errors
    assert batches[0][:3] == [21, 19, 22]  # neighbours of what is on screen come next
    np.testing.assert_array_equal(load.array.astype(float), written.values)


def test_progressive_load_reports_a_bad_file_and_keeps_the_rest(tmp_path) -> None:
    from pydicom.uid import JPEGLSLossless

    from workstation.io.progressive import ProgressiveLoad

    written = write_series(tmp_path, replace(CT, n_slices=6, transfer_syntax=JPEGLSLossless))
    (stack,) = scan(tmp_path).stacks
    victim = written.slice_paths[(0, 2)]
    data = bytearray(victim.read_bytes())
    start = data.find(b"\xff\xd8")
    data[start + 2 : start + 40] = b"\xff\x99" * 19
    victim.write_bytes(bytes(data))
    load = ProgressiveLoad(stack)
    load.run()
    assert [e.path for e in load.errors] == [str(victim)]
    assert load.loaded.tolist() == [True, True, False, True, True, True]
