"""What the engine keeps of one DICOM object's header, and the attributes it reads.

Two readers fill the same :class:`InstanceHeader`: the fast element walker
(:mod:`workstation.io.walker`) for the common little-endian files and pydicom for everything
else. Both go through :func:`header_from_values`, so a value means the same whichever read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from workstation.io.sources import Source


class Kind(Enum):
    """How a DICOM value is turned into a Python value."""

    TEXT = 1  # a single string (UIDs, CS, DA, TM, LO, SH, ...), padding removed
    STRINGS = 2  # a backslash-separated list of strings (ImageType)
    NAME = 3  # PN and LO text, decoded with the Specific Character Set
    DECIMALS = 4  # DS
    INTEGER = 5  # IS: a single int
    UNSIGNED = 6  # US
    PIXEL_VALUE = 7  # US or SS depending on Pixel Representation
    TAGS = 8  # AT: a list of tags


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute the engine reads: the header field it fills and how it is decoded.

    ``count`` says how many decimals a DS must hold: 1 gives a float, n > 1 a tuple of exactly
    n (other multiplicities count as absent — geometry is never guessed), 0 a tuple of any length.
    """

    field: str
    kind: Kind
    count: int = 1


def _a(field: str, kind: Kind, count: int = 1) -> Attribute:
    return Attribute(field, kind, count)


#: The attributes the engine reads, by tag. Keep sorted by tag.
ATTRIBUTES: dict[int, Attribute] = {
    0x00080005: _a("specific_character_set", Kind.STRINGS),
    0x00080008: _a("image_type", Kind.STRINGS),
    0x00080016: _a("sop_class_uid", Kind.TEXT),
    0x00080018: _a("sop_instance_uid", Kind.TEXT),
    0x00080020: _a("study_date", Kind.TEXT),
    0x00080030: _a("study_time", Kind.TEXT),
    0x00080032: _a("acquisition_time", Kind.TEXT),
    0x00080033: _a("content_time", Kind.TEXT),
    0x00080050: _a("accession_number", Kind.TEXT),
    0x00080060: _a("modality", Kind.TEXT),
    0x00081030: _a("study_description", Kind.NAME),
    0x0008103E: _a("series_description", Kind.NAME),
    0x00100010: _a("patient_name", Kind.NAME),
    0x00100020: _a("patient_id", Kind.NAME),
    0x00100030: _a("patient_birth_date", Kind.TEXT),
    0x00100040: _a("patient_sex", Kind.TEXT),
    0x00101020: _a("patient_size_m", Kind.DECIMALS),
    0x00101030: _a("patient_weight_kg", Kind.DECIMALS),
    0x00180050: _a("slice_thickness", Kind.DECIMALS),
    0x00180088: _a("spacing_between_slices", Kind.DECIMALS),
    0x00181060: _a("trigger_time", Kind.DECIMALS),
    0x00181120: _a("gantry_tilt", Kind.DECIMALS),
    0x00181164: _a("imager_pixel_spacing", Kind.DECIMALS, 2),
    0x0020000D: _a("study_instance_uid", Kind.TEXT),
    0x0020000E: _a("series_instance_uid", Kind.TEXT),
    0x00200011: _a("series_number", Kind.INTEGER),
    0x00200012: _a("acquisition_number", Kind.INTEGER),
    0x00200013: _a("instance_number", Kind.INTEGER),
    0x00200032: _a("position", Kind.DECIMALS, 3),
    0x00200037: _a("orientation", Kind.DECIMALS, 6),
    0x00200052: _a("frame_of_reference_uid", Kind.TEXT),
    0x00200100: _a("temporal_position_identifier", Kind.INTEGER),
    0x00200105: _a("number_of_temporal_positions", Kind.INTEGER),
    0x00280002: _a("samples_per_pixel", Kind.UNSIGNED),
    0x00280004: _a("photometric", Kind.TEXT),
    0x00280006: _a("planar_configuration", Kind.UNSIGNED),
    0x00280008: _a("number_of_frames", Kind.INTEGER),
    0x00280009: _a("frame_increment_pointer", Kind.TAGS),
    0x00280010: _a("rows", Kind.UNSIGNED),
    0x00280011: _a("columns", Kind.UNSIGNED),
    0x00280030: _a("pixel_spacing", Kind.DECIMALS, 2),
    0x00280100: _a("bits_allocated", Kind.UNSIGNED),
    0x00280101: _a("bits_stored", Kind.UNSIGNED),
    0x00280102: _a("high_bit", Kind.UNSIGNED),
    0x00280103: _a("pixel_representation", Kind.UNSIGNED),
    0x00280106: _a("smallest_value", Kind.PIXEL_VALUE),
    0x00280107: _a("largest_value", Kind.PIXEL_VALUE),
    0x00281050: _a("window_center", Kind.DECIMALS, 0),
    0x00281051: _a("window_width", Kind.DECIMALS, 0),
    0x00281052: _a("rescale_intercept", Kind.DECIMALS),
    0x00281053: _a("rescale_slope", Kind.DECIMALS),
    0x00282110: _a("lossy_image_compression", Kind.TEXT),
    0x3004000C: _a("grid_frame_offsets", Kind.DECIMALS, 0),
}

