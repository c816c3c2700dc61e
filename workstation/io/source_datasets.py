"""The headers of a stack's source objects as pydicom datasets, for SEG and SR references.

highdicom builds its references (Referenced Series, Derivation Image, Image Library, evidence)
from pydicom datasets of the source images. Only the header is needed: the bytes before Pixel
Data are read where the scan located it, so a 500 MB multi-frame object costs a few kilobytes;
everything else goes through the engine's bounded readers and its error codes.

Also here, shared by :mod:`workstation.io.seg` and :mod:`workstation.io.sr`: who made a derived
object (:class:`Algorithm`, the IHE "Processing Algorithm" equipment item), the Type 2
attributes highdicom copies, and bounded reading and atomic writing of Part 10 files.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workstation.core.errors import DicomFileError, ErrorCode
from workstation.io import syntax
from workstation.io.assemble import DicomStack
from workstation.io.header import InstanceHeader
from workstation.io.limits import DEFAULT_LIMITS, Limits
from workstation.io.reader import inflate_dataset, parse_inflated, parse_with_pydicom
from workstation.io.sources import Reader

_DEFLATED = syntax.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
_PIXEL_TAGS = (0x7FE00008, 0x7FE00009, 0x7FE00010)


def source_datasets(stack: DicomStack, limits: Limits = DEFAULT_LIMITS) -> list[Any]:
    """The source objects of ``stack`` as pydicom datasets without pixel data.

    One dataset per object (a multi-frame object appears once), in the order its first frame
    takes in the stack (slice order; phase-major for a cine).

    Raises
    ------
    DicomFileError
        When an object can no longer be read, or no longer is the object the scan indexed.
    """
    datasets: dict[str, Any] = {}
    for ref in stack.frames:
        header = ref.header
        key = header.sop_instance_uid or header.source.display
        if key not in datasets:
            datasets[key] = read_source_dataset(header, limits)
    return list(datasets.values())


def read_source_dataset(header: InstanceHeader, limits: Limits = DEFAULT_LIMITS) -> Any:
    """The pydicom dataset (without pixel data) of the object ``header`` was read from."""
    source = header.source
    try:
        with source.reader() as reader:
            prefix = _header_bytes(header, reader)
            if prefix is not None:
                dataset = _parse_prefix(prefix)
                if dataset is not None and _same_object(dataset, header):
                    _check_identity(dataset, header)
                    return dataset
            # Not located, or the file changed since the scan: read it whole (bounded).
            if reader.size > limits.max_inflated_bytes:
                raise DicomFileError(
                    ErrorCode.TOO_LARGE, f"{source.display}: larger than the engine accepts"
                )
            data = reader.read_all()
    except OSError as exc:
        raise DicomFileError(
            ErrorCode.CORRUPT, f"{source.display}: cannot read: {exc.strerror or exc}"
        ) from exc
    if header.transfer_syntax == _DEFLATED:
        dataset = parse_inflated(inflate_dataset(data, limits))
        for tag in _PIXEL_TAGS:  # parsed whole: drop the pixels, as the other paths do
            if tag in dataset:
                del dataset[tag]
    else:
        dataset = parse_with_pydicom(data, force=data[128:132] != b"DICM", stop_before_pixels=True)
    _check_identity(dataset, header)
    return dataset


def _header_bytes(header: InstanceHeader, reader: Reader) -> bytes | None:
    """The bytes before Pixel Data's value, when the scan located it and they still end there.

    The walker records where the value starts (native) or its first item (encapsulated); the
    element's tag lies 8 (implicit VR) or 12 (explicit VR) bytes before.
    """
    pixel = header.pixel
    if not header.fast or pixel is None or header.transfer_syntax == _DEFLATED:
        return None
    offset = pixel.offset
    if not 12 <= offset <= reader.size:
        return None
    data = reader.pread(0, offset)
    group, element = pixel.tag >> 16, pixel.tag & 0xFFFF
    tags = (struct.pack("<HH", group, element), struct.pack(">HH", group, element))
    if data[offset - 12 : offset - 8] in tags or data[offset - 8 : offset - 4] in tags:
        return data
    return None


def _parse_prefix(data: bytes) -> Any | None:
    try:
        return parse_with_pydicom(data, force=data[128:132] != b"DICM", stop_before_pixels=True)
    except DicomFileError:
        return None


def _same_object(dataset: Any, header: InstanceHeader) -> bool:
    try:
        return str(dataset.get("SOPInstanceUID", "") or "") == header.sop_instance_uid
    except Exception:  # noqa: BLE001 - pydicom converts lazily: a damaged value raises anything
        return False


def _check_identity(dataset: Any, header: InstanceHeader) -> None:
    try:
        uid = str(dataset.get("SOPInstanceUID", "") or "")
        transfer_syntax = str(getattr(dataset.file_meta, "TransferSyntaxUID", "") or "")
    except Exception as exc:  # pydicom converts lazily: a damaged value raises here
        raise DicomFileError(
            ErrorCode.CORRUPT, f"{header.source.display}: malformed dataset: {exc}"
        ) from exc
    if header.sop_instance_uid and uid != header.sop_instance_uid:
        raise DicomFileError(
            ErrorCode.CORRUPT,
            f"{header.source.display}: holds SOP Instance {uid or '(none)'}, not the "
            f"{header.sop_instance_uid} scanned there (changed since the scan?)",
        )
    if not transfer_syntax:
        # Bare datasets (no meta header): tell pydicom's writers what the scan decided.
        dataset.file_meta.TransferSyntaxUID = (
            header.transfer_syntax or syntax.IMPLICIT_VR_LITTLE_ENDIAN
        )


# --- what derived objects say about their maker ---------------------------------------------

#: Manufacturer and model name of the objects the workstation writes.
MANUFACTURER = "Workstation"
MODEL_NAME = "Workstation"
#: IHE AI Results: Purpose of Reference of the algorithm's Contributing Equipment item.
PROCESSING_ALGORITHM = ("Newcode1", "99IHE", "Processing Algorithm")

#: Type 2 Patient and General Study attributes that highdicom copies from the first source.
_TYPE2_COPIED = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
)


def software_version() -> str:
    from workstation import __version__

    return __version__


@dataclass(frozen=True)
class Algorithm:
    """The algorithm behind AUTOMATIC results (an expert module's provenance).

    Written as Algorithm Identification (PS3.3 C.8.20.2, TID 4019) and, as IHE AI Results asks,
    as a Contributing Equipment item with Purpose of Reference "Processing Algorithm".
    """

    name: str
    version: str
    manufacturer: str = MANUFACTURER
    #: Device UID of the algorithm; derived from name and version when empty.
    uid: str = ""
    #: Algorithm parameters (e.g. ``weights_sha256``), written as "name=value" strings.
    parameters: Mapping[str, str] = field(default_factory=dict)
    #: Algorithm Family Code (CID 7162), (value, scheme, meaning).
    family: tuple[str, str, str] = ("123110", "DCM", "Artificial Intelligence")

    def __post_init__(self) -> None:
        if not self.name.strip() or not self.version.strip():
            raise ValueError("an algorithm needs a name and a version")

    @property
    def device_uid(self) -> str:
        if self.uid:
            return self.uid
        key = f"{self.manufacturer}/{self.name}/{self.version}"
        return f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, key).int}"

    def parameter_strings(self) -> list[str]:
        return [f"{name}={value}" for name, value in self.parameters.items()]


def processing_algorithm_item(algorithm: Algorithm) -> Any:
    """The Contributing Equipment item (PS3.3 C.12.1) naming the algorithm (IHE AIR)."""
    from pydicom.dataset import Dataset

    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = PROCESSING_ALGORITHM
    item = Dataset()
    item.PurposeOfReferenceCodeSequence = [code]
    item.Manufacturer = algorithm.manufacturer
    item.ManufacturerModelName = algorithm.name
    item.SoftwareVersions = algorithm.version
    item.DeviceUID = algorithm.device_uid
    item.ContributionDescription = "AI algorithm that produced the results"
    return item


def fill_type2(dataset: Any) -> Any:
    """``dataset`` with absent Type 2 patient/study attributes present and empty.

    highdicom copies them from the first source image by attribute access; a source that
    leaves out a Type 2 attribute (allowed to be absent only in broken files, which exist)
    would otherwise fail the export.
    """
    for keyword in _TYPE2_COPIED:
        if keyword not in dataset:
            setattr(dataset, keyword, "")
    return dataset


def save_atomically(dataset: Any, path: Path) -> None:
    """Write a Part 10 file through a temporary name, so a crash never leaves half a file."""
    temporary = path.with_name(f".{path.name}.partial")
    try:
        dataset.save_as(temporary, enforce_file_format=True)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def read_dicom_file(path: Path, limits: Limits = DEFAULT_LIMITS, *, pixels: bool = True) -> Any:
    """A DICOM Part 10 file (a SEG, an SR) as a pydicom dataset, read from memory.

    The file is read first (at most ``limits.max_inflated_bytes``), so no declared length in
    it can make pydicom allocate more than the file holds.
    """
    try:
        if path.stat().st_size > limits.max_inflated_bytes:
            raise DicomFileError(ErrorCode.TOO_LARGE, f"{path}: larger than the engine accepts")
        data = path.read_bytes()
    except OSError as exc:
        raise DicomFileError(
            ErrorCode.CORRUPT, f"{path}: cannot read: {exc.strerror or exc}"
        ) from exc
    if data[128:132] != b"DICM":
        # Derived objects travel as Part 10 files; a bare dataset is not worth guessing at.
        raise DicomFileError(ErrorCode.NOT_DICOM, f"{path}: not a DICOM Part 10 file")
    return parse_with_pydicom(data, force=False, stop_before_pixels=not pixels)
