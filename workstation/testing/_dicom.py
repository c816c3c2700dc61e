"""Pieces every DICOM factory shares: UIDs, the identity modules and pixel encoding.

The factories build one dataset per file with native pixels, then hand it to :func:`save`, which
encodes the pixels in the requested transfer syntax (PS3.5 §8 and Annex A):

- native syntaxes (implicit/explicit VR little endian, explicit VR big endian, deflated) are
  written by pydicom; big-endian pixel bytes are swapped here because pydicom writes the bytes of
  Pixel Data as given;
- RLE, JPEG-LS and JPEG 2000 use pydicom's own encoders (:meth:`Dataset.compress`);
- the JPEG family (baseline, extended, lossless process 14 and its SV1 form), which pydicom cannot
  encode, is produced by dcmtk's ``dcmcjpeg`` from a temporary uncompressed file.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
    generate_uid,
)

IntArray = npt.NDArray[np.integer]

#: Syntaxes whose pixels are written as plain values.
NATIVE_SYNTAXES = frozenset(
    {
        ImplicitVRLittleEndian,
        ExplicitVRLittleEndian,
        ExplicitVRBigEndian,
        DeflatedExplicitVRLittleEndian,
    }
)

#: Syntaxes pydicom encodes itself.
PYDICOM_ENCODED = (RLELossless, JPEGLSLossless, JPEGLSNearLossless, JPEG2000Lossless, JPEG2000)
#: The pydicom encoding plugin for each: pydicom's own RLE, CharLS, OpenJPEG.
_ENCODERS: dict[str, str] = {
    RLELossless: "pydicom",
    JPEGLSLossless: "pyjpegls",
    JPEGLSNearLossless: "pyjpegls",
    JPEG2000Lossless: "pylibjpeg",
    JPEG2000: "pylibjpeg",
}
#: Fixed lossy settings, so lossy output is reproducible: the largest error JPEG-LS
#: near-lossless may make, and the peak signal-to-noise ratio (dB) lossy JPEG 2000 aims at
#: (a quality target rather than a ratio, so that small test images are not ruined by headers).
JPEG_LS_NEAR = 2
JPEG_2000_PSNR = 60.0

#: Syntaxes written by dcmtk's dcmcjpeg, with its process option. ``+un`` keeps the SOP Instance
#: UID (dcmcjpeg replaces it for lossy output by default, which would break the ground truth);
#: ``+sr`` maps the full stored range rather than each image's min/max, so dcmcjpeg leaves the
#: stored values and the rescale of a 12-bit image alone instead of re-windowing every slice.
DCMTK_ENCODED: dict[str, tuple[str, ...]] = {
    JPEGBaseline8Bit: ("+eb", "+sr", "+q", "90"),
    JPEGExtended12Bit: ("+ee", "+sr", "+q", "90"),
    JPEGLossless: ("+el",),
    JPEGLosslessSV1: ("+e1",),
}

#: Syntaxes that discard information, with the LossyImageCompressionMethod (0028,2114) term.
LOSSY_METHODS: dict[str, str] = {
    JPEGLSNearLossless: "ISO_14495_1",
    JPEG2000: "ISO_15444_1",
    JPEGBaseline8Bit: "ISO_10918_1",
    JPEGExtended12Bit: "ISO_10918_1",
}

SUPPORTED_TRANSFER_SYNTAXES: tuple[str, ...] = (
    *sorted(NATIVE_SYNTAXES),
    *PYDICOM_ENCODED,
    *DCMTK_ENCODED,
)

#: Fixed study date and time: synthetic data must not change from one run to the next.
STUDY_DATE = "20240115"
STUDY_TIME = "093000"


class UidFactory:
    """UIDs that are random, or derived from a seed so that a rewrite gives the same ones.

    Derived UIDs use the ``2.25`` root with a name-based UUID (PS3.5 §B.2), which needs no
    registered organisation root. pydicom's ``generate_uid(prefix=None, entropy_srcs=...)`` is not
    used: with ``prefix=None`` it ignores the entropy sources and returns a random UID.
    """

    _NAMESPACE = uuid.UUID("6f1c7d0e-3b5a-4f27-9a51-0d0b6c2e8a14")

    def __init__(self, seed: str | None) -> None:
        self.seed = seed

    def __call__(self, *parts: object) -> str:
        """A UID for the thing named by ``parts`` (ignored when there is no seed)."""
        if self.seed is None:
            return str(generate_uid())
        name = "\x1f".join([self.seed, *(str(part) for part in parts)])
        return f"2.25.{uuid.uuid5(self._NAMESPACE, name).int}"


@dataclass(frozen=True)
class Identity:
    """Who and what a file belongs to: the Patient, Study, Series and Equipment modules."""

    patient_name: str
    patient_id: str
    study_instance_uid: str
    series_instance_uid: str
    modality: str
    series_number: int
    series_description: str
    study_description: str = "Synthetic study"
    specific_character_set: str | None = None
    body_part: str = "CHEST"


def character_set_for(patient_name: str, requested: str | None) -> str | None:
    """The SpecificCharacterSet (0008,0005) to write; UTF-8 when a non-ASCII name needs one."""
    if requested is not None:
        return requested
    return None if patient_name.isascii() else "ISO_IR 192"


def new_dataset(sop_class_uid: str, sop_instance_uid: str, identity: Identity) -> Dataset:
    """A dataset holding the SOP Common, Patient, General Study, General Series and General
    Equipment modules (PS3.3 C.12.1, C.7.1.1, C.7.2.1, C.7.3.1, C.7.5.1)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    # The charset must be set before any text element so that readers decode the names right.
    if identity.specific_character_set is not None:
        ds.SpecificCharacterSet = identity.specific_character_set
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_instance_uid
    ds.InstanceCreationDate = STUDY_DATE
    ds.InstanceCreationTime = STUDY_TIME
    ds.PatientName = identity.patient_name
    ds.PatientID = identity.patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = identity.study_instance_uid
    ds.StudyDate = STUDY_DATE
    ds.StudyTime = STUDY_TIME
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.StudyDescription = identity.study_description
    ds.Modality = identity.modality
    ds.SeriesInstanceUID = identity.series_instance_uid
    ds.SeriesNumber = identity.series_number
    ds.SeriesDescription = identity.series_description
    ds.SeriesDate = STUDY_DATE
    ds.SeriesTime = STUDY_TIME
    # Without a body part, Laterality (2C, for paired organs) would be needed (C.7.3.1).
    ds.BodyPartExamined = identity.body_part
    ds.Manufacturer = "Workstation Synthetic"
    ds.ManufacturerModelName = "Phantom Factory"
    ds.SoftwareVersions = "1"
    ds.ContentDate = STUDY_DATE
    ds.ContentTime = STUDY_TIME
    return ds


