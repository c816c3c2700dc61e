"""The PyInstaller bundle builds, and the built ``workstation`` decodes and inspects DICOM.

Slow (a full PyInstaller build, about a minute on two cores): run it with
``pytest tests/test_installer.py -m installer``. Without PyInstaller the test fails, never skips.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from workstation import __version__

REPO = Path(__file__).resolve().parents[1]
BUILD_TIMEOUT_S = 900
RUN_TIMEOUT_S = 180


def _write_ct_slice(path: Path) -> str:
    """One 16 × 16 CT slice, uncompressed, as pydicom writes it; returns its Series UID."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.PatientName = "Bundle^Test"
    ds.PatientID = "BUNDLE-1"
    ds.StudyDate = "20240101"
    ds.Modality = "CT"
    ds.SeriesDescription = "installer check"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.ImagePositionPatient = [-8.0, -8.0, 0.0]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [0.5, 0.5]
    ds.SliceThickness = 1.0
    ds.Rows = ds.Columns = 16
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    ds.PixelData = np.arange(256, dtype=np.int16).reshape(16, 16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return str(ds.SeriesInstanceUID)


def _write_ct_series(folder: Path) -> None:
    """A small CT series with a bright box, for the example module."""
    from workstation.inference.testing import synthetic_ct_array
    from workstation.testing.factories import write_series
    from workstation.testing.spec import SeriesSpec

    array, _ = synthetic_ct_array((8, 32, 40))
    write_series(folder, SeriesSpec(series_description="installer"), stored=array + 1024)


def _run(executable: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env["WORKSTATION_HOME"] = str(home)
    return subprocess.run(
        [str(executable), *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env=env,
        check=False,
    )


def _build(dist: Path, work: Path) -> None:
    assert importlib.util.find_spec("PyInstaller") is not None, (
        "PyInstaller is not installed; install the development extras: pip install -e '.[dev]'"
    )
    command = [sys.executable, str(REPO / "build_installer.py"), "--dist", str(dist)]
    command += ["--work", str(work)]
    built = subprocess.run(
        command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, cwd=REPO, check=False
    )
    assert built.returncode == 0, f"build failed:\n{built.stdout[-4000:]}\n{built.stderr[-4000:]}"


@pytest.mark.installer
def test_bundle_builds_and_runs_from_its_folder(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _build(dist, tmp_path / "work")
    bundle = dist / "workstation"
    executable = bundle / ("workstation.exe" if sys.platform == "win32" else "workstation")
    home = tmp_path / "home"

    selftest = _run(executable, "--selftest", home=home)
    assert selftest.returncode == 0, selftest.stdout + selftest.stderr
    assert selftest.stdout.strip().splitlines()[-1].startswith("OK"), selftest.stdout

    version = _run(executable, "--version", home=home)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"workstation {__version__}"

    study = tmp_path / "study"
    study.mkdir()
    series_uid = _write_ct_slice(study / "ct.dcm")
    inspected = _run(executable, "inspect", str(study), "--json", home=home)
    assert inspected.returncode == 0, inspected.stderr
    report = json.loads(inspected.stdout)
    assert report["errors"] == []
    assert [entry["series_instance_uid"] for entry in report["series"]] == [series_uid]

    # An expert module runs in a worker process that re-enters the frozen executable.
    plugins = _run(executable, "plugins", "--json", home=home)
    assert plugins.returncode == 0, plugins.stderr
    modules = {
        m["qualified_id"]: m for p in json.loads(plugins.stdout)["plugins"] for m in p["modules"]
    }
    assert modules["example/threshold-bright-structures"]["available"], modules
    series = tmp_path / "series"
    _write_ct_series(series)
    out = tmp_path / "results"
    analysed = _run(
        executable,
        "analyze",
        str(series),
        "--module",
        "threshold-bright-structures",
        "--out",
        str(out),
        "--json",
        home=home,
    )
    assert analysed.returncode == 0, analysed.stdout + analysed.stderr
    assert json.loads(analysed.stdout)["measurements"]["bright_volume"] > 0
    assert sorted(p.name for p in out.glob("*.dcm")) == [
        "threshold-bright-structures-seg.dcm",
        "threshold-bright-structures-sr.dcm",
    ]

    # The collaboration server's migrations travel with it.
    database = tmp_path / "server.sqlite"
    migrated = _run(executable, "server", "migrate", "--db", f"sqlite:///{database}", home=home)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert database.stat().st_size > 0

    assert not list(bundle.rglob("torch")), "torch must not be bundled"
    for folder in ("plugins", "weights", "resources"):
        assert (bundle / folder).is_dir(), f"{folder}/ missing beside the executable"
