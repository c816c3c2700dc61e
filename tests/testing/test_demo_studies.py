"""The demo studies are complete, deterministic and written only once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels.processing import apply_modality_lut

from workstation.testing import demo
from workstation.testing.demo import write_demo_studies


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    write_demo_studies(root)
    return root


def test_demo_series(demo_root: Path) -> None:
    ct, mr = write_demo_studies(demo_root)
    assert (ct.name, mr.name) == ("ct_torso", "mr_cine_sax")
    assert len(list(ct.iterdir())) == 120
    assert len(list(mr.iterdir())) == 200
    ct_ds = pydicom.dcmread(next(ct.iterdir()))
    assert (ct_ds.Rows, ct_ds.Columns, ct_ds.Modality) == (256, 256, "CT")
    assert float(ct_ds.SliceThickness) == 1.5
    assert (float(ct_ds.WindowCenter), float(ct_ds.WindowWidth)) == (40.0, 400.0)
    hu = apply_modality_lut(ct_ds.pixel_array, ct_ds)
    assert hu.min() < -900 and hu.max() > 200
    mr_ds = pydicom.dcmread(next(mr.iterdir()))
    assert (mr_ds.Rows, mr_ds.Modality, int(mr_ds.NumberOfTemporalPositions)) == (128, "MR", 20)
    assert mr_ds.SeriesDescription == "Cine SSFP short axis"
    assert ct_ds.PatientID == mr_ds.PatientID
    assert ct_ds.StudyInstanceUID != mr_ds.StudyInstanceUID
    assert not list(demo_root.glob(".*.partial"))  # no staging folder left behind
    # The CT holds anatomy: the middle slice crosses liver (~60 HU) and lung (~−850 HU).
    middle = sorted(ct.iterdir(), key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))
    liver = apply_modality_lut(pydicom.dcmread(middle[60]).pixel_array, ct_ds)
    assert np.mean(np.abs(liver - 60) < 30) > 0.05 and np.mean(np.abs(liver + 850) < 60) > 0.02


def test_demo_is_idempotent_and_deterministic(demo_root: Path, tmp_path: Path) -> None:
    ct, mr = write_demo_studies(demo_root)
    stamps = {p: p.stat().st_mtime_ns for p in ct.iterdir()}
    write_demo_studies(demo_root)
    assert {p: p.stat().st_mtime_ns for p in ct.iterdir()} == stamps
    # A different folder gets byte-identical files (same UIDs, same voxels).
    name = sorted(p.name for p in mr.iterdir())[17]
    other = write_demo_studies(tmp_path)[1]
    assert (other / name).read_bytes() == (mr / name).read_bytes()


def test_demo_repairs_an_incomplete_series(tmp_path: Path) -> None:
    ct, _ = write_demo_studies(tmp_path)
    victim = sorted(ct.iterdir())[5]
    expected = victim.read_bytes()
    victim.unlink()
    write_demo_studies(tmp_path)
    assert victim.read_bytes() == expected
    np.testing.assert_equal(len(list(ct.iterdir())), 120)


def test_demo_written_by_an_older_version_is_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ct, mr = write_demo_studies(tmp_path)
    name = sorted(p.name for p in mr.iterdir())[3]
    expected = (mr / name).read_bytes()
    # A folder left by an older version (no marker, or another one) is rewritten in place, with
    # the same files; an up-to-date one is left alone.
    (tmp_path / ".mr_cine_sax.version").unlink()
    (mr / name).write_bytes(b"stale")
    stamps = {p: p.stat().st_mtime_ns for p in ct.iterdir()}
    write_demo_studies(tmp_path)
    assert (mr / name).read_bytes() == expected
    assert {p: p.stat().st_mtime_ns for p in ct.iterdir()} == stamps
    monkeypatch.setattr(demo, "DEMO_VERSION", "next")
    write_demo_studies(tmp_path)
    assert {p: p.stat().st_mtime_ns for p in ct.iterdir()} != stamps
    assert (tmp_path / ".ct_torso.version").read_text().strip() == "next"
