"""Results kept per study: exact round trip, review history, rejected files removed, bad records."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from workstation.inference.jobs import Job
from workstation.inference.results import Result
from workstation.inference.store import ResultStore, ResultStoreError

Verify = Callable[[Path], list[str]]
STUDY = "1.2.826.0.1.3680043.8.498.1"


@pytest.fixture(scope="module")
def result(module, pool, ct_series) -> Result:  # type: ignore[no-untyped-def]
    return Job(
        module("testkit/report"),
        ct_series.volume,
        pool=pool,
        series_instance_uid=ct_series.stack.series_instance_uid,
        image_layer_id="layer",
    ).run()


@pytest.mark.dciodvfy
def test_round_trip_is_exact(
    tmp_path: Path, result: Result, ct_series, dciodvfy_errors: Verify
) -> None:
    store = ResultStore(tmp_path)
    saved = store.save(result, ct_series.stack, study_instance_uid=STUDY, series_description="Ab")
    (listed,) = store.for_study(STUDY)
    assert listed.id == result.id and listed.series_description == "Ab"
    assert listed.review.state.value == "pending"
    for path in saved.files:
        assert path.suffix == ".dcm"
        assert dciodvfy_errors(path) == []

    loaded = listed.load("layer-2")
    assert loaded.to_json() == result.to_json()
    assert loaded.labels is not None and result.labels is not None
    assert loaded.labels.image_layer_id == "layer-2"
    np.testing.assert_array_equal(loaded.labels.array, result.labels.array)
    np.testing.assert_allclose(loaded.labels.affine, result.labels.affine)
    assert loaded.labels.segments == result.labels.segments
    assert [(m.code, m.unit_code) for m in loaded.measurements] == [
        (m.code, m.unit_code) for m in result.measurements
    ]


def test_review_history_and_rejection(tmp_path: Path, result: Result, ct_series) -> None:
    store = ResultStore(tmp_path)
    copy = Result.from_json(result.to_json(), result.labels)
    copy.accept("Reader^Rita")
    accepted = store.save(copy, ct_series.stack, study_instance_uid=STUDY)
    assert accepted.files and all(p.exists() for p in accepted.files)
    copy.reject("Reader^Rita", "wrong side")
    rejected = store.save(copy, ct_series.stack, study_instance_uid=STUDY)
    assert rejected.files == [] and not list(rejected.folder.glob("*.dcm"))
    record = json.loads((rejected.folder / "result.json").read_text())
    assert [r["state"] for r in record["reviews"]] == ["pending", "accepted", "rejected"]
    assert record["review"]["note"] == "wrong side"
    assert store.for_study(STUDY)[0].load("layer").review.state.value == "rejected"


def test_a_failed_export_loses_nothing(tmp_path: Path, result: Result, ct_series) -> None:
    """A source file gone: the record and the label map are kept, the failure noted."""
    stack = ct_series.stack
    broken = type(stack).__new__(type(stack))
    broken.__dict__.update(stack.__dict__)
    broken.frames = []  # no source image to reference
    saved = ResultStore(tmp_path).save(result, broken, study_instance_uid=STUDY)
    assert saved.files == []
    assert saved.data["notes"] and "DICOM export failed" in saved.data["notes"][0]
    assert (saved.folder / "labels.npz").exists()


def test_unreadable_records_are_left_out(tmp_path: Path, result: Result, ct_series) -> None:
    store = ResultStore(tmp_path)
    saved = store.save(result, ct_series.stack, study_instance_uid=STUDY)
    bad = saved.folder.parent / "garbled"
    bad.mkdir()
    (bad / "result.json").write_text("{not json")
    (saved.folder.parent / "half").mkdir()
    (saved.folder.parent / "half" / "result.json").write_text('{"id": "x"}')
    assert [s.id for s in store.for_study(STUDY)] == [result.id]

    (saved.folder / "labels.npz").write_bytes(b"truncated")
    with pytest.raises(ResultStoreError, match="unreadable"):
        store.for_study(STUDY)[0].load("layer")
    assert store.for_study("1.2.3.4.5") == []


def test_curve_marks_cross_the_worker_and_the_record(
    tmp_path: Path, result: Result, ct_series
) -> None:
    assert result.curves[0].marks == ((0.0, "first"),)
    store = ResultStore(tmp_path)
    store.save(result, ct_series.stack, study_instance_uid=STUDY)
    (listed,) = store.for_study(STUDY)
    assert listed.load("layer").curves[0].marks == ((0.0, "first"),)


def test_bad_curve_marks_are_refused() -> None:
    from workstation.inference.results import Curve

    for bad in ((0.0, ""), (0.0, "a label far too long"), (0.0,)):
        with pytest.raises(ValueError, match="mark"):
            Curve("lv", x=(0.0,), y=(1.0,), marks=(bad,))  # type: ignore[arg-type]
