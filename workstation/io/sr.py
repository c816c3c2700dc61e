"""Measurements as DICOM SR: a Comprehensive 3D SR with TID 1500 (Measurement Report) as root.

IHE AI Results asks for measurements and findings as TID 1500 with their locations as SCOORD3D
(PS3.16 A.3.1); highdicom builds the document. Each live annotation becomes one Measurement
Group tracked by a UID derived from the annotation's UUID (``2.25.<int(uuid)>``), so a report
read back, or amended later, names the same annotations:

============  ==============================================================================
kind          content
============  ==============================================================================
LENGTH        TID 1501 group; Length (SCT 410668003, mm) inferred from a SCOORD3D POLYLINE
ANGLE         TID 1501 group; Angle (SCT 1483009, deg) inferred from a 3-point POLYLINE
ELLIPSE       TID 1410 group; Image Region SCOORD3D ELLIPSE (major axis ends, minor axis ends);
              Area (SCT 42798000, mm2) and region statistics
POLYGON       TID 1410 group; Image Region SCOORD3D POLYGON (closed); area and statistics
POINT         TID 1410 group; Image Region SCOORD3D POINT; the voxel value as Mean
TEXT          TID 1410 group; Image Region SCOORD3D POINT (the anchor) + TEXT Comment
SEGMENTATION  TID 1411 group; Referenced Segment of a DICOM SEG; Volume (SCT 118565006, ml)
============  ==============================================================================

Region statistics: Mean (SCT 373098007), Standard Deviation (SCT 386136009), Minimum (SCT
255605001), Maximum (SCT 56851009), in ``[hnsf'U]`` for CT and ``1`` (no units) otherwise.
An annotation's ``text`` is a TEXT Comment (DCM 121106) of its group.
"""

from __future__ import annotations

import math
import uuid as uuid_module
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core import measure
from workstation.core.annotations import (
    Annotation,
    AnnotationKind,
    ImageReference,
    Point,
    SegmentReference,
)
from workstation.io.assemble import DicomStack
from workstation.io.limits import DEFAULT_LIMITS, Limits
from workstation.io.source_datasets import (
    MANUFACTURER,
    MODEL_NAME,
    Algorithm,
    fill_type2,
    processing_algorithm_item,
    read_dicom_file,
    save_atomically,
    software_version,
    source_datasets,
)

Code3 = tuple[str, str, str]

COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"
SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"

LENGTH: Code3 = ("410668003", "SCT", "Length")
ANGLE: Code3 = ("1483009", "SCT", "Angle")
AREA: Code3 = ("42798000", "SCT", "Area")
VOLUME: Code3 = ("118565006", "SCT", "Volume")
MEAN: Code3 = ("373098007", "SCT", "Mean")
STANDARD_DEVIATION: Code3 = ("386136009", "SCT", "Standard Deviation")
MINIMUM: Code3 = ("255605001", "SCT", "Minimum")
MAXIMUM: Code3 = ("56851009", "SCT", "Maximum")

MILLIMETRE: Code3 = ("mm", "UCUM", "millimeter")
SQUARE_MILLIMETRE: Code3 = ("mm2", "UCUM", "square millimeter")
MILLILITRE: Code3 = ("ml", "UCUM", "milliliter")
DEGREE: Code3 = ("deg", "UCUM", "degree")
HOUNSFIELD_UNIT: Code3 = ("[hnsf'U]", "UCUM", "Hounsfield unit")
NO_UNITS: Code3 = ("1", "UCUM", "no units")

#: Annotation value key → measurement concept, and the fixed unit (None: the grey-value unit).
MEASUREMENTS: dict[str, tuple[Code3, Code3 | None]] = {
    "length_mm": (LENGTH, MILLIMETRE),
    "angle_deg": (ANGLE, DEGREE),
    "area_mm2": (AREA, SQUARE_MILLIMETRE),
    "volume_ml": (VOLUME, MILLILITRE),
    "mean": (MEAN, None),
    "sd": (STANDARD_DEVIATION, None),
    "min": (MINIMUM, None),
    "max": (MAXIMUM, None),
}
#: A point's voxel value is reported as the Mean of its one-voxel region.
POINT_VALUE_KEY = "value"

