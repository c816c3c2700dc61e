"""The synthetic cine generator produces what it claims: anatomy, function, acquisition."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from cardio_plugin import measures
from cardio_plugin.synth.anatomy import Case, draw_case
from cardio_plugin.synth.render import render

SEEDS = range(30_000, 30_030)


def _thin_slices(case: Case, spacing: float = 1.0, pixel: float = 1.25) -> Case:
    """The same heart imaged without what makes slice summation approximate: thin contiguous
    slices exactly across the long axis, fine pixels, no breath-hold offsets."""
    heart = case.heart
    ed = heart.state(0.0)
    low, high = -ed.apical_wall - 3.0, ed.length + 3.0
    n = math.ceil((high - low) / spacing) + 1
    width = 2.0 * (ed.epi_radius + heart.rv_thickness_ed + heart.rv_wall) + 20.0
    matrix = math.ceil(width / pixel)
    row, column = heart.axes[0], heart.axes[1]  # row × column = the long axis
    origin = heart.apex + low * heart.axes[2] - (row + column) * pixel * (matrix - 1) / 2.0
    acquisition = replace(
        case.acquisition,
        rows=matrix,
        columns=matrix,
        pixel_spacing=pixel,
        n_slices=n,
        slice_thickness=spacing,
        slice_spacing=spacing,
        row_direction=row,
        column_direction=column,
        origin=origin,
        breath_offsets=np.zeros((n, 3)),
    )
    return replace(case, acquisition=acquisition)


def test_label_volumes_equal_the_analytic_volumes_on_fine_slices() -> None:
    """On 1 mm slices the label maps measure the analytic volumes to within 2 % (labels are
    whole voxels, so what is left is the partial voxels at the surfaces; it halves with the
    slice thickness: on 2 mm slices it reaches 3 % for the smaller ventricles)."""
    case = _thin_slices(draw_case(30_001))
    volumes = case.analytic_volumes()
    ed, es = int(np.argmax(volumes["lv_ml"])), int(np.argmin(volumes["lv_ml"]))
    rendered = render(case, (ed, es), sub=2)
    measured = measures.phase_volumes(rendered.labels, case.acquisition.affine)
    for index, phase in enumerate((ed, es)):
        assert measured["lv"][index] == pytest.approx(volumes["lv_ml"][phase], rel=0.02)
        assert measured["myo"][index] == pytest.approx(volumes["myo_ml"][phase], rel=0.02)
        assert measured["rv"][index] == pytest.approx(volumes["rv_ml"][phase], rel=0.02)


def test_label_volumes_track_the_analytic_volumes_in_clinical_stacks() -> None:
    """Thick slices with breath-hold offsets: slice summation is off by a few percent per
    case (as in real cine MR), not more, and without a systematic bias."""
    errors: dict[str, list[float]] = {"lv": [], "myo": [], "rv": []}
    for seed in (30_010, 30_011, 30_012):
        case = draw_case(seed)
        volumes = case.analytic_volumes()
        ed = int(np.argmax(volumes["lv_ml"]))
        rendered = render(case, (ed,), sub=2)
        measured = measures.phase_volumes(rendered.labels, case.acquisition.affine)
        for name, found in errors.items():
            found.append(measured[name][0] / volumes[f"{name}_ml"][ed] - 1.0)
    for name, values in errors.items():
        assert max(abs(v) for v in values) < 0.12, (name, values)
        assert abs(float(np.mean(values))) < 0.06, (name, values)


def test_closed_form_lv_volume_is_the_integral_of_the_shape() -> None:
    heart = draw_case(30_003).heart
    state = heart.state(0.3)
    z = np.linspace(0.0, state.length, 2001)
    theta = np.linspace(-np.pi, np.pi, 721)
    radius = heart.endocardial_radius(state, z[:, None], theta[None, :])
    area = np.trapezoid(radius**2 / 2.0, theta, axis=1)
    assert np.trapezoid(area, z) / 1000.0 == pytest.approx(heart.lv_ml(state), rel=1e-3)


def test_acquisitions_are_drawn_within_the_stated_ranges() -> None:
    for seed in SEEDS:
        case = draw_case(seed)
        acq = case.acquisition
        assert 8 <= acq.n_slices <= 14
        assert 20 <= acq.n_phases <= 30
        assert 6.0 <= acq.slice_thickness <= 10.0 + 1e-9
        assert acq.slice_thickness <= acq.slice_spacing <= 12.5
        assert 1.2 <= acq.pixel_spacing <= 2.0
        assert abs(acq.row_direction @ acq.column_direction) < 1e-9
        # Short axis: the slices cut the long axis nearly at right angles (≤ 8° off).
        tilt = math.degrees(math.acos(abs(float(acq.normal @ case.heart.axes[2]))))
        assert tilt <= 8.0 + 1e-6
        # The stack covers the ventricle from beyond the apex to the base: where the first
        # and last planes cross the long axis.
        axis = case.heart.axes[2]
        along = sorted(
            float((acq.origin + k * acq.slice_spacing * acq.normal - case.heart.apex) @ acq.normal)
            / float(axis @ acq.normal)
            for k in (0, acq.n_slices - 1)
        )
        ed = case.heart.state(0.0)
        assert along[0] < -ed.apical_wall + 0.5 * acq.slice_spacing
        assert along[1] > ed.length - 0.5 * acq.slice_spacing


def test_function_spans_the_stated_range_and_ed_is_where_the_generator_says() -> None:
    efs, rv_efs, edvs = [], [], []
    for seed in SEEDS:
        case = draw_case(seed)
        volumes = case.analytic_volumes()
        lv = volumes["lv_ml"]
        assert int(np.argmax(lv)) == case.acquisition.ed_index
        assert np.allclose(volumes["myo_ml"], volumes["myo_ml"][0])  # muscle is incompressible
        efs.append(100.0 * (lv.max() - lv.min()) / lv.max())
        rv_efs.append(100.0 * (1.0 - volumes["rv_ml"].min() / volumes["rv_ml"].max()))
        edvs.append(lv.max())
    assert min(efs) >= 14.0 and max(efs) <= 75.5
    assert max(efs) - min(efs) > 40.0
    assert min(rv_efs) >= 10.0 and max(rv_efs) <= 80.0
    assert min(edvs) > 30.0 and max(edvs) < 400.0


def test_the_same_seed_gives_the_same_voxels() -> None:
    a = render(draw_case(30_004, rows=96, columns=96), (0, 5), (3, 4))
    b = render(draw_case(30_004, rows=96, columns=96), (0, 5), (3, 4))
    np.testing.assert_array_equal(a.stored, b.stored)
    np.testing.assert_array_equal(a.labels, b.labels)
    c = render(draw_case(30_005, rows=96, columns=96), (0, 5), (3, 4))
    assert not np.array_equal(a.stored, c.stored)


def test_overrides_change_the_acquisition_not_the_anatomy() -> None:
    plain = draw_case(30_006)
    fixed = draw_case(30_006, rows=256, columns=256, n_slices=12, n_phases=25)
    assert (fixed.acquisition.rows, fixed.acquisition.columns) == (256, 256)
    assert (fixed.acquisition.n_slices, fixed.acquisition.n_phases) == (12, 25)
    assert fixed.heart.edv_ml == plain.heart.edv_ml
    assert fixed.heart.ejection_fraction == plain.heart.ejection_fraction


def test_images_show_bright_blood_and_labels_are_the_three_structures() -> None:
    case = draw_case(30_007)
    ed = case.acquisition.ed_index
    middle = case.acquisition.n_slices // 2
    rendered = render(case, (ed,), (middle,))
    image, labels = rendered.stored[0, 0].astype(float), rendered.labels[0, 0]
    assert set(np.unique(labels)) == {0, 1, 2, 3}
    assert image[labels == 1].mean() > 1.5 * image[labels == 2].mean()
    assert image[labels == 3].mean() > 1.5 * image[labels == 2].mean()
    assert rendered.stored.max() <= 4095  # 12 bits stored
