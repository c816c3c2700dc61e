"""Synthetic studies for the PACS tests: two patients, priors of several dates and modalities."""

from __future__ import annotations

import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pydicom

from workstation.testing.factories import SeriesSpec, WrittenSeries, write_series


def new_uid() -> str:
    return f"2.25.{uuid.uuid4().int}"


@dataclass
class Study:
    """One uploaded study and its series (ground truth)."""

    key: str
    patient_id: str
    patient_name: str
    date: str
    modality: str
    accession: str
    uid: str = field(default_factory=new_uid)
    series: list[WrittenSeries] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        return [path for series in self.series for path in series.paths]

    @property
    def sop_uids(self) -> set[str]:
        return {uid for series in self.series for uid in series.sop_instance_uids}


def set_attributes(files: list[Path], **attributes: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for file in files:
            ds = pydicom.dcmread(file)
            for keyword, value in attributes.items():
                setattr(ds, keyword, value)
            ds.save_as(file)


def write_study(
    folder: Path,
    study: Study,
    slices: list[int],
    *,
    rows: int = 16,
    columns: int = 16,
) -> Study:
    for number, n_slices in enumerate(slices, start=1):
        spec = SeriesSpec(
            rows=rows,
            columns=columns,
            n_slices=n_slices,
            modality=study.modality,
            rescale_slope=1.0 if study.modality == "CT" else None,
            rescale_intercept=-1024.0 if study.modality == "CT" else None,
            patient_name=study.patient_name,
            patient_id=study.patient_id,
            study_instance_uid=study.uid,
            series_instance_uid=new_uid(),
            series_number=number,
            series_description=f"{study.key} series {number}",
            study_description=f"{study.key} study",
        )
        written = write_series(folder / study.key / f"s{number}", spec)
        set_attributes(written.paths, StudyDate=study.date, AccessionNumber=study.accession)
        study.series.append(written)
    return study


def write_catalogue(folder: Path) -> dict[str, Study]:
    """The studies every Orthanc test can query (small images: quick to upload and fetch)."""
    studies = {
        "current": Study("current", "PAT001", "Doe^Jane", "20240115", "CT", "ACC-1001"),
        "prior1": Study("prior1", "PAT001", "Doe^Jane", "20230110", "CT", "ACC-0901"),
        "prior2": Study("prior2", "PAT001", "Doe^Jane", "20220105", "CT", "ACC-0801"),
        "prior3": Study("prior3", "PAT001", "Doe^Jane", "20200303", "CT", "ACC-0601"),
        "mr": Study("mr", "PAT001", "Doe^Jane", "20230601", "MR", "ACC-0950"),
        "other": Study("other", "PAT002", "Roe^John", "20200505", "CT", "ACC-0500"),
    }
    slices = {
        "current": [6, 4],
        "prior1": [4],
        "prior2": [3],
        "prior3": [3],
        "mr": [4],
        "other": [3],
    }
    for key, study in studies.items():
        write_study(folder, study, slices[key])
    return studies


# --- sources on a test Orthanc -----------------------------------------------------------------

from dataclasses import replace  # noqa: E402

from orthanc_server import OUR_AE, Orthanc  # noqa: E402

from workstation.pacs.dicomweb import DicomWebSource  # noqa: E402
from workstation.pacs.dimse import DimseSource  # noqa: E402
from workstation.pacs.nodes import parse_node_spec  # noqa: E402
from workstation.pacs.retry import RetryPolicy  # noqa: E402
from workstation.pacs.scp import StorageSCP  # noqa: E402
from workstation.pacs.source import DataSource  # noqa: E402

#: Retries that do not slow the failure tests down.
FAST_RETRY = RetryPolicy(attempts=2, initial_delay=0.05, factor=1.0)
PROTOCOLS = ("dicomweb", "dimse")


def dicomweb_source(orthanc: Orthanc, **options: object) -> DicomWebSource:
    node = parse_node_spec(orthanc.dicomweb_spec)
    return DicomWebSource(node, retry=FAST_RETRY, **options)  # type: ignore[arg-type]


def dimse_source(
    orthanc: Orthanc, *, move: bool = False, scp: StorageSCP | None = None, ae: str = OUR_AE
) -> DimseSource:
    node = parse_node_spec(orthanc.dimse_spec)
    if move:
        node = replace(node, retrieve="move")
    return DimseSource(node, ae_title=ae, scp=scp, retry=FAST_RETRY)


def source_for(protocol: str, orthanc: Orthanc) -> DataSource:
    return dicomweb_source(orthanc) if protocol == "dicomweb" else dimse_source(orthanc)


# --- checking what arrived in the library ------------------------------------------------------

import numpy as np  # noqa: E402

from workstation.io import load_stack  # noqa: E402
from workstation.pacs import StudyDatabase, scan_series  # noqa: E402


def assert_series_in_library(db: StudyDatabase, series: WrittenSeries) -> None:
    """Every instance of ``series`` is in the library and decodes to the true values."""
    result = scan_series(db, series.series_instance_uid)
    assert result.errors == [], result.errors
    assert len(result.headers) == len(series.sop_instance_uids)
    assert {h.sop_instance_uid for h in result.headers} == set(series.sop_instance_uids)
    (stack,) = result.stacks
    np.testing.assert_array_equal(load_stack(stack).array, series.values)


def assert_study_in_library(db: StudyDatabase, study: Study) -> None:
    for series in study.series:
        assert_series_in_library(db, series)


def library_uids(db: StudyDatabase) -> set[str]:
    return {row[0] for row in db.connection.execute("SELECT sop_instance_uid FROM instances")}
