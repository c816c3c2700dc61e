"""Annotations: measurements, notes and segmentation references, in LPS millimetres.

One model serves the viewer, the local store, the collaboration sync and the SR export: an
annotation is an immutable value identified by a UUID; an edit makes the next version of it
(``version`` + 1, new ``updated`` time), a deletion a tombstone. Geometry never depends on the
image it was drawn on: points are patient coordinates, the plane is kept for ROI statistics.
"""

from __future__ import annotations

import uuid as uuid_module
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

Point = tuple[float, float, float]


class AnnotationKind(StrEnum):
    LENGTH = "length"  # points: the two ends
    ANGLE = "angle"  # points: first end, vertex, second end
    ELLIPSE = "ellipse"  # points: centre, end of the first semi-axis, end of the second
    POLYGON = "polygon"  # points: the vertices, closed implicitly
    POINT = "point"  # points: the point
    TEXT = "text"  # points: the anchor; the note is in ``text``
    SEGMENTATION = "segmentation"  # a reference to a segment of a segmentation

    @property
    def point_count(self) -> tuple[int, int]:
        """Smallest and largest number of points this kind takes."""
        return _POINT_COUNTS[self]


_POINT_COUNTS = {
    AnnotationKind.LENGTH: (2, 2),
    AnnotationKind.ANGLE: (3, 3),
    AnnotationKind.ELLIPSE: (3, 3),
    AnnotationKind.POLYGON: (3, 10_000),
    AnnotationKind.POINT: (1, 1),
    AnnotationKind.TEXT: (1, 1),
    AnnotationKind.SEGMENTATION: (0, 0),
}


@dataclass(frozen=True, slots=True)
class ImageReference:
    """The images an annotation was made on (identities only: UIDs)."""

    study_instance_uid: str
    series_instance_uid: str
    frame_of_reference_uid: str = ""
    #: The image (and frame) under the annotation when it was drawn on one plane of the series.
    sop_instance_uid: str = ""
    frame_number: int | None = None


@dataclass(frozen=True, slots=True)
class SegmentReference:
    """A segment of a segmentation (DICOM SEG series or a label layer)."""

    segmentation_uid: str
    segment_number: int


def now() -> str:
    """UTC time as ISO 8601, the form every timestamp in the model uses."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _point(values: Any) -> Point:
    x, y, z = (float(v) for v in values)
    return (x, y, z)


@dataclass(frozen=True)
class Annotation:
    """One annotation version."""

    kind: AnnotationKind
    reference: ImageReference
    points: tuple[Point, ...] = ()
    #: Unit normal of the plane it was drawn in (None for a point or a 3D annotation).
    plane_normal: Point | None = None
    label: str = ""
    text: str = ""
    segment: SegmentReference | None = None
    author: str = ""
    uuid: str = field(default_factory=lambda: str(uuid_module.uuid4()))
    created: str = field(default_factory=now)
    updated: str = ""
    version: int = 1
    deleted: bool = False
    #: Values computed from the image (length_mm, angle_deg, area_mm2, mean, sd, ...).
    values: dict[str, float] = field(default_factory=dict)
    #: Unit of the grey-value statistics ("HU" for CT, "" when the modality has none).
    value_unit: str = ""

    def __post_init__(self) -> None:
        low, high = self.kind.point_count
        if not low <= len(self.points) <= high:
            raise ValueError(
                f"a {self.kind.value} annotation takes {low}..{high} points, got {len(self.points)}"
            )
        if self.kind is AnnotationKind.SEGMENTATION and self.segment is None:
            raise ValueError("a segmentation annotation needs a segment reference")
        if not self.updated:
            object.__setattr__(self, "updated", self.created)

    def edited(self, **changes: Any) -> Annotation:
        """The next version with ``changes`` applied (same UUID, version + 1, new time)."""
        return replace(self, **changes, version=self.version + 1, updated=now())

    def tombstone(self) -> Annotation:
        """The deleted version: kept so that every replica learns of the deletion."""
        return self.edited(deleted=True)

    def to_json(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "kind": self.kind.value,
            "reference": {
                "study_instance_uid": self.reference.study_instance_uid,
                "series_instance_uid": self.reference.series_instance_uid,
                "frame_of_reference_uid": self.reference.frame_of_reference_uid,
                "sop_instance_uid": self.reference.sop_instance_uid,
                "frame_number": self.reference.frame_number,
            },
            "points_lps_mm": [list(p) for p in self.points],
            "plane_normal": list(self.plane_normal) if self.plane_normal else None,
            "label": self.label,
            "text": self.text,
            "segment": (
                {
                    "segmentation_uid": self.segment.segmentation_uid,
                    "segment_number": self.segment.segment_number,
                }
                if self.segment
                else None
            ),
            "author": self.author,
            "created": self.created,
            "updated": self.updated,
            "version": self.version,
            "deleted": self.deleted,
            "values": dict(self.values),
            "value_unit": self.value_unit,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Annotation:
        """The annotation a :meth:`to_json` dictionary describes; ``ValueError`` if malformed."""
        try:
            ref = data["reference"]
            segment = data.get("segment")
            normal = data.get("plane_normal")
            return cls(
                uuid=str(data["uuid"]),
                kind=AnnotationKind(data["kind"]),
                reference=ImageReference(
                    study_instance_uid=str(ref["study_instance_uid"]),
                    series_instance_uid=str(ref["series_instance_uid"]),
                    frame_of_reference_uid=str(ref.get("frame_of_reference_uid", "")),
                    sop_instance_uid=str(ref.get("sop_instance_uid", "")),
                    frame_number=ref.get("frame_number"),
                ),
                points=tuple(_point(p) for p in data.get("points_lps_mm", [])),
                plane_normal=_point(normal) if normal else None,
                label=str(data.get("label", "")),
                text=str(data.get("text", "")),
                segment=(
                    SegmentReference(
                        str(segment["segmentation_uid"]), int(segment["segment_number"])
                    )
                    if segment
                    else None
                ),
                author=str(data.get("author", "")),
                created=str(data["created"]),
                updated=str(data.get("updated", data["created"])),
                version=int(data.get("version", 1)),
                deleted=bool(data.get("deleted", False)),
                values={str(k): float(v) for k, v in (data.get("values") or {}).items()},
                value_unit=str(data.get("value_unit", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed annotation: {exc}") from exc