_IMAGING_PROCEDURE: Code3 = ("363679005", "SCT", "Imaging procedure")
_MEASUREMENT_GROUP = ("125007", "DCM")
_IMAGING_MEASUREMENTS = ("126010", "DCM")
_TRACKING_IDENTIFIER = ("112039", "DCM")
_TRACKING_UID = ("112040", "DCM")
_IMAGE_REGION = ("111030", "DCM")
_COMMENT: Code3 = ("121106", "DCM", "Comment")
_REFERENCED_SEGMENT = ("121191", "DCM")
_SOURCE_OF_MEASUREMENT = ("121112", "DCM")


def tracking_uid(annotation_uuid: str) -> str:
    """The Tracking Unique Identifier of an annotation: its UUID as a ``2.25`` UID (PS3.5 B.2)."""
    return f"2.25.{uuid_module.UUID(annotation_uuid).int}"


def uuid_from_tracking_uid(uid: str) -> str:
    """The annotation UUID a tracking UID stands for (a stable one for foreign UIDs)."""
    if uid.startswith("2.25.") and uid[5:].isdigit():
        value = int(uid[5:])
        if value < 1 << 128:
            return str(uuid_module.UUID(int=value))
    return str(uuid_module.uuid5(uuid_module.NAMESPACE_OID, uid))


# --- writing ---------------------------------------------------------------------------------


def write_measurement_report(
    annotations: Iterable[Annotation],
    stack: DicomStack,
    path: str | Path,
    *,
    observer_name: str = "",
    manufacturer: str = MANUFACTURER,
    series_number: int = 900,
    series_description: str = "Measurements",
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
    instance_number: int = 1,
    institution_name: str | None = None,
    algorithm: Algorithm | None = None,
    segmentations: Sequence[Any] = (),
    is_complete: bool = True,
    is_final: bool = False,
    sources: Sequence[Any] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Any:
    """Write the live annotations of ``stack`` as a TID 1500 Comprehensive 3D SR.

    Parameters
    ----------
    annotations:
        The annotations (several versions of one: the newest counts); deleted ones
        (tombstones) are left out.
    stack:
        The stack they were drawn on: its objects are the evidence and the image library,
        its Frame of Reference the coordinates' unless an annotation names its own.
    path:
        File to write (replaced atomically).
    observer_name:
        Person observer (PN, e.g. ``"Doe^Jane"``); the workstation is always the device
        observer.
    algorithm:
        For AI results: the algorithm, recorded in every group (TID 4019) and as Contributing
        Equipment "Processing Algorithm" (IHE AI Results).
    segmentations:
        DICOM SEG objects (datasets or paths) that SEGMENTATION annotations refer to.
    sources:
        The stack's source datasets when already read (:func:`source_datasets`).

    Returns
    -------
    pydicom.Dataset
        The document written (a ``highdicom.sr.Comprehensive3DSR``).

    Raises
    ------
    ValueError
        No live annotation, an annotation without a Frame of Reference, or a SEGMENTATION
        annotation whose SEG is not among ``segmentations``.
    DicomFileError
        A source object could not be read.
    """
    import highdicom as hd

    latest: dict[str, Annotation] = {}
    for annotation in annotations:  # the newest version of each annotation counts
        known = latest.get(annotation.uuid)
        if known is None or annotation.version >= known.version:
            latest[annotation.uuid] = annotation
    live = [a for a in latest.values() if not a.deleted]
    if not live:
        raise ValueError("no annotation to export: the measurement report would be empty")
    evidence = list(sources) if sources is not None else source_datasets(stack, limits)
    if not evidence:
        raise ValueError("the stack has no source objects to reference")
    fill_type2(evidence[0])
    seg_datasets = [_as_dataset(seg, limits) for seg in segmentations]
    context = _Context(stack, evidence, seg_datasets, algorithm)
    groups = [_group(annotation, number, context) for number, annotation in enumerate(live, 1)]

    observer_device = hd.sr.ObserverContext(
        observer_type=_code(("121007", "DCM", "Device")),
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=_device_uid(manufacturer),
            name=MODEL_NAME,
            manufacturer_name=manufacturer,
            model_name=MODEL_NAME,
        ),
    )
    observer_person = None
    if observer_name:
        observer_person = hd.sr.ObserverContext(
            observer_type=_code(("121006", "DCM", "Person")),
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                name=observer_name
            ),
        )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_person_context=observer_person,
            observer_device_context=observer_device,
        ),
        procedure_reported=_code(_IMAGING_PROCEDURE),
        imaging_measurements=groups,
        referenced_images=context.library() or None,
    )
    equipment = [
        hd.ContributingEquipment(
            manufacturer=manufacturer,
            purpose_of_reference=_code(("109102", "DCM", "Processing Equipment")),
            manufacturer_model_name=MODEL_NAME,
            software_versions=software_version(),
        )
    ]
    document = hd.sr.Comprehensive3DSR(
        evidence=[*evidence, *seg_datasets],
        content=report[0],
        series_instance_uid=series_instance_uid or hd.UID(),
        series_number=series_number,
        sop_instance_uid=sop_instance_uid or hd.UID(),
        instance_number=instance_number,
        manufacturer=manufacturer,
        is_complete=is_complete,
        is_final=is_final,
        institution_name=institution_name,
        contributing_equipment=equipment,
        series_description=series_description,
        manufacturer_model_name=MODEL_NAME,
        software_versions=software_version(),
    )
    if algorithm is not None:
        document.ContributingEquipmentSequence.append(processing_algorithm_item(algorithm))
    save_atomically(document, Path(path))
    return document


