"""The Patient → Study → Series → Stack tree.

UIDs are the identities. A series splits into several stacks when its images do not form one
grid (other orientation or matrix size, a localizer among axial slices); each stack is what a
viewport or an expert module loads as one :class:`~workstation.core.volume.Volume`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from workstation.core import geometry
from workstation.core.errors import LoadWarning
from workstation.core.volume import StackKind


@dataclass(eq=False, kw_only=True)
class Stack:
    """One loadable grid of a series, described without its voxels."""

    index: int
    kind: StackKind
    shape: tuple[int, ...]
    affine: npt.NDArray[np.float64]
    dtype: str
    sop_class_uid: str
    n_files: int
    transfer_syntaxes: tuple[str, ...]
    phases: int | None = None
    warnings: list[LoadWarning] = field(default_factory=list)

    @property
    def spacing_ijk(self) -> tuple[float, float, float]:
        return geometry.spacing_from_affine(self.affine)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass(eq=False, kw_only=True)
class Series:
    series_instance_uid: str
    modality: str = ""
    series_description: str = ""
    series_number: int | None = None
    frame_of_reference_uid: str = ""
    stacks: list[Stack] = field(default_factory=list)


@dataclass(eq=False, kw_only=True)
class Study:
    study_instance_uid: str
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    accession_number: str = ""
    series: list[Series] = field(default_factory=list)


@dataclass(eq=False, kw_only=True)
class Patient:
    patient_id: str = ""
    patient_name: str = ""
    birth_date: str = ""
    sex: str = ""
    studies: list[Study] = field(default_factory=list)


@dataclass(eq=False)
class StudyTree:
    """All patients found in one place (a folder, an archive, the local database)."""

    patients: list[Patient] = field(default_factory=list)

    def patient(self, patient_id: str, patient_name: str) -> Patient:
        """The patient with this ID and name, created on first use."""
        for patient in self.patients:
            if patient.patient_id == patient_id and patient.patient_name == patient_name:
                return patient
        patient = Patient(patient_id=patient_id, patient_name=patient_name)
        self.patients.append(patient)
        return patient

    @staticmethod
    def study(patient: Patient, study_instance_uid: str) -> Study:
        for study in patient.studies:
            if study.study_instance_uid == study_instance_uid:
                return study
        study = Study(study_instance_uid=study_instance_uid)
        patient.studies.append(study)
        return study

    @staticmethod
    def series(study: Study, series_instance_uid: str) -> Series:
        for series in study.series:
            if series.series_instance_uid == series_instance_uid:
                return series
        series = Series(series_instance_uid=series_instance_uid)
        study.series.append(series)
        return series

    def iter_stacks(self) -> Iterator[tuple[Patient, Study, Series, Stack]]:
        """Every stack with its ancestors, in tree order."""
        for patient in self.patients:
            for study in patient.studies:
                for series in study.series:
                    for stack in series.stacks:
                        yield patient, study, series, stack


def format_patient_name(name: str) -> str:
    """DICOM PN ``FAMILY^GIVEN^MIDDLE`` as ``FAMILY, GIVEN MIDDLE``."""
    parts = [p for p in name.split("=", maxsplit=1)[0].split("^") if p]
    if len(parts) <= 1:
        return parts[0] if parts else ""
    return f"{parts[0]}, {' '.join(parts[1:])}"


def format_date(date: str) -> str:
    """DICOM DA ``YYYYMMDD`` as ``YYYY-MM-DD`` (anything else unchanged)."""
    if len(date) == 8 and date.isdigit():
        return f"{date[:4]}-{date[4:6]}-{date[6:]}"
    return date
