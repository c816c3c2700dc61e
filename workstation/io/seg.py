"""Label maps as DICOM Segmentation objects (PS3.3 A.51) and back.

:func:`write_seg` exports a :class:`~workstation.core.segmentation.LabelMap` as a BINARY SEG
built by highdicom: one segment per :class:`~workstation.core.segmentation.Segment` (coded
category and type, recommended display CIELab colour, algorithm), one frame per segment and
slice that holds it, each frame referencing its source image (and frame). :func:`read_seg` puts
a SEG — ours or another tool's, BINARY, FRACTIONAL or LABELMAP — back onto a loaded stack's
grid: by the source images its frames reference, or by plane position when they reference none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from workstation.core import geometry
from workstation.core.errors import DicomFileError, ErrorCode
from workstation.core.segmentation import PALETTE, LabelMap, Segment
from workstation.core.volume import StackKind
from workstation.io.assemble import DicomStack
from workstation.io.frames import FrameRef
from workstation.io.limits import DEFAULT_LIMITS, Limits
from workstation.io.source_datasets import (
    MANUFACTURER,
    MODEL_NAME,
    Algorithm,
    fill_type2,
    processing_algorithm_item,
    read_dicom_file,
    save_atomically,
    software_version,
    source_datasets,
)

Code3 = tuple[str, str, str]

SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
LABEL_MAP_SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.7"
SEG_SOP_CLASSES = (SEGMENTATION_STORAGE, LABEL_MAP_SEGMENTATION_STORAGE)

#: Segmented Property Category and Type of a segment that names neither (CID 7150, 7151).
DEFAULT_CATEGORY: Code3 = ("91723000", "SCT", "Anatomical Structure")
DEFAULT_TYPE: Code3 = ("85756007", "SCT", "Tissue")
#: Where a fractional segment counts as present (probability or occupancy).
FRACTIONAL_THRESHOLD = 0.5
#: Largest distance (mm) between a SEG frame's position and a slice's that still matches it.
POSITION_TOLERANCE_MM = 0.02
#: Largest difference of direction cosines that still counts as the same orientation.
ORIENTATION_TOLERANCE = 1e-4


# --- writing ---------------------------------------------------------------------------------


def write_seg(
    labels: LabelMap,
    stack: DicomStack,
    path: str | Path,
    *,
    phase: int | None = None,
    series_description: str | None = None,
    series_number: int = 901,
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
    instance_number: int = 1,
    content_label: str = "SEGMENTATION",
    content_description: str | None = None,
    content_creator_name: str | None = None,
    manufacturer: str = MANUFACTURER,
    device_serial_number: str = "1",
    algorithm: Algorithm | None = None,
    sources: Sequence[Any] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Any:
    """Write ``labels`` (on the grid of ``stack``) as a BINARY DICOM SEG.

    Parameters
    ----------
    labels:
        The label map; its array is ``[k, j, i]`` on the stack's grid, or ``[t, k, j, i]`` for
        a cine stack (then ``phase`` picks the phase written). Every label value present needs
        no segment: undescribed values are written as "Segment N".
    stack:
        The loaded stack the labels lie on; its source objects are referenced frame by frame.
    phase:
        For a cine stack: the phase to segment (e.g. end-diastole). A 3-D label map of a cine
        stack is taken to lie on that phase.
    series_description:
        Default: the label map's name.
    content_label:
        Content Label (CS: upper case, digits, space, underscore; at most 16 characters).
    algorithm:
        The algorithm of AUTOMATIC and SEMIAUTOMATIC segments (Algorithm Identification
        Sequence) and, per IHE AI Results, a Contributing Equipment "Processing Algorithm".
        Without it such a segment is attributed to its ``algorithm_name``, version "unknown".
    sources:
        The stack's source datasets when already read (:func:`source_datasets`).

    Returns
    -------
    pydicom.Dataset
        The SEG written (a ``highdicom.seg.Segmentation``).

    Raises
    ------
    ValueError
        The label map does not lie on the stack's grid, a phase is missing or out of range,
        there is no segment, or the stack's objects cannot be referenced frame by frame.
    DicomFileError
        A source object could not be read.
    """
    import highdicom as hd

    grid, slices = _phase_grid(labels, stack, phase)
    numbers, remap = _segment_numbers(labels, grid)
    if remap is not None:
        grid = remap[grid]
    all_sources = list(sources) if sources is not None else source_datasets(stack, limits)
    by_uid = {str(ds.SOPInstanceUID): ds for ds in all_sources}
    objects = list(dict.fromkeys(ref.header.sop_instance_uid for ref in slices))
    missing = [uid for uid in objects if uid not in by_uid]
    if missing:
        raise ValueError(f"no source dataset for SOP Instance {missing[0]}")
    source_images = [fill_type2(by_uid[uid]) for uid in objects]

    descriptions = [
        _description(new, labels.segments.get(old), old, algorithm)
        for new, old in enumerate(numbers, start=1)
    ]
    plane_positions = None
    if any(ref.header.number_of_frames > 1 for ref in slices):
        # Frames of one multi-frame object, maybe reordered or one phase of a cine: placed by
        # position, which highdicom matches to the source frames.
        if len(source_images) > 1:
            raise ValueError(
                "the stack's slices come from several objects, some multi-frame: "
                "a SEG references frames of one multi-frame object, or single-frame images"
            )
        plane_positions = [_plane_position(ref) for ref in slices]
    elif len(source_images) != len(slices):
        raise ValueError("two slices of the stack come from the same single-frame object")

    equipment = [
        hd.ContributingEquipment(
            manufacturer=manufacturer,
            purpose_of_reference=hd.sr.CodedConcept("109102", "DCM", "Processing Equipment"),
            manufacturer_model_name=MODEL_NAME,
            software_versions=software_version(),
        )
    ]
    seg = hd.seg.Segmentation(
        source_images=source_images,
        pixel_array=grid,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=series_instance_uid or hd.UID(),
        series_number=series_number,
        sop_instance_uid=sop_instance_uid or hd.UID(),
        instance_number=instance_number,
        manufacturer=manufacturer,
        manufacturer_model_name=MODEL_NAME,
        software_versions=software_version(),
        device_serial_number=device_serial_number,
        content_label=content_label,
        content_description=content_description,
        content_creator_name=content_creator_name,
        plane_positions=plane_positions,
        omit_empty_frames=True,
        series_description=series_description or labels.name,
        contributing_equipment=equipment,
    )
    if plane_positions is not None:
        _reference_exact_frames(seg, slices)
    used_algorithm = algorithm or _segment_algorithm(labels, numbers)
    if used_algorithm is not None:
        seg.ContributingEquipmentSequence.append(processing_algorithm_item(used_algorithm))
    save_atomically(seg, Path(path))
    return seg


def _phase_grid(
    labels: LabelMap, stack: DicomStack, phase: int | None
) -> tuple[npt.NDArray[np.integer], list[FrameRef]]:
    """The 3-D labels to write and the stack frames (slices) they lie on."""
    if stack.kind is StackKind.RGB:
        raise ValueError("a colour stack cannot be segmented")
    array = labels.array
    shape = tuple(stack.shape)
    if stack.kind is StackKind.CINE:
        n_phases, *grid_shape = shape
        if phase is None:
            raise ValueError(f"the stack is a cine of {n_phases} phases: choose the phase")
        if not 0 <= phase < n_phases:
            raise ValueError(f"phase {phase} outside 0..{n_phases - 1}")
        if array.shape == shape:
            grid = array[phase]
        elif array.shape == tuple(grid_shape):
            grid = array
        else:
            raise ValueError(f"label map {array.shape} is not on the stack's grid {shape}")
        n_slices = grid_shape[0]
        return grid, stack.frames[phase * n_slices : (phase + 1) * n_slices]
    if phase not in (None, 0):
        raise ValueError("only a cine stack has phases")
    if array.shape != shape:
        raise ValueError(f"label map {array.shape} is not on the stack's grid {shape}")
    return array, list(stack.frames)


def _segment_numbers(
    labels: LabelMap, grid: npt.NDArray[np.integer]
) -> tuple[list[int], npt.NDArray[np.integer] | None]:
    """The label values written, in order, and a lookup renumbering them 1..n if needed.

    Segment Number starts at 1 and increases by 1 (PS3.3 C.8.20.4): gaps left by deleted
    segments are closed by renumbering.
    """
    if grid.dtype.kind not in "ui":
        raise ValueError(f"labels must be integers, got {grid.dtype}")
    if grid.size and int(grid.min()) < 0:
        raise ValueError("labels must not be negative")
    present = _present_labels(grid)
    numbers = sorted((set(labels.segments) | present) - {0})
    if not numbers:
        raise ValueError("the label map has no segment to export")
    if numbers == list(range(1, len(numbers) + 1)):
        return numbers, None
    lookup: npt.NDArray[np.integer] = np.zeros(
        max(numbers) + 1, dtype=np.uint8 if len(numbers) < 256 else np.uint16
    )
    lookup[numbers] = np.arange(1, len(numbers) + 1)
    return numbers, lookup


def _present_labels(grid: npt.NDArray[np.integer]) -> set[int]:
    if grid.dtype.itemsize <= 2:
        counts = np.bincount(grid.ravel().astype(np.intp, copy=False))
        return {int(v) for v in np.flatnonzero(counts)}
    return {int(v) for v in np.unique(grid)}


def _description(
    number: int, segment: Segment | None, label: int, algorithm: Algorithm | None
) -> Any:
    import highdicom as hd

    if segment is None:
        segment = Segment(number=label, label=f"Segment {label}", color=_palette(label))
    algorithm_type = hd.seg.SegmentAlgorithmTypeValues(segment.algorithm_type.upper())
    identification = None
    if algorithm_type is not hd.seg.SegmentAlgorithmTypeValues.MANUAL:
        chosen = algorithm or _named_algorithm(segment)
        if chosen is None:
            raise ValueError(
                f"segment {label} ({segment.label}) is {algorithm_type.value}: "
                "name its algorithm (algorithm=Algorithm(name, version))"
            )
        identification = hd.AlgorithmIdentificationSequence(
            name=chosen.name,
            family=_code(chosen.family),
            version=chosen.version,
            parameters=dict(chosen.parameters) or None,
        )
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=segment.label or f"Segment {label}",
        segmented_property_category=_code(segment.category or DEFAULT_CATEGORY),
        segmented_property_type=_code(segment.code or DEFAULT_TYPE),
        algorithm_type=algorithm_type,
        algorithm_identification=identification,
        display_color=hd.color.CIELabColor.from_rgb(*segment.color),
    )


def _named_algorithm(segment: Segment) -> Algorithm | None:
    if not segment.algorithm_name:
        return None
    return Algorithm(name=segment.algorithm_name, version="unknown")


def _segment_algorithm(labels: LabelMap, numbers: list[int]) -> Algorithm | None:
    """The algorithm of the first automatic segment, for the Contributing Equipment."""
    for number in numbers:
        segment = labels.segments.get(number)
        if segment is not None and segment.algorithm_type.upper() == "AUTOMATIC":
            return _named_algorithm(segment)
    return None


def _palette(label: int) -> tuple[int, int, int]:
    return PALETTE[(label - 1) % len(PALETTE)]


def _code(code: Code3) -> Any:
    import highdicom as hd

    value, scheme, meaning = code
    return hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def _plane_position(ref: FrameRef) -> Any:
    import highdicom as hd

    if ref.position is None:
        raise ValueError("a frame of the stack has no position: a SEG needs plane positions")
    return hd.PlanePositionSequence(hd.CoordinateSystemNames.PATIENT, list(ref.position))


def _reference_exact_frames(seg: Any, slices: list[FrameRef]) -> None:
    """Make each SEG frame derive from its own source frame only.

    highdicom references every source frame at the plane's position; in a multi-frame cine
    those are all the phases at that position. The phase segmented is the one that counts.
    """
    positions = np.array([ref.position for ref in slices], dtype=np.float64)
    for item in seg.PerFrameFunctionalGroupsSequence:
        position = np.asarray(item.PlanePositionSequence[0].ImagePositionPatient, dtype=np.float64)
        distances = np.linalg.norm(positions - position, axis=1)
        ref = slices[int(np.argmin(distances))]
        for derivation in item.get("DerivationImageSequence", []):
            sources = derivation.get("SourceImageSequence") or []
            kept = [
                source
                for source in sources
                if _frame_numbers(source) == [ref.frame + 1]
                and str(source.ReferencedSOPInstanceUID) == ref.header.sop_instance_uid
            ]
            if kept and len(kept) < len(sources):
                derivation.SourceImageSequence = kept


# --- reading ---------------------------------------------------------------------------------


def read_seg(
    path: str | Path,
    stack: DicomStack,
    *,
    phase: int | None = None,
    id: str | None = None,
    image_layer_id: str = "",
    limits: Limits = DEFAULT_LIMITS,
) -> LabelMap:
    """The segmentation in ``path`` as a :class:`LabelMap` on the grid of ``stack``.

    Each SEG frame goes to the slice whose source image (and frame, for multi-frame sources)
    it references; a frame that references none is placed by its plane position (same
    orientation and pixel spacing, position on a slice within 0.02 mm). BINARY and LABELMAP
    frames are taken as stored, FRACTIONAL ones from 0.5 up. Where BINARY segments overlap,
    the higher segment number wins. Label values are the segment numbers.

    Parameters
    ----------
    stack:
        The loaded stack the SEG was made on (its series).
    phase:
        For a cine stack: the phase of frames placed by position, or referencing several
        phases; frames referencing one phase's images go to that phase.
    id, image_layer_id:
        Identity of the label map (default: the SEG's SOP Instance UID) and of its image layer.

    Raises
    ------
    ValueError
        Not a SEG; a SEG of another series (named) or another grid; a frame on no slice.
    DicomFileError
        The file is unreadable or its pixel data are corrupt.
    """
    path = Path(path)
    dataset = read_dicom_file(path, limits)
    sop_class = str(dataset.get("SOPClassUID", ""))
    if sop_class not in SEG_SOP_CLASSES:
        raise ValueError(f"{path} is not a DICOM Segmentation (SOP Class {sop_class or 'none'})")
    if stack.kind is StackKind.RGB:
        raise ValueError("a colour stack has no segmentation grid")
    _check_series(dataset, stack)
    rows, columns = int(dataset.get("Rows", 0)), int(dataset.get("Columns", 0))
    n_frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if (rows, columns) != tuple(stack.shape[-2:]):
        raise ValueError(
            f"the segmentation's frames are {rows}×{columns}, the stack's slices "
            f"{stack.shape[-2]}×{stack.shape[-1]}: not the same grid"
        )
    if n_frames > limits.max_frames or rows * columns > limits.max_frame_pixels:
        raise DicomFileError(ErrorCode.TOO_LARGE, f"{path}: {n_frames} frames of {rows}×{columns}")
    segments = _segments(dataset)
    if not segments:
        raise ValueError(f"{path} describes no segment")
    dtype = np.uint8 if max(segments) <= 255 else np.uint16
    array = np.zeros(tuple(stack.shape), dtype=dtype)
    targets = _frame_targets(dataset, stack, phase, n_frames)
    _fill(array, dataset, targets, path)
    return LabelMap(
        id=id or str(dataset.get("SOPInstanceUID", "")),
        image_layer_id=image_layer_id,
        array=array,
        affine=stack.affine,
        segments=list(segments.values()),
        name=str(dataset.get("SeriesDescription", "") or dataset.get("ContentLabel", ""))
        or "Segmentation",
    )


def _check_series(dataset: Any, stack: DicomStack) -> None:
    referenced = [
        str(item.get("SeriesInstanceUID", ""))
        for item in dataset.get("ReferencedSeriesSequence", [])
    ]
    if referenced:
        if stack.series_instance_uid not in referenced:
            raise ValueError(
                f"the segmentation references series {', '.join(referenced)}, "
                f"not the stack's series {stack.series_instance_uid}"
            )
        return
    frame_of_reference = str(dataset.get("FrameOfReferenceUID", ""))
    ours = {ref.header.frame_of_reference_uid for ref in stack.frames} - {""}
    if frame_of_reference and ours and frame_of_reference not in ours:
        raise ValueError(
            f"the segmentation lies in frame of reference {frame_of_reference}, "
            f"not the stack's {', '.join(sorted(ours))}"
        )


def _segments(dataset: Any) -> dict[int, Segment]:
    segments: dict[int, Segment] = {}
    for item in dataset.get("SegmentSequence", []):
        number = int(item.SegmentNumber)
        if not 1 <= number <= 0xFFFF:
            raise ValueError(f"segment number {number} outside 1..65535")
        algorithm_name = str(item.get("SegmentAlgorithmName", "") or "")
        identification = item.get("SegmentationAlgorithmIdentificationSequence") or []
        if not algorithm_name and identification:
            algorithm_name = str(identification[0].get("AlgorithmName", "") or "")
        segments[number] = Segment(
            number=number,
            label=str(item.get("SegmentLabel", "") or f"Segment {number}"),
            color=_colour(item, number),
            code=_coded(item.get("SegmentedPropertyTypeCodeSequence")),
            category=_coded(item.get("SegmentedPropertyCategoryCodeSequence")),
            algorithm_type=str(item.get("SegmentAlgorithmType", "") or "MANUAL"),
            algorithm_name=algorithm_name,
        )
    return segments


def _colour(item: Any, number: int) -> tuple[int, int, int]:
    import highdicom as hd

    value = item.get("RecommendedDisplayCIELabValue")
    if value is None or len(value) != 3:
        return _palette(number)
    try:
        lab = hd.color.CIELabColor.from_dicom_value([int(v) for v in value])
        r, g, b = lab.to_rgb(clip=True)
    except (TypeError, ValueError):
        return _palette(number)
    return (round(r), round(g), round(b))


def _coded(sequence: Any) -> Code3 | None:
    if not sequence:
        return None
    item = sequence[0]
    value = item.get("CodeValue") or item.get("LongCodeValue") or item.get("URNCodeValue") or ""
    return (
        str(value),
        str(item.get("CodingSchemeDesignator", "")),
        str(item.get("CodeMeaning", "")),
    )


def _frame_numbers(source: Any) -> list[int] | None:
    value = source.get("ReferencedFrameNumber")
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return [int(value)]
    return [int(v) for v in value]


def _functional_group(dataset: Any, index: int, keyword: str) -> Any | None:
    """The item of functional group ``keyword`` for frame ``index``: per-frame, else shared."""
    groups = []
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence") or []
    if index < len(per_frame):
        groups.append(per_frame[index])
    shared = dataset.get("SharedFunctionalGroupsSequence") or []
    if shared:
        groups.append(shared[0])
    for group in groups:
        sequence = group.get(keyword)
        if sequence:
            return sequence[0]
    return None


class _Target:
    """Where one SEG frame goes: the stack frame index and the segment it shows."""

    __slots__ = ("index", "segment")

    def __init__(self, index: int, segment: int | None) -> None:
        self.index = index
        self.segment = segment


def _frame_targets(
    dataset: Any, stack: DicomStack, phase: int | None, n_frames: int
) -> list[_Target]:
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence") or []
    if len(per_frame) not in (0, n_frames):
        raise ValueError(
            f"the segmentation has {len(per_frame)} per-frame items for {n_frames} frames"
        )
    n_phases = stack.shape[0] if stack.kind is StackKind.CINE else 1
    n_slices = len(stack.frames) // n_phases
    if phase is not None and not 0 <= phase < n_phases:
        raise ValueError(f"phase {phase} outside 0..{n_phases - 1}")
    lookup: dict[tuple[str, int], list[int]] = {}
    for index, ref in enumerate(stack.frames):
        lookup.setdefault((ref.header.sop_instance_uid, ref.frame + 1), []).append(index)
    placer = _PositionPlacer(dataset, stack, n_slices)
    labelmap = str(dataset.get("SOPClassUID", "")) == LABEL_MAP_SEGMENTATION_STORAGE
    targets = []
    for frame in range(n_frames):
        segment = None
        if not labelmap:
            identification = _functional_group(dataset, frame, "SegmentIdentificationSequence")
            if identification is None:
                raise ValueError(f"frame {frame + 1} of the segmentation names no segment")
            segment = int(identification.ReferencedSegmentNumber)
        candidates = _referenced_indices(dataset, frame, lookup)
        if phase is not None and n_phases > 1:
            in_phase = [i for i in candidates if i // n_slices == phase]
            candidates = in_phase or candidates
        if candidates:
            index = min(candidates)
        else:
            k = placer.slice_of(frame)
            if n_phases > 1 and phase is None:
                raise ValueError(
                    f"frame {frame + 1} of the segmentation references no image of the cine "
                    "stack: give the phase it belongs to"
                )
            index = (phase or 0) * n_slices + k
        targets.append(_Target(index, segment))
    return targets


def _referenced_indices(
    dataset: Any, frame: int, lookup: dict[tuple[str, int], list[int]]
) -> list[int]:
    derivation = _functional_group(dataset, frame, "DerivationImageSequence")
    if derivation is None:
        return []
    indices: list[int] = []
    for source in derivation.get("SourceImageSequence", []):
        uid = str(source.get("ReferencedSOPInstanceUID", ""))
        numbers = _frame_numbers(source) or [1]
        for number in numbers:
            indices.extend(lookup.get((uid, number), []))
    return indices


class _PositionPlacer:
    """Slices by plane position, for SEG frames that reference no source image."""

    def __init__(self, dataset: Any, stack: DicomStack, n_slices: int) -> None:
        self.dataset = dataset
        self.positions = np.array(
            [ref.position or (np.nan, np.nan, np.nan) for ref in stack.frames[:n_slices]],
            dtype=np.float64,
        )
        self.cosines = geometry.direction_cosines(stack.affine)
        self.spacing = geometry.spacing_from_affine(stack.affine)

    def slice_of(self, frame: int) -> int:
        number = frame + 1
        position = _functional_group(self.dataset, frame, "PlanePositionSequence")
        orientation = _functional_group(self.dataset, frame, "PlaneOrientationSequence")
        if position is None or orientation is None:
            raise ValueError(
                f"frame {number} of the segmentation references no source image "
                "and has no plane position"
            )
        cosines = np.asarray(orientation.ImageOrientationPatient, dtype=np.float64)
        ours = np.concatenate([self.cosines[:, 0], self.cosines[:, 1]])
        if cosines.shape != (6,) or np.max(np.abs(cosines - ours)) > ORIENTATION_TOLERANCE:
            raise ValueError(
                f"frame {number} of the segmentation is oriented otherwise than the stack"
            )
        measures = _functional_group(self.dataset, frame, "PixelMeasuresSequence")
        if measures is not None and "PixelSpacing" in measures:
            row, column = (float(v) for v in measures.PixelSpacing)
            if not np.allclose((column, row), self.spacing[:2], rtol=1e-4, atol=1e-6):
                raise ValueError(
                    f"frame {number} of the segmentation has another pixel spacing than the stack"
                )
        point = np.asarray(position.ImagePositionPatient, dtype=np.float64)
        distances = np.linalg.norm(self.positions - point, axis=1)
        if not np.isfinite(distances).any() or np.nanmin(distances) > POSITION_TOLERANCE_MM:
            raise ValueError(f"frame {number} of the segmentation lies on no slice of the stack")
        return int(np.nanargmin(distances))


def _fill(array: npt.NDArray[np.integer], dataset: Any, targets: list[_Target], path: Path) -> None:
    from pydicom.pixels.utils import iter_pixels

    flat = array.reshape(-1, *array.shape[-2:])  # a view: stack frame index → its slice
    fractional = str(dataset.get("SegmentationType", "")) == "FRACTIONAL"
    threshold = FRACTIONAL_THRESHOLD * float(dataset.get("MaximumFractionalValue", 255) or 255)
    decoded = 0
    try:
        for pixels, target in zip(iter_pixels(dataset), targets, strict=False):
            _write_frame(flat[target.index], target.segment, pixels, fractional, threshold)
            decoded += 1
    except (ValueError, NotImplementedError, RuntimeError, AttributeError) as exc:
        raise DicomFileError(ErrorCode.CORRUPT, f"{path}: pixel data unreadable: {exc}") from exc
    if decoded < len(targets):
        raise DicomFileError(
            ErrorCode.TRUNCATED, f"{path}: {len(targets)} frames declared, {decoded} decoded"
        )


def _write_frame(
    plane: npt.NDArray[np.integer],
    segment: int | None,
    pixels: npt.NDArray[Any],
    fractional: bool,
    threshold: float,
) -> None:
    if segment is None:  # LABELMAP: the pixels are the segment numbers
        mask = pixels > 0
        plane[mask] = pixels[mask]
        return
    mask = pixels >= threshold if fractional else pixels > 0
    # Where segments overlap the higher number wins, whatever the order of the frames.
    plane[mask & (plane < segment)] = segment
