"""Per-frame geometry of enhanced multi-frame objects (PS3.3 C.7.6.16 functional groups).

Each frame's position, orientation, spacing, rescale and temporal place come from its
Per-frame Functional Groups item, falling back to the Shared Functional Groups.
"""

from __future__ import annotations

from typing import Any

from workstation.io.header import FrameInfo


def _first_item(group: Any, keyword: str) -> Any:
    sequence = getattr(group, keyword, None) if group is not None else None
    if not sequence:
        return None
    return sequence[0]


def _lookup(frame_group: Any, shared_group: Any, sequence: str, attribute: str) -> Any:
    for group in (frame_group, shared_group):
        item = _first_item(group, sequence)
        if item is not None:
            value = getattr(item, attribute, None)
            if value is not None and value != "":
                return value
    return None


def _floats(value: Any, count: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        numbers = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count else None


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def frames_from_dataset(dataset: Any, count: int) -> list[FrameInfo]:
    """One :class:`FrameInfo` for each of the ``count`` frames, in stored frame order.

    ``count`` is Number of Frames as the header check accepted it; a per-frame sequence with
    more items than the pixel data has frames does not add frames.
    """
    shared = _first_item(dataset, "SharedFunctionalGroupsSequence")
    per_frame = getattr(dataset, "PerFrameFunctionalGroupsSequence", None) or []
    frames = []
    for index in range(count):
        group = per_frame[index] if index < len(per_frame) else None
        position = _floats(
            _lookup(group, shared, "PlanePositionSequence", "ImagePositionPatient"), 3
        )
        spacing = _floats(_lookup(group, shared, "PixelMeasuresSequence", "PixelSpacing"), 2)
        frames.append(
            FrameInfo(
                index=index,
                position=(position[0], position[1], position[2]) if position else None,
                orientation=_floats(
                    _lookup(group, shared, "PlaneOrientationSequence", "ImageOrientationPatient"),
                    6,
                ),
                pixel_spacing=(spacing[0], spacing[1]) if spacing else None,
                slice_thickness=_float(
                    _lookup(group, shared, "PixelMeasuresSequence", "SliceThickness")
                ),
                rescale_slope=_float(
                    _lookup(group, shared, "PixelValueTransformationSequence", "RescaleSlope")
                ),
                rescale_intercept=_float(
                    _lookup(group, shared, "PixelValueTransformationSequence", "RescaleIntercept")
                ),
                temporal_index=_int(
                    _lookup(group, shared, "FrameContentSequence", "TemporalPositionIndex")
                ),
                trigger_time=_float(
                    _lookup(
                        group,
                        shared,
                        "CardiacSynchronizationSequence",
                        "NominalCardiacTriggerDelayTime",
                    )
                ),
                stack_id=_lookup(group, shared, "FrameContentSequence", "StackID"),
                in_stack_position=_int(
                    _lookup(group, shared, "FrameContentSequence", "InStackPositionNumber")
                ),
            )
        )
    return frames
