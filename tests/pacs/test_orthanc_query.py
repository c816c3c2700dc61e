"""Echo and queries against a real Orthanc, through DICOMweb (QIDO-RS) and DIMSE (C-FIND)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from orthanc_server import OUR_AE, Orthanc
from pacs_data import PROTOCOLS, Study, dicomweb_source, source_for

from workstation.pacs.source import StudyQuery


def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workstation", "--home", str(home), "pacs", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_echo(protocol: str, orthanc: Orthanc) -> None:
    source = source_for(protocol, orthanc)
    try:
        assert 0 <= source.echo() < 5
    finally:
        source.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_find_studies_with_each_filter(
    protocol: str, orthanc: Orthanc, catalogue: dict[str, Study]
) -> None:
    source = source_for(protocol, orthanc)

    def found(**filters: object) -> set[str]:
        studies = source.find_studies(StudyQuery(**filters))  # type: ignore[arg-type]
        return {s.study_instance_uid for s in studies}

    uid = {key: study.uid for key, study in catalogue.items()}
    jane = {uid[k] for k in ("current", "prior1", "prior2", "prior3", "mr")}
    try:
        assert found(patient_id="PAT001") == jane
        assert found(patient_id="PAT00*") == jane | {uid["other"]}
        assert found(patient_name="doe*") == jane  # wildcard, case-insensitive
        assert found(patient_name="D?e^Jane") == jane
        assert found(patient_id="PAT001", modality="MR") == {uid["mr"]}
        assert found(patient_id="PAT001", study_date_from="20230101", study_date_to="20231231") == {
            uid["prior1"],
            uid["mr"],
        }
        assert found(patient_id="PAT001", study_date_from="20230601") == {uid["current"], uid["mr"]}
        assert found(patient_id="PAT001", study_date_to="20220105") == {
            uid["prior2"],
            uid["prior3"],
        }
        assert found(accession_number="ACC-0901") == {uid["prior1"]}
        assert found(study_instance_uid=uid["other"]) == {uid["other"]}
        assert found(patient_id="NOBODY") == set()

        (current,) = source.find_studies(StudyQuery(accession_number="ACC-1001"))
        assert current.patient_name == "Doe^Jane"
        assert current.patient_id == "PAT001"
        assert current.study_date == "20240115"
        assert current.modalities == ("CT",)
        assert (current.n_series, current.n_instances) == (2, 10)
        assert current.study_description == "current study"
    finally:
        source.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_find_series_and_instances(
    protocol: str, orthanc: Orthanc, catalogue: dict[str, Study]
) -> None:
    study = catalogue["current"]
    source = source_for(protocol, orthanc)
    try:
        series = source.find_series(study.uid)
        assert {s.series_instance_uid for s in series} == {
            w.series_instance_uid for w in study.series
        }
        by_uid = {s.series_instance_uid: s for s in series}
        first = study.series[0]
        assert by_uid[first.series_instance_uid].n_instances == 6
        assert by_uid[first.series_instance_uid].modality == "CT"
        assert by_uid[first.series_instance_uid].series_number == 1
        instances = source.find_instances(study.uid, first.series_instance_uid)
        assert {i.sop_instance_uid for i in instances} == set(first.sop_instance_uids)
        assert {i.sop_class_uid for i in instances} == {"1.2.840.10008.5.1.4.1.1.2"}
        assert sorted(i.instance_number or 0 for i in instances) == [1, 2, 3, 4, 5, 6]
    finally:
        source.close()


def test_cli_echo_and_find(orthanc: Orthanc, catalogue: dict[str, Study], tmp_path: Path) -> None:
    home = tmp_path / "home"
    for node in (orthanc.dicomweb_spec, orthanc.dimse_spec):
        result = cli("echo", node, "--ae", OUR_AE, home=home)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"{node}: ok (")

    result = cli(
        "find",
        orthanc.dimse_spec,
        "--ae",
        OUR_AE,
        "--patient-name",
        "doe*",
        "--study-date",
        "20220101-20231231",
        "--modality",
        "CT",
        "--json",
        home=home,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert list(document) == ["node", "studies"]
    assert {s["study_instance_uid"] for s in document["studies"]} == {
        catalogue["prior1"].uid,
        catalogue["prior2"].uid,
    }
    entry = document["studies"][0]
    assert list(entry) == [
        "study_instance_uid",
        "patient_name",
        "patient_id",
        "study_date",
        "study_time",
        "study_description",
        "accession_number",
        "modalities",
        "n_series",
        "n_instances",
    ]

    result = cli("find", orthanc.dicomweb_spec, "--patient-id", "PAT002", home=home)
    assert result.returncode == 0, result.stderr
    assert "Roe^John (PAT002)" in result.stdout
    assert result.stdout.strip().endswith(f"1 study on {orthanc.dicomweb_spec}")

    bad = cli("find", orthanc.dicomweb_spec, "--study-date", "2024-13-45", home=home)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "date" in bad.stderr


def test_dicomweb_metadata_and_frames(orthanc: Orthanc, catalogue: dict[str, Study]) -> None:
    study = catalogue["other"]
    (series,) = study.series
    source = dicomweb_source(orthanc)
    try:
        metadata = source.series_metadata(study.uid, series.series_instance_uid)
        assert {item["00080018"]["Value"][0] for item in metadata} == set(series.sop_instance_uids)
        first = series.sop_instance_uids[0]
        (frame,) = source.frames(study.uid, series.series_instance_uid, first, [1])
    finally:
        source.close()
    rows, columns = series.spec.rows, series.spec.columns
    assert len(frame) == rows * columns * 2  # stored as is: 16-bit native pixels
    pixels = np.frombuffer(frame, dtype="<u2").reshape(rows, columns)
    np.testing.assert_array_equal(pixels, series.stored[0])  # the first UID is slice 0
