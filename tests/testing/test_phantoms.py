"""The phantoms hold the anatomy they promise, in real units, deterministically.

The CT checks sample the demo-sized torso (120 × 256², 1.5 × 1.4 × 1.4 mm) at LPS points of
the demo series (``workstation.testing.demo``: columns and rows centred on x = y = 0, the first
slice at z = −260 mm), where the body has its real size.
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
import pytest

from workstation.testing import phantoms

SHAPE = (120, 256, 256)
SPACING = (1.5, 1.4, 1.4)
FIRST_Z = -260.0  # LPS z of slice k = 0 in the demo
HALF = (SHAPE[2] - 1) / 2 * SPACING[2]

Volume = npt.NDArray[np.float32]


@pytest.fixture(scope="module")
def ct() -> Volume:
    started = time.perf_counter()
    volume = phantoms.torso_ct(SHAPE, SPACING)
    print(f"\ntorso_ct {SHAPE}: {time.perf_counter() - started:.2f} s")
    assert volume.dtype == np.int16 and volume.shape == SHAPE
    return volume.astype(np.float32)


def index(x: float, y: float, z: float) -> tuple[int, int, int]:
    """``(k, j, i)`` of the LPS point (mm) in the demo geometry."""
    return (
        round((z - FIRST_Z) / SPACING[0]),
        round((y + HALF) / SPACING[1]),
        round((x + HALF) / SPACING[2]),
    )


def hu(ct: Volume, x: float, y: float, z: float, reach: int = 2) -> float:
    """Median HU in a small cube round the LPS point (beats the noise and thin vessels)."""
    k, j, i = index(x, y, z)
    cube = ct[k - reach : k + reach + 1, j - reach : j + reach + 1, i - reach : i + reach + 1]
    return float(np.median(cube))


def runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """``(start, length)`` of the runs of True in a 1-D mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(a), int(b - a)) for a, b in zip(starts, stops, strict=True)]


@pytest.mark.parametrize(
    ("organ", "point", "expected", "tolerance"),
    [
        ("liver, right lobe", (-70.0, 20.0, -200.0), phantoms.LIVER_HU, 15),
        ("liver lesion", (-92.0, -8.0, -191.0), phantoms.LESION_HU, 15),
        ("spleen", (94.0, 44.0, -187.0), phantoms.SPLEEN_HU, 15),
        ("abdominal aorta", (6.0, -1.5, -211.0), phantoms.AORTA_HU, 25),
        ("IVC", (-25.0, 3.0, -211.0), phantoms.IVC_HU, 25),
        ("portal vein", (-28.0, -10.0, -189.0), phantoms.PORTAL_VEIN_HU, 30),
        ("left ventricular blood", (40.0, -35.0, -111.0), phantoms.HEART_BLOOD_HU, 25),
        ("right lower lobe", (-100.0, 30.0, -121.0), phantoms.LUNG_HU, 40),
        ("CSF in the lumbar canal", (0.0, 52.0, -241.0), phantoms.CSF_HU, 20),
        ("anterior subcutaneous fat", (0.0, -100.0, -241.0), phantoms.FAT_HU, 20),
        ("gastric fluid", (62.0, 10.0, -171.0), phantoms.FLUID_HU, 20),
        ("gastric air", (45.0, -55.0, -188.0), phantoms.AIR_HU, 100),
        ("gallbladder", (-50.0, -52.0, -199.0), phantoms.BILE_HU, 20),
        ("erector spinae", (30.0, 85.0, -200.0), phantoms.MUSCLE_HU, 20),
        ("psoas", (36.0, 24.0, -255.0), phantoms.MUSCLE_HU, 20),
    ],
)
def test_organs_at_known_points(
    ct: Volume, organ: str, point: tuple[float, float, float], expected: float, tolerance: float
) -> None:
    assert abs(hu(ct, *point) - expected) <= tolerance, organ


def test_outside_air_and_value_range(ct: Volume) -> None:
    assert abs(float(ct[:, :5, :5].mean()) - phantoms.AIR_HU) < 5
    assert ct.min() >= -1024 and ct.max() <= 3071


def test_body_outline_changes_along_z(ct: Volume) -> None:
    def extent(z: float) -> tuple[float, float]:
        body = ct[index(0.0, 0.0, z)[0]] > -500
        columns = np.flatnonzero(body.any(axis=0))
        rows = np.flatnonzero(body.any(axis=1))
        return (columns[-1] - columns[0]) * SPACING[2], (rows[0] - (SHAPE[1] - 1) / 2) * SPACING[1]

    chest_width, chest_front = extent(-100.0)
    waist_width, belly_front = extent(-220.0)
    assert chest_width > waist_width + 15.0  # wider at the chest
    assert belly_front < chest_front - 5.0  # the abdomen bulges forward


