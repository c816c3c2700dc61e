"""Colour Secondary Capture images, ``[frames, rows, cols, 3]``: RGB and YCbCr, native or coded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.pixels.processing import convert_color_space
from pydicom.tag import Tag
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    MultiFrameTrueColorSecondaryCaptureImageStorage,
    RLELossless,
    SecondaryCaptureImageStorage,
)

from workstation.testing import _dicom
from workstation.testing._dicom import UidFactory
from workstation.testing.images import WrittenImage, image_identity

#: Syntaxes colour images are written in: native, RLE, the lossless JPEG-LS and JPEG 2000 (RGB),
#: and JPEG baseline (YBR). The JPEG syntaxes that suit grey 12/16-bit data are left out.
COLOUR_SYNTAXES = frozenset(
    {
        *_dicom.NATIVE_SYNTAXES,
        RLELossless,
        JPEGLSLossless,
        JPEG2000Lossless,
        JPEGBaseline8Bit,
    }
)


def write_rgb(
    path: Path,
    *,
    frames: int = 1,
    rows: int = 36,
    columns: int = 44,
    rgb: npt.NDArray[np.uint8] | None = None,
    photometric: str = "RGB",
    planar_configuration: int = 0,
    transfer_syntax: str = ExplicitVRLittleEndian,
    patient_name: str = "Synthetic^Patient",
    patient_id: str = "SYN0001",
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    uid_seed: str | None = None,
    series_number: int = 30,
) -> WrittenImage:
    """Write a colour Secondary Capture image (PS3.3 A.8.1; A.8.5 multi-frame true colour).

    Parameters
    ----------
    frames, rows, columns:
        Size; ignored when ``rgb`` is given.
    rgb:
        Source colours ``[frames, rows, cols, 3]`` uint8; a colour pattern when None.
    photometric:
        "RGB": stored as is (native syntaxes with planar configuration 0 or 1, or RLE).
        "YBR_FULL": converted to YCbCr (PS3.3 C.7.6.3.1.2) and stored natively or as RLE, or
        JPEG baseline with 4:4:4 sampling. "YBR_FULL_422": JPEG baseline with 4:2:2 sampling
        (the usual lossy colour JPEG, encoded by dcmcjpeg).
    planar_configuration:
        0 (R1G1B1 R2G2B2 ...) or 1 (all R, then G, then B) for native syntaxes.
    transfer_syntax:
        One of :data:`COLOUR_SYNTAXES`.

    Returns
    -------
    WrittenImage
        ``values``: the RGB pydicom decodes, ``[frames, rows, cols, 3]`` uint8. Equal to the
        source for RGB in lossless syntaxes; within rounding for YBR_FULL; lossy for JPEG.
    """
    source = _rgb_source(rgb, (frames, rows, columns))
    native = transfer_syntax in _dicom.NATIVE_SYNTAXES
    if photometric == "YBR_FULL_422" and transfer_syntax != JPEGBaseline8Bit:
        raise ValueError("YBR_FULL_422 is written only as JPEG baseline (PS3.5 §8.2.1)")
    if photometric not in ("RGB", "YBR_FULL", "YBR_FULL_422"):
        raise ValueError(f"photometric must be RGB, YBR_FULL or YBR_FULL_422, not {photometric}")
    if photometric == "RGB" and transfer_syntax == JPEGBaseline8Bit:
        raise ValueError("JPEG baseline colour is written as YBR_FULL_422 or YBR_FULL")
    if planar_configuration not in (0, 1) or (planar_configuration == 1 and not native):
        raise ValueError("planar_configuration 1 is written only for native transfer syntaxes")
    if transfer_syntax not in COLOUR_SYNTAXES:
        raise ValueError(f"colour images are not written in transfer syntax {transfer_syntax}")

    many = len(source) > 1
    sop_class = (
        MultiFrameTrueColorSecondaryCaptureImageStorage if many else SecondaryCaptureImageStorage
    )
    uid = UidFactory(uid_seed)
    identity = image_identity(
        uid,
        modality="OT",
        patient_name=patient_name,
        patient_id=patient_id,
        study_instance_uid=study_instance_uid,
        series_instance_uid=series_instance_uid,
        series_number=series_number,
        description="Synthetic colour capture",
    )
    sop_uid = uid("instance")
    ds = _dicom.new_dataset(sop_class, sop_uid, identity)
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.ConversionType = "WSD"
    ds.BurnedInAnnotation = "NO"
    if many:
        ds.NumberOfFrames = len(source)
        ds.FrameIncrementPointer = Tag("FrameTime")
        ds.FrameTime = "100"
    ds.SamplesPerPixel = 3
    ds.Rows, ds.Columns = int(source.shape[1]), int(source.shape[2])
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PlanarConfiguration = planar_configuration
    # dcmcjpeg converts RGB to YCbCr itself and records the photometric it produced.
    ds.PhotometricInterpretation = "RGB" if transfer_syntax == JPEGBaseline8Bit else photometric
    pixels = source
    if photometric == "YBR_FULL" and transfer_syntax != JPEGBaseline8Bit:
        pixels = np.asarray(convert_color_space(source, "RGB", "YBR_FULL"), dtype=np.uint8)
    if planar_configuration == 1:
        pixels = np.ascontiguousarray(np.moveaxis(pixels, -1, 1))  # [frames, 3, rows, cols]
    options = ("+s4",) if photometric == "YBR_FULL" else ()
    _dicom.save(ds, pixels if many else pixels[0], path, transfer_syntax, dcmcjpeg_options=options)
    decoded = np.asarray(pydicom.dcmread(path).pixel_array, dtype=np.uint8)
    return WrittenImage(
        path=path,
        stored=source,
        values=decoded.reshape(source.shape),
        sop_class_uid=sop_class,
        sop_instance_uid=sop_uid,
        study_instance_uid=identity.study_instance_uid,
        series_instance_uid=identity.series_instance_uid,
        transfer_syntax=transfer_syntax,
        frame_time_ms=100.0 if many else None,
    )


def _rgb_source(
    rgb: npt.NDArray[np.uint8] | None, shape: tuple[int, int, int]
) -> npt.NDArray[np.uint8]:
    if rgb is not None:
        array = np.asarray(rgb)
        if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
            raise ValueError(f"rgb must be uint8 [frames, rows, cols, 3], got {array.shape}")
        return array
    n, rows, columns = shape
    f = np.arange(n, dtype=np.float64)[:, None, None]
    y = np.linspace(0.0, 1.0, rows)[None, :, None]
    x = np.linspace(0.0, 1.0, columns)[None, None, :]
    full = (n, rows, columns)
    red = np.broadcast_to(40 + 180 * x, full)
    green = np.broadcast_to(40 + 180 * y, full)
    blue = 60 + 120 * ((f + 1) / (n + 1)) + 40 * (((x - 0.5) ** 2 + (y - 0.5) ** 2) < 0.06)
    rgb_pattern: npt.NDArray[np.uint8] = np.rint(np.stack([red, green, blue], axis=-1)).astype(
        np.uint8
    )
    return rgb_pattern
