"""``workstation import`` and ``workstation studies`` as scripts call them (real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from workstation.testing.factories import SeriesSpec, write_series


def run(*args: str, home: Path, env: bool = False) -> subprocess.CompletedProcess[str]:
    """The command with ``--home``, or with ``WORKSTATION_HOME`` when ``env``."""
    options = [] if env else ["--home", str(home)]
    return subprocess.run(
        [sys.executable, "-m", "workstation", *options, *args],
        env={**os.environ, "WORKSTATION_HOME": str(home)} if env else None,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_import_and_studies_json(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ct = write_series(tmp_path / "in" / "ct", SeriesSpec(n_slices=4, series_description="Chest"))
    (tmp_path / "in" / "notes.txt").write_text("not DICOM")

    result = run("import", str(tmp_path / "in"), "--json", home=home)
    assert result.returncode == 3, result.stderr  # imported, but one file failed
    report = json.loads(result.stdout)
    assert list(report) == ["added", "already_present", "non_image", "errors"]
    assert (report["added"], report["already_present"], report["non_image"]) == (4, 0, 0)
    assert report["errors"] == [
        {
            "path": str(tmp_path / "in" / "notes.txt"),
            "code": "not_dicom",
            "message": "not a DICOM file",
        }
    ]
    assert (home / "studies.sqlite").exists()

    again = run("import", str(tmp_path / "in" / "ct"), "--copy", "--json", home=home)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["added"] == 0

    listing = run("studies", "--json", home=home, env=True)
    assert listing.returncode == 0, listing.stderr
    document = json.loads(listing.stdout)
    assert list(document) == ["studies"]
    (study,) = document["studies"]
    assert list(study) == [
        "study_instance_uid",
        "patient_name",
        "patient_id",
        "study_date",
        "series",
    ]
    assert study["study_instance_uid"] == ct.study_instance_uid
    assert (study["patient_name"], study["patient_id"], study["study_date"]) == (
        "Synthetic^Patient",
        "SYN0001",
        "20240115",
    )
    assert study["series"] == [
        {
            "series_instance_uid": ct.series_instance_uid,
            "modality": "CT",
            "series_description": "Chest",
            "n_instances": 4,
        }
    ]

    table = run("studies", home=home)
    assert table.returncode == 0
    assert "Synthetic^Patient" in table.stdout and "4 instance(s)" in table.stdout


def test_import_failures_exit_non_zero_with_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    missing = run("import", str(tmp_path / "nowhere"), home=home)
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "no such file" in missing.stderr

    (tmp_path / "junk.txt").write_text("not DICOM")
    junk = run("import", str(tmp_path / "junk.txt"), home=home)
    assert junk.returncode == 1
    assert junk.stderr.startswith("workstation: no image could be imported")
    assert "not_dicom" in junk.stdout  # the human summary names the file's error

    empty = run("studies", "--json", home=tmp_path / "fresh")
    assert empty.returncode == 0 and json.loads(empty.stdout) == {"studies": []}
    assert not (tmp_path / "fresh").exists()  # listing creates nothing
