"""Pure domain model: volumes, patient geometry, the study tree, warning and error codes.

Nothing here imports Qt, VTK, torch, pydicom or SimpleITK.
"""

from workstation.core.errors import (
    DicomFileError,
    ErrorCode,
    FileError,
    GeometryError,
    LoadWarning,
    WarningCode,
    WorkstationError,
)
from workstation.core.study import Patient, Series, Stack, Study, StudyTree
from workstation.core.volume import StackKind, Volume

__all__ = [
    "DicomFileError",
    "ErrorCode",
    "FileError",
    "GeometryError",
    "LoadWarning",
    "Patient",
    "Series",
    "Stack",
    "StackKind",
    "Study",
    "StudyTree",
    "Volume",
    "WarningCode",
    "WorkstationError",
]
