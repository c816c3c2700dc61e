"""Warning and error codes shared by every layer.

The codes are part of the command-line JSON contract (``inspect --json``): a stack carries
:class:`LoadWarning` entries, a file that cannot be used becomes a :class:`FileError`. Neither is
ever silently "fixed": the data is loaded as stored and the reader is told what is unusual.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class WarningCode(StrEnum):
    """Something unusual about a stack that still loads."""

    MISSING_SLICES = "missing_slices"
    NONUNIFORM_SPACING = "nonuniform_spacing"
    GANTRY_TILT = "gantry_tilt"
    LOCALIZER_SPLIT = "localizer_split"
    ORIENTATION_SPLIT = "orientation_split"
    DUPLICATE_INSTANCES = "duplicate_instances"
    LOSSY_COMPRESSION = "lossy_compression"
    MONOCHROME1 = "monochrome1"


class ErrorCode(StrEnum):
    """Why a file could not be used; the other files still load."""

    NOT_DICOM = "not_dicom"
    TRUNCATED = "truncated"
    CORRUPT = "corrupt"
    TOO_LARGE = "too_large"
    UNSUPPORTED_TRANSFER_SYNTAX = "unsupported_transfer_syntax"


@dataclass(frozen=True, slots=True)
class LoadWarning:
    """A named, human-readable note attached to a stack."""

    code: WarningCode
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}


@dataclass(frozen=True, slots=True)
class FileError:
    """A file that was skipped, with the reason."""

    path: str
    code: ErrorCode
    message: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "code": self.code.value, "message": self.message}


class WorkstationError(Exception):
    """Base of every error raised on purpose: shown as one line, never as a traceback."""


class DicomFileError(WorkstationError):
    """A single file is unusable; carries the :class:`ErrorCode` reported for it."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def at(self, path: str) -> FileError:
        """The report entry for this error found in ``path``."""
        return FileError(path=path, code=self.code, message=self.message)


class GeometryError(WorkstationError, ValueError):
    """Positions, orientations or spacings that cannot describe a grid."""
