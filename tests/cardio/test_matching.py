"""Which series the cardio module takes, and why it refuses the others."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from cardio_plugin.synth.anatomy import draw_case
from cardio_plugin.synth.dicom import series_spec

from workstation.inference import matching
from workstation.inference.analysis import NoSeriesFits, analyze
from workstation.io import scan
from workstation.testing.factories import SeriesSpec, write_series

# A generated case's geometry (double-oblique short axis) with small images: matching reads
# headers only.
SAX = replace(series_spec(draw_case(20_150)), rows=32, columns=40, uid_seed=None)


def _match(registry, folder: Path) -> matching.Match:  # type: ignore[no-untyped-def]
    spec = registry.find_module("cardio").spec.inputs[0]
    (candidate,) = matching.candidates(scan(folder).tree)
    return matching.examine(spec, candidate)


def test_a_generated_short_axis_cine_is_taken_by_its_description(registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    write_series(tmp_path, SAX)
    match = _match(registry, tmp_path)
    assert match.confidence == matching.DESCRIBED, match.reasons


def test_an_undescribed_double_oblique_cine_is_taken_by_its_orientation(registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    write_series(tmp_path, replace(SAX, series_description="cine_retro_bh"))
    match = _match(registry, tmp_path)
    assert match.confidence == matching.INFERRED, match.reasons


@pytest.mark.parametrize(
    ("spec", "reasons"),
    [
        (
            replace(SAX, series_description="Cine 2CH"),
            ["series kind cine-mr, needs cine-short-axis-mr"],
        ),
        (
            replace(SAX, series_description="Cine 4ch", n_slices=1),
            ["series kind cine-mr, needs cine-short-axis-mr", "1 slices, needs 5..40"],
        ),
        (
            replace(SAX, phases=6, trigger_times=None),
            ["6 phases, needs 10..120"],
        ),
        (
            replace(SAX, phases=None, trigger_times=None, series_description="T1 SAX black blood"),
            ["series kind mr, t1-mr, needs cine-short-axis-mr", "1 phases, needs 10..120"],
        ),
        (
            SeriesSpec(series_description="Chest CT"),
            [
                "modality CT, needs MR",
                "series kind ct, needs cine-short-axis-mr",
                "1 phases, needs 10..120",
            ],
        ),
    ],
    ids=["two-chamber", "four-chamber-single-slice", "too-few-phases", "not-a-cine", "ct"],
)
def test_other_series_are_refused_with_reasons(registry, tmp_path, spec, reasons) -> None:  # type: ignore[no-untyped-def]
    write_series(tmp_path, spec)
    match = _match(registry, tmp_path)
    assert match.confidence == 0.0
    assert list(match.reasons) == reasons


def test_analyze_says_why_no_series_fits(registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    write_series(tmp_path / "lax", replace(SAX, series_description="Cine 4ch", n_slices=1))
    write_series(
        tmp_path / "t1",
        replace(SAX, phases=None, trigger_times=None, series_description="T1 SAX black blood"),
    )
    with pytest.raises(NoSeriesFits) as refused:
        analyze(tmp_path, "cardio", registry=registry)
    message = str(refused.value)
    assert message.startswith("no series fits Cardiac function (cine MR): MR series ")
    phases, slices = SAX.phases, SAX.n_slices
    assert f"'Cine 4ch' (cine, 1 slices, {phases} phases): series kind cine-mr" in message
    assert f"'T1 SAX black blood' (volume, {slices} slices): series kind mr, t1-mr" in message
