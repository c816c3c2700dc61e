"""Helpers for plugin authors: LPS-preserving resampling, intensities, components, volumes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workstation.core import geometry
from workstation.core.volume import Volume
from workstation.inference import helpers


def _oblique_affine() -> np.ndarray:
    c, s = math.cos(0.4), math.sin(0.4)
    rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.7, 0.9, 3.0])
    affine[:3, 3] = (-20.0, 15.0, 100.0)
    return affine


def _ball(
    shape: tuple[int, int, int], affine: np.ndarray, centre: np.ndarray, r: float
) -> np.ndarray:
    k, j, i = np.indices(shape)
    ijk = np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1)
    lps = geometry.index_to_lps(affine, ijk)
    return (np.linalg.norm(lps - centre, axis=1) <= r).reshape(shape)


def test_resampling_keeps_lps_geometry() -> None:
    affine = _oblique_affine()
    shape = (12, 48, 40)
    centre = geometry.index_to_lps(affine, np.array([20.0, 24.0, 6.0]))
    ball = _ball(shape, affine, centre, 9.0)
    volume = Volume(ball.astype(np.int16) * 1000, affine)

    iso = helpers.resample_volume(volume, (1.0, 1.0, 1.0))
    assert iso.spacing_ijk == pytest.approx((1.0, 1.0, 1.0))
    np.testing.assert_allclose(iso.affine[:3, 3], affine[:3, 3])
    np.testing.assert_allclose(
        geometry.direction_cosines(iso.affine), geometry.direction_cosines(affine), atol=1e-9
    )
    # The ball stays where it was in patient space.
    k, j, i = (float(v.mean()) for v in np.nonzero(iso.array > 500))
    np.testing.assert_allclose(iso.index_to_lps([i, j, k]), centre, atol=0.6)

    back = helpers.resample_to((iso.array > 500).astype(np.uint8), iso.affine, like=volume)
    assert back.shape == shape and back.dtype == np.uint8
    agreement = np.count_nonzero((back > 0) == ball) / ball.size
    assert agreement > 0.98
    assert helpers.volume_ml(back, affine) == pytest.approx(4 / 3 * math.pi * 9**3 / 1000, rel=0.1)


def test_sitk_round_trip() -> None:
    affine = _oblique_affine()
    image = helpers.to_sitk(np.zeros((3, 4, 5), np.float32), affine)
    assert image.GetSize() == (5, 4, 3)
    np.testing.assert_allclose(helpers.affine_of(image), affine)


def test_intensities() -> None:
    values = np.arange(1000, dtype=np.int16).reshape(10, 10, 10)
    z = helpers.zscore(values)
    assert z.dtype == np.float32
    assert float(z.mean()) == pytest.approx(0.0, abs=1e-5) and float(z.std()) == pytest.approx(1.0)
    mask = values < 100
    assert float(helpers.zscore(values, mask)[mask].mean()) == pytest.approx(0.0, abs=1e-5)
    clipped = helpers.percentile_clip(values, 1, 99)
    assert clipped.min() == pytest.approx(9.99) and clipped.max() == pytest.approx(989.01)
    scaled = helpers.percentile_clip(values, 1, 99, rescale=True)
    assert (scaled.min(), scaled.max()) == (0.0, 1.0)
    assert helpers.window(np.array([-160, 40, 240]), 40, 400).tolist() == [0.0, 0.5, 1.0]


def test_components_and_volumes() -> None:
    mask = np.zeros((5, 10, 10), dtype=bool)
    mask[1:3, 1:3, 1:3] = True  # 8 voxels
    mask[1:4, 5:9, 5:9] = True  # 48 voxels
    mask[4, 0, 0] = True  # touches the first part only diagonally
    largest = helpers.largest_component(mask)
    assert largest.sum() == 48 and largest[2, 6, 6]
    assert not helpers.largest_component(np.zeros((2, 2, 2))).any()
    labels = np.zeros((5, 10, 10), dtype=np.uint8)
    labels[mask] = 2
    labels[0, 9, 9] = 1
    cleaned = helpers.keep_largest_per_label(labels)
    assert np.count_nonzero(cleaned == 2) == 48 and np.count_nonzero(cleaned == 1) == 1
    affine = np.diag([0.5, 0.5, 2.0, 1.0])
    assert helpers.voxel_ml(affine) == pytest.approx(0.0005)
    assert helpers.volumes_ml(cleaned, affine) == {
        1: pytest.approx(0.0005),
        2: pytest.approx(0.024),
    }
    assert helpers.volume_ml(labels, affine, value=1) == pytest.approx(0.0005)


def test_sliding_window_stitches_windows() -> None:
    """MONAI's sliding window over an image larger than the window gives the predictor's
    answer everywhere (here: the image doubled), whatever the overlap."""
    rng = np.random.default_rng(0)
    image = rng.normal(size=(20, 40, 36)).astype(np.float32)
    fractions: list[float] = []
    result = helpers.sliding_window(
        image,
        lambda batch: batch * 2.0,
        roi_size=(8, 16, 16),
        overlap=0.5,
        batch_size=2,
        progress=fractions.append,
    )
    assert result.shape == (1, 20, 40, 36)
    np.testing.assert_allclose(result[0], image * 2.0, rtol=1e-5, atol=1e-5)
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
