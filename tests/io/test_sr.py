"""Annotations as TID 1500 Comprehensive 3D SR: dciodvfy accepts them, and they read back."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest

import workstation
from workstation.core.annotations import (
    Annotation,
    AnnotationKind,
    ImageReference,
    SegmentReference,
)
from workstation.core.errors import DicomFileError
from workstation.core.segmentation import LabelMap
from workstation.io import DicomStack, scan
from workstation.io.seg import write_seg
from workstation.io.source_datasets import Algorithm, source_datasets
from workstation.io.sr import (
    read_measurement_report,
    tracking_uid,
    uuid_from_tracking_uid,
    write_measurement_report,
)
from workstation.testing.factories import (
    SeriesSpec,
    WrittenSeries,
    make_zip,
    write_enhanced_mr,
    write_series,
)

from .conftest import only_stack

Verify = Callable[[Path], list[str]]

#: SCOORD3D coordinates are single precision (FL): a few micrometres on these distances.
POINT_TOLERANCE_MM = 1e-4


@pytest.fixture
def ct(tmp_path: Path) -> tuple[WrittenSeries, DicomStack]:
    written = write_series(tmp_path / "ct", SeriesSpec(shuffle=True))
    return written, only_stack(scan(tmp_path / "ct"))


def _reference(written: WrittenSeries, k: int) -> ImageReference:
    return ImageReference(
        study_instance_uid=written.study_instance_uid,
        series_instance_uid=written.series_instance_uid,
        frame_of_reference_uid=written.frame_of_reference_uid,
        sop_instance_uid=written.sop_instance_uids[k],
    )


def _one_of_each(written: WrittenSeries, seg_uid: str) -> list[Annotation]:
    ref = _reference(written, 3)
    z = float(written.positions[3][2])
    return [
        Annotation(
            AnnotationKind.LENGTH,
            ref,
            ((-10.25, -9.5, z), (5.125, 3.0, z)),
            label="Aorta diameter",
            values={"length_mm": 20.171},
        ),
        Annotation(
            AnnotationKind.ANGLE,
            ref,
            ((-10.0, -10.0, z), (0.0, 0.0, z), (5.0, -3.0, z)),
            label="Cobb",
            values={"angle_deg": 76.0375},
        ),
        Annotation(
            AnnotationKind.ELLIPSE,
            ref,
            ((1.0, 2.0, z), (7.5, 2.0, z), (1.0, 5.25, z)),
            label="Liver ROI",
            values={
                "area_mm2": 66.366,
                "mean": 57.25,
                "sd": 12.5,
                "min": -3.0,
                "max": 98.0,
                "pixels": 113.0,
            },
            value_unit="HU",
        ),
        Annotation(
            AnnotationKind.POLYGON,
            ref,
            ((0.0, 0.0, z), (6.0, 0.0, z), (6.5, 3.0, z), (1.0, 4.0, z)),
            label="Lesion outline",
            text="irregular margin",
            values={"area_mm2": 21.25, "mean": 31.5, "sd": 4.25, "min": 20.0, "max": 45.0},
            value_unit="HU",
        ),
        Annotation(
            AnnotationKind.POINT,
            ref,
            ((3.5, -2.25, z),),
            label="Seed",
            values={"value": 41.0},
            value_unit="HU",
        ),
        Annotation(
            AnnotationKind.TEXT,
            ref,
            ((-4.0, 6.0, z),),
            label="Note 1",
            text="Compare with prior\nstudy",
        ),
        Annotation(
            AnnotationKind.SEGMENTATION,
            ref,
            label="Liver volume",
            segment=SegmentReference(seg_uid, 1),
            values={"volume_ml": 0.4375},
        ),
    ]


def _write_seg(stack: DicomStack, path: Path) -> object:
    labels = LabelMap.empty_like("labels", "image", tuple(stack.shape), stack.affine)
    labels.add_segment("Liver", code=("10200004", "SCT", "Liver"))
    labels.array[2:5, 8:20, 10:30] = 1
    return write_seg(labels, stack, path)


@pytest.mark.dciodvfy
def test_every_kind_passes_dciodvfy_and_reads_back(
    tmp_path: Path, ct: tuple[WrittenSeries, DicomStack], dciodvfy_errors: Verify
) -> None:
    written, stack = ct
    seg = _write_seg(stack, tmp_path / "seg.dcm")
    annotations = _one_of_each(written, str(seg.SOPInstanceUID))  # type: ignore[attr-defined]
    deleted = annotations[0].edited(uuid=str(uuid.uuid4())).tombstone()
    path = tmp_path / "sr.dcm"

    write_measurement_report(
        [*annotations, deleted],
        stack,
        path,
        observer_name="Reader^Rita",
        segmentations=[tmp_path / "seg.dcm"],
    )

    assert dciodvfy_errors(path) == []
    back = {a.uuid: a for a in read_measurement_report(path)}
    assert set(back) == {a.uuid for a in annotations}  # the tombstone is not exported
    for original in annotations:
        read = back[original.uuid]
        assert read.kind is original.kind
        assert read.label == original.label
        assert read.text == original.text
        np.testing.assert_allclose(
            np.asarray(read.points).reshape(-1, 3),
            np.asarray(original.points).reshape(-1, 3),
            atol=POINT_TOLERANCE_MM,
        )
        exported = {k: v for k, v in original.values.items() if k != "pixels"}
        assert read.values == pytest.approx(exported, rel=1e-12)
        if {"mean", "value"} & set(original.values):
            assert read.value_unit == original.value_unit
        assert read.segment == original.segment
        assert read.reference.study_instance_uid == written.study_instance_uid
        if read.kind is not AnnotationKind.SEGMENTATION:
            assert read.reference.frame_of_reference_uid == written.frame_of_reference_uid
        if read.values and read.kind is not AnnotationKind.SEGMENTATION:
            # Measurements name the image they were made on.
            assert read.reference.sop_instance_uid == original.reference.sop_instance_uid
            assert read.reference.series_instance_uid == written.series_instance_uid


def _content_items(dataset: pydicom.Dataset) -> list[pydicom.Dataset]:
    items = []
    for item in dataset.get("ContentSequence", []):
        items.append(item)
        items.extend(_content_items(item))
    return items


def _code(sequence: pydicom.Sequence) -> tuple[str, str]:
    return (sequence[0].CodeValue, sequence[0].CodingSchemeDesignator)


def _measurement_items(dataset: pydicom.Dataset) -> list[pydicom.Dataset]:
    """Content items inside the Imaging Measurements container (not the image library)."""
    (container,) = [
        item
        for item in dataset.ContentSequence
        if _code(item.ConceptNameCodeSequence) == ("126010", "DCM")
    ]
    return _content_items(container)


def test_measurements_are_coded_with_ucum_units(
    tmp_path: Path, ct: tuple[WrittenSeries, DicomStack]
) -> None:
    written, stack = ct
    annotations = _one_of_each(written, "")[:5]  # no segmentation
    path = tmp_path / "sr.dcm"
    write_measurement_report(annotations, stack, path)
    dataset = pydicom.dcmread(path)

    assert dataset.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    assert dataset.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    numbers = {}
    for item in _measurement_items(dataset):
        if item.ValueType == "NUM":
            unit = item.MeasuredValueSequence[0].MeasurementUnitsCodeSequence
            numbers.setdefault(_code(item.ConceptNameCodeSequence), set()).add(_code(unit))
    assert numbers == {
        ("410668003", "SCT"): {("mm", "UCUM")},
        ("1483009", "SCT"): {("deg", "UCUM")},
        ("42798000", "SCT"): {("mm2", "UCUM")},
        ("373098007", "SCT"): {("[hnsf'U]", "UCUM")},
        ("386136009", "SCT"): {("[hnsf'U]", "UCUM")},
        ("255605001", "SCT"): {("[hnsf'U]", "UCUM")},
        ("56851009", "SCT"): {("[hnsf'U]", "UCUM")},
    }
    regions = [
        (item.GraphicType, len(item.GraphicData) // 3)
        for item in _content_items(dataset)
        if item.ValueType == "SCOORD3D"
    ]
    assert sorted(regions) == sorted(
        [("POLYLINE", 2), ("POLYLINE", 3), ("ELLIPSE", 4), ("POLYGON", 5), ("POINT", 1)]
    )
    frames_of_reference = {
        item.ReferencedFrameOfReferenceUID
        for item in _content_items(dataset)
        if item.ValueType == "SCOORD3D"
    }
    assert frames_of_reference == {written.frame_of_reference_uid}
    uids = [
        item.UID
        for item in _content_items(dataset)
        if item.ValueType == "UIDREF" and _code(item.ConceptNameCodeSequence) == ("112040", "DCM")
    ]
    assert uids == [tracking_uid(a.uuid) for a in annotations]
    # Every image of the stack is evidence.
    evidence = dataset.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.SeriesInstanceUID == written.series_instance_uid
    assert {i.ReferencedSOPInstanceUID for i in evidence.ReferencedSOPSequence} == set(
        written.sop_instance_uids
    )


def test_unitless_statistics_and_ellipse_axes(tmp_path: Path) -> None:
    written = write_series(
        tmp_path / "mr", SeriesSpec(modality="MR", rescale_slope=None, rescale_intercept=None)
    )
    stack = only_stack(scan(tmp_path / "mr"))
    z = float(written.positions[0][2])
    ellipse = Annotation(
        AnnotationKind.ELLIPSE,
        _reference(written, 0),
        ((0.0, 0.0, z), (0.0, 2.0, z), (5.0, 0.0, z)),  # the minor semi-axis drawn first
        label="Muscle",
        values={"mean": 310.5},
    )
    path = tmp_path / "sr.dcm"
    write_measurement_report([ellipse], stack, path)
    dataset = pydicom.dcmread(path)
    units = {
        _code(item.MeasuredValueSequence[0].MeasurementUnitsCodeSequence)
        for item in _measurement_items(dataset)
        if item.ValueType == "NUM"
    }
    assert units == {("1", "UCUM")}
    (read,) = read_measurement_report(path)
    assert read.value_unit == ""
    assert read.values == {"mean": 310.5}
    # DICOM puts the major axis first: the ellipse comes back with its axes in that order.
    np.testing.assert_allclose(
        read.points, [(0.0, 0.0, z), (5.0, 0.0, z), (0.0, 2.0, z)], atol=POINT_TOLERANCE_MM
    )


@pytest.mark.dciodvfy
def test_measurements_on_a_multiframe_frame(tmp_path: Path, dciodvfy_errors: Verify) -> None:
    written = write_enhanced_mr(tmp_path / "mr" / "mr.dcm")
    stack = only_stack(scan(tmp_path / "mr"))
    frame = stack.frames[10]
    assert frame.position is not None
    x, y, z = frame.position
    roi = Annotation(
        AnnotationKind.ELLIPSE,
        ImageReference(
            written.study_instance_uid,
            written.series_instance_uid,
            written.frame_of_reference_uid,
            frame.header.sop_instance_uid,
            frame.frame + 1,
        ),
        ((x, y, z), (x + 5.0, y, z), (x, y + 3.0, z)),
        label="LV cavity",
        values={"area_mm2": 47.12, "mean": 301.5},
    )
    path = tmp_path / "sr.dcm"
    write_measurement_report([roi], stack, path)
    assert dciodvfy_errors(path) == []
    (read,) = read_measurement_report(path)
    assert read.reference.sop_instance_uid == frame.header.sop_instance_uid
    assert read.reference.frame_number == frame.frame + 1
    assert read.values == {"area_mm2": 47.12, "mean": 301.5}


@pytest.mark.dciodvfy
def test_equipment_and_algorithm(
    tmp_path: Path, ct: tuple[WrittenSeries, DicomStack], dciodvfy_errors: Verify
) -> None:
    written, stack = ct
    algorithm = Algorithm("LiverNet", "2.1", parameters={"weights_sha256": "ab12"})
    path = tmp_path / "sr.dcm"
    write_measurement_report(_one_of_each(written, "")[:2], stack, path, algorithm=algorithm)
    assert dciodvfy_errors(path) == []
    dataset = pydicom.dcmread(path)

    assert dataset.Manufacturer == "Workstation"
    assert dataset.SoftwareVersions == workstation.__version__
    equipment = dataset.ContributingEquipmentSequence
    ours = [e for e in equipment if e.get("Manufacturer") == "Workstation"]
    assert any(e.get("SoftwareVersions") == workstation.__version__ for e in ours)
    processing = [
        e for e in equipment if _code(e.PurposeOfReferenceCodeSequence) == ("Newcode1", "99IHE")
    ]
    assert len(processing) == 1
    assert processing[0].ManufacturerModelName == "LiverNet"
    assert processing[0].SoftwareVersions == "2.1"
    assert processing[0].DeviceUID == algorithm.device_uid
    names = [
        item.TextValue
        for item in _content_items(dataset)
        if item.ValueType == "TEXT" and _code(item.ConceptNameCodeSequence) == ("111001", "DCM")
    ]
    assert names == ["LiverNet", "LiverNet"]  # Algorithm Name in each group


def test_nothing_to_export_is_refused(tmp_path: Path, ct: tuple[WrittenSeries, DicomStack]) -> None:
    written, stack = ct
    original = _one_of_each(written, "")[0]
    with pytest.raises(ValueError, match="no annotation"):
        write_measurement_report([original, original.tombstone()], stack, tmp_path / "sr.dcm")
    assert not (tmp_path / "sr.dcm").exists()


def test_a_segment_reference_needs_its_seg(
    tmp_path: Path, ct: tuple[WrittenSeries, DicomStack]
) -> None:
    written, stack = ct
    annotation = _one_of_each(written, "1.2.3.4")[-1]
    with pytest.raises(ValueError, match=r"1\.2\.3\.4"):
        write_measurement_report([annotation], stack, tmp_path / "sr.dcm")


def test_length_without_a_value_gets_one(
    tmp_path: Path, ct: tuple[WrittenSeries, DicomStack]
) -> None:
    written, stack = ct
    length = Annotation(
        AnnotationKind.LENGTH, _reference(written, 0), ((0.0, 0.0, 40.0), (3.0, 4.0, 40.0))
    )
    path = tmp_path / "sr.dcm"
    write_measurement_report([length], stack, path)
    (read,) = read_measurement_report(path)
    assert read.values == pytest.approx({"length_mm": 5.0})
    assert read.label == "Length 1"  # a tracking identifier is required


def test_tracking_uids() -> None:
    value = str(uuid.uuid4())
    uid = tracking_uid(value)
    assert uid.startswith("2.25.") and len(uid) <= 64
    assert uuid_from_tracking_uid(uid) == value
    foreign = uuid_from_tracking_uid("1.2.840.99.1")
    assert foreign == uuid_from_tracking_uid("1.2.840.99.1")
    uuid.UUID(foreign)


def test_not_a_report(tmp_path: Path, ct: tuple[WrittenSeries, DicomStack]) -> None:
    written, _ = ct
    with pytest.raises(ValueError, match="not a structured report"):
        read_measurement_report(written.paths[0])
    (tmp_path / "junk.dcm").write_bytes(b"\x00" * 10)
    with pytest.raises(DicomFileError):
        read_measurement_report(tmp_path / "junk.dcm")


# --- source datasets ---------------------------------------------------------------------------


def test_source_datasets_follow_the_stack_without_pixels(
    ct: tuple[WrittenSeries, DicomStack],
) -> None:
    written, stack = ct
    datasets = source_datasets(stack)
    assert [ds.SOPInstanceUID for ds in datasets] == written.sop_instance_uids
    assert all("PixelData" not in ds for ds in datasets)
    assert datasets[0].file_meta.TransferSyntaxUID == stack.frames[0].header.transfer_syntax


@pytest.mark.parametrize(
    "syntax",
    [
        "1.2.840.10008.1.2",  # implicit VR
        "1.2.840.10008.1.2.2",  # big endian
        "1.2.840.10008.1.2.1.99",  # deflated: parsed whole, pixels dropped
        "1.2.840.10008.1.2.4.80",  # JPEG-LS: encapsulated
    ],
)
def test_source_datasets_of_every_encoding(tmp_path: Path, syntax: str) -> None:
    write_series(tmp_path / "s", SeriesSpec(transfer_syntax=syntax, n_slices=3))
    stack = only_stack(scan(tmp_path / "s"))
    datasets = source_datasets(stack)
    # (The factory's record of UIDs is not used: pydicom's compress() renews the UID.)
    assert [ds.SOPInstanceUID for ds in datasets] == [
        ref.header.sop_instance_uid for ref in stack.frames
    ]
    assert [ds.ImagePositionPatient[2] for ds in datasets] == [40.0, 42.5, 45.0]
    assert all("PixelData" not in ds for ds in datasets)


def test_source_datasets_from_a_zip(tmp_path: Path) -> None:
    written = write_series(tmp_path / "s", SeriesSpec(n_slices=3))
    stack = only_stack(scan(make_zip(tmp_path / "s", tmp_path / "s.zip")))
    datasets = source_datasets(stack)
    assert [ds.SOPInstanceUID for ds in datasets] == written.sop_instance_uids


def test_source_datasets_of_a_multiframe_object(tmp_path: Path) -> None:
    written = write_enhanced_mr(tmp_path / "mr.dcm")
    stack = only_stack(scan(tmp_path))
    (dataset,) = source_datasets(stack)
    assert dataset.SOPInstanceUID == written.sop_instance_uids[0]
    assert len(dataset.PerFrameFunctionalGroupsSequence) == len(stack.frames)


def test_source_datasets_report_files_gone_or_replaced(
    tmp_path: Path, ct: tuple[WrittenSeries, DicomStack]
) -> None:
    written, stack = ct
    written.paths[0].unlink()
    with pytest.raises(DicomFileError):
        source_datasets(stack)
    other = write_series(tmp_path / "other", SeriesSpec())
    written.paths[0].write_bytes(other.paths[0].read_bytes())
    with pytest.raises(DicomFileError, match="changed since the scan"):
        source_datasets(stack)
