"""Files to and from the core model: the DICOM engine and NIfTI export.

``scan`` indexes files, folders, zip archives and DICOMDIR media without decoding pixels;
``load_stack`` fills one stack's array; ``convert`` writes NIfTI.
"""

from workstation.io.assemble import DicomStack
from workstation.io.convert import ConvertResult, convert
from workstation.io.limits import DEFAULT_LIMITS, Limits
from workstation.io.pixels import StackLoadError, load_frame, load_stack
from workstation.io.report import inspect_report
from workstation.io.scan import Cancelled, ScanResult, load_tolerant, scan

__all__ = [
    "DEFAULT_LIMITS",
    "Cancelled",
    "ConvertResult",
    "DicomStack",
    "Limits",
    "ScanResult",
    "StackLoadError",
    "convert",
    "inspect_report",
    "load_frame",
    "load_stack",
    "load_tolerant",
    "scan",
]