#: Attributes whose mere presence sends an object to pydicom for everything but the header walk.
MODALITY_LUT_SEQUENCE = 0x00283000
SHARED_FUNCTIONAL_GROUPS = 0x52009229
PER_FRAME_FUNCTIONAL_GROUPS = 0x52009230
PRESENCE_FLAGS = (MODALITY_LUT_SEQUENCE, SHARED_FUNCTIONAL_GROUPS, PER_FRAME_FUNCTIONAL_GROUPS)

PIXEL_DATA = 0x7FE00010
FLOAT_PIXEL_DATA = 0x7FE00008
DOUBLE_FLOAT_PIXEL_DATA = 0x7FE00009

LOCALIZER_IMAGE_TYPES = frozenset({"LOCALIZER", "SCOUT"})


@dataclass(slots=True)
class FrameInfo:
    """Per-frame values of an enhanced multi-frame object (its functional groups)."""

    index: int
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, float] | None
    slice_thickness: float | None
    rescale_slope: float | None
    rescale_intercept: float | None
    temporal_index: int | None = None
    trigger_time: float | None = None
    stack_id: str | None = None
    in_stack_position: int | None = None


@dataclass(frozen=True, slots=True)
class PixelElement:
    """Where the pixel data of an object lies, checked against the object's length."""

    tag: int
    offset: int  # first value byte (native) or first item header (encapsulated)
    length: int | None  # None when encapsulated (undefined length)
    n_fragments: int = 0


@dataclass(slots=True, eq=False)
class InstanceHeader:
    """One DICOM object as the engine sees it: identity, geometry, pixel layout and location."""

    source: Source
    transfer_syntax: str
    sop_class_uid: str = ""
    sop_instance_uid: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    frame_of_reference_uid: str = ""
    specific_character_set: tuple[str, ...] = ()
    patient_name: str = ""
    patient_id: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    patient_size_m: float | None = None
    patient_weight_kg: float | None = None
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    accession_number: str = ""
    modality: str = ""
    series_description: str = ""
    series_number: int | None = None
    acquisition_number: int | None = None
    instance_number: int | None = None
    image_type: tuple[str, ...] = ()
    acquisition_time: str = ""
    content_time: str = ""
    position: tuple[float, float, float] | None = None
    orientation: tuple[float, ...] | None = None
    pixel_spacing: tuple[float, float] | None = None
    imager_pixel_spacing: tuple[float, float] | None = None
    slice_thickness: float | None = None
    spacing_between_slices: float | None = None
    trigger_time: float | None = None
    temporal_position_identifier: int | None = None
    number_of_temporal_positions: int | None = None
    gantry_tilt: float | None = None
    grid_frame_offsets: tuple[float, ...] | None = None
    rows: int = 0
    columns: int = 0
    samples_per_pixel: int = 1
    photometric: str = ""
    planar_configuration: int = 0
    number_of_frames: int = 1
    frame_increment_pointer: tuple[int, ...] = ()
    bits_allocated: int = 0
    bits_stored: int = 0
    high_bit: int = 0
    pixel_representation: int = 0
    smallest_value: int | None = None
    largest_value: int | None = None
    window_center: tuple[float, ...] = ()
    window_width: tuple[float, ...] = ()
    rescale_slope: float | None = None
    rescale_intercept: float | None = None
    lossy_image_compression: str = ""
    pixel: PixelElement | None = None
    has_modality_lut: bool = False
    is_enhanced: bool = False
    frames: list[FrameInfo] | None = field(default=None)
    #: Read by the fast walker (and so eligible for the direct pixel read).
    fast: bool = False

    @property
    def is_localizer(self) -> bool:
        return len(self.image_type) > 2 and self.image_type[2].upper() in LOCALIZER_IMAGE_TYPES

    @property
    def is_colour(self) -> bool:
        return self.samples_per_pixel > 1 or self.photometric == "PALETTE COLOR"

    @property
    def frame_bytes(self) -> int:
        """Bytes of one native frame (bit-packed data rounded up per frame)."""
        bits = self.rows * self.columns * self.samples_per_pixel * self.bits_allocated
        if self.photometric == "YBR_FULL_422" and self.samples_per_pixel == 3:
            bits = bits * 2 // 3  # two luminance samples share one pair of chroma samples
        return (bits + 7) // 8

    @property
    def has_rescale(self) -> bool:
        """pydicom applies a rescale only when both slope and intercept are present."""
        return self.rescale_slope is not None and self.rescale_intercept is not None


def header_from_values(
    source: Source, transfer_syntax: str, values: dict[str, Any]
) -> InstanceHeader:
    """An :class:`InstanceHeader` from decoded values keyed by field (absent ones are None)."""
    return InstanceHeader(source=source, transfer_syntax=transfer_syntax, **present(values))


def present(values: dict[str, Any]) -> dict[str, Any]:
    """The values that are not None (absent ones take the header's defaults)."""
    return {name: value for name, value in values.items() if value is not None}