def test_subcutaneous_fat_then_muscle(ct: Volume) -> None:
    # From the left flank inwards at the waist: skin, at least 1 cm of fat, then the wall.
    k, j, _ = index(0.0, 0.0, -230.0)
    ray = ct[k, j, ::-1]
    inside = int(np.argmax(ray > -500)) + 1  # past the partial-volume skin edge
    fat = runs((ray[inside:] > -160) & (ray[inside:] < -40))[0]
    assert fat[0] == 0 and fat[1] * SPACING[2] >= 10.0
    muscle = ray[inside + fat[1] + 2 : inside + fat[1] + 6]
    assert np.all(np.abs(muscle - phantoms.MUSCLE_HU) < 45)


def test_lungs_sit_on_domes_the_right_higher(ct: Volume) -> None:
    def dome(x: float) -> float:
        _, j, i = index(x, 0.0, 0.0)
        column = np.median(ct[:, j - 1 : j + 2, i - 1 : i + 2].reshape(SHAPE[0], -1), axis=1)
        lung = column < -600
        k = next(k for k in range(SHAPE[0] - 6) if lung[k : k + 6].all())
        return FIRST_Z + k * SPACING[0]

    right, left = dome(-60.0), dome(60.0)
    assert right - left >= 8.0
    assert abs(hu(ct, -60.0, 0.0, right - 15.0) - phantoms.LIVER_HU) < 20  # liver under it
    assert hu(ct, -60.0, 0.0, right + 15.0) < -700  # lung above it


def test_lung_vessels_and_dependent_density(ct: Volume) -> None:
    # A block inside the right lower lobe: parenchyma with a few per cent of vessels.
    (k0, j0, i0), (k1, j1, i1) = index(-115.0, -30.0, -136.0), index(-70.0, 60.0, -86.0)
    block = ct[k0:k1, j0:j1, i0:i1]
    assert np.mean(block < -600) > 0.8
    assert 0.01 < np.mean(block > -300) < 0.15
    # Denser behind (dependent) than in front.
    chest = ct[80:, 60:200, 40:216]
    k, j, i = np.nonzero((chest > -950) & (chest < -600))
    front = chest[k[j < 50], j[j < 50], i[j < 50]].mean()
    back = chest[k[j > 100], j[j > 100], i[j > 100]].mean()
    assert back > front + 15.0


def test_kidneys_have_cortex_and_sinus(ct: Volume) -> None:
    k, j, i = index(66.0, 44.0, -218.0)  # the left kidney
    block = ct[k - 10 : k + 11, j - 14 : j + 15, i - 14 : i + 15]
    assert np.percentile(block, 95) > 120  # enhancing cortex
    assert np.percentile(block, 5) < 0  # sinus fat


def test_spine_alternates_bodies_and_discs(ct: Volume) -> None:
    _, j, i = index(0.0, 30.0, 0.0)
    column = np.median(ct[:, j - 1 : j + 2, i - 1 : i + 2].reshape(SHAPE[0], -1), axis=1)
    discs = [r for r in runs(column < 150) if r[1] >= 2]
    bodies = [r for r in runs((column > 180) & (column < 330)) if r[1] * SPACING[0] >= 10]
    assert len(discs) >= 5 and len(bodies) >= 5
    assert np.any(column > 400)  # cortical endplates


def test_ribs_are_short_sections_in_coronal_and_arcs_in_axial(ct: Volume) -> None:
    _, j, _ = index(0.0, 0.0, 0.0)
    for low, high in ((-150.0, -115.0), (115.0, 150.0)):  # the lateral chest walls
        i0, i1 = index(low, 0.0, 0.0)[2], index(high, 0.0, 0.0)[2]
        bone = ct[:, j, i0:i1].max(axis=1) > 300
        ribs = runs(bone)
        assert len(ribs) >= 5
        assert all(length * SPACING[0] < 25.0 for _, length in ribs)
    # An axial slice through the lower chest: bone round the wall in several partial arcs.
    k = index(0.0, 0.0, -141.0)[0]
    y, x = np.mgrid[0 : SHAPE[1], 0 : SHAPE[2]]
    y = (y - (SHAPE[1] - 1) / 2) * SPACING[1]
    x = (x - (SHAPE[2] - 1) / 2) * SPACING[2]
    wall = (ct[k] > 300) & (np.hypot(x, y) > 100.0)
    angle = np.degrees(np.arctan2(x, -y))[wall] % 360.0
    covered = np.histogram(angle, bins=72, range=(0.0, 360.0))[0] > 0
    assert 0.15 < covered.mean() < 0.8
    assert int(np.sum(covered & ~np.roll(covered, 1))) >= 4


