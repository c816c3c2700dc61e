"""dciodvfy (dicom3tools) finds no error in the files the factories call standard."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom import uid

from workstation.testing.factories import (
    SeriesSpec,
    make_dicomdir,
    write_enhanced_mr,
    write_multiframe_xa,
    write_rgb,
    write_series,
    write_single_image,
)

pytestmark = pytest.mark.dciodvfy
Verify = Callable[[Path], list[str]]


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(SeriesSpec(), id="ct"),
        pytest.param(SeriesSpec(transfer_syntax=uid.ImplicitVRLittleEndian), id="ct-implicit"),
        pytest.param(
            SeriesSpec(
                shuffle=True,
                localizer=True,
                gantry_tilt_degrees=12.0,
                duplicate_slices=(1,),
                missing_slices=(4,),
                photometric="MONOCHROME1",
                write_smallest_largest=True,
                window_center=40.0,
                window_width=400.0,
                patient_name="Müller^Jürgen",
            ),
            id="ct-with-defects",
        ),
        pytest.param(
            SeriesSpec(modality="MR", rescale_slope=None, rescale_intercept=None), id="mr"
        ),
        pytest.param(
            SeriesSpec(modality="MR", phases=3, rescale_slope=None, rescale_intercept=None),
            id="mr-cine",
        ),
    ],
)
def test_single_frame_series(tmp_path: Path, dciodvfy_errors: Verify, spec: SeriesSpec) -> None:
    written = write_series(tmp_path, spec)
    for path in written.paths:
        assert dciodvfy_errors(path) == [], path.name


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(None, id="cine"),
        pytest.param(
            SeriesSpec(modality="MR", shuffle=True, rescale_slope=1.0, rescale_intercept=0.0),
            id="volume-shuffled",
        ),
    ],
)
def test_enhanced_mr(tmp_path: Path, dciodvfy_errors: Verify, spec: SeriesSpec | None) -> None:
    written = write_enhanced_mr(tmp_path / "enhanced.dcm", spec)
    assert dciodvfy_errors(written.paths[0]) == []


def test_images_without_geometry(tmp_path: Path, dciodvfy_errors: Verify) -> None:
    files = [
        write_multiframe_xa(tmp_path / "xa.dcm").path,
        write_single_image(tmp_path / "cr.dcm").path,
        write_single_image(tmp_path / "dx.dcm", modality="DX", photometric="MONOCHROME1").path,
        write_rgb(tmp_path / "sc.dcm").path,
        write_rgb(tmp_path / "sc-multi.dcm", frames=3).path,
    ]
    for path in files:
        assert dciodvfy_errors(path) == [], path.name


def test_dicomdir(tmp_path: Path, dciodvfy_errors: Verify) -> None:
    write_series(tmp_path / "ct", SeriesSpec(n_slices=2))
    write_series(tmp_path / "mr", SeriesSpec(modality="MR", n_slices=2, phases=2))
    assert dciodvfy_errors(make_dicomdir(tmp_path)) == []