class _Context:
    """What every group needs: frame of reference, image and segmentation references."""

    def __init__(
        self,
        stack: DicomStack,
        evidence: list[Any],
        segmentations: list[Any],
        algorithm: Algorithm | None,
    ) -> None:
        self.frame_of_reference_uid = next(
            (
                r.header.frame_of_reference_uid
                for r in stack.frames
                if r.header.frame_of_reference_uid
            ),
            "",
        )
        self.series_instance_uid = stack.series_instance_uid
        self.images = {str(ds.SOPInstanceUID): ds for ds in evidence}
        self.segmentations = {str(ds.SOPInstanceUID): ds for ds in segmentations}
        self.algorithm = algorithm
        self.referenced: dict[str, Any] = {}

    def library(self) -> list[Any]:
        """Images the measurements reference, for the Image Library (TID 1600).

        highdicom describes single-frame cross-sectional and projection images; an image it
        cannot describe (an enhanced multi-frame object keeps its geometry in functional
        groups) stays out of the library and is still referenced by its measurements and
        listed as evidence.
        """
        return [dataset for dataset in self.referenced.values() if _describable(dataset)]

    def source_image(self, reference: ImageReference) -> Any | None:
        """The Source of Measurement item for an annotation's image, when it is ours."""
        import highdicom as hd

        dataset = self.images.get(reference.sop_instance_uid)
        if dataset is None:
            return None
        self.referenced[reference.sop_instance_uid] = dataset
        frames = None if reference.frame_number is None else [reference.frame_number]
        return hd.sr.SourceImageForMeasurement(
            referenced_sop_class_uid=dataset.SOPClassUID,
            referenced_sop_instance_uid=reference.sop_instance_uid,
            referenced_frame_numbers=frames,
        )

    def algorithm_id(self) -> Any | None:
        import highdicom as hd

        if self.algorithm is None:
            return None
        return hd.sr.AlgorithmIdentification(
            name=self.algorithm.name,
            version=self.algorithm.version,
            parameters=self.algorithm.parameter_strings() or None,
            family=_code(self.algorithm.family),
            manufacturer=self.algorithm.manufacturer,
        )


