"""Label maps as DICOM SEG: dciodvfy accepts them, and they come back on the same grid."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

import workstation
from workstation.core.segmentation import LabelMap, Segment
from workstation.io import DicomStack, scan
from workstation.io.seg import DEFAULT_CATEGORY, DEFAULT_TYPE, read_seg, write_seg
from workstation.io.source_datasets import Algorithm, source_datasets
from workstation.testing.factories import SeriesSpec, write_enhanced_mr, write_series

from .conftest import only_stack

Verify = Callable[[Path], list[str]]

_C, _S = math.cos(0.5), math.sin(0.5)
OBLIQUE = (_C, _S, 0.0, -_S * math.cos(0.3), _C * math.cos(0.3), math.sin(0.3))
MR = SeriesSpec(modality="MR", rescale_slope=None, rescale_intercept=None)


def _labels(stack: DicomStack) -> LabelMap:
    labels = LabelMap.empty_like("labels", "image", tuple(stack.shape), stack.affine)
    labels.add_segment("Liver", code=("10200004", "SCT", "Liver"), category=DEFAULT_CATEGORY)
    labels.add_segment(
        "Tumour",
        code=("108369006", "SCT", "Neoplasm"),
        category=("49755003", "SCT", "Morphologically abnormal structure"),
        algorithm_type="SEMIAUTOMATIC",
        algorithm_name="Threshold fill",
    )
    labels.add_segment("Unnamed")
    return labels


def _paint(grid: np.ndarray) -> None:
    """Three segments, one touching the volume's edge, slices without any label between."""
    grid[1:4, 4:20, 6:30] = 1
    grid[2:4, 8:12, 10:16] = 2
    grid[6, 0:3, 37:40] = 3


def _segment_fields(segment: Segment) -> tuple[object, ...]:
    return (
        segment.number,
        segment.label,
        segment.color,
        segment.code or DEFAULT_TYPE,
        segment.category or DEFAULT_CATEGORY,
        segment.algorithm_type,
        segment.algorithm_name,
    )


def _assert_same(read: LabelMap, labels: LabelMap) -> None:
    assert read.array.shape == labels.array.shape
    assert read.array.dtype == np.uint8
    np.testing.assert_array_equal(read.array, labels.array)
    np.testing.assert_allclose(read.affine, labels.affine)
    assert [_segment_fields(s) for s in read.segments.values()] == [
        _segment_fields(s) for s in labels.segments.values()
    ]


@pytest.mark.dciodvfy
@pytest.mark.parametrize(
    "spec",
    [
        SeriesSpec(),
        SeriesSpec(orientation=OBLIQUE, shuffle=True, seed=7),
        SeriesSpec(shuffle=True, seed=3, gantry_tilt_degrees=12.0),
    ],
    ids=["ct", "oblique-shuffled", "shuffled-tilted"],
)
def test_ct_round_trip(tmp_path: Path, dciodvfy_errors: Verify, spec: SeriesSpec) -> None:
    write_series(tmp_path / "ct", spec)
    stack = only_stack(scan(tmp_path / "ct"))
    labels = _labels(stack)
    _paint(labels.array)
    path = tmp_path / "seg.dcm"

    seg = write_seg(labels, stack, path)

    assert dciodvfy_errors(path) == []
    dataset = pydicom.dcmread(path)
    assert dataset.SegmentationType == "BINARY"
    # Only frames holding a label: slices 1-3 (segment 1), 2-3 (segment 2), 6 (segment 3).
    assert dataset.NumberOfFrames == 3 + 2 + 1
    assert dataset.SeriesDescription == labels.name
    assert seg.SOPInstanceUID == dataset.SOPInstanceUID
    _assert_same(read_seg(path, stack), labels)


