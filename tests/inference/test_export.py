"""Results as DICOM SEG + TID 1500 SR: valid for dciodvfy, readable back onto the series."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest

from workstation.inference.export import algorithm_of, export_dicom
from workstation.inference.jobs import Job
from workstation.io import load_stack, scan
from workstation.io.seg import read_seg
from workstation.io.sr import read_measurement_report
from workstation.testing.factories import SeriesSpec, write_series

Verify = Callable[[Path], list[str]]


def _concept(item) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    code = item.ConceptNameCodeSequence[0]
    return (str(code.CodeValue), str(code.CodingSchemeDesignator))


def _groups(sr) -> list:  # type: ignore[no-untyped-def]
    container = next(i for i in sr.ContentSequence if _concept(i) == ("126010", "DCM"))
    return list(container.ContentSequence)


def _processing_algorithm(dataset) -> list:  # type: ignore[no-untyped-def]
    return [
        item
        for item in dataset.ContributingEquipmentSequence
        if item.PurposeOfReferenceCodeSequence[0].CodeValue == "Newcode1"
    ]


@pytest.mark.dciodvfy
def test_seg_and_sr_of_the_example(
    tmp_path: Path, module, pool, ct_series, dciodvfy_errors: Verify
) -> None:
    result = Job(
        module("threshold-bright-structures"),
        ct_series.volume,
        pool=pool,
        series_instance_uid=ct_series.stack.series_instance_uid,
    ).run()
    files = export_dicom(result, ct_series.stack, tmp_path / "out")
    (seg_path,) = files.seg
    assert files.sr is not None and files.json is not None and files.notes == []
    assert [p.name for p in files.paths] == [
        "threshold-bright-structures-seg.dcm",
        "threshold-bright-structures-sr.dcm",
        "threshold-bright-structures-result.json",
    ]
    assert dciodvfy_errors(seg_path) == []
    assert dciodvfy_errors(files.sr) == []

    # The SEG goes back onto the source series voxel for voxel, marked AUTOMATIC.
    labels = read_seg(seg_path, ct_series.stack)
    np.testing.assert_array_equal(labels.array, ct_series.truth.astype(np.uint8))
    segment = labels.segments[1]
    assert (segment.label, segment.algorithm_type) == ("Bright structure", "AUTOMATIC")
    assert segment.algorithm_name == "Bright structures (threshold)"
    assert segment.code == ("85756007", "SCT", "Tissue")

    # Both name the algorithm as IHE AI Results asks.
    for path in (seg_path, files.sr):
        (item,) = _processing_algorithm(pydicom.dcmread(path))
        assert item.ManufacturerModelName == "Bright structures (threshold)"
        assert item.SoftwareVersions == "1.0.0" and item.Manufacturer == "Workstation examples"

    sr = pydicom.dcmread(files.sr)
    (group,) = _groups(sr)
    values = {
        _concept(item): (
            float(item.MeasuredValueSequence[0].NumericValue),
            item.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue,
        )
        for item in group.ContentSequence
        if item.ValueType == "NUM"
    }
    assert values[("118565006", "SCT")] == (pytest.approx(result.values["bright_volume"]), "ml")
    assert values[("373098007", "SCT")] == (pytest.approx(result.values["bright_mean"]), "[hnsf'U]")
    (annotation,) = read_measurement_report(files.sr)
    assert annotation.segment is not None and annotation.segment.segment_number == 1
    assert annotation.values["volume_ml"] == pytest.approx(result.values["bright_volume"])


@pytest.mark.dciodvfy
def test_findings_coded_measurements_and_review(
    tmp_path: Path, module, pool, ct_series, dciodvfy_errors: Verify
) -> None:
    result = Job(module("testkit/report"), ct_series.volume, pool=pool).run()
    result.mark_edited("Reader^Rita")
    result.accept("Reader^Rita")
    files = export_dicom(result, ct_series.stack, tmp_path)
    assert files.notes == ["measurement global_score is on no exported segment: not in the SR"]
    (seg_path,) = files.seg
    assert files.sr is not None
    assert dciodvfy_errors(seg_path) == []
    assert dciodvfy_errors(files.sr) == []

    seg = pydicom.dcmread(seg_path)
    # The segment that holds no voxel is left out; the others keep their order.
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["Bright box", "Rim"]
    # Edited by the reader, then accepted: still the reader's hand in it.
    assert {s.SegmentAlgorithmType for s in seg.SegmentSequence} == {"SEMIAUTOMATIC"}
    labels = read_seg(seg_path, ct_series.stack)
    assert labels.segments[1].code == ("108369006", "SCT", "Neoplasm")
    np.testing.assert_array_equal(labels.array == 1, ct_series.truth)

    sr = pydicom.dcmread(files.sr)
    assert sr.VerificationFlag == "UNVERIFIED"
    person = [
        item for item in sr.ContentSequence if _concept(item) == ("121008", "DCM")
    ]  # Person Observer Name
    assert person and person[0].PersonName == "Reader^Rita"
    box, rim, lesion = _groups(sr)
    box_items = {_concept(item): item for item in box.ContentSequence}
    fraction = box_items[("10230-1", "LN")].MeasuredValueSequence[0]
    assert float(fraction.NumericValue) == pytest.approx(result.values["box_fraction"])
    assert fraction.MeasurementUnitsCodeSequence[0].CodeValue == "%"
    finding = box_items[("121071", "DCM")]
    assert finding.ConceptCodeSequence[0].CodeMeaning == "Lesion"
    rim_lengths = [i for i in rim.ContentSequence if _concept(i) == ("410668003", "SCT")]
    assert float(rim_lengths[0].MeasuredValueSequence[0].NumericValue) == pytest.approx(
        result.values["longest_side"]
    )
    lesion_items = {_concept(item): item for item in lesion.ContentSequence}
    assert lesion_items[("111030", "DCM")].GraphicType == "POINT"
    assert "confidence 0.90" in lesion_items[("121106", "DCM")].TextValue

    # An edited result is exported as SEMIAUTOMATIC.
    edited = Job(module("testkit/report"), ct_series.volume, pool=pool).run()
    edited.mark_edited("Reader^Rita")
    export_dicom(edited, ct_series.stack, tmp_path / "edited", write_json=False)
    seg = pydicom.dcmread(tmp_path / "edited" / "report-seg.dcm")
    assert {s.SegmentAlgorithmType for s in seg.SegmentSequence} == {"SEMIAUTOMATIC"}


def test_rejected_results_are_not_exported(tmp_path: Path, module, pool, ct_series) -> None:
    result = Job(module("threshold-bright-structures"), ct_series.volume, pool=pool).run()
    result.reject("Reader^Rita", "misses the edge")
    with pytest.raises(ValueError, match="rejected by Reader\\^Rita"):
        export_dicom(result, ct_series.stack, tmp_path)
    files = export_dicom(result, ct_series.stack, tmp_path, include_rejected=True)
    assert files.seg


def test_algorithm_identity(module, pool, ct_volume) -> None:
    result = Job(module("smoothed-threshold"), ct_volume, pool=pool).run()
    algorithm = algorithm_of(result)
    assert (algorithm.name, algorithm.version) == ("Bright structures (smoothed, torch)", "1.0.0")
    assert algorithm.parameters["weights_sha256.smoothing"].startswith("d5cc348c")
    assert algorithm.parameters["device"] == "cpu"


@pytest.mark.dciodvfy
def test_cine_results_make_one_seg_per_phase(
    tmp_path: Path, module, pool, dciodvfy_errors: Verify
) -> None:
    spec = SeriesSpec(
        modality="MR",
        rescale_slope=None,
        rescale_intercept=None,
        phases=4,
        n_slices=3,
        series_description="Cine SSFP",
        uid_seed="inference-cine",
    )
    rng = np.random.default_rng(1)
    stored = rng.integers(0, 200, size=(4, 3, 32, 40)).astype(np.int32)
    stored[:, :, 10:20, 12:24] = 3000
    write_series(tmp_path / "cine", spec, stored=stored)
    (stack,) = scan(tmp_path / "cine").stacks
    volume = load_stack(stack)
    result = Job(module("testkit/cine"), volume, pool=pool).run()
    assert result.measurement("volume_last").phase == 3
    assert result.curves[0].x_unit == "ms" and len(result.curves[0].y) == 4
    files = export_dicom(result, stack, tmp_path / "out")
    assert [p.name for p in files.seg] == ["cine-seg-phase00.dcm", "cine-seg-phase03.dcm"]
    assert files.sr is not None
    for path in [*files.seg, files.sr]:
        assert dciodvfy_errors(path) == []
    last = read_seg(files.seg[1], stack, phase=3)
    assert last.array[3].any() and not last.array[0].any()
    groups = _groups(pydicom.dcmread(files.sr))
    assert [g.ContentSequence[0].TextValue for g in groups] == [
        "Bright blood (phase 0)",
        "Bright blood (phase 3)",
    ]
