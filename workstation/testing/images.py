"""Grey images without a slice geometry: X-ray angiography cine and single radiographs.

Each writer returns a :class:`WrittenImage` whose ``values`` are what a correct loader shows, in
the layouts of DESIGN.md: ``[frames, rows, cols]`` for grey multi-frame and ``[1, rows, cols]``
for a single 2D image (colour images: :mod:`workstation.testing.colour`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_modality_lut
from pydicom.tag import Tag
from pydicom.uid import (
    ComputedRadiographyImageStorage,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    XRayAngiographicImageStorage,
)

from workstation.testing import _dicom
from workstation.testing._dicom import Identity, UidFactory, decimal_string

IntArray = npt.NDArray[np.integer]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class WrittenImage:
    """Ground truth of one written image file.

    Attributes
    ----------
    path:
        The file.
    stored:
        Grey: the stored values written, ``[frames, rows, cols]``. Colour: the RGB source
        ``[frames, rows, cols, 3]`` before any colour-space conversion or compression.
    values:
        What a loader must produce: grey values after the modality LUT as float64
        (``[frames, rows, cols]``; ``[1, rows, cols]`` for a single image), or uint8 RGB
        ``[frames, rows, cols, 3]``. For lossy syntaxes and YBR colour these are what pydicom
        decodes (with its YBR → RGB conversion).
    sop_class_uid, sop_instance_uid, study_instance_uid, series_instance_uid:
        The file's identity.
    transfer_syntax:
        Transfer syntax UID of the file.
    pixel_spacing:
        (row, column) spacing in mm at the detector, or None when none is written.
    frame_time_ms:
        Frame Time (0018,1063) of a multi-frame cine, else None.
    """

    path: Path
    stored: npt.NDArray[np.generic]
    values: npt.NDArray[np.generic]
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax: str
    pixel_spacing: tuple[float, float] | None = None
    frame_time_ms: float | None = None


def write_multiframe_xa(
    path: Path,
    *,
    frames: int = 12,
    rows: int = 48,
    columns: int = 40,
    stored: IntArray | None = None,
    bits_stored: int = 10,
    frame_time_ms: float = 66.7,
    transfer_syntax: str = ExplicitVRLittleEndian,
    patient_name: str = "Synthetic^Patient",
    patient_id: str = "SYN0001",
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    uid_seed: str | None = None,
    series_number: int = 10,
) -> WrittenImage:
    """Write a classic multi-frame X-Ray Angiographic image (PS3.3 A.14) without positions.

    Frames follow each other in time: the Frame Increment Pointer names Frame Time (0018,1063).

    Parameters
    ----------
    frames, rows, columns:
        Size; ignored when ``stored`` is given.
    stored:
        Unsigned stored values ``[frames, rows, cols]`` within ``bits_stored``; a contrast bolus
        pattern when None.
    bits_stored:
        8, 10, 12 or 16 (the XA Image module's enumerated values); 8 gives BitsAllocated 8.
    frame_time_ms:
        Nominal time between frames.
    transfer_syntax:
        Any syntax of :data:`SUPPORTED_TRANSFER_SYNTAXES` that holds such pixels.

    Returns
    -------
    WrittenImage
        ``values`` ``[frames, rows, cols]`` float64 (no rescale: equal to the stored values).
    """
    bits_allocated = 8 if bits_stored <= 8 else 16
    dtype = _dicom.stored_dtype(bits_allocated, signed=False)
    pixels = _grey_stored(stored, (frames, rows, columns), bits_stored, dtype)
    _dicom.check_encodable(
        transfer_syntax, bits_allocated=bits_allocated, bits_stored=bits_stored, signed=False
    )
    uid = UidFactory(uid_seed)
    identity = image_identity(
        uid,
        modality="XA",
        patient_name=patient_name,
        patient_id=patient_id,
        study_instance_uid=study_instance_uid,
        series_instance_uid=series_instance_uid,
        series_number=series_number,
        description="Synthetic angiography run",
        body_part="HEART",
    )
    sop_uid = uid("instance")
    ds = _dicom.new_dataset(XRayAngiographicImageStorage, sop_uid, identity)
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.ImageType = ["ORIGINAL", "PRIMARY", "SINGLE PLANE"]
    ds.PixelIntensityRelationship = "LIN"
    ds.NumberOfFrames = len(pixels)
    ds.FrameIncrementPointer = Tag("FrameTime")
    ds.FrameTime = decimal_string(frame_time_ms)
    ds.CineRate = round(1000.0 / frame_time_ms)
    ds.KVP = 80
    ds.RadiationSetting = "GR"
    ds.XRayTubeCurrent = 400
    ds.ExposureTime = 8
    ds.PositionerMotion = "STATIC"
    ds.PositionerPrimaryAngle = 30
    ds.PositionerSecondaryAngle = 20
    ds.ImagerPixelSpacing = ["0.3", "0.3"]
    ds.LossyImageCompression = "00"
    _dicom.set_grey_pixel_module(ds, pixels, bits_allocated=bits_allocated, bits_stored=bits_stored)
    _dicom.save(ds, pixels if len(pixels) > 1 else pixels[0], path, transfer_syntax)
    stored_out, values = _grey_truth(path, pixels, transfer_syntax)
    return WrittenImage(
        path=path,
        stored=stored_out,
        values=values,
        sop_class_uid=XRayAngiographicImageStorage,
        sop_instance_uid=sop_uid,
        study_instance_uid=identity.study_instance_uid,
        series_instance_uid=identity.series_instance_uid,
        transfer_syntax=transfer_syntax,
        pixel_spacing=(0.3, 0.3),
        frame_time_ms=frame_time_ms,
    )


def write_single_image(
    path: Path,
    *,
    modality: str = "CR",
    rows: int = 64,
    columns: int = 48,
    stored: IntArray | None = None,
    bits_stored: int = 12,
    pixel_spacing: tuple[float, float] = (0.2, 0.15),
    photometric: str = "MONOCHROME2",
    rescale_slope: float = 1.0,
    rescale_intercept: float = 0.0,
    transfer_syntax: str = ExplicitVRLittleEndian,
    patient_name: str = "Synthetic^Patient",
    patient_id: str = "SYN0001",
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    uid_seed: str | None = None,
    series_number: int = 20,
) -> WrittenImage:
    """Write one projection radiograph without patient position (the image2d kind).

    Parameters
    ----------
    modality:
        "CR" (Computed Radiography Image, PS3.3 A.2) or "DX" (Digital X-Ray Image For
        Presentation, PS3.3 A.26).
    rows, columns:
        Size; ignored when ``stored`` is given.
    stored:
        Unsigned stored values ``[rows, cols]``; a chest-like pattern when None.
    pixel_spacing:
        (row, column) spacing in mm, written as ImagerPixelSpacing (and PixelSpacing for CR).
    photometric:
        MONOCHROME1 (as many radiographs are) or MONOCHROME2.
    rescale_slope, rescale_intercept:
        Modality LUT (written: DX makes it Type 1).

    Returns
    -------
    WrittenImage
        ``values`` ``[1, rows, cols]`` float64 after the modality LUT.
    """
    if modality not in ("CR", "DX"):
        raise ValueError(f"modality must be CR or DX, got {modality}")
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ValueError(f"photometric must be MONOCHROME1 or MONOCHROME2, not {photometric}")
    bits_allocated = 8 if bits_stored <= 8 else 16
    dtype = _dicom.stored_dtype(bits_allocated, signed=False)
    source = None if stored is None else np.asarray(stored)[None]
    pixels = _grey_stored(source, (1, rows, columns), bits_stored, dtype)
    _dicom.check_encodable(
        transfer_syntax, bits_allocated=bits_allocated, bits_stored=bits_stored, signed=False
    )
    sop_class = (
        ComputedRadiographyImageStorage
        if modality == "CR"
        else DigitalXRayImageStorageForPresentation
    )
    uid = UidFactory(uid_seed)
    identity = image_identity(
        uid,
        modality=modality,
        patient_name=patient_name,
        patient_id=patient_id,
        study_instance_uid=study_instance_uid,
        series_instance_uid=series_instance_uid,
        series_number=series_number,
        description="Synthetic chest PA",
    )
    sop_uid = uid("instance")
    ds = _dicom.new_dataset(sop_class, sop_uid, identity)
    ds.InstanceNumber = 1
    ds.PatientOrientation = ["L", "F"]
    ds.ViewPosition = "PA"
    ds.ImagerPixelSpacing = [decimal_string(v) for v in pixel_spacing]
    ds.RescaleIntercept = decimal_string(rescale_intercept)
    ds.RescaleSlope = decimal_string(rescale_slope)
    ds.RescaleType = "US"
    ds.KVP = 120
    if modality == "CR":
        ds.PixelSpacing = ds.ImagerPixelSpacing
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
    else:
        full_range = (1 << bits_stored) * rescale_slope
        _set_dx_modules(ds, photometric, rescale_intercept + full_range / 2, full_range)
    _dicom.set_grey_pixel_module(
        ds, pixels, bits_allocated=bits_allocated, bits_stored=bits_stored, photometric=photometric
    )
    _dicom.save(ds, pixels[0], path, transfer_syntax)
    stored_out, values = _grey_truth(
        path, pixels, transfer_syntax, rescale_slope, rescale_intercept
    )
    return WrittenImage(
        path=path,
        stored=stored_out,
        values=values,
        sop_class_uid=sop_class,
        sop_instance_uid=sop_uid,
        study_instance_uid=identity.study_instance_uid,
        series_instance_uid=identity.series_instance_uid,
        transfer_syntax=transfer_syntax,
        pixel_spacing=pixel_spacing,
    )


def image_identity(
    uid: UidFactory,
    *,
    modality: str,
    patient_name: str,
    patient_id: str,
    study_instance_uid: str | None,
    series_instance_uid: str | None,
    series_number: int,
    description: str,
    body_part: str = "CHEST",
) -> Identity:
    """The identity of a single-file series; UIDs made for those not given."""
    return Identity(
        patient_name=patient_name,
        patient_id=patient_id,
        study_instance_uid=study_instance_uid or uid("study"),
        series_instance_uid=series_instance_uid or uid("series", modality),
        modality=modality,
        series_number=series_number,
        series_description=description,
        specific_character_set=_dicom.character_set_for(patient_name, None),
        body_part=body_part,
    )


def _grey_stored(
    stored: IntArray | None,
    shape: tuple[int, int, int],
    bits_stored: int,
    dtype: np.dtype[np.integer],
) -> IntArray:
    """Validated stored frames, or a bolus that fills a vessel tree from frame to frame."""
    high = (1 << bits_stored) - 1
    if stored is not None:
        array = np.asarray(stored)
        if array.ndim != 3 or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"stored must be integer [frames, rows, cols], got {array.shape}")
        if array.size and (int(array.min()) < 0 or int(array.max()) > high):
            raise ValueError(f"stored values must lie in 0..{high} for {bits_stored} bits")
        return array.astype(dtype)
    n, rows, columns = shape
    f = np.arange(n, dtype=np.float64)[:, None, None]
    y = np.linspace(-1.0, 1.0, rows)[None, :, None]
    x = np.linspace(-1.0, 1.0, columns)[None, None, :]
    # A vessel along a sine curve, filled with contrast progressively along x over the frames.
    vessel = np.abs(y - 0.4 * np.sin(2.5 * x)) < 0.08
    filled = vessel & (x < -1.0 + 2.5 * (f + 1) / n)
    background = 0.75 - 0.15 * (x**2 + y**2)
    fraction = background - 0.45 * filled + 0.01 * f / n
    return np.rint(np.clip(fraction, 0.0, 1.0) * high).astype(dtype)


def _grey_truth(
    path: Path,
    pixels: IntArray,
    transfer_syntax: str,
    slope: float = 1.0,
    intercept: float = 0.0,
) -> tuple[IntArray, FloatArray]:
    """Stored values and expected values; decoded from the file when the syntax is lossy."""
    if transfer_syntax in _dicom.LOSSY_METHODS:
        ds = pydicom.dcmread(path)
        decoded = ds.pixel_array.reshape(pixels.shape)
        return decoded, np.asarray(apply_modality_lut(decoded, ds), dtype=np.float64)
    return pixels, pixels.astype(np.float64) * slope + intercept


def _set_dx_modules(ds: Dataset, photometric: str, center: float, width: float) -> None:
    """DX Series, DX Anatomy Imaged, DX Image and DX Detector modules (PS3.3 C.8.11)."""
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.ImageLaterality = "U"
    ds.AnatomicRegionSequence = [_code("43799004", "SCT", "Chest")]
    ds.PixelIntensityRelationship = "LOG"
    ds.PixelIntensityRelationshipSign = 1
    # MONOCHROME1 needs INVERSE, MONOCHROME2 IDENTITY (PS3.3 C.8.11.3.1.2).
    ds.PresentationLUTShape = "INVERSE" if photometric == "MONOCHROME1" else "IDENTITY"
    # A "for presentation" image carries the window to show it with.
    ds.WindowCenter = decimal_string(center)
    ds.WindowWidth = decimal_string(width)
    ds.AcquisitionContextSequence = []
    ds.LossyImageCompression = "00"
    ds.BurnedInAnnotation = "NO"
    ds.DetectorType = "SCINTILLATOR"
    ds.DetectorConfiguration = "AREA"
    ds.PositionerType = "NONE"
    ds.DistanceSourceToDetector = 1800
    ds.AcquisitionDeviceProcessingDescription = ""


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item