def test_frames_reference_their_source_images(tmp_path: Path) -> None:
    written = write_series(tmp_path / "ct", SeriesSpec(shuffle=True))
    stack = only_stack(scan(tmp_path / "ct"))
    labels = _labels(stack)
    labels.array[5, 3:6, 3:6] = 1
    write_seg(labels, stack, tmp_path / "seg.dcm")
    dataset = pydicom.dcmread(tmp_path / "seg.dcm")
    (frame,) = dataset.PerFrameFunctionalGroupsSequence
    (source,) = frame.DerivationImageSequence[0].SourceImageSequence
    assert source.ReferencedSOPInstanceUID == written.sop_instance_uids[5]
    referenced = dataset.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == written.series_instance_uid
    assert {i.ReferencedSOPInstanceUID for i in referenced.ReferencedInstanceSequence} == set(
        written.sop_instance_uids
    )


@pytest.mark.dciodvfy
def test_enhanced_multiframe_source(tmp_path: Path, dciodvfy_errors: Verify) -> None:
    written = write_enhanced_mr(tmp_path / "mr" / "mr.dcm", replace(MR, shuffle=True, seed=5))
    stack = only_stack(scan(tmp_path / "mr"))
    labels = _labels(stack)
    _paint(labels.array)
    path = tmp_path / "seg.dcm"

    write_seg(labels, stack, path)

    assert dciodvfy_errors(path) == []
    dataset = pydicom.dcmread(path)
    for frame in dataset.PerFrameFunctionalGroupsSequence:
        (source,) = frame.DerivationImageSequence[0].SourceImageSequence
        assert source.ReferencedSOPInstanceUID == written.sop_instance_uids[0]
    _assert_same(read_seg(path, stack), labels)


@pytest.mark.dciodvfy
@pytest.mark.parametrize("enhanced", [False, True], ids=["classic", "enhanced"])
def test_cine_phase_round_trip(tmp_path: Path, dciodvfy_errors: Verify, enhanced: bool) -> None:
    spec = replace(MR, phases=5)
    if enhanced:
        write_enhanced_mr(tmp_path / "cine" / "cine.dcm", spec)
    else:
        write_series(tmp_path / "cine", spec)
    stack = only_stack(scan(tmp_path / "cine"))
    assert stack.shape == (5, 8, 32, 40)
    labels = _labels(stack)
    end_diastole = 3
    _paint(labels.array[end_diastole])
    path = tmp_path / "seg.dcm"

    write_seg(labels, stack, path, phase=end_diastole)

    assert dciodvfy_errors(path) == []
    dataset = pydicom.dcmread(path)
    phase_frames = stack.frames[end_diastole * 8 : (end_diastole + 1) * 8]
    expected = {(r.header.sop_instance_uid, r.frame + 1) for r in phase_frames}
    for frame in dataset.PerFrameFunctionalGroupsSequence:
        (source,) = frame.DerivationImageSequence[0].SourceImageSequence
        number = int(source.get("ReferencedFrameNumber", 1))
        assert (source.ReferencedSOPInstanceUID, number) in expected
    read = read_seg(path, stack)
    _assert_same(read, labels)
    assert not read.array[:end_diastole].any() and not read.array[end_diastole + 1 :].any()


def test_cine_needs_a_phase(tmp_path: Path) -> None:
    write_series(tmp_path / "cine", replace(MR, phases=3))
    stack = only_stack(scan(tmp_path / "cine"))
    labels = _labels(stack)
    labels.array[1, 2, 3:5, 3:5] = 1
    with pytest.raises(ValueError, match="choose the phase"):
        write_seg(labels, stack, tmp_path / "seg.dcm")
    with pytest.raises(ValueError, match="outside"):
        write_seg(labels, stack, tmp_path / "seg.dcm", phase=3)
    # A 3-D label map of one phase is accepted too.
    one_phase = LabelMap("one", "image", labels.array[1].copy(), stack.affine)
    one_phase.segments = labels.segments
    write_seg(one_phase, stack, tmp_path / "seg.dcm", phase=1)
    np.testing.assert_array_equal(read_seg(tmp_path / "seg.dcm", stack).array, labels.array)


