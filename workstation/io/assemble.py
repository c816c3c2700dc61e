"""From headers to stacks: group by series, split into grids, order slices and phases.

Slices are ordered by their position along the slice normal — never by Instance Number or file
name, which scanners and archives do not keep meaningful. Anything unusual (gaps, uneven
spacing, gantry tilt, duplicates, split series, MONOCHROME1, lossy compression) is reported as a
:class:`~workstation.core.errors.LoadWarning` and loaded as stored, never silently repaired.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from workstation.core import geometry
from workstation.core.errors import GeometryError, LoadWarning, WarningCode
from workstation.core.study import Stack, StudyTree
from workstation.core.volume import StackKind
from workstation.io import syntax
from workstation.io.frames import TEMPORAL_KEYS, FrameRef, frames_of, stored_format
from workstation.io.header import InstanceHeader
from workstation.io.rescale import StoredFormat, output_dtype, uses_hints

#: Slices closer than this along the normal (mm) are at the same position.
POSITION_TOLERANCE_MM = 0.01
#: Relative deviation from the typical slice step that counts as uneven spacing.
SPACING_TOLERANCE = 0.01
#: Slice-step obliquity (degrees) from which a stack is reported as gantry-tilted.
TILT_TOLERANCE_DEGREES = 0.1


@dataclass(eq=False, kw_only=True)
class DicomStack(Stack):
    """A :class:`Stack` with the frames that fill it, in array order (phase-major for cine)."""

    study_instance_uid: str
    series_instance_uid: str
    frames: list[FrameRef]
    phase_times_ms: tuple[float, ...] | None = None
    #: The dtype relies on Smallest/Largest Image Pixel Value; loading verifies them.
    hinted: bool = False
    is_localizer: bool = False


def assemble(headers: Iterable[InstanceHeader]) -> tuple[StudyTree, list[DicomStack]]:
    """Build the study tree and the loadable stacks of these headers."""
    by_series: dict[tuple[str, str], list[InstanceHeader]] = defaultdict(list)
    for header in headers:
        by_series[(header.study_instance_uid, header.series_instance_uid)].append(header)
    tree = StudyTree()
    stacks: list[DicomStack] = []
    for (study_uid, series_uid), members in by_series.items():
        members.sort(
            key=lambda h: (h.instance_number is None, h.instance_number or 0, h.source.display)
        )
        first = members[0]
        patient = tree.patient(first.patient_id, first.patient_name)
        patient.birth_date = patient.birth_date or first.patient_birth_date
        patient.sex = patient.sex or first.patient_sex
        study = tree.study(patient, study_uid)
        study.study_date = study.study_date or first.study_date
        study.study_time = study.study_time or first.study_time
        study.study_description = study.study_description or first.study_description
        study.accession_number = study.accession_number or first.accession_number
        series = tree.series(study, series_uid)
        series.modality = first.modality
        series.series_description = first.series_description
        series.series_number = first.series_number
        series.frame_of_reference_uid = first.frame_of_reference_uid
        series_stacks = _series_stacks(members)
        for index, stack in enumerate(series_stacks):
            stack.index = index
        series.stacks.extend(series_stacks)
        stacks.extend(series_stacks)
    return tree, stacks


def _series_stacks(headers: list[InstanceHeader]) -> list[DicomStack]:
    unique, duplicates = _drop_duplicate_instances(headers)
    colour = [h for h in unique if h.is_colour]
    grey = [h for h in unique if not h.is_colour]
    placed: list[FrameRef] = []
    flat: list[InstanceHeader] = []
    movies: list[InstanceHeader] = []
    for header in grey:
        refs = frames_of(header)
        if all(r.position is not None and r.orientation is not None for r in refs):
            placed.extend(refs)
        elif header.number_of_frames > 1:
            movies.append(header)
        else:
            flat.append(header)

    stacks = _spatial_stacks(placed)
    stacks += [_frame_stack(frames_of(h), StackKind.MULTIFRAME) for h in movies]
    stacks += [_frame_stack(group, _flat_kind(group)) for group in _same_size(flat)]
    for header in colour:
        if header.number_of_frames > 1:
            stacks.append(_frame_stack(frames_of(header), StackKind.RGB))
    single_colour = [h for h in colour if h.number_of_frames == 1]
    stacks += [_frame_stack(group, StackKind.RGB) for group in _same_size(single_colour)]
    if duplicates and stacks:
        stacks[0].warnings.append(
            LoadWarning(
                WarningCode.DUPLICATE_INSTANCES,
                f"{duplicates} file(s) repeat an instance already loaded; the copies are ignored",
            )
        )
    for stack in stacks:
        _add_object_warnings(stack)
    return stacks


def _drop_duplicate_instances(
    headers: list[InstanceHeader],
) -> tuple[list[InstanceHeader], int]:
    seen: set[str] = set()
    unique = []
    for header in headers:
        uid = header.sop_instance_uid
        if uid and uid in seen:
            continue
        seen.add(uid)
        unique.append(header)
    return unique, len(headers) - len(unique)


def _same_size(headers: list[InstanceHeader]) -> list[list[FrameRef]]:
    groups: dict[tuple[int, int, str], list[FrameRef]] = defaultdict(list)
    for header in headers:
        groups[(header.rows, header.columns, header.photometric)].extend(frames_of(header))
    return list(groups.values())


def _flat_kind(frames: list[FrameRef]) -> StackKind:
    return StackKind.IMAGE2D if len(frames) == 1 else StackKind.MULTIFRAME


# --- stacks of positioned slices -------------------------------------------------------------


@dataclass(eq=False)
class _Cluster:
    """Frames sharing a plane orientation, matrix and pixel spacing."""

    orientation: tuple[float, ...]
    rows: int
    columns: int
    spacing: tuple[float, float]
    localizer: bool
    frames: list[FrameRef] = field(default_factory=list)
    #: the first frame's Pixel Spacing as read: equal ones are accepted without rounding
    exact_spacing: tuple[float, float] | None = None

    def accepts(self, ref: FrameRef) -> bool:
        orientation = ref.orientation
        assert orientation is not None
        header = ref.header
        return (
            self.rows == header.rows
            and self.columns == header.columns
            and self.localizer == header.is_localizer
            and (
                orientation == self.orientation  # the usual case, decided without arithmetic
                or max(abs(a - b) for a, b in zip(self.orientation, orientation, strict=True))
                < 1e-3
            )
            and (ref.pixel_spacing == self.exact_spacing or _spacing_of(ref) == self.spacing)
        )


def _spacing_of(ref: FrameRef) -> tuple[float, float]:
    spacing = ref.pixel_spacing or (1.0, 1.0)
    return round(spacing[0], 4), round(spacing[1], 4)


def _spatial_stacks(frames: list[FrameRef]) -> list[DicomStack]:
    clusters: list[_Cluster] = []
    for ref in frames:
        for cluster in clusters:
            if cluster.accepts(ref):
                cluster.frames.append(ref)
                break
        else:
            assert ref.orientation is not None
            clusters.append(
                _Cluster(
                    ref.orientation,
                    ref.header.rows,
                    ref.header.columns,
                    _spacing_of(ref),
                    ref.header.is_localizer,
                    [ref],
                    ref.pixel_spacing,
                )
            )
    clusters.sort(key=lambda c: (c.localizer, -len(c.frames)))
    stacks: list[DicomStack] = []
    for cluster in clusters:
        try:
            stacks.extend(_assemble_cluster(cluster.frames))
        except GeometryError:
            # Orientation vectors that form no plane: keep the images, without a 3D grid.
            stacks.append(_frame_stack(cluster.frames, _flat_kind(cluster.frames)))
    _add_split_warnings(stacks)
    return stacks


def _add_split_warnings(stacks: list[DicomStack]) -> None:
    main = [s for s in stacks if not s.is_localizer]
    localizers = [s for s in stacks if s.is_localizer]
    if len(main) > 1:
        for stack in main:
            stack.warnings.append(
                LoadWarning(
                    WarningCode.ORIENTATION_SPLIT,
                    f"the series holds {len(main)} grids (orientation, matrix or pixel spacing "
                    "differ) and was split into separate stacks",
                )
            )
    if main and localizers:
        for stack in localizers:
            stack.warnings.append(
                LoadWarning(
                    WarningCode.LOCALIZER_SPLIT,
                    "localizer images of the series, split from its main stack",
                )
            )
        main[0].warnings.append(
            LoadWarning(
                WarningCode.LOCALIZER_SPLIT,
                f"{sum(len(s.frames) for s in localizers)} localizer image(s) of this "
                "series were split into their own stack",
            )
        )


def _assemble_cluster(frames: list[FrameRef]) -> list[DicomStack]:
    """One or more stacks (volume, cine or single image) from frames of one grid."""
    assert frames[0].orientation is not None
    normal = geometry.slice_normal(frames[0].orientation)
    positions = _group_by_position(frames, normal)
    counts = [len(group) for _, group in positions]
    if max(counts) == 1:
        return [_volume_stack([group[0] for _, group in positions], normal, [])]

    times = _temporal_key(positions)
    if times is not None:
        return [_cine_stack(positions, times, normal)]
    by_acquisition = _split_by_acquisition(frames, normal)
    if by_acquisition is not None:
        return [_volume_stack([g[0] for _, g in part], normal, []) for part in by_acquisition]
    warnings = [
        LoadWarning(
            WarningCode.DUPLICATE_INSTANCES,
            f"{sum(counts) - len(counts)} image(s) share a slice position with another image "
            "and carry no time that orders them; the first of each position is used",
        )
    ]
    return [_volume_stack([group[0] for _, group in positions], normal, warnings)]


def _group_by_position(
    frames: list[FrameRef], normal: np.ndarray
) -> list[tuple[float, list[FrameRef]]]:
    """Frames grouped by distance along the normal, ascending."""
    distances = (np.asarray([ref.position for ref in frames], dtype=np.float64) @ normal).tolist()
    located = sorted(zip(distances, frames, strict=True), key=lambda item: item[0])
    groups: list[tuple[float, list[FrameRef]]] = []
    for distance, ref in located:
        if groups and distance - groups[-1][0] < POSITION_TOLERANCE_MM:
            groups[-1][1].append(ref)
        else:
            groups.append((distance, [ref]))
    return groups


def _temporal_key(
    positions: list[tuple[float, list[FrameRef]]],
) -> dict[FrameRef, float] | None:
    """Each frame's time by the first temporal attribute that tells apart every frame sharing
    a position; None when no attribute does."""
    for key in TEMPORAL_KEYS:
        times: dict[FrameRef, float] = {}
        for _, group in positions:
            values = [ref.temporal_value(key) for ref in group]
            if None in values or len(set(values)) != len(values):
                break
            times.update(zip(group, values, strict=True))  # type: ignore[arg-type]
        else:
            return times
    return None


def _split_by_acquisition(
    frames: list[FrameRef], normal: np.ndarray
) -> list[list[tuple[float, list[FrameRef]]]] | None:
    """Separate volumes when repeated positions belong to different acquisitions."""
    parts: dict[int | None, list[FrameRef]] = defaultdict(list)
    for ref in frames:
        parts[ref.header.acquisition_number].append(ref)
    if len(parts) < 2 or None in parts:
        return None
    grouped = [_group_by_position(part, normal) for _, part in sorted(parts.items())]
    if any(len(group) > 1 for positions in grouped for _, group in positions):
        return None
    return grouped


def _cine_stack(
    positions: list[tuple[float, list[FrameRef]]], times: dict[FrameRef, float], normal: np.ndarray
) -> DicomStack:
    counts = Counter(len(group) for _, group in positions)
    n_phases = max(counts.items(), key=lambda item: (item[1], item[0]))[0]
    warnings: list[LoadWarning] = []
    kept = [(d, group) for d, group in positions if len(group) >= n_phases]
    short = len(positions) - len(kept)
    if short:
        warnings.append(
            LoadWarning(
                WarningCode.MISSING_SLICES,
                f"{short} slice position(s) have fewer than {n_phases} phases and were left out",
            )
        )
    extra = sum(len(group) - n_phases for _, group in kept)
    if extra:
        warnings.append(
            LoadWarning(
                WarningCode.DUPLICATE_INSTANCES,
                f"{extra} image(s) beyond {n_phases} phases at their slice position were ignored",
            )
        )
    ordered = [sorted(group, key=times.__getitem__)[:n_phases] for _, group in kept]
    # Phase-major: frames of phase t for every slice k.
    slice_frames = [column[0] for column in ordered]
    stack = _volume_stack(slice_frames, normal, warnings)
    stack.frames = [ordered[k][t] for t in range(n_phases) for k in range(len(ordered))]
    stack.kind = StackKind.CINE
    stack.phases = n_phases
    stack.shape = (n_phases, *stack.shape)
    triggers = [[ordered[k][t].trigger_time for k in range(len(ordered))] for t in range(n_phases)]
    if all(t is not None for phase in triggers for t in phase):
        stack.phase_times_ms = tuple(
            math.fsum(phase) / len(phase)  # type: ignore[arg-type]  # no None, checked above
            for phase in triggers
        )
    _finish_stack(stack)
    return stack


def _volume_stack(
    slices: list[FrameRef], normal: np.ndarray, warnings: list[LoadWarning]
) -> DicomStack:
    """Slices (already ascending along the normal) as a volume, with spacing checks."""
    first = slices[0]
    assert first.orientation is not None and first.position is not None
    spacing = first.pixel_spacing or (1.0, 1.0)
    points = np.array([ref.position for ref in slices], dtype=np.float64)
    if len(slices) == 1:
        thickness = first.header.spacing_between_slices or first.slice_thickness or 1.0
        step = normal * thickness
        kind = StackKind.IMAGE2D
    else:
        step, notes = _slice_step(points, normal)
        warnings = warnings + notes
        kind = StackKind.VOLUME
    affine = geometry.plane_affine(first.position, first.orientation, spacing, step)
    if len(slices) > 1:
        tilt = geometry.tilt_degrees(affine)
        if tilt > TILT_TOLERANCE_DEGREES:
            declared = first.header.gantry_tilt
            warnings.append(
                LoadWarning(
                    WarningCode.GANTRY_TILT,
                    f"slices are offset in-plane by a {tilt:.2f}° tilt"
                    + (f" (Gantry/Detector Tilt {declared:g}°)" if declared else "")
                    + "; the affine keeps the sheared geometry exact",
                )
            )
    stack = DicomStack(
        index=0,
        kind=kind,
        shape=(len(slices), first.header.rows, first.header.columns),
        affine=affine,
        dtype="",
        sop_class_uid=first.header.sop_class_uid,
        n_files=0,
        transfer_syntaxes=(),
        warnings=list(warnings),
        study_instance_uid=first.header.study_instance_uid,
        series_instance_uid=first.header.series_instance_uid,
        frames=list(slices),
        is_localizer=first.header.is_localizer,
    )
    _finish_stack(stack)
    return stack


def _median(values: np.ndarray) -> float:
    """Median without ``np.median``, whose first call imports numpy.ma (~12 ms per process)."""
    ordered: list[float] = sorted(values.tolist())
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2.0


def _slice_step(points: np.ndarray, normal: np.ndarray) -> tuple[np.ndarray, list[LoadWarning]]:
    """The regular slice step vector, and warnings about gaps and uneven spacing."""
    distances = points @ normal
    gaps = np.diff(distances)
    typical = _median(gaps)
    tolerance = max(POSITION_TOLERANCE_MM, SPACING_TOLERANCE * typical)
    regular = np.abs(gaps - typical) <= tolerance
    warnings: list[LoadWarning] = []
    missing = 0
    uneven = 0
    for gap in gaps[~regular]:
        multiple = round(gap / typical)
        if multiple >= 2 and abs(gap - multiple * typical) <= tolerance * multiple:
            missing += multiple - 1
        else:
            uneven += 1
    if missing:
        warnings.append(
            LoadWarning(
                WarningCode.MISSING_SLICES,
                f"about {missing} slice(s) missing in a {typical:.3g} mm grid; gaps are not filled",
            )
        )
    if uneven:
        warnings.append(
            LoadWarning(
                WarningCode.NONUNIFORM_SPACING,
                f"slice spacing varies ({float(gaps.min()):.4g} to {float(gaps.max()):.4g} mm); "
                f"the affine uses {typical:.4g} mm",
            )
        )
    steps = np.diff(points, axis=0)[regular]
    step = steps.mean(axis=0) if len(steps) else normal * typical
    if not warnings:
        predicted = points[0] + np.outer(np.arange(len(points)), step)
        deviation = float(np.max(np.linalg.norm(points - predicted, axis=1)))
        if deviation > max(0.1, 0.1 * typical):
            warnings.append(
                LoadWarning(
                    WarningCode.NONUNIFORM_SPACING,
                    f"slice positions stray up to {deviation:.3g} mm from a regular grid",
                )
            )
    return step, warnings


# --- stacks of frames without a 3D grid --------------------------------------------------------


def _frame_stack(frames: list[FrameRef], kind: StackKind) -> DicomStack:
    first = frames[0]
    header = first.header
    spacing = first.pixel_spacing or (1.0, 1.0)
    orientation = first.orientation or (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    origin = first.position or (0.0, 0.0, 0.0)
    try:
        normal = geometry.slice_normal(orientation)
        affine = geometry.plane_affine(
            origin, orientation, spacing, normal * (first.slice_thickness or 1.0)
        )
    except GeometryError:
        affine = np.diag([spacing[1], spacing[0], 1.0, 1.0])
    shape: tuple[int, ...] = (len(frames), header.rows, header.columns)
    if kind is StackKind.RGB:
        shape = (*shape, 3)
    stack = DicomStack(
        index=0,
        kind=kind,
        shape=shape,
        affine=affine,
        dtype="",
        sop_class_uid=header.sop_class_uid,
        n_files=0,
        transfer_syntaxes=(),
        study_instance_uid=header.study_instance_uid,
        series_instance_uid=header.series_instance_uid,
        frames=list(frames),
        is_localizer=header.is_localizer,
    )
    _finish_stack(stack)
    return stack


def _finish_stack(stack: DicomStack) -> None:
    """Fill the fields that depend on every frame: files, syntaxes, dtype."""
    headers = {id(ref.header): ref.header for ref in stack.frames}.values()
    stack.n_files = len({h.source.display for h in headers})
    stack.transfer_syntaxes = tuple(sorted({h.transfer_syntax for h in headers}))
    formats = _distinct_formats(headers)
    stack.hinted = (
        stack.kind is not StackKind.RGB
        and all(f.smallest is not None and f.largest is not None for f in formats)
        and any(uses_hints(f) for f in formats)
    )
    stack.dtype = str(stack_dtype(stack, use_hints=stack.hinted))


def stack_dtype(stack: DicomStack, *, use_hints: bool) -> np.dtype[np.generic]:
    """The array dtype of a stack (see :mod:`workstation.io.rescale` for the rule)."""
    first = stack.frames[0].header
    if stack.kind is StackKind.RGB:
        return np.dtype(f"u{max(1, first.bits_allocated // 8)}")
    if first.pixel is not None and first.pixel.tag == 0x7FE00008:
        return np.dtype(np.float32)
    if first.pixel is not None and first.pixel.tag == 0x7FE00009:
        return np.dtype(np.float64)
    if any(ref.header.has_modality_lut for ref in stack.frames):
        return np.dtype(np.uint16)
    if first.bits_allocated == 1:
        return np.dtype(np.uint8)
    # Thousands of frames share a handful of formats and rescales: decide on the distinct ones.
    # (The rescale's numbers as keys: a frozen dataclass's hash runs in Python.)
    distinct = {
        (_format_key(ref.header), ref.rescale.slope, ref.rescale.intercept): ref
        for ref in stack.frames
    }
    return output_dtype(
        {(stored_format(ref.header), ref.rescale) for ref in distinct.values()},
        use_hints=use_hints,
    )


def _format_key(header: InstanceHeader) -> tuple[int, int, int, int | None, int | None]:
    """What :func:`stored_format` reads, as a tuple that is cheap to build and to hash."""
    return (
        header.bits_allocated,
        header.bits_stored,
        header.pixel_representation,
        header.smallest_value,
        header.largest_value,
    )


def _distinct_formats(headers: Iterable[InstanceHeader]) -> set[StoredFormat]:
    return {stored_format(header) for header in {_format_key(h): h for h in headers}.values()}


def _add_object_warnings(stack: DicomStack) -> None:
    headers = list({id(ref.header): ref.header for ref in stack.frames}.values())
    lossy = [
        h
        for h in headers
        if h.lossy_image_compression == "01"
        or (
            syntax.lookup(h.transfer_syntax) or syntax.SYNTAXES[syntax.EXPLICIT_VR_LITTLE_ENDIAN]
        ).lossy
    ]
    if lossy:
        stack.warnings.append(
            LoadWarning(
                WarningCode.LOSSY_COMPRESSION,
                f"{len(lossy)} of {len(headers)} image(s) were lossy compressed; "
                "values may differ from the acquisition",
            )
        )
    if any(h.photometric == "MONOCHROME1" for h in headers):
        stack.warnings.append(
            LoadWarning(
                WarningCode.MONOCHROME1,
                "MONOCHROME1: low values are displayed white; values are kept as stored",
            )
        )
