"""``workstation inspect`` and ``convert`` as users and scripts call them (real processes)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from workstation.testing.factories import SeriesSpec, write_series

SPEC = SeriesSpec(shuffle=True, n_slices=6)
ENTRY_KEYS = {
    "study_instance_uid",
    "series_instance_uid",
    "modality",
    "series_description",
    "patient_name",
    "patient_id",
    "sop_class_uid",
    "kind",
    "shape",
    "spacing_ijk",
    "affine_lps",
    "phases",
    "n_files",
    "transfer_syntaxes",
    "dtype",
    "warnings",
}


def run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workstation", "--home", str(home), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_inspect_json_contract(tmp_path) -> None:
    written = write_series(tmp_path / "in", replace(SPEC, gantry_tilt_degrees=10.0))
    (tmp_path / "in" / "readme.txt").write_text("not an image")
    result = run("inspect", str(tmp_path / "in"), "--json", home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"series", "errors"}
    (entry,) = report["series"]
    assert set(entry) >= ENTRY_KEYS
    assert entry["kind"] == "volume"
    assert entry["shape"] == [6, 32, 40]
    assert entry["dtype"] == "int16"
    assert entry["phases"] is None
    assert entry["n_files"] == 6
    assert entry["spacing_ijk"] == pytest.approx([0.7, 0.8, 2.5 / np.cos(np.radians(10))], rel=1e-4)
    np.testing.assert_allclose(entry["affine_lps"], written.affine, atol=1e-4)
    assert [w["code"] for w in entry["warnings"]] == ["gantry_tilt"]
    assert report["errors"] == [
        {
            "path": str(tmp_path / "in" / "readme.txt"),
            "code": "not_dicom",
            "message": "not a DICOM file",
        }
    ]


def test_inspect_cine_reports_phases(tmp_path) -> None:
    write_series(
        tmp_path,
        replace(
            SPEC, modality="MR", rescale_slope=None, rescale_intercept=None, phases=5, n_slices=3
        ),
    )
    report = json.loads(run("inspect", str(tmp_path), "--json", home=tmp_path).stdout)
    (entry,) = report["series"]
    assert (entry["kind"], entry["phases"], entry["shape"]) == ("cine", 5, [5, 3, 32, 40])


def test_inspect_text_and_failures_are_one_line(tmp_path) -> None:
    write_series(tmp_path / "in", SPEC)
    text = run("inspect", str(tmp_path / "in"), home=tmp_path)
    assert text.returncode == 0
    assert "volume (6, 32, 40) int16" in text.stdout
    missing = run("inspect", str(tmp_path / "nowhere"), home=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0
    assert "no such file or folder" in missing.stderr
    assert "Traceback" not in missing.stderr


def _canonical(path: Path) -> tuple[np.ndarray, np.ndarray]:
    image = nib.as_closest_canonical(nib.load(path))
    return image.affine, np.asarray(image.get_fdata())


@pytest.mark.dcm2niix
@pytest.mark.parametrize(
    "orientation",
    [
        (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
        (0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
        (0.866025, 0.5, 0.0, -0.353553, 0.612372, -0.707107),
    ],
    ids=["axial", "sagittal", "oblique"],
)
def test_convert_matches_dcm2niix(tmp_path, orientation) -> None:
    spec = replace(SPEC, orientation=orientation, rows=24, columns=36, pixel_spacing=(0.6, 1.1))
    written = write_series(tmp_path / "in", spec)
    result = run("convert", str(tmp_path / "in"), str(tmp_path / "ours"), home=tmp_path)
    assert result.returncode == 0, result.stderr
    (ours,) = sorted((tmp_path / "ours").glob("*.nii.gz"))
    reference_dir = tmp_path / "dcm2niix"
    reference_dir.mkdir()
    subprocess.run(
        [
            shutil.which("dcm2niix") or "dcm2niix",
            "-z",
            "y",
            "-f",
            "ref",
            "-o",
            str(reference_dir),
            str(tmp_path / "in"),
        ],
        check=True,
        capture_output=True,
    )
    (reference,) = sorted(reference_dir.glob("*.nii.gz"))
    our_affine, our_data = _canonical(ours)
    ref_affine, ref_data = _canonical(reference)
    np.testing.assert_allclose(our_affine, ref_affine, atol=1e-3)
    np.testing.assert_array_equal(our_data, ref_data)

    sidecar = json.loads(ours.with_name(ours.name.replace(".nii.gz", ".json")).read_text())
    assert sidecar["series_instance_uid"] == written.series_instance_uid
    assert sidecar["stack"] == 0
    assert sidecar["shape"] == [6, 24, 36]
    np.testing.assert_allclose(sidecar["affine_lps"], written.affine, atol=1e-4)
    np.testing.assert_allclose(sidecar["spacing_ijk"], [1.1, 0.6, 2.5], atol=1e-6)


def test_convert_writes_4d_cine_as_xyzt(tmp_path) -> None:
    spec = replace(
        SPEC, modality="MR", rescale_slope=None, rescale_intercept=None, phases=4, n_slices=3
    )
    written = write_series(tmp_path / "in", spec)
    assert (
        run("convert", str(tmp_path / "in"), str(tmp_path / "out"), home=tmp_path).returncode == 0
    )
    (path,) = (tmp_path / "out").glob("*.nii.gz")
    image = nib.load(path)
    assert image.shape == (40, 32, 3, 4)
    data = np.asarray(image.dataobj)
    np.testing.assert_array_equal(data.transpose(3, 2, 1, 0), written.values)
    # RAS affine = LPS affine with x and y negated.
    np.testing.assert_allclose(image.affine, np.diag([-1, -1, 1, 1]) @ written.affine, atol=1e-4)
    assert image.header.get_xyzt_units() == ("mm", "msec")


def test_convert_file_names_never_come_from_file_contents(tmp_path) -> None:
    write_series(tmp_path / "in", replace(SPEC, series_description="../../etc/passwd"))
    assert (
        run("convert", str(tmp_path / "in"), str(tmp_path / "out"), home=tmp_path).returncode == 0
    )
    names = [p.name for p in (tmp_path / "out").iterdir()]
    assert len(names) == 2
    assert all("/" not in n and not n.startswith(".") for n in names)
    assert not (tmp_path / "etc").exists()