def set_grey_pixel_module(
    ds: Dataset,
    frames: IntArray,
    *,
    bits_allocated: int,
    bits_stored: int,
    photometric: str = "MONOCHROME2",
) -> None:
    """Image Pixel module (PS3.3 C.7.6.3) attributes for grey frames ``[.., rows, cols]``."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = int(frames.shape[-2]), int(frames.shape[-1])
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if np.issubdtype(frames.dtype, np.signedinteger) else 0


def stored_range(bits_stored: int, signed: bool) -> tuple[int, int]:
    """Smallest and largest value ``bits_stored`` bits can hold (PS3.5 §8.1.1)."""
    if signed:
        return -(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1
    return 0, (1 << bits_stored) - 1


def stored_dtype(bits_allocated: int, signed: bool) -> np.dtype[np.integer]:
    """The numpy dtype holding one stored value of ``bits_allocated`` bits."""
    if bits_allocated not in (8, 16, 32):
        raise ValueError(f"BitsAllocated must be 8, 16 or 32, got {bits_allocated}")
    return np.dtype(f"{'i' if signed else 'u'}{bits_allocated // 8}")


def check_encodable(
    transfer_syntax: str, *, bits_allocated: int, bits_stored: int, signed: bool
) -> None:
    """Raise ValueError when ``transfer_syntax`` cannot hold such pixels (PS3.5 §8.2)."""
    if transfer_syntax not in SUPPORTED_TRANSFER_SYNTAXES:
        raise ValueError(f"transfer syntax {transfer_syntax} is not one the factories write")
    if transfer_syntax == JPEGBaseline8Bit and (bits_allocated != 8 or signed):
        raise ValueError("JPEG Baseline holds only 8-bit unsigned pixels (BitsAllocated 8)")
    if transfer_syntax == JPEGExtended12Bit and (bits_stored > 12 or signed):
        raise ValueError("JPEG Extended holds only unsigned pixels of at most 12 bits")
    if transfer_syntax not in NATIVE_SYNTAXES and bits_allocated > 16:
        raise ValueError("compressed syntaxes are written for BitsAllocated 8 or 16 only")


def native_pixel_bytes(frames: npt.NDArray[np.generic], little_endian: bool) -> bytes:
    """Pixel Data bytes of ``frames`` in the byte order of the transfer syntax.

    pydicom writes the value of Pixel Data verbatim, so big-endian files need their 16- and 32-bit
    words swapped here (PS3.5 §A.3; 8-bit samples have no byte order). An odd byte count is padded.
    """
    dtype = frames.dtype.newbyteorder("<" if little_endian else ">")
    data = np.ascontiguousarray(frames, dtype=dtype).tobytes()
    return data + b"\0" if len(data) % 2 else data


def save(
    ds: Dataset,
    frames: npt.NDArray[np.generic],
    path: Path,
    transfer_syntax: str,
    *,
    dcmcjpeg_options: Sequence[str] = (),
) -> None:
    """Encode ``frames`` as the Pixel Data of ``ds`` in ``transfer_syntax`` and write ``path``.

    ``frames`` is one image ``[rows, cols(, 3)]`` or several ``[n, rows, cols(, 3)]``; the Image
    Pixel attributes must already be set. Lossy syntaxes get Lossy Image Compression "01" with its
    ratio and method (PS3.3 C.7.6.1.1.5); ``dcmcjpeg`` writes those itself.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if transfer_syntax in NATIVE_SYNTAXES:
        ds.file_meta.TransferSyntaxUID = UID(transfer_syntax)
        ds.PixelData = native_pixel_bytes(frames, transfer_syntax != ExplicitVRBigEndian)
        ds["PixelData"].VR = "OB" if int(ds.BitsAllocated) == 8 else "OW"
        ds.save_as(path, enforce_file_format=True)
        return
    if transfer_syntax in PYDICOM_ENCODED:
        pixels = np.ascontiguousarray(frames)
        # Name the encoder: left to choose, pydicom falls back to GDCM, which aborts the whole
        # process on some inputs instead of raising.
        plugin = _ENCODERS[transfer_syntax]
        if transfer_syntax == JPEGLSNearLossless:
            ds.compress(
                transfer_syntax,
                pixels,
                encoding_plugin=plugin,
                jls_error=JPEG_LS_NEAR,
                generate_instance_uid=False,
            )
        elif transfer_syntax == JPEG2000:
            ds.compress(
                transfer_syntax,
                pixels,
                encoding_plugin=plugin,
                j2k_psnr=[JPEG_2000_PSNR],
                generate_instance_uid=False,
            )
        else:
            # Keep the SOP Instance UID: the ground truth lists it.
            ds.compress(
                transfer_syntax, pixels, encoding_plugin=plugin, generate_instance_uid=False
            )
        if transfer_syntax in LOSSY_METHODS:
            raw_size = frames.size * frames.dtype.itemsize
            ds.LossyImageCompression = "01"
            ds.LossyImageCompressionRatio = f"{raw_size / len(ds.PixelData):.2f}"
            ds.LossyImageCompressionMethod = LOSSY_METHODS[transfer_syntax]
        ds.save_as(path, enforce_file_format=True)
        return
    if transfer_syntax in DCMTK_ENCODED:
        _save_with_dcmcjpeg(ds, frames, path, [*DCMTK_ENCODED[transfer_syntax], *dcmcjpeg_options])
        return
    raise ValueError(f"transfer syntax {transfer_syntax} is not one the factories write")


def dcmcjpeg_path() -> str:
    """Path of dcmtk's dcmcjpeg; RuntimeError when it is not installed."""
    tool = shutil.which("dcmcjpeg")
    if tool is None:
        raise RuntimeError(
            "dcmcjpeg (dcmtk) is needed to write JPEG baseline/extended/lossless files; "
            "install it (Debian: apt-get install dcmtk)"
        )
    return tool


def _save_with_dcmcjpeg(
    ds: Dataset, frames: npt.NDArray[np.generic], path: Path, options: Sequence[str]
) -> None:
    tool = dcmcjpeg_path()
    source = path.with_name(f".{path.name}.native.dcm")
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PixelData = native_pixel_bytes(frames, little_endian=True)
    ds["PixelData"].VR = "OB" if int(ds.BitsAllocated) == 8 else "OW"
    ds.save_as(source, enforce_file_format=True)
    try:
        result = subprocess.run(
            [tool, *options, "+un", str(source), str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        source.unlink(missing_ok=True)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise RuntimeError(f"dcmcjpeg failed on {path.name}: {' '.join(message[-3:])}")


def decimal_string(value: float) -> str:
    """``value`` as a DS of at most 16 characters (PS3.5 §6.2), to a micrometre."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
