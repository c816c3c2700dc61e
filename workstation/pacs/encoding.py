"""Objects to send: Part 10 bytes from files, bytes or pydicom datasets, and what they are."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workstation.core.errors import DicomFileError, ErrorCode
from workstation.io.limits import DEFAULT_LIMITS


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """The identity and encoding of one object to send (from its file meta information)."""

    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str


def encode_dataset(dataset: Any) -> bytes:
    """A pydicom ``Dataset`` as DICOM Part 10 bytes (file meta made when missing)."""
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian

    buffer = io.BytesIO()
    meta = getattr(dataset, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        meta = pydicom.dataset.FileMetaDataset()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        dataset.file_meta = meta
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def object_bytes(item: Path | bytes | Any) -> bytes:
    """The Part 10 bytes of a file, of bytes (as they are) or of a dataset."""
    if isinstance(item, str | Path):
        path = Path(item)
        size = path.stat().st_size
        if size > DEFAULT_LIMITS.max_inflated_bytes:
            raise DicomFileError(ErrorCode.TOO_LARGE, "the file is larger than the engine accepts")
        return path.read_bytes()
    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item)
    return encode_dataset(item)


def object_info(data: bytes) -> ObjectInfo:
    """SOP Class, SOP Instance and transfer syntax of Part 10 bytes.

    Raises
    ------
    DicomFileError
        When ``data`` is not a Part 10 object with those three values.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    if data[128:132] != b"DICM":
        raise DicomFileError(ErrorCode.NOT_DICOM, "not a DICOM Part 10 file (no DICM prefix)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = pydicom.dcmread(
                io.BytesIO(data),
                stop_before_pixels=True,
                specific_tags=["SOPClassUID", "SOPInstanceUID"],
            )
        meta = dataset.file_meta
        info = ObjectInfo(
            sop_class_uid=str(
                dataset.get("SOPClassUID", "") or meta.get("MediaStorageSOPClassUID", "")
            ),
            sop_instance_uid=str(
                dataset.get("SOPInstanceUID", "") or meta.get("MediaStorageSOPInstanceUID", "")
            ),
            transfer_syntax=str(meta.get("TransferSyntaxUID", "")),
        )
    except (InvalidDicomError, EOFError, ValueError, KeyError, AttributeError) as exc:
        raise DicomFileError(ErrorCode.CORRUPT, f"unreadable file meta: {exc}") from exc
    if not (info.sop_class_uid and info.sop_instance_uid and info.transfer_syntax):
        raise DicomFileError(ErrorCode.CORRUPT, "no SOP Class, SOP Instance or Transfer Syntax UID")
    return info
