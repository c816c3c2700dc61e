"""Annotations of every kind, and a store in a temporary folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from workstation.collab.store import AnnotationStore
from workstation.core.annotations import (
    Annotation,
    AnnotationKind,
    ImageReference,
    SegmentReference,
)

STUDY = "1.2.826.0.1.3680043.8.498.1"
SERIES = "1.2.826.0.1.3680043.8.498.1.1"
OTHER_SERIES = "1.2.826.0.1.3680043.8.498.1.2"
OTHER_STUDY = "1.2.826.0.1.3680043.8.498.2"

REFERENCE = ImageReference(
    STUDY,
    SERIES,
    frame_of_reference_uid="1.2.826.0.1.3680043.8.498.1.9",
    sop_instance_uid="1.2.826.0.1.3680043.8.498.1.1.7",
    frame_number=3,
)

_POINTS = {
    AnnotationKind.LENGTH: ((0.0, 0.0, 0.0), (10.0, 0.0, 0.0)),
    AnnotationKind.ANGLE: ((10.0, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 10.0, 0.0)),
    AnnotationKind.ELLIPSE: ((0.0, 0.0, 5.0), (4.0, 0.0, 5.0), (0.0, 2.0, 5.0)),
    AnnotationKind.POLYGON: ((0.0, 0.0, 5.0), (4.0, 0.0, 5.0), (4.0, 3.0, 5.0), (0.0, 3.5, 5.0)),
    AnnotationKind.POINT: ((1.5, -2.25, 7.125),),
    AnnotationKind.TEXT: ((3.0, 4.0, 5.0),),
    AnnotationKind.SEGMENTATION: (),
}

_VALUES = {
    AnnotationKind.LENGTH: {"length_mm": 10.0},
    AnnotationKind.ANGLE: {"angle_deg": 90.0},
    AnnotationKind.ELLIPSE: {
        "area_mm2": 25.132741228718345,
        "pixels": 25.0,
        "mean": 41.5,
        "sd": 3.25,
        "min": 30.0,
        "max": 52.0,
    },
    AnnotationKind.POLYGON: {"area_mm2": 13.0},
    AnnotationKind.POINT: {"value": -1000.0},
}


def make(
    kind: AnnotationKind = AnnotationKind.LENGTH,
    reference: ImageReference = REFERENCE,
    **fields: object,
) -> Annotation:
    """An annotation of ``kind`` with every field the kind can carry filled in."""
    base: dict[str, object] = {
        "points": _POINTS[kind],
        "plane_normal": (0.0, 0.0, 1.0) if len(_POINTS[kind]) > 1 else None,
        "label": f"{kind.value} label",
        "text": "enlarged node" if kind is AnnotationKind.TEXT else "",
        "segment": (
            SegmentReference("1.2.826.0.1.3680043.8.498.3", 2)
            if kind is AnnotationKind.SEGMENTATION
            else None
        ),
        "author": "dr.reader",
        "values": dict(_VALUES.get(kind, {})),
        "value_unit": "HU" if kind in (AnnotationKind.ELLIPSE, AnnotationKind.POINT) else "",
    }
    base.update(fields)
    return Annotation(kind, reference, **base)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AnnotationStore]:
    with AnnotationStore(tmp_path / "annotations.sqlite") as opened:
        yield opened


@pytest.fixture(name="make")
def make_fixture() -> Callable[..., Annotation]:
    """:func:`make`, for test modules (conftest is not importable under importlib mode)."""
    return make
