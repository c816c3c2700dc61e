"""Classic single-frame CT and MR series (one file per slice and phase) with known ground truth.

:class:`SeriesSpec` describes the series, including the defects a loader must cope with (missing,
duplicated and unevenly spaced slices, gantry tilt, a localizer in the series, shuffled file names
and instance numbers). :func:`write_series` writes it and returns a :class:`WrittenSeries`: the
stored and rescaled voxels in their true order and the LPS affine a correct loader reproduces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_modality_lut

from workstation.core import geometry
from workstation.testing import _dicom
from workstation.testing._dicom import Identity, UidFactory, decimal_string
from workstation.testing.spec import (
    NOMINAL_RR_MS,
    SOP_CLASSES,
    SeriesSpec,
    WrittenSeries,
    series_affine,
    slice_positions,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.integer]


def default_stored(
    shape: tuple[int, ...], bits_stored: int, signed: bool, dtype: np.dtype[np.integer]
) -> IntArray:
    """A smooth deterministic pattern ``[.., k, j, i]`` within the declared bits.

    Every slice and phase gets its own offset (and a disc whose radius depends on both), so a
    loader that puts slices or phases in the wrong order produces visibly different values.
    """
    low, high = _dicom.stored_range(bits_stored, signed)
    *outer, n_k, n_j, n_i = shape
    n_t = outer[0] if outer else 1
    t = np.arange(n_t, dtype=np.float64)[:, None, None, None]
    k = np.arange(n_k, dtype=np.float64)[None, :, None, None]
    j = np.linspace(0.0, 1.0, n_j)[None, None, :, None]
    i = np.linspace(0.0, 1.0, n_i)[None, None, None, :]
    radius = 0.15 + 0.2 * (k + 1) / (n_k + 1) + 0.05 * t / n_t
    disc = ((i - 0.5) ** 2 + (j - 0.5) ** 2) < radius**2
    fraction = (
        0.05
        + 0.25 * i
        + 0.15 * j
        + 0.3 * (k + 1) / (n_k + 1)
        + 0.15 * (t + 1) / (n_t + 1)
        + 0.08 * disc
    )
    pattern: IntArray = np.rint(low + fraction * (high - low)).astype(dtype).reshape(shape)
    return pattern


def write_series(
    directory: Path, spec: SeriesSpec | None = None, stored: IntArray | None = None
) -> WrittenSeries:
    """Write ``spec`` as one file per slice (and phase) into ``directory``.

    Parameters
    ----------
    directory:
        Folder to write into (created when missing).
    spec:
        What to write; the default :class:`SeriesSpec` when None.
    stored:
        Stored values ``[k, j, i]`` (``[t, k, j, i]`` for cine) in true order; a deterministic
        pattern (:func:`default_stored`) when None. They must fit ``spec.bits_stored``.

    Returns
    -------
    WrittenSeries
        The files and the ground truth. The files carry every Type 1 and 2 attribute of the CT
        Image or MR Image IOD (PS3.3 A.3, A.4), so ``dciodvfy`` finds no error in native syntaxes.
    """
    spec = spec or SeriesSpec()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    dtype = _dicom.stored_dtype(spec.bits_allocated, spec.signed)
    voxels = checked_stored(spec, stored, dtype)
    uid = UidFactory(spec.uid_seed)
    identity = spec_identity(spec, uid)
    frame_of_reference = spec.frame_of_reference_uid or uid("frame-of-reference")
    n_t = spec.phases or 1
    four_d = voxels.reshape(n_t, spec.n_slices, spec.rows, spec.columns)
    sop_uids = [uid("instance", t, k) for t in range(n_t) for k in range(spec.n_slices)]
    positions = slice_positions(spec)

    # Instances in true order; each file job is an instance, or a second copy of one.
    instances = [
        (t, k) for t in range(n_t) for k in range(spec.n_slices) if k not in spec.missing_slices
    ]
    jobs = [
        (t, k, copy) for t, k in instances for copy in range(2 if k in spec.duplicate_slices else 1)
    ]
    rng = np.random.default_rng(spec.seed)
    names = _file_names(len(jobs) + int(spec.localizer), spec.shuffle, rng)
    numbers = _instance_numbers(len(instances) + int(spec.localizer), spec.shuffle, rng)
    # A duplicate is the same instance stored again, so it keeps the instance number too.
    number_of = dict(zip(instances, numbers, strict=False))
    order = rng.permutation(len(jobs)) if spec.shuffle else np.arange(len(jobs))

    written: list[Path] = []
    slice_paths: dict[tuple[int, int], Path] = {}
    for position in order:
        t, k, copy = jobs[position]
        ds = _slice_dataset(spec, identity, frame_of_reference, sop_uids[t * spec.n_slices + k])
        _set_plane(ds, spec, positions[k], spec.orientation)
        ds.InstanceNumber = number_of[(t, k)]
        if spec.phases is not None:
            _set_phase(ds, spec, t)
        path = directory / names[position]
        _save_image(ds, spec, four_d[t, k], path)
        written.append(path)
        if copy == 0:
            slice_paths[(t, k)] = path

    localizer_path = None
    if spec.localizer:
        localizer_path = directory / names[-1]
        ds = _slice_dataset(spec, identity, frame_of_reference, uid("localizer"))
        ds.InstanceNumber = numbers[-1]
        _write_localizer(ds, spec, localizer_path)
        written.append(localizer_path)

    values = rescaled(spec, four_d)
    if spec.transfer_syntax in _dicom.LOSSY_METHODS:
        # The truth of a lossy file is what a decoder gets back from it, file by file.
        four_d = four_d.copy()
        for (t, k), path in slice_paths.items():
            four_d[t, k], values[t, k] = decode(path)
    shape = spec.shape
    return WrittenSeries(
        spec=spec,
        paths=written,
        stored=four_d.reshape(shape),
        values=values.reshape(shape),
        affine=series_affine(spec),
        positions=positions,
        phase_times=spec.phase_times,
        study_instance_uid=identity.study_instance_uid,
        series_instance_uid=identity.series_instance_uid,
        frame_of_reference_uid=frame_of_reference,
        sop_instance_uids=sop_uids,
        slice_paths=slice_paths,
        localizer_path=localizer_path,
    )


def spec_identity(spec: SeriesSpec, uid: UidFactory) -> Identity:
    """The patient, study and series ``spec`` names, with UIDs made for those it leaves open."""
    return Identity(
        patient_name=spec.patient_name,
        patient_id=spec.patient_id,
        study_instance_uid=spec.study_instance_uid or uid("study"),
        series_instance_uid=spec.series_instance_uid or uid("series"),
        modality=spec.modality,
        series_number=spec.series_number,
        series_description=spec.series_description,
        study_description=spec.study_description,
        specific_character_set=_dicom.character_set_for(
            spec.patient_name, spec.specific_character_set
        ),
        body_part=spec.body_part,
    )


def decode(path: Path) -> tuple[IntArray, FloatArray]:
    """Stored values and modality-LUT values pydicom decodes from one file."""
    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array
    return pixels, np.asarray(apply_modality_lut(pixels, ds), dtype=np.float64)


def checked_stored(
    spec: SeriesSpec, stored: IntArray | None, dtype: np.dtype[np.integer]
) -> IntArray:
    """``stored`` validated against ``spec`` (or the default pattern), as ``dtype``."""
    if stored is None:
        return default_stored(spec.shape, spec.bits_stored, spec.signed, dtype)
    array = np.asarray(stored)
    if array.shape != spec.shape:
        raise ValueError(f"stored has shape {array.shape}, the spec needs {spec.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"stored must hold integers, got {array.dtype}")
    low, high = _dicom.stored_range(spec.bits_stored, spec.signed)
    if array.size and (int(array.min()) < low or int(array.max()) > high):
        raise ValueError(f"stored values must lie in {low}..{high} for {spec.bits_stored} bits")
    return array.astype(dtype)


def rescaled(spec: SeriesSpec, stored: IntArray) -> FloatArray:
    """``stored × slope + intercept`` as float64 (absent tags count as identity)."""
    slope = 1.0 if spec.rescale_slope is None else spec.rescale_slope
    intercept = 0.0 if spec.rescale_intercept is None else spec.rescale_intercept
    return stored.astype(np.float64) * slope + intercept


def _file_names(count: int, shuffle: bool, rng: np.random.Generator) -> list[str]:
    """File names in true order; shuffled ones are random and never sort into true order."""
    if not shuffle:
        return [f"IM{n:05d}.dcm" for n in range(count)]
    while True:
        names = [rng.bytes(5).hex().upper() for _ in range(count)]
        if len(set(names)) == count and (count < 2 or names != sorted(names)):
            return names


def _instance_numbers(count: int, shuffle: bool, rng: np.random.Generator) -> list[int]:
    """Instance Numbers in true order; shuffled ones never increase along it."""
    while True:
        numbers = [int(n) + 1 for n in (rng.permutation(count) if shuffle else range(count))]
        if not shuffle or count < 2 or numbers != sorted(numbers):
            return numbers


def _slice_dataset(
    spec: SeriesSpec, identity: Identity, frame_of_reference: str, sop_uid: str
) -> Dataset:
    ds = _dicom.new_dataset(SOP_CLASSES[spec.modality], sop_uid, identity)
    if spec.patient_size_m is not None:
        ds.PatientSize = decimal_string(spec.patient_size_m)
    if spec.patient_weight_kg is not None:
        ds.PatientWeight = decimal_string(spec.patient_weight_kg)
    ds.PatientPosition = "HFS"
    ds.FrameOfReferenceUID = frame_of_reference
    ds.PositionReferenceIndicator = ""
    ds.AcquisitionNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL" if spec.modality == "CT" else "OTHER"]
    if spec.modality == "CT":
        ds.KVP = 120
        ds.ConvolutionKernel = "STANDARD"
        if spec.gantry_tilt_degrees:
            ds.GantryDetectorTilt = spec.gantry_tilt_degrees
    else:
        _set_mr_image(ds, cine=spec.phases is not None)
    if spec.rescale_slope is not None or spec.rescale_intercept is not None:
        ds.RescaleIntercept = 0.0 if spec.rescale_intercept is None else spec.rescale_intercept
        ds.RescaleSlope = 1.0 if spec.rescale_slope is None else spec.rescale_slope
        if spec.modality == "CT":
            ds.RescaleType = "HU"
    if spec.window_center is not None and spec.window_width is not None:
        ds.WindowCenter = spec.window_center
        ds.WindowWidth = spec.window_width
    if spec.lossy:
        ds.LossyImageCompression = "01"
    return ds


def _set_mr_image(ds: Dataset, *, cine: bool) -> None:
    """MR Image module (PS3.3 C.8.3.1) for a balanced gradient-echo acquisition."""
    ds.ScanningSequence = "GR"
    ds.SequenceVariant = "SS"
    ds.ScanOptions = "CG" if cine else ""
    ds.MRAcquisitionType = "2D"
    ds.RepetitionTime = 3.2
    ds.EchoTime = 1.6
    ds.EchoTrainLength = 1
    ds.FlipAngle = 50
    ds.MagneticFieldStrength = 1.5
    ds.ImagingFrequency = 63.87
    ds.ImagedNucleus = "1H"


def _set_plane(
    ds: Dataset,
    spec: SeriesSpec,
    position: FloatArray,
    orientation: tuple[float, ...],
) -> None:
    """Image Plane module (PS3.3 C.7.6.2); values rounded as a 16-character DS holds them."""
    ds.PixelSpacing = [decimal_string(v) for v in spec.pixel_spacing]
    ds.ImageOrientationPatient = [decimal_string(v) for v in orientation]
    ds.ImagePositionPatient = [decimal_string(v) for v in position]
    thickness = spec.slice_spacing if spec.slice_thickness is None else spec.slice_thickness
    ds.SliceThickness = decimal_string(thickness)
    ds.SliceLocation = decimal_string(float(position @ geometry.slice_normal(orientation)))
    if spec.modality == "MR":
        ds.SpacingBetweenSlices = decimal_string(spec.slice_spacing)


def _set_phase(ds: Dataset, spec: SeriesSpec, t: int) -> None:
    """Cine attributes: trigger time and temporal position (PS3.3 C.7.6.2, C.8.3.1)."""
    times = spec.phase_times or ()
    ds.TriggerTime = decimal_string(times[t])
    interval = NOMINAL_RR_MS if spec.nominal_interval_ms is None else spec.nominal_interval_ms
    ds.NominalInterval = round(interval)
    ds.CardiacNumberOfImages = spec.phases
    ds.TemporalPositionIdentifier = t + 1
    ds.NumberOfTemporalPositions = spec.phases


def _save_image(ds: Dataset, spec: SeriesSpec, pixels: IntArray, path: Path) -> None:
    _dicom.set_grey_pixel_module(
        ds,
        pixels,
        bits_allocated=spec.bits_allocated,
        bits_stored=spec.bits_stored,
        photometric=spec.photometric,
    )
    if spec.write_smallest_largest:
        ds.SmallestImagePixelValue = int(pixels.min())
        ds.LargestImagePixelValue = int(pixels.max())
    _dicom.save(ds, pixels, path, spec.transfer_syntax)


def _write_localizer(ds: Dataset, spec: SeriesSpec, path: Path) -> None:
    """A perpendicular scout through the middle of the stack (row = slice row, column = −normal)."""
    row, _ = geometry.split_orientation(spec.orientation)
    normal = geometry.slice_normal(spec.orientation)
    plane = (*row.tolist(), *(-normal).tolist())
    centre = series_affine(spec) @ np.array(
        [(spec.columns - 1) / 2, (spec.rows - 1) / 2, (spec.n_slices - 1) / 2, 1.0]
    )
    corner = (
        centre[:3]
        - row * spec.pixel_spacing[1] * (spec.columns - 1) / 2
        + normal * spec.pixel_spacing[0] * (spec.rows - 1) / 2
    )
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    if "RescaleType" in ds:
        del ds.RescaleType  # a scout's pixels are not Hounsfield units (PS3.3 C.8.2.1.1.7)
    _set_plane(ds, spec, corner, plane)
    dtype = _dicom.stored_dtype(spec.bits_allocated, spec.signed)
    scout = default_stored((1, spec.rows, spec.columns), spec.bits_stored, spec.signed, dtype)
    _save_image(ds, spec, np.ascontiguousarray(scout[0, ::-1]), path)