def _describable(dataset: Any) -> bool:
    import highdicom as hd

    try:
        hd.sr.ImageLibraryEntryDescriptors(dataset)
    except (AttributeError, KeyError, TypeError, ValueError):
        return False
    return True


def _group(annotation: Annotation, number: int, context: _Context) -> Any:
    import highdicom as hd

    kind = annotation.kind
    tracking = hd.sr.TrackingIdentifier(
        uid=tracking_uid(annotation.uuid),
        identifier=annotation.label or f"{kind.value.capitalize()} {number}",
    )
    frame_of_reference = annotation.reference.frame_of_reference_uid or (
        context.frame_of_reference_uid
    )
    if not frame_of_reference and kind is not AnnotationKind.SEGMENTATION:
        raise ValueError(
            f"annotation {annotation.uuid} has no Frame of Reference UID for its coordinates"
        )
    points = np.asarray(annotation.points, dtype=np.float64).reshape(-1, 3)
    source = context.source_image(annotation.reference)
    algorithm_id = context.algorithm_id()
    group: Any

    if kind in (AnnotationKind.LENGTH, AnnotationKind.ANGLE):
        key = "length_mm" if kind is AnnotationKind.LENGTH else "angle_deg"
        values = dict(annotation.values)
        if key not in values:
            values[key] = measure.measure(annotation)[key]
        coordinates = hd.sr.CoordinatesForMeasurement3D(
            graphic_type=hd.sr.GraphicTypeValues3D.POLYLINE,
            graphic_data=points,
            frame_of_reference_uid=frame_of_reference,
        )
        measurements = _measurements(annotation, values, source, primary=(key, coordinates))
        group = hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=tracking,
            measurements=measurements,
            algorithm_id=algorithm_id,
        )
    elif kind is AnnotationKind.SEGMENTATION:
        group = hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=tracking,
            referenced_segment=_referenced_segment(annotation, context),
            measurements=_measurements(annotation, annotation.values, source) or None,
            algorithm_id=algorithm_id,
        )
    else:
        region = hd.sr.ImageRegion3D(
            graphic_type=_REGION_TYPES[kind],
            graphic_data=_region_points(kind, points),
            frame_of_reference_uid=frame_of_reference,
        )
        group = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=tracking,
            referenced_region=region,
            measurements=_measurements(annotation, annotation.values, source) or None,
            algorithm_id=algorithm_id,
        )
    if annotation.text:
        group[0].ContentSequence.append(
            hd.sr.TextContentItem(
                name=_code(_COMMENT),
                value=annotation.text,
                relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
            )
        )
    return group


_REGION_TYPES = {
    AnnotationKind.ELLIPSE: "ELLIPSE",
    AnnotationKind.POLYGON: "POLYGON",
    AnnotationKind.POINT: "POINT",
    AnnotationKind.TEXT: "POINT",
}


def _region_points(kind: AnnotationKind, points: np.ndarray) -> np.ndarray:
    """SCOORD3D graphic data (PS3.3 C.18.9.1.2) of a region annotation."""
    if kind is AnnotationKind.ELLIPSE:
        centre = points[0]
        axes = [points[1] - centre, points[2] - centre]
        # The major axis comes first; a tie keeps the drawn order.
        if np.linalg.norm(axes[1]) > np.linalg.norm(axes[0]):
            axes.reverse()
        return np.array([centre + axes[0], centre - axes[0], centre + axes[1], centre - axes[1]])
    if kind is AnnotationKind.POLYGON:
        return np.vstack([points, points[:1]])  # closed: the first point repeats
    return points[:1]


