"""Volume invariants and the study tree."""

from __future__ import annotations

import numpy as np
import pytest

from workstation.core import StackKind, StudyTree, Volume
from workstation.core.errors import DicomFileError, ErrorCode, LoadWarning, WarningCode
from workstation.core.study import Stack


def test_volume_spacing_and_phases() -> None:
    affine = np.diag([0.7, 0.7, 3.0, 1.0])
    cine = Volume(
        np.zeros((25, 10, 8, 6), np.int16),
        affine,
        StackKind.CINE,
        phase_times_ms=tuple(float(t) for t in range(0, 1000, 40)),
    )
    assert cine.spacing_ijk == pytest.approx((0.7, 0.7, 3.0))
    assert cine.n_phases == 25
    assert cine.grid_shape == (10, 8, 6)
    assert cine.phase(3).shape == (10, 8, 6)
    assert np.shares_memory(cine.phase(3), cine.array)


def test_volume_refuses_arrays_that_do_not_fit_its_kind() -> None:
    with pytest.raises(ValueError, match="4-D"):
        Volume(np.zeros((10, 8, 6)), np.eye(4), StackKind.CINE)
    with pytest.raises(ValueError, match="phase times"):
        Volume(np.zeros((2, 3, 8, 6)), np.eye(4), StackKind.CINE, phase_times_ms=(0.0,))
    with pytest.raises(ValueError, match="4×4"):
        Volume(np.zeros((2, 8, 6)), np.eye(3))


def test_index_to_lps_uses_column_row_slice_order() -> None:
    affine = np.eye(4)
    affine[:3, 0] = (0.5, 0, 0)
    affine[:3, 1] = (0, 2.0, 0)
    affine[:3, 3] = (100, 200, 300)
    volume = Volume(np.zeros((4, 3, 2)), affine)
    np.testing.assert_allclose(volume.index_to_lps((1, 1, 1)), (100.5, 202, 301))
    np.testing.assert_allclose(volume.lps_to_index((100.5, 202, 301)), (1, 1, 1))


def test_tree_reuses_patients_studies_and_series() -> None:
    tree = StudyTree()
    patient = tree.patient("P1", "Doe^Jane")
    assert tree.patient("P1", "Doe^Jane") is patient
    study = tree.study(patient, "1.2.3")
    assert tree.study(patient, "1.2.3") is study
    series = tree.series(study, "1.2.3.4")
    series.stacks.append(
        Stack(
            index=0,
            kind=StackKind.VOLUME,
            shape=(3, 4, 5),
            affine=np.eye(4),
            dtype="int16",
            sop_class_uid="1.2",
            n_files=3,
            transfer_syntaxes=("1.2.840",),
        )
    )
    assert [s.nbytes for *_, s in tree.iter_stacks()] == [3 * 4 * 5 * 2]


def test_codes_serialise_as_the_cli_contract_names() -> None:
    warning = LoadWarning(WarningCode.GANTRY_TILT, "tilted")
    assert warning.to_json() == {"code": "gantry_tilt", "message": "tilted"}
    error = DicomFileError(ErrorCode.TRUNCATED, "short").at("/x.dcm")
    assert error.to_json() == {"path": "/x.dcm", "code": "truncated", "message": "short"}
    assert {c.value for c in WarningCode} == {
        "missing_slices",
        "nonuniform_spacing",
        "gantry_tilt",
        "localizer_split",
        "orientation_split",
        "duplicate_instances",
        "lossy_compression",
        "monochrome1",
    }
    assert {c.value for c in ErrorCode} == {
        "not_dicom",
        "truncated",
        "corrupt",
        "too_large",
        "unsupported_transfer_syntax",
    }
