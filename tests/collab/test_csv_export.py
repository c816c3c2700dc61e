"""The measurement CSV: stable columns, one row per live measurement, exact values."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from workstation.collab.csv_export import CSV_COLUMNS, write_measurements_csv
from workstation.collab.store import AnnotationStore
from workstation.core.annotations import Annotation, AnnotationKind, ImageReference

Make = Callable[..., Annotation]

#: The documented column order; changing it breaks users' spreadsheets.
EXPECTED_COLUMNS = [
    "uuid",
    "kind",
    "label",
    "study_instance_uid",
    "series_instance_uid",
    "length_mm",
    "angle_deg",
    "area_mm2",
    "mean",
    "sd",
    "min",
    "max",
    "value",
    "unit",
    "author",
    "updated",
    "points_lps_mm",
]


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def test_columns_are_stable() -> None:
    assert list(CSV_COLUMNS) == EXPECTED_COLUMNS


def test_export_writes_one_row_per_live_measurement(
    store: AnnotationStore, make: Make, tmp_path: Path
) -> None:
    elsewhere = ImageReference("1.2.826.0.1.3680043.8.498.2", "1.2.826.0.1.3680043.8.498.2.1")
    length = make(created="2026-01-01T10:00:00.000+00:00")
    angle = make(AnnotationKind.ANGLE, created="2026-01-01T10:00:01.000+00:00")
    ellipse = make(AnnotationKind.ELLIPSE, created="2026-01-01T10:00:02.000+00:00")
    polygon = make(AnnotationKind.POLYGON, created="2026-01-01T10:00:03.000+00:00")
    point = make(AnnotationKind.POINT, created="2026-01-01T10:00:04.000+00:00")
    note = make(AnnotationKind.TEXT)  # not a measurement
    segment = make(AnnotationKind.SEGMENTATION)  # not a measurement
    deleted = make(label="deleted").tombstone()
    other_study = make(reference=elsewhere)
    for annotation in (length, angle, ellipse, polygon, point, note, segment, deleted, other_study):
        store.save(annotation)

    path = tmp_path / "measurements.csv"
    assert store.export_csv(path, study_uid=length.reference.study_instance_uid) == 5
    header, rows = _read(path)
    assert header == EXPECTED_COLUMNS
    assert [row["uuid"] for row in rows] == [
        a.uuid for a in (length, angle, ellipse, polygon, point)
    ]
    by_kind = {row["kind"]: row for row in rows}

    first = by_kind["length"]
    assert first == {
        "uuid": length.uuid,
        "kind": "length",
        "label": "length label",
        "study_instance_uid": length.reference.study_instance_uid,
        "series_instance_uid": length.reference.series_instance_uid,
        "length_mm": "10.0",
        "angle_deg": "",
        "area_mm2": "",
        "mean": "",
        "sd": "",
        "min": "",
        "max": "",
        "value": "",
        "unit": "",
        "author": "dr.reader",
        "updated": length.updated,
        "points_lps_mm": "[[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]]",
    }
    assert by_kind["angle"]["angle_deg"] == "90.0"
    roi = by_kind["ellipse"]
    assert float(roi["area_mm2"]) == ellipse.values["area_mm2"]  # round-trips exactly
    assert (roi["mean"], roi["sd"], roi["min"], roi["max"], roi["unit"]) == (
        "41.5",
        "3.25",
        "30.0",
        "52.0",
        "HU",
    )
    assert by_kind["polygon"]["area_mm2"] == "13.0"
    assert json.loads(by_kind["polygon"]["points_lps_mm"]) == [list(p) for p in polygon.points]
    assert (by_kind["point"]["value"], by_kind["point"]["unit"]) == ("-1000.0", "HU")
    assert json.loads(by_kind["point"]["points_lps_mm"]) == [[1.5, -2.25, 7.125]]

    everything = tmp_path / "all.csv"
    assert store.export_csv(everything) == 6
    assert store.export_csv(tmp_path / "none.csv", series_uid="1.2.3.none") == 0
    assert _read(tmp_path / "none.csv") == (EXPECTED_COLUMNS, [])
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".csv") == [
        "all.csv",
        "measurements.csv",
        "none.csv",
    ]


def test_text_that_a_spreadsheet_would_run_is_neutralised(make: Make, tmp_path: Path) -> None:
    hostile = make(label='=HYPERLINK("http://x","y")', author="@evil")
    plain = make(label='left, "main" bronchus\nsecond line', author="dr.reader")
    path = tmp_path / "m.csv"
    write_measurements_csv([hostile, plain], path)
    _, rows = _read(path)
    assert rows[0]["label"] == '\'=HYPERLINK("http://x","y")'
    assert rows[0]["author"] == "'@evil"
    assert rows[1]["label"] == plain.label  # commas, quotes and newlines survive quoting