def _measurements(
    annotation: Annotation,
    values: dict[str, float],
    source: Any | None,
    primary: tuple[str, Any] | None = None,
) -> list[Any]:
    import highdicom as hd

    grey_unit = grey_value_unit(annotation.value_unit)
    result = []
    for key, value in values.items():
        concept_key = (
            "mean" if (key == POINT_VALUE_KEY and annotation.kind is AnnotationKind.POINT) else key
        )
        if concept_key not in MEASUREMENTS or not math.isfinite(value):
            continue  # no coded concept (e.g. the pixel count), or nothing to report
        concept, unit = MEASUREMENTS[concept_key]
        coordinates = [primary[1]] if primary is not None and primary[0] == key else None
        result.append(
            hd.sr.Measurement(
                name=_code(concept),
                value=float(value),
                unit=_code(unit or grey_unit),
                referenced_images=[source] if source is not None else None,
                referenced_coordinates=coordinates,
            )
        )
    return result


def grey_value_unit(value_unit: str) -> Code3:
    """UCUM unit of grey-value statistics: HU for CT, no units when the modality has none."""
    if value_unit == "HU":
        return HOUNSFIELD_UNIT
    if not value_unit:
        return NO_UNITS
    return (value_unit, "UCUM", value_unit)


def _referenced_segment(annotation: Annotation, context: _Context) -> Any:
    import highdicom as hd

    segment = annotation.segment
    assert segment is not None  # an Annotation guarantees it for this kind
    seg = context.segmentations.get(segment.segmentation_uid)
    if seg is None:
        raise ValueError(
            f"annotation {annotation.uuid} refers to segmentation {segment.segmentation_uid}, "
            "which is not among the DICOM SEG objects given (segmentations=...)"
        )
    numbers = {int(item.SegmentNumber) for item in seg.get("SegmentSequence", [])}
    if segment.segment_number not in numbers:
        raise ValueError(
            f"segmentation {segment.segmentation_uid} has no segment {segment.segment_number}"
        )
    referenced = seg.get("ReferencedSeriesSequence") or []
    series = str(referenced[0].SeriesInstanceUID) if referenced else context.series_instance_uid
    return hd.sr.ReferencedSegment(
        sop_class_uid=str(seg.SOPClassUID),
        sop_instance_uid=segment.segmentation_uid,
        segment_number=segment.segment_number,
        source_series=hd.sr.SourceSeriesForSegmentation(series),
    )


def _as_dataset(item: Any, limits: Limits) -> Any:
    if isinstance(item, (str, Path)):
        return read_dicom_file(Path(item), limits, pixels=False)
    return item


def _code(code: Code3) -> Any:
    import highdicom as hd

    value, scheme, meaning = code
    return hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def _device_uid(manufacturer: str) -> str:
    """A stable Device Observer UID of the workstation (no hardware identity leaks into it)."""
    key = f"{manufacturer}/{MODEL_NAME}"
    return f"2.25.{uuid_module.uuid5(uuid_module.NAMESPACE_URL, key).int}"


# --- reading ---------------------------------------------------------------------------------


