"""What a synthetic series is: :class:`SeriesSpec`, its geometry, and the ground truth record.

The geometry follows DESIGN.md: the affine maps ``(i, j, k, 1)`` to LPS mm, its third column is
the step between slice positions, which is sheared (not orthogonal to the plane) under gantry
tilt.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage

from workstation.core import geometry
from workstation.testing import _dicom

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.integer]

#: SOP Class written for each modality of a single-frame series.
SOP_CLASSES = {"CT": CTImageStorage, "MR": MRImageStorage}
_AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
#: R-R interval the default trigger times spread over (60 beats per minute).
NOMINAL_RR_MS = 1000.0


@dataclass(frozen=True)
class SeriesSpec:
    """What :func:`write_series` writes.

    The defaults give a small axial CT series (8 slices of 32 × 40, 12 of 16 bits, HU =
    stored − 1024). The pixel spacing is deliberately not square, so that a loader swapping rows
    and columns is caught. The spec is validated on construction (``ValueError`` naming the
    problem) and frozen; derive variants with :func:`dataclasses.replace`.

    Attributes
    ----------
    rows, columns, n_slices:
        Matrix size and number of true slice positions.
    pixel_spacing:
        PixelSpacing (0028,0030): (row spacing, column spacing) in mm.
    slice_spacing:
        Distance between neighbouring slice planes along the plane normal, in mm.
    orientation:
        ImageOrientationPatient (0020,0037).
    origin:
        ImagePositionPatient of the true first slice (k = 0), LPS mm.
    modality:
        "CT" (CT Image Storage) or "MR" (MR Image Storage).
    transfer_syntax:
        One of :data:`SUPPORTED_TRANSFER_SYNTAXES`.
    bits_allocated, bits_stored, high_bit, pixel_representation:
        Image Pixel module values; ``high_bit`` None means ``bits_stored - 1`` (the only value
        written, since pydicom ignores any other).
    rescale_slope, rescale_intercept:
        Modality LUT values; None leaves the tag out (identity rescale). The defaults suit CT;
        MR series usually set both to None (the MR Image IOD has no Modality LUT).
    photometric:
        "MONOCHROME2" or "MONOCHROME1" (the stored values are the same; only display inverts).
    phases:
        None for a volume, or the number of cine phases (files per slice position).
    trigger_times:
        TriggerTime (0018,1060) of each phase in ms; None spreads them evenly over one R-R.
    gantry_tilt_degrees:
        Slices step ``slice_spacing · tan(tilt)`` along the column direction as well as
        ``slice_spacing`` along the normal, as a tilted CT gantry produces; GantryDetectorTilt
        (0018,1120) is written.
    missing_slices:
        Slice indices k left out of the files (every phase of them).
    duplicate_slices:
        Slice indices written twice: same SOP Instance UID, another file name.
    nonuniform:
        Extra offset in mm along the normal added to the position of the given slices.
    localizer:
        Also write one LOCALIZER image, perpendicular to the slices, into the same series.
    shuffle:
        Random file names and a random permutation of Instance Numbers, so neither sorts.
    seed:
        Seed of everything random (names, instance numbers).
    uid_seed:
        When set, every UID is derived from it (reruns write identical files); else random.
    body_part:
        BodyPartExamined (0018,0015), a defined term of PS3.16 Annex L.
    lossy:
        Write LossyImageCompression (0028,2110) "01" even for a lossless syntax (pixels that
        were lossy-compressed once); lossy syntaxes always set it.
    write_smallest_largest:
        Write Smallest/LargestImagePixelValue (0028,0106/0107) of each image.
    window_center, window_width:
        VOI LUT window written when both are set.
    specific_character_set:
        SpecificCharacterSet (0008,0005); None picks "ISO_IR 192" (UTF-8) for a non-ASCII
        patient name and leaves it out otherwise.
    slice_thickness:
        SliceThickness (0018,0050) in mm; None writes ``slice_spacing`` (no gap between slices).
    patient_size_m, patient_weight_kg:
        PatientSize (0010,1020) in m and PatientWeight (0010,1030) in kg; None leaves them out.
    nominal_interval_ms:
        NominalInterval (0018,1062) of a cine, the R-R interval in ms; None writes
        :data:`NOMINAL_RR_MS`.
    """

    rows: int = 32
    columns: int = 40
    n_slices: int = 8
    pixel_spacing: tuple[float, float] = (0.8, 0.7)
    slice_spacing: float = 2.5
    orientation: tuple[float, float, float, float, float, float] = _AXIAL
    origin: tuple[float, float, float] = (-14.0, -12.4, 40.0)
    modality: str = "CT"
    transfer_syntax: str = ExplicitVRLittleEndian
    bits_allocated: int = 16
    bits_stored: int = 12
    high_bit: int | None = None
    pixel_representation: int = 0
    rescale_slope: float | None = 1.0
    rescale_intercept: float | None = -1024.0
    photometric: str = "MONOCHROME2"
    phases: int | None = None
    trigger_times: tuple[float, ...] | None = None
    gantry_tilt_degrees: float = 0.0
    missing_slices: tuple[int, ...] = ()
    duplicate_slices: tuple[int, ...] = ()
    nonuniform: Mapping[int, float] = field(default_factory=dict)
    localizer: bool = False
    shuffle: bool = False
    seed: int = 0
    uid_seed: str | None = None
    patient_name: str = "Synthetic^Patient"
    patient_id: str = "SYN0001"
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    frame_of_reference_uid: str | None = None
    study_description: str = "Synthetic study"
    series_description: str = "Synthetic series"
    series_number: int = 1
    body_part: str = "CHEST"
    lossy: bool = False
    write_smallest_largest: bool = False
    window_center: float | None = None
    window_width: float | None = None
    specific_character_set: str | None = None
    slice_thickness: float | None = None
    patient_size_m: float | None = None
    patient_weight_kg: float | None = None
    nominal_interval_ms: float | None = None

    def __post_init__(self) -> None:
        if min(self.rows, self.columns, self.n_slices) < 1:
            raise ValueError("rows, columns and n_slices must be at least 1")
        if min(self.pixel_spacing) <= 0 or self.slice_spacing <= 0:
            raise ValueError("pixel_spacing and slice_spacing must be positive")
        for name in ("slice_thickness", "patient_size_m", "patient_weight_kg"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive when given")
        if self.nominal_interval_ms is not None and self.nominal_interval_ms <= 0:
            raise ValueError("nominal_interval_ms must be positive when given")
        geometry.split_orientation(self.orientation)  # raises GeometryError (a ValueError)
        if self.modality not in SOP_CLASSES:
            raise ValueError(f"modality must be one of {sorted(SOP_CLASSES)}, got {self.modality}")
        if self.photometric not in ("MONOCHROME1", "MONOCHROME2"):
            raise ValueError(
                f"photometric must be MONOCHROME1 or MONOCHROME2, not {self.photometric}"
            )
        if self.pixel_representation not in (0, 1):
            raise ValueError("pixel_representation must be 0 (unsigned) or 1 (signed)")
        _dicom.stored_dtype(self.bits_allocated, self.signed)
        if not 1 <= self.bits_stored <= self.bits_allocated:
            raise ValueError(f"bits_stored {self.bits_stored} outside 1..{self.bits_allocated}")
        if self.high_bit is not None and self.high_bit != self.bits_stored - 1:
            raise ValueError("high_bit must be bits_stored - 1 (PS3.5 §8.1.1 as readers assume)")
        _dicom.check_encodable(
            self.transfer_syntax,
            bits_allocated=self.bits_allocated,
            bits_stored=self.bits_stored,
            signed=self.signed,
        )
        if self.phases is not None and self.phases < 1:
            raise ValueError("phases must be None or at least 1")
        if self.trigger_times is not None:
            if self.phases is None or len(self.trigger_times) != self.phases:
                raise ValueError("trigger_times needs one value per phase (and phases set)")
            if any(
                b <= a for a, b in zip(self.trigger_times, self.trigger_times[1:], strict=False)
            ):
                raise ValueError("trigger_times must increase")
        for name in ("missing_slices", "duplicate_slices"):
            for k in getattr(self, name):
                if not 0 <= k < self.n_slices:
                    raise ValueError(f"{name} index {k} outside 0..{self.n_slices - 1}")
        if set(self.missing_slices) & set(self.duplicate_slices):
            raise ValueError("a slice cannot be both missing and duplicated")
        if not all(0 <= k < self.n_slices for k in self.nonuniform):
            raise ValueError(f"nonuniform indices must lie in 0..{self.n_slices - 1}")
        if not abs(self.gantry_tilt_degrees) < 60:
            raise ValueError("gantry_tilt_degrees must lie within ±60")
        heights = slice_positions(self) @ geometry.slice_normal(self.orientation)
        if np.any(np.diff(heights) <= 0):
            raise ValueError("nonuniform offsets must keep the slices in ascending order")

    @property
    def signed(self) -> bool:
        """Whether stored values are two's complement (PixelRepresentation 1)."""
        return self.pixel_representation == 1

    @property
    def shape(self) -> tuple[int, ...]:
        """Numpy shape of the true voxels: ``[k, j, i]`` or ``[t, k, j, i]``."""
        grid = (self.n_slices, self.rows, self.columns)
        return grid if self.phases is None else (self.phases, *grid)

    @property
    def phase_times(self) -> tuple[float, ...] | None:
        """TriggerTime of each phase in ms (None for a volume)."""
        if self.phases is None:
            return None
        if self.trigger_times is not None:
            return self.trigger_times
        return tuple(t * NOMINAL_RR_MS / self.phases for t in range(self.phases))


