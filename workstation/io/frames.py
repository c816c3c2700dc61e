"""Frames: the unit the assembler sorts — one image plane of one DICOM object."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from workstation.core import geometry
from workstation.core.errors import GeometryError
from workstation.io.header import InstanceHeader
from workstation.io.rescale import Rescale, StoredFormat


@lru_cache(maxsize=4096)  # the objects of a series repeat their times
def _seconds(time_text: str) -> float | None:
    """``HHMMSS.ffffff`` (TM) as seconds since midnight; None when absent or malformed."""
    text = time_text.strip()
    if len(text) < 2 or not text[:2].isdigit():
        return None
    try:
        hours = int(text[0:2])
        minutes = int(text[2:4]) if len(text) >= 4 else 0
        seconds = float(text[4:]) if len(text) > 4 else 0.0
    except ValueError:
        return None
    return hours * 3600 + minutes * 60 + seconds


@dataclass(slots=True, eq=False)
class FrameRef:
    """One frame with the values that place it: per-frame values of enhanced objects win."""

    header: InstanceHeader
    frame: int
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, float] | None
    slice_thickness: float | None
    rescale: Rescale
    temporal_index: int | None = None
    trigger_time: float | None = None

    @property
    def stored(self) -> StoredFormat:
        return stored_format(self.header)

    def temporal_value(self, key: str) -> float | None:
        """The frame's value of one of :data:`TEMPORAL_KEYS`."""
        header = self.header
        if key == "temporal_index":
            return None if self.temporal_index is None else float(self.temporal_index)
        if key == "trigger_time":
            return self.trigger_time
        if key == "temporal_position_identifier":
            identifier = header.temporal_position_identifier
            return None if identifier is None else float(identifier)
        if key == "acquisition_time":
            return _seconds(header.acquisition_time)
        return _seconds(header.content_time)


#: Candidate keys that order the phases of a cine, most specific first.
TEMPORAL_KEYS = (
    "temporal_index",
    "trigger_time",
    "temporal_position_identifier",
    "acquisition_time",
    "content_time",
)


def stored_format(header: InstanceHeader) -> StoredFormat:
    return StoredFormat(
        bits_allocated=header.bits_allocated,
        bits_stored=header.bits_stored,
        signed=header.pixel_representation == 1,
        smallest=header.smallest_value,
        largest=header.largest_value,
    )


def _has_grid_offsets(header: InstanceHeader) -> bool:
    offsets = header.grid_frame_offsets
    return bool(
        offsets
        and len(offsets) == header.number_of_frames
        and header.position is not None
        and header.orientation is not None
    )


def _grid_positions(header: InstanceHeader) -> list[tuple[float, float, float] | None]:
    """RT Dose frames lie at Grid Frame Offset Vector (3004,000C) distances along the normal."""
    assert header.position is not None and header.orientation is not None
    try:
        normal = geometry.slice_normal(header.orientation)
    except GeometryError:
        return [None] * header.number_of_frames
    origin = np.asarray(header.position)
    offsets = header.grid_frame_offsets or ()
    # A vector not starting at 0 holds absolute offsets (PS3.3 C.8.8.3.2); the first frame
    # is at Image Position (Patient) either way.
    offsets = tuple(offset - offsets[0] for offset in offsets)
    points = [origin + offset * normal for offset in offsets]
    return [(float(p[0]), float(p[1]), float(p[2])) for p in points]


_IDENTITY = Rescale()


@lru_cache(maxsize=1024)  # a series shares a few rescales; one object each keeps hashing cheap
def _rescale(slope: float, intercept: float) -> Rescale:
    return Rescale(slope, intercept)


def frames_of(header: InstanceHeader) -> list[FrameRef]:
    """The frames of one object, with their own geometry and rescale."""
    base = (
        _rescale(header.rescale_slope or 1.0, header.rescale_intercept or 0.0)
        if (header.has_rescale)
        else _IDENTITY
    )
    spacing = header.pixel_spacing or header.imager_pixel_spacing
    if header.frames:
        refs = []
        for info in header.frames:
            rescale = base
            if info.rescale_slope is not None and info.rescale_intercept is not None:
                rescale = Rescale(info.rescale_slope, info.rescale_intercept)
            refs.append(
                FrameRef(
                    header=header,
                    frame=info.index,
                    position=info.position,
                    orientation=info.orientation or header.orientation,
                    pixel_spacing=info.pixel_spacing or spacing,
                    slice_thickness=info.slice_thickness or header.slice_thickness,
                    rescale=rescale,
                    temporal_index=info.temporal_index,
                    trigger_time=info.trigger_time,
                )
            )
        return refs
    if header.number_of_frames == 1:  # the usual object: one slice
        return [
            FrameRef(
                header,
                0,
                header.position,
                header.orientation,
                spacing,
                header.slice_thickness,
                base,
                None,
                header.trigger_time,
            )
        ]
    positions: list[tuple[float, float, float] | None] = [None] * header.number_of_frames
    if _has_grid_offsets(header):
        positions = _grid_positions(header)
    return [
        FrameRef(
            header=header,
            frame=index,
            position=positions[index],
            orientation=header.orientation,
            pixel_spacing=spacing,
            slice_thickness=header.slice_thickness,
            rescale=base,
            trigger_time=header.trigger_time,
        )
        for index in range(header.number_of_frames)
    ]