def read_measurement_report(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> list[Annotation]:
    """The annotations of a TID 1500 measurement report (ours or another system's).

    Each Measurement Group with a location becomes one annotation: the tracking UID gives the
    UUID back (``2.25.<int>``; other UIDs map to a stable UUID), the tracking identifier the
    label, the SCOORD3D the points (FL: single precision), NUM items the values. Groups this
    model cannot hold (no location, unknown geometry) are left out.

    Raises
    ------
    DicomFileError
        The file is unreadable.
    ValueError
        The file is not a structured report holding a measurement report.
    """
    dataset = read_dicom_file(Path(path), limits)
    content = dataset.get("ContentSequence")
    if content is None:
        raise ValueError(f"{path} is not a structured report (no Content Sequence)")
    measurements = next((item for item in content if _concept(item) == _IMAGING_MEASUREMENTS), None)
    if measurements is None:
        raise ValueError(f"{path} holds no Imaging Measurements (TID 1500) container")
    series = _evidence_series(dataset)
    study = str(dataset.get("StudyInstanceUID", ""))
    annotations = []
    for index, item in enumerate(measurements.get("ContentSequence", [])):
        if _concept(item) != _MEASUREMENT_GROUP:
            continue
        annotation = _annotation(item, index, dataset, study, series)
        if annotation is not None:
            annotations.append(annotation)
    return annotations


def _concept(item: Any) -> tuple[str, str]:
    names = item.get("ConceptNameCodeSequence") or []
    if not names:
        return ("", "")
    return (str(names[0].get("CodeValue", "")), str(names[0].get("CodingSchemeDesignator", "")))


def _evidence_series(dataset: Any) -> dict[str, str]:
    """SOP Instance UID → Series Instance UID of the evidence the document lists."""
    series: dict[str, str] = {}
    for keyword in ("CurrentRequestedProcedureEvidenceSequence", "PertinentOtherEvidenceSequence"):
        for study in dataset.get(keyword, []):
            for item in study.get("ReferencedSeriesSequence", []):
                uid = str(item.get("SeriesInstanceUID", ""))
                for sop in item.get("ReferencedSOPSequence", []):
                    series[str(sop.get("ReferencedSOPInstanceUID", ""))] = uid
    return series


class _GroupContent:
    """The parts of one Measurement Group this model reads."""

    def __init__(self) -> None:
        self.label = ""
        self.tracking_uid = ""
        self.region: tuple[str, np.ndarray, str] | None = None
        self.inferred: tuple[str, np.ndarray, str] | None = None
        self.comments: list[str] = []
        self.segment: SegmentReference | None = None
        self.values: list[tuple[tuple[str, str], float, str]] = []
        self.image: tuple[str, int | None] | None = None

    def read(self, items: Iterable[Any]) -> None:
        for item in items:
            concept = _concept(item)
            value_type = str(item.get("ValueType", ""))
            if concept == _TRACKING_IDENTIFIER and value_type == "TEXT":
                self.label = str(item.get("TextValue", ""))
            elif concept == _TRACKING_UID and value_type == "UIDREF":
                self.tracking_uid = str(item.get("UID", ""))
            elif value_type == "SCOORD3D" and concept == _IMAGE_REGION:
                self.region = _scoord3d(item)
            elif value_type == "TEXT" and concept == _COMMENT[:2]:
                self.comments.append(str(item.get("TextValue", "")))
            elif value_type == "IMAGE" and concept == _REFERENCED_SEGMENT:
                self.segment = _segment_reference(item)
            elif value_type == "NUM":
                self._read_num(item)

    def _read_num(self, item: Any) -> None:
        measured = item.get("MeasuredValueSequence") or []
        if not measured:
            return
        value_item = measured[0]
        if "FloatingPointValue" in value_item:
            value = float(value_item.FloatingPointValue)
        else:
            value = float(value_item.NumericValue)
        units = value_item.get("MeasurementUnitsCodeSequence") or []
        unit = str(units[0].CodeValue) if units else ""
        self.values.append((_concept(item), value, unit))
        for child in item.get("ContentSequence", []):
            child_type = str(child.get("ValueType", ""))
            if child_type == "SCOORD3D" and self.inferred is None:
                self.inferred = _scoord3d(child)
            elif (
                child_type == "IMAGE"
                and _concept(child) == _SOURCE_OF_MEASUREMENT
                and self.image is None
            ):
                sop = child.ReferencedSOPSequence[0]
                frames = sop.get("ReferencedFrameNumber")
                frame = None
                if frames is not None:
                    frame = int(frames[0] if isinstance(frames, Sequence) else frames)
                self.image = (str(sop.ReferencedSOPInstanceUID), frame)


def _scoord3d(item: Any) -> tuple[str, np.ndarray, str]:
    data = np.asarray(item.GraphicData, dtype=np.float64).reshape(-1, 3)
    return (
        str(item.GraphicType),
        data,
        str(item.get("ReferencedFrameOfReferenceUID", "")),
    )


def _segment_reference(item: Any) -> SegmentReference | None:
    sops = item.get("ReferencedSOPSequence") or []
    if not sops or "ReferencedSegmentNumber" not in sops[0]:
        return None
    number = sops[0].ReferencedSegmentNumber
    if isinstance(number, Sequence):
        number = number[0]
    return SegmentReference(str(sops[0].ReferencedSOPInstanceUID), int(number))


_CONCEPT_KEYS = {(code[0], code[1]): key for key, (code, _) in MEASUREMENTS.items()}
_UNIT_NAMES = {HOUNSFIELD_UNIT[0]: "HU", NO_UNITS[0]: ""}


def _annotation(
    item: Any, index: int, dataset: Any, study: str, series: dict[str, str]
) -> Annotation | None:
    content = _GroupContent()
    content.read(item.get("ContentSequence", []))
    geometry = _geometry(content)
    if geometry is None:
        return None
    kind, points, frame_of_reference = geometry
    values: dict[str, float] = {}
    value_unit = ""
    for concept, value, unit in content.values:
        key = _CONCEPT_KEYS.get(concept)
        if key is None:
            continue
        if MEASUREMENTS[key][1] is None:
            value_unit = _UNIT_NAMES.get(unit, unit)
            if kind is AnnotationKind.POINT and key == "mean":
                key = POINT_VALUE_KEY
        values[key] = value
    sop_uid, frame = content.image if content.image is not None else ("", None)
    fallback_series = next(iter(series.values()), "")
    reference = ImageReference(
        study_instance_uid=study,
        series_instance_uid=series.get(sop_uid, fallback_series),
        frame_of_reference_uid=frame_of_reference,
        sop_instance_uid=sop_uid,
        frame_number=frame,
    )
    uid = content.tracking_uid or f"{dataset.get('SOPInstanceUID', '')}.{index + 1}"
    text = "\n".join(content.comments)
    return Annotation(
        kind=kind,
        reference=reference,
        points=points,
        label=content.label,
        text=text,
        segment=content.segment if kind is AnnotationKind.SEGMENTATION else None,
        uuid=uuid_from_tracking_uid(uid),
        values=values,
        value_unit=value_unit,
    )


def _geometry(
    content: _GroupContent,
) -> tuple[AnnotationKind, tuple[Point, ...], str] | None:
    """The kind and points a group's region (or the coordinates of its measurement) describe."""
    if content.region is not None:
        graphic_type, data, frame_of_reference = content.region
    elif content.inferred is not None:
        graphic_type, data, frame_of_reference = content.inferred
    elif content.segment is not None:
        return AnnotationKind.SEGMENTATION, (), ""
    else:
        return None
    points = [_point(row) for row in data]
    concepts = {concept for concept, _, _ in content.values}
    if graphic_type == "ELLIPSE" and len(points) == 4:
        centre = _point((data[0] + data[1]) / 2.0)
        return AnnotationKind.ELLIPSE, (centre, points[0], points[2]), frame_of_reference
    if graphic_type == "POLYGON" and len(points) >= 4:
        if points[-1] == points[0]:
            points = points[:-1]
        return AnnotationKind.POLYGON, tuple(points), frame_of_reference
    if graphic_type == "POINT" and len(points) == 1:
        kind = AnnotationKind.TEXT if content.comments else AnnotationKind.POINT
        return kind, (points[0],), frame_of_reference
    if graphic_type == "POLYLINE" and len(points) == 2:
        return AnnotationKind.LENGTH, tuple(points), frame_of_reference
    if graphic_type == "POLYLINE" and len(points) == 3 and ANGLE[:2] in concepts:
        return AnnotationKind.ANGLE, tuple(points), frame_of_reference
    return None


def _point(values: Any) -> Point:
    x, y, z = (float(v) for v in values)
    return (x, y, z)