@dataclass(frozen=True)
class WrittenSeries:
    """Ground truth of a written series: what a correct loader must reproduce.

    Attributes
    ----------
    spec:
        The specification written.
    paths:
        Every file written, in the order written (duplicates and the localizer included).
    stored:
        Stored values of all true slices, ``[k, j, i]`` or ``[t, k, j, i]``, in true order. Slices
        in ``spec.missing_slices`` are part of it but absent from the files. For lossy transfer
        syntaxes these are the values pydicom decodes from the files (the source values for
        missing slices).
    values:
        ``stored × slope + intercept`` as float64, per file's own rescale.
    affine:
        4×4 map of ``(i, j, k, 1)`` to LPS mm with k ascending along row × column; nominal when
        ``spec.nonuniform`` displaces slices (see ``positions``).
    positions:
        ImagePositionPatient of each true slice, ``(n_slices, 3)``.
    phase_times:
        TriggerTime of each phase in ms, or None for a volume.
    sop_instance_uids:
        SOP Instance UIDs in true order, flattened over ``(t, k)``.
    slice_paths:
        The (first) file of each written ``(phase, slice)``; phase is 0 for a volume.
    localizer_path:
        The localizer file, when one was written.
    frame_order:
        For a multi-frame file: the flattened true index ``t · n_slices + k`` of each stored frame.
    """

    spec: SeriesSpec
    paths: list[Path]
    stored: IntArray
    values: FloatArray
    affine: FloatArray
    positions: FloatArray
    phase_times: tuple[float, ...] | None
    study_instance_uid: str
    series_instance_uid: str
    frame_of_reference_uid: str
    sop_instance_uids: list[str]
    slice_paths: dict[tuple[int, int], Path]
    localizer_path: Path | None = None
    frame_order: tuple[int, ...] = ()


def slice_step(spec: SeriesSpec) -> FloatArray:
    """LPS vector from one slice position to the next (sheared by the gantry tilt)."""
    _, column = geometry.split_orientation(spec.orientation)
    normal = geometry.slice_normal(spec.orientation)
    shear = math.tan(math.radians(spec.gantry_tilt_degrees))
    return spec.slice_spacing * (normal + shear * column)


def series_affine(spec: SeriesSpec) -> FloatArray:
    """The affine of the true slice grid (see :func:`workstation.core.geometry.plane_affine`)."""
    return geometry.plane_affine(
        spec.origin, spec.orientation, spec.pixel_spacing, slice_step(spec)
    )


def slice_positions(spec: SeriesSpec) -> FloatArray:
    """ImagePositionPatient of every true slice, ``(n_slices, 3)``, nonuniform offsets included."""
    normal = geometry.slice_normal(spec.orientation)
    k = np.arange(spec.n_slices, dtype=np.float64)
    positions = np.asarray(spec.origin, dtype=np.float64) + k[:, None] * slice_step(spec)
    for index, offset in spec.nonuniform.items():
        positions[index] += offset * normal
    return positions