def test_another_series_is_refused_by_name(tmp_path: Path) -> None:
    write_series(tmp_path / "a", SeriesSpec())
    other = write_series(tmp_path / "b", SeriesSpec(series_number=2))
    stack_a = only_stack(scan(tmp_path / "a"))
    stack_b = only_stack(scan(tmp_path / "b"))
    labels = _labels(stack_b)
    labels.array[2, 2:4, 2:4] = 1
    write_seg(labels, stack_b, tmp_path / "seg.dcm")
    with pytest.raises(ValueError, match=other.series_instance_uid) as raised:
        read_seg(tmp_path / "seg.dcm", stack_a)
    assert stack_a.series_instance_uid in str(raised.value)


def test_frames_without_references_are_placed_by_position(tmp_path: Path) -> None:
    write_series(tmp_path / "ct", SeriesSpec(orientation=OBLIQUE, shuffle=True))
    stack = only_stack(scan(tmp_path / "ct"))
    labels = _labels(stack)
    _paint(labels.array)
    write_seg(labels, stack, tmp_path / "seg.dcm")
    dataset = pydicom.dcmread(tmp_path / "seg.dcm")
    del dataset.ReferencedSeriesSequence
    for frame in dataset.PerFrameFunctionalGroupsSequence:
        del frame.DerivationImageSequence
    dataset.save_as(tmp_path / "bare.dcm")
    _assert_same(read_seg(tmp_path / "bare.dcm", stack), labels)

    # A frame off the grid is refused, not dropped.
    position = dataset.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence[0]
    position.ImagePositionPatient = [float(v) + 1.0 for v in position.ImagePositionPatient]
    dataset.save_as(tmp_path / "off.dcm")
    with pytest.raises(ValueError, match="lies on no slice"):
        read_seg(tmp_path / "off.dcm", stack)


def test_gaps_in_segment_numbers_are_closed(tmp_path: Path) -> None:
    write_series(tmp_path / "ct", SeriesSpec())
    stack = only_stack(scan(tmp_path / "ct"))
    labels = _labels(stack)
    del labels.segments[2]  # deleted: numbers 1 and 3 remain
    labels.array[1, 1:3, 1:3] = 1
    labels.array[2, 1:3, 1:3] = 3
    write_seg(labels, stack, tmp_path / "seg.dcm")
    read = read_seg(tmp_path / "seg.dcm", stack)
    assert [(s.number, s.label) for s in read.segments.values()] == [(1, "Liver"), (2, "Unnamed")]
    np.testing.assert_array_equal(read.array, np.where(labels.array == 3, 2, labels.array))


@pytest.mark.dciodvfy
def test_algorithm_provenance(tmp_path: Path, dciodvfy_errors: Verify) -> None:
    write_series(tmp_path / "ct", SeriesSpec())
    stack = only_stack(scan(tmp_path / "ct"))
    labels = _labels(stack)
    labels.segments[1].algorithm_type = "AUTOMATIC"
    labels.array[3, 5:9, 5:9] = 1
    algorithm = Algorithm("liver-seg", "1.4.0", parameters={"weights_sha256": "0f" * 32})
    write_seg(labels, stack, tmp_path / "seg.dcm", algorithm=algorithm)
    assert dciodvfy_errors(tmp_path / "seg.dcm") == []
    dataset = pydicom.dcmread(tmp_path / "seg.dcm")

    assert dataset.Manufacturer == "Workstation"
    assert dataset.SoftwareVersions == workstation.__version__
    identification = dataset.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert identification.AlgorithmName == "liver-seg"
    assert identification.AlgorithmVersion == "1.4.0"
    processing = [
        item
        for item in dataset.ContributingEquipmentSequence
        if item.PurposeOfReferenceCodeSequence[0].CodeValue == "Newcode1"
    ]
    assert len(processing) == 1
    assert processing[0].PurposeOfReferenceCodeSequence[0].CodingSchemeDesignator == "99IHE"
    assert processing[0].ManufacturerModelName == "liver-seg"
    assert processing[0].DeviceUID == algorithm.device_uid
    read = read_seg(tmp_path / "seg.dcm", stack)
    assert read.segments[1].algorithm_type == "AUTOMATIC"
    assert read.segments[1].algorithm_name == "liver-seg"


