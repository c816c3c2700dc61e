"""Volumes, ejection fractions, mass and body surface area from label maps."""

from __future__ import annotations

import numpy as np
import pytest
from cardio_plugin import LV_BLOOD_POOL, LV_MYOCARDIUM, RV_BLOOD_POOL, measures


def _cine(lv_voxels: list[int], myo: int, rv_voxels: list[int]) -> np.ndarray:
    """A [t, 2, 20, 20] label map with the given voxel counts per phase (spread over slices)."""
    labels = np.zeros((len(lv_voxels), 2, 20, 20), dtype=np.uint8)
    for t, (lv, rv) in enumerate(zip(lv_voxels, rv_voxels, strict=True)):
        flat = labels[t].reshape(-1)
        flat[:lv] = LV_BLOOD_POOL
        flat[lv : lv + myo] = LV_MYOCARDIUM
        flat[lv + myo : lv + myo + rv] = RV_BLOOD_POOL
    return labels


def test_volumes_are_voxel_counts_times_the_voxel_volume_of_the_affine() -> None:
    # Oblique, non-square pixels and 8 mm between slices: 1.5 × 1.25 × 8 = 15 mm³ per voxel.
    rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([1.5, 1.25, 8.0])
    labels = _cine([100, 40, 80], 60, [90, 50, 70])
    volumes = measures.phase_volumes(labels, affine)
    np.testing.assert_allclose(volumes["lv"], [1.5, 0.6, 1.2])
    np.testing.assert_allclose(volumes["myo"], [0.9, 0.9, 0.9])
    np.testing.assert_allclose(volumes["rv"], [1.35, 0.75, 1.05])


def test_ed_es_ejection_fraction_and_mass() -> None:
    volumes = {
        "lv": np.array([120.0, 100.0, 50.0, 48.0, 90.0, 121.0]),
        "myo": np.array([95.0, 96.0, 94.0, 97.0, 95.0, 100.0]),
        "rv": np.array([130.0, 110.0, 60.0, 61.0, 100.0, 128.0]),
    }
    function = measures.cardiac_function(volumes)
    assert (function.ed_phase, function.es_phase) == (5, 3)
    values = function.values
    assert values["lv_edv_ml"] == 121.0 and values["lv_esv_ml"] == 48.0
    assert values["lv_sv_ml"] == 73.0
    assert values["lv_ef_percent"] == pytest.approx(100 * 73 / 121)
    assert values["lv_mass_g"] == pytest.approx(100.0 * 1.05)  # at ED, 1.05 g/ml
    # The RV is read at the LV's end-diastole and end-systole.
    assert (values["rv_edv_ml"], values["rv_esv_ml"]) == (128.0, 61.0)
    assert values["rv_ef_percent"] == pytest.approx(100 * 67 / 128)
    assert (values["ed_phase"], values["es_phase"]) == (5.0, 3.0)
    assert function.phases["lv_esv_ml"] == 3 and function.phases["lv_edv_ml"] == 5
    assert not any(key.endswith("_m2") for key in values)


def test_indexed_values_when_the_body_surface_area_is_known() -> None:
    volumes = {
        "lv": np.array([150.0, 60.0]),
        "myo": np.array([120.0, 120.0]),
        "rv": np.array([160.0, 70.0]),
    }
    bsa = measures.bsa_mosteller(1.80, 80.0)
    assert bsa == pytest.approx(2.0)  # sqrt(180 × 80 / 3600)
    values = measures.cardiac_function(volumes, bsa).values
    assert values["bsa_m2"] == pytest.approx(2.0)
    assert values["lv_edv_index_ml_m2"] == pytest.approx(75.0)
    assert values["lv_esv_index_ml_m2"] == pytest.approx(30.0)
    assert values["lv_sv_index_ml_m2"] == pytest.approx(45.0)
    assert values["lv_mass_index_g_m2"] == pytest.approx(63.0)
    assert values["rv_edv_index_ml_m2"] == pytest.approx(80.0)
    assert values["rv_esv_index_ml_m2"] == pytest.approx(35.0)


@pytest.mark.parametrize(
    ("height", "weight"), [(None, 70.0), (1.7, None), (170.0, 70.0), (1.7, 0.0)]
)
def test_no_body_surface_area_without_plausible_height_and_weight(
    height: float | None, weight: float | None
) -> None:
    # 170 is PatientSize in centimetres by mistake (the attribute is in metres).
    assert measures.bsa_mosteller(height, weight) is None


def test_an_empty_ventricle_has_no_ejection_fraction() -> None:
    volumes = {"lv": np.array([0.0, 0.0]), "myo": np.array([0.0, 0.0]), "rv": np.array([0.0, 0.0])}
    values = measures.cardiac_function(volumes).values
    assert np.isnan(values["lv_ef_percent"]) and np.isnan(values["rv_ef_percent"])
