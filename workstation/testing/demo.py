"""The demo studies behind ``workstation --demo``: a contrast CT torso and a cardiac cine MR.

They are written once into a folder and reused: every UID is derived from a fixed name, so a
rewrite produces the same instances, and a series folder only appears (by an atomic rename)
once all of its files are written. A marker beside each folder records the
:data:`DEMO_VERSION` it was written with; bumping it (whenever the phantoms change) makes the
next call rewrite folders left by an older version, in place and under the same UIDs.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workstation.core import geometry
from workstation.testing._dicom import UidFactory
from workstation.testing.phantoms import cine_short_axis_mr, torso_ct
from workstation.testing.series import write_series
from workstation.testing.spec import SeriesSpec

#: Bumped whenever the demo voxels change. 2: anatomical torso and cine phantoms.
DEMO_VERSION = "2"
PATIENT_NAME = "Demo^Patient"
PATIENT_ID = "DEMO-0001"
_UIDS = UidFactory("workstation-demo")


def _short_axis_orientation() -> tuple[float, float, float, float, float, float]:
    """A double-oblique short-axis plane; its normal runs from the apex to the base.

    The left ventricle's long axis points from the base to the patient's left, front and feet.
    Rows run as close to the patient's left as the plane allows and columns towards the back,
    so the view shows the right ventricle on the left and the anterior wall at the top, as
    cardiac viewers do. Slice k = 0 is therefore the apex.
    """
    base = -geometry.unit_vector([0.6, -0.5, -0.6])  # LPS: the apex lies left, anterior, inferior
    left = np.array([1.0, 0.0, 0.0])
    row = geometry.unit_vector(left - (left @ base) * base)
    column = np.cross(base, row)  # so that row × column = base, the direction of increasing k
    values = [round(float(v), 6) for v in (*row, *column)]
    return (values[0], values[1], values[2], values[3], values[4], values[5])


@dataclass(frozen=True)
class _Demo:
    name: str
    spec: SeriesSpec
    stored: Callable[[], np.ndarray]


def _ct() -> _Demo:
    shape, spacing = (120, 256, 256), (1.5, 1.4, 1.4)
    half = (shape[2] - 1) / 2 * spacing[2]
    spec = SeriesSpec(
        rows=shape[1],
        columns=shape[2],
        n_slices=shape[0],
        pixel_spacing=(spacing[1], spacing[2]),
        slice_spacing=spacing[0],
        origin=(-half, -half, -260.0),
        modality="CT",
        rescale_slope=1.0,
        rescale_intercept=-1024.0,
        window_center=40.0,
        window_width=400.0,
        patient_name=PATIENT_NAME,
        patient_id=PATIENT_ID,
        study_instance_uid=_UIDS("ct", "study"),
        uid_seed="workstation-demo/ct",
        study_description="CT CHEST ABDOMEN WITH CONTRAST",
        series_description="Thorax-abdomen portal venous 1.5 mm",
        series_number=2,
        body_part="CHEST",
    )
    # Stored = HU + 1024 in 12 bits (the phantom is clipped to −1024..3071 HU).
    return _Demo("ct_torso", spec, lambda: torso_ct(shape, spacing).astype(np.int32) + 1024)


def _mr() -> _Demo:
    n_slices, n_phases, matrix, spacing = 10, 20, (128, 128), (8.0, 2.6, 2.6)
    spec = SeriesSpec(
        rows=matrix[0],
        columns=matrix[1],
        n_slices=n_slices,
        pixel_spacing=(spacing[1], spacing[2]),
        slice_spacing=spacing[0],
        orientation=_short_axis_orientation(),
        origin=(-140.0, -120.0, 60.0),
        modality="MR",
        phases=n_phases,
        rescale_slope=None,
        rescale_intercept=None,
        window_center=450.0,
        window_width=900.0,
        patient_name=PATIENT_NAME,
        patient_id=PATIENT_ID,
        study_instance_uid=_UIDS("mr", "study"),
        uid_seed="workstation-demo/mr",
        study_description="MR CARDIAC FUNCTION",
        series_description="Cine SSFP short axis",
        series_number=5,
        body_part="HEART",
    )
    # The phantom runs from base (k = 0) to apex; the plane normal runs the other way.
    return _Demo(
        "mr_cine_sax",
        spec,
        lambda: cine_short_axis_mr(n_slices, n_phases, matrix, spacing)[:, ::-1],
    )


def _marker(root: Path, name: str) -> Path:
    return root / f".{name}.version"


def _complete(folder: Path, spec: SeriesSpec, marker: Path) -> bool:
    expected = spec.n_slices * (spec.phases or 1)
    try:
        current = marker.read_text(encoding="utf-8").strip() == DEMO_VERSION
    except OSError:
        current = False
    return (
        current and folder.is_dir() and sum(1 for p in folder.iterdir() if p.is_file()) == expected
    )


def write_demo_studies(root: Path) -> list[Path]:
    """Write (or find) the demo series under ``root/<name>/`` and return their folders.

    Parameters
    ----------
    root:
        Folder for the demo data (created when missing).

    Returns
    -------
    list of Path
        ``root/ct_torso`` (120 axial slices of 256², 1.5 mm, HU with intercept −1024) and
        ``root/mr_cine_sax`` (10 double-oblique short-axis slices, apex first, × 20 phases of
        128²). A folder that already holds all its files, written by this
        :data:`DEMO_VERSION`, is left untouched, so repeated calls are cheap.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    folders = []
    for demo in (_ct(), _mr()):
        folder = root / demo.name
        marker = _marker(root, demo.name)
        if not _complete(folder, demo.spec, marker):
            # Write beside the target and rename, so a crash never leaves a half series that
            # looks complete to the next call.
            staging = root / f".{demo.name}.partial"
            shutil.rmtree(staging, ignore_errors=True)
            stored = np.asarray(demo.stored()).astype(np.uint16)
            write_series(staging, demo.spec, stored)
            marker.unlink(missing_ok=True)
            shutil.rmtree(folder, ignore_errors=True)
            staging.rename(folder)
            marker.write_text(DEMO_VERSION + "\n", encoding="utf-8")
        folders.append(folder)
    return folders