def test_torso_ct_is_deterministic_and_small_grids_work() -> None:
    a = phantoms.torso_ct((6, 32, 40), (2.5, 0.8, 0.7))
    b = phantoms.torso_ct((6, 32, 40), (2.5, 0.8, 0.7))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, phantoms.torso_ct((6, 32, 40), (2.5, 0.8, 0.7), seed=8))
    # A coarse grid still holds air, fat, soft tissue, lung and bone.
    coarse = phantoms.torso_ct((60, 128, 128), (3.0, 2.8, 2.8))
    assert abs(float(coarse[:, :5, :5].mean()) - phantoms.AIR_HU) < 5
    top = np.mean(np.abs(coarse[45:] + 850) < 60)  # lungs fill the upper quarter
    bottom = np.mean(np.abs(coarse[:15] + 850) < 60)  # only bowel gas edges at the bottom
    assert top > 0.08 and bottom < 0.03 and top > 4 * bottom
    assert coarse.max() > 500
    middle = coarse[30]
    assert np.mean((middle > 20) & (middle < 90)) > 0.1


# --- cine MR ----------------------------------------------------------------------------


CINE = (6, 20, (96, 96), (8.0, 2.6, 2.6))


def test_cine_beats() -> None:
    labels = phantoms.cine_short_axis_labels(*CINE)
    image = phantoms.cine_short_axis_mr(*CINE)
    assert image.dtype == np.uint16 and image.shape == (20, 6, 96, 96)
    lv = (labels == phantoms.LEFT_VENTRICLE).sum(axis=(1, 2, 3))
    myo = (labels == phantoms.MYOCARDIUM).sum(axis=(1, 2, 3))
    end_systole = int(np.argmin(lv))
    assert end_systole == 7  # 35 % of 20 phases
    assert lv[0] > 1.8 * lv[end_systole]  # ejection fraction above 45 %
    assert abs(int(myo[0]) - int(myo[end_systole])) < 0.15 * myo[0]  # the muscle keeps its volume
    assert (labels[:, 0] == phantoms.RIGHT_VENTRICLE).any()
    assert not (labels[:, -1] == phantoms.RIGHT_VENTRICLE).any()  # no RV at the apex
    np.testing.assert_array_equal(image, phantoms.cine_short_axis_mr(*CINE))
    assert not np.array_equal(image, phantoms.cine_short_axis_mr(*CINE, seed=12))


def test_cine_labels_match_the_image() -> None:
    labels = phantoms.cine_short_axis_labels(*CINE)
    image = phantoms.cine_short_axis_mr(*CINE).astype(np.float32)
    lv, rv = labels == phantoms.LEFT_VENTRICLE, labels == phantoms.RIGHT_VENTRICLE
    myocardium = labels == phantoms.MYOCARDIUM
    assert np.median(image[lv]) > 700 and np.median(image[rv]) > 700  # bright SSFP blood
    assert np.median(image[myocardium]) < 300  # dark muscle
    assert np.mean(image[myocardium] < 450) > 0.95
    # Papillary muscles: a few dark spots inside the LV cavity, away from the base.
    dark = lv & (image < 450)
    assert 0.005 < dark.sum() / lv.sum() < 0.1
    assert not dark[:, 0].any()
    # Lung (dark) and fat (bright) round the heart.
    background = image[labels == phantoms.BACKGROUND]
    assert np.mean(background < 120) > 0.1 and np.mean(background > 550) > 0.03


def test_cine_rv_is_a_crescent_beside_the_lv() -> None:
    labels = phantoms.cine_short_axis_labels(*CINE)[0, 1]  # end-diastole, near the base
    rows, columns = np.indices(labels.shape)
    lv = labels == phantoms.LEFT_VENTRICLE
    rv = labels == phantoms.RIGHT_VENTRICLE
    lv_row, lv_column = rows[lv].mean(), columns[lv].mean()
    assert columns[rv].mean() < lv_column - 8  # on the septal side, the image left
    # It wraps round the septum: RV above and below the LV centre, but none across it on the
    # free-wall side.
    assert (rv & (rows < lv_row - 8)).any() and (rv & (rows > lv_row + 8)).any()
    assert not (rv & (columns > lv_column)).any()
    assert rv.sum() < lv.sum() + (labels == phantoms.MYOCARDIUM).sum()
