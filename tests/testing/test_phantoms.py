"""The phantoms hold the anatomy they promise, in real units, deterministically."""

from __future__ import annotations

import numpy as np

from workstation.testing import phantoms


def test_torso_ct_tissues() -> None:
    volume = phantoms.torso_ct((60, 128, 128), (3.0, 2.8, 2.8))
    assert volume.dtype == np.int16 and volume.shape == (60, 128, 128)
    corner = volume[:, :5, :5]
    assert abs(float(corner.mean()) - phantoms.AIR_HU) < 5
    # Lungs fill the upper half: lots of voxels near −850 there, none in the lower quarter.
    upper, lower = volume[45:], volume[:15]
    assert np.mean(np.abs(upper + 850) < 40) > 0.1
    assert np.mean(np.abs(lower + 850) < 40) < 0.01
    assert volume.max() > 600  # cortical bone
    middle = volume[30]
    soft = middle[(middle > 20) & (middle < 80)]
    assert soft.size > 0.2 * middle.size
    assert volume.min() >= -1024 and volume.max() <= 3071


def test_torso_ct_is_deterministic_and_small_grids_work() -> None:
    a = phantoms.torso_ct((6, 32, 40), (2.5, 0.8, 0.7))
    b = phantoms.torso_ct((6, 32, 40), (2.5, 0.8, 0.7))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, phantoms.torso_ct((6, 32, 40), (2.5, 0.8, 0.7), seed=8))


def test_cine_beats() -> None:
    labels = phantoms.cine_short_axis_labels(6, 20, (96, 96), (8.0, 2.6, 2.6))
    image = phantoms.cine_short_axis_mr(6, 20, (96, 96), (8.0, 2.6, 2.6))
    assert image.dtype == np.uint16 and image.shape == (20, 6, 96, 96)
    lv = (labels == phantoms.LEFT_VENTRICLE).sum(axis=(1, 2, 3))
    myo = (labels == phantoms.MYOCARDIUM).sum(axis=(1, 2, 3))
    end_systole = int(np.argmin(lv))
    assert end_systole == 7  # 35 % of 20 phases
    assert lv[0] > 1.8 * lv[end_systole]  # ejection fraction above 45 %
    assert abs(int(myo[0]) - int(myo[end_systole])) < 0.15 * myo[0]  # the muscle keeps its volume
    # Thicker wall at end-systole: the ring spans more of a radius than at end-diastole.
    assert (labels[:, 0] == phantoms.RIGHT_VENTRICLE).any()
    assert not (labels[:, -1] == phantoms.RIGHT_VENTRICLE).any()  # no RV at the apex
    blood = image[labels == phantoms.LEFT_VENTRICLE].mean()
    muscle = image[labels == phantoms.MYOCARDIUM].mean()
    assert blood > 3 * muscle
    np.testing.assert_array_equal(
        image, phantoms.cine_short_axis_mr(6, 20, (96, 96), (8.0, 2.6, 2.6))
    )