def test_grid_and_phase_mismatches(tmp_path: Path) -> None:
    write_series(tmp_path / "ct", SeriesSpec())
    stack = only_stack(scan(tmp_path / "ct"))
    labels = _labels(stack)
    labels.array[1, 1, 1] = 1
    with pytest.raises(ValueError, match="only a cine"):
        write_seg(labels, stack, tmp_path / "seg.dcm", phase=2)
    wrong = LabelMap("w", "image", np.zeros((8, 32, 41), np.uint8), stack.affine)
    wrong.add_segment("x")
    with pytest.raises(ValueError, match="not on the stack's grid"):
        write_seg(wrong, stack, tmp_path / "seg.dcm")
    nothing = LabelMap("n", "image", np.zeros(stack.shape, np.uint8), stack.affine)
    with pytest.raises(ValueError, match="no segment"):
        write_seg(nothing, stack, tmp_path / "seg.dcm")
    assert not (tmp_path / "seg.dcm").exists()

    write_seg(labels, stack, tmp_path / "seg.dcm")
    write_series(tmp_path / "small", replace(SeriesSpec(), columns=20))
    small = only_stack(scan(tmp_path / "small"))
    with pytest.raises(ValueError):
        read_seg(tmp_path / "seg.dcm", small)
    with pytest.raises(ValueError, match="not a DICOM Segmentation"):
        read_seg(stack.frames[0].header.source.display, stack)


# --- SEG objects made by another tool ----------------------------------------------------------


def _foreign(stack: DicomStack, path: Path, segmentation_type: str, pixels: np.ndarray) -> None:
    """A SEG built with highdicom directly, the way another tool would."""
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=f"S{number}",
            segmented_property_category=hd.sr.CodedConcept("85756007", "SCT", "Tissue"),
            segmented_property_type=hd.sr.CodedConcept("85756007", "SCT", "Tissue"),
            algorithm_type="MANUAL",
        )
        for number in range(1, pixels.shape[-1] + 1)
    ]
    seg = hd.seg.Segmentation(
        source_images=source_datasets(stack),
        pixel_array=pixels,
        segmentation_type=segmentation_type,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=50,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="Other",
        manufacturer_model_name="Other",
        software_versions="1",
        device_serial_number="1",
    )
    seg.save_as(path)


def test_fractional_segments_from_another_tool(tmp_path: Path) -> None:
    write_series(tmp_path / "ct", SeriesSpec())
    stack = only_stack(scan(tmp_path / "ct"))
    probability = np.zeros((*stack.shape, 2), np.float32)
    probability[2, 3:8, 3:8, 0] = 0.9
    probability[2, 3:8, 8:10, 0] = 0.4  # below the threshold
    probability[4, 10:12, 10:12, 1] = 0.5
    probability[2, 5:7, 5:7, 1] = 0.7  # overlaps segment 1: the higher number wins
    _foreign(stack, tmp_path / "frac.dcm", "FRACTIONAL", probability)
    read = read_seg(tmp_path / "frac.dcm", stack)
    expected = np.zeros(stack.shape, np.uint8)
    expected[2, 3:8, 3:8] = 1
    expected[4, 10:12, 10:12] = 2
    expected[2, 5:7, 5:7] = 2
    np.testing.assert_array_equal(read.array, expected)
    assert [s.label for s in read.segments.values()] == ["S1", "S2"]


def test_many_segments_read_into_uint16(tmp_path: Path) -> None:
    write_series(tmp_path / "ct", replace(SeriesSpec(), n_slices=2))
    stack = only_stack(scan(tmp_path / "ct"))
    labels = LabelMap("many", "image", np.zeros(stack.shape, np.uint16), stack.affine)
    for number in range(1, 301):
        labels.add_segment(f"Structure {number}")
    flat = labels.array.reshape(-1)
    flat[: 300 * 4] = np.repeat(np.arange(1, 301, dtype=np.uint16), 4)
    write_seg(labels, stack, tmp_path / "seg.dcm")
    read = read_seg(tmp_path / "seg.dcm", stack)
    assert read.array.dtype == np.uint16
    np.testing.assert_array_equal(read.array, labels.array)
    assert len(read.segments) == 300
