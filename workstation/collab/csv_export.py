"""Measurements as CSV, for spreadsheets and research tables.

One row per live (not deleted) measurement — length, angle, ellipse, polygon or point; text
notes and segmentation references are not measurements and are left out. The columns, in
this order, are a stable contract (new columns are only ever appended):

=====================  ==========================================================================
uuid                   the annotation's UUID
kind                   ``length``, ``angle``, ``ellipse``, ``polygon`` or ``point``
label                  the user's label
study_instance_uid     Study Instance UID of the images it was drawn on
series_instance_uid    Series Instance UID of the images it was drawn on
length_mm              length in mm (length)
angle_deg              angle in degrees (angle)
area_mm2               area in mm² (ellipse, polygon)
mean, sd, min, max     grey-value statistics inside the ROI (ellipse, polygon), in ``unit``
value                  grey value under the point (point), in ``unit``
unit                   unit of the grey values (``HU`` for CT; empty when the modality has none)
author                 who made the version
updated                when the version was made, ISO 8601 UTC
points_lps_mm          the points as a JSON list of ``[x, y, z]``, DICOM LPS millimetres
=====================  ==========================================================================

A value the measurement does not have is an empty cell; numbers are written with Python's
shortest round-trip form. Free-text cells (label, author) that a spreadsheet would take for a
formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) are prefixed with
``'``, as labels can arrive from other users through the sync.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path

from workstation.core.annotations import Annotation, AnnotationKind

#: The annotation kinds exported as measurements.
MEASUREMENT_KINDS = frozenset(
    {
        AnnotationKind.LENGTH,
        AnnotationKind.ANGLE,
        AnnotationKind.ELLIPSE,
        AnnotationKind.POLYGON,
        AnnotationKind.POINT,
    }
)

#: Keys of :attr:`Annotation.values` written as columns, in column order.
VALUE_COLUMNS = ("length_mm", "angle_deg", "area_mm2", "mean", "sd", "min", "max", "value")

#: Every column, in order.
CSV_COLUMNS = (
    "uuid",
    "kind",
    "label",
    "study_instance_uid",
    "series_instance_uid",
    *VALUE_COLUMNS,
    "unit",
    "author",
    "updated",
    "points_lps_mm",
)

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def _number(values: dict[str, float], key: str) -> str:
    return repr(float(values[key])) if key in values else ""


def measurement_row(annotation: Annotation) -> dict[str, str]:
    """The CSV cells of one measurement, by column name."""
    reference = annotation.reference
    row = {
        "uuid": annotation.uuid,
        "kind": annotation.kind.value,
        "label": _text(annotation.label),
        "study_instance_uid": reference.study_instance_uid,
        "series_instance_uid": reference.series_instance_uid,
    }
    row.update({key: _number(annotation.values, key) for key in VALUE_COLUMNS})
    row.update(
        unit=annotation.value_unit,
        author=_text(annotation.author),
        updated=annotation.updated,
        points_lps_mm=json.dumps([list(point) for point in annotation.points]),
    )
    return row


def write_measurements_csv(annotations: Iterable[Annotation], path: Path) -> int:
    """Write the live measurements among ``annotations`` to ``path``; the number of rows.

    The file is written next to ``path`` and moved into place, so a reader never sees half of
    it. UTF-8, with a header row.
    """
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    count = 0
    try:
        with partial.open("w", newline="", encoding="utf-8") as stream:
            writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            for annotation in annotations:
                if annotation.deleted or annotation.kind not in MEASUREMENT_KINDS:
                    continue
                writer.writerow(measurement_row(annotation))
                count += 1
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return count
