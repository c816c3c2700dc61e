"""AI results as DICOM that other systems understand (IHE AI Results): SEG + TID 1500 SR.

The label map becomes a DICOM SEG (one per segmented phase of a cine) through
:func:`workstation.io.seg.write_seg`; measurements and findings become a Comprehensive 3D SR with
a TID 1500 Measurement Report through :func:`workstation.io.sr.write_measurement_report`: one
TID 1411 volumetric group per segment (and phase) referencing the SEG segment, holding the
segment's measurements (each with its coded concept and UCUM unit, and the algorithm) and its
findings as qualitative evaluations (Finding, DCM 121071); a finding with a location gets a
TID 1410 group with the point as SCOORD3D. Both objects name the algorithm in Contributing
Equipment with Purpose of Reference "Processing Algorithm" (99IHE).

A result whose reader edited it is exported as SEMIAUTOMATIC; a rejected one is not exported
unless asked for; an accepted one names the reader as the SR's person observer.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.annotations import (
    Annotation,
    AnnotationKind,
    ImageReference,
    SegmentReference,
)
from workstation.core.segmentation import LabelMap, Segment
from workstation.core.volume import StackKind
from workstation.inference.results import Finding, Measurement, Result, ReviewState
from workstation.io.assemble import DicomStack
from workstation.io.seg import write_seg
from workstation.io.source_datasets import Algorithm, save_atomically, source_datasets
from workstation.io.sr import tracking_uid, write_measurement_report

Code3 = tuple[str, str, str]

_FINDING: Code3 = ("121071", "DCM", "Finding")
_TRACKING_UID = ("112040", "DCM")
_IMAGING_MEASUREMENTS = ("126010", "DCM")
#: Measurements the SR writer knows by key: (concept value, scheme, UCUM unit) → value key.
_KNOWN_KEYS = {
    ("118565006", "SCT", "ml"): "volume_ml",
    ("42798000", "SCT", "mm2"): "area_mm2",
    ("410668003", "SCT", "mm"): "length_mm",
}


@dataclass
class ExportedFiles:
    seg: list[Path] = field(default_factory=list)
    sr: Path | None = None
    json: Path | None = None
    #: What could not be written, and why (e.g. a measurement without a segment).
    notes: list[str] = field(default_factory=list)

    @property
    def paths(self) -> list[Path]:
        return [*self.seg, *([self.sr] if self.sr else []), *([self.json] if self.json else [])]


def algorithm_of(result: Result) -> Algorithm:
    """The algorithm identity of a result (Algorithm Identification, Contributing Equipment)."""
    p = result.provenance
    parameters = {"plugin": p.plugin_id, "module": p.module_id, "device": p.device}
    parameters["precision"] = p.precision
    for name, digest in p.weights_sha256.items():
        parameters[f"weights_sha256.{name}"] = digest
    parameters.update({name: str(value) for name, value in p.parameters.items()})
    return Algorithm(
        name=p.module_name[:64],
        version=p.plugin_version,
        manufacturer=p.manufacturer[:64],
        parameters=parameters,
    )


def _person_name(name: str) -> str:
    """A reader's name as a DICOM PN: a login or free-text name is the family-name component
    (the trailing caret says so, PS3.5 §6.2.1.2), a name with components is kept."""
    return name if "^" in name else f"{name}^"


def _file_stem(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "result"


def _content_label(module_id: str) -> str:
    return re.sub(r"[^A-Z0-9_ ]", "_", module_id.upper())[:16] or "AI_RESULT"


def export_dicom(
    result: Result,
    stack: DicomStack,
    out_dir: Path,
    *,
    write_json: bool = True,
    include_rejected: bool = False,
    sources: Sequence[Any] | None = None,
) -> ExportedFiles:
    """Write ``result`` (computed on ``stack``) as DICOM SEG + SR into ``out_dir``.

    Raises
    ------
    ValueError
        The result was rejected (and ``include_rejected`` is false), or its label map does
        not lie on the stack's grid.
    DicomFileError
        A source object of the stack could not be read.
    """
    review = result.review
    if review.state is ReviewState.REJECTED and not include_rejected:
        raise ValueError(f"the result was rejected by {review.by}: not exported")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = _file_stem(result.provenance.module_id)
    files = ExportedFiles()
    algorithm = algorithm_of(result)
    evidence = list(sources) if sources is not None else source_datasets(stack)
    segs = _write_segs(
        result,
        stack=stack,
        out_dir=out_dir,
        stem=stem,
        algorithm=algorithm,
        evidence=evidence,
        files=files,
    )
    _write_sr(
        result,
        stack=stack,
        path=out_dir / f"{stem}-sr.dcm",
        algorithm=algorithm,
        evidence=evidence,
        segs=segs,
        files=files,
    )
    if write_json:
        files.json = out_dir / f"{stem}-result.json"
        data = result.to_json()
        data["files"] = [str(p) for p in [*files.seg, *([files.sr] if files.sr else [])]]
        data["notes"] = files.notes
        files.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return files


@dataclass
class _WrittenSeg:
    dataset: Any
    phase: int | None
    #: Segment number in the result's label map → segment number in this SEG.
    numbers: dict[int, int]


def _write_segs(
    result: Result,
    *,
    stack: DicomStack,
    out_dir: Path,
    stem: str,
    algorithm: Algorithm,
    evidence: list[Any],
    files: ExportedFiles,
) -> list[_WrittenSeg]:
    labels = result.labels
    if labels is None:
        return []
    if tuple(labels.array.shape) != tuple(stack.shape):
        raise ValueError(f"label map {labels.array.shape} is not on the stack's grid {stack.shape}")
    cine = stack.kind is StackKind.CINE
    phases: list[int | None] = (
        [p for p in range(labels.array.shape[0]) if labels.array[p].any()] if cine else [None]
    )
    edited = result.edited
    written = []
    for phase in phases:
        grid = labels.array[phase] if phase is not None else labels.array
        present = sorted(int(v) for v in np.unique(grid) if v != 0 and int(v) in labels.segments)
        if not present:
            files.notes.append("no segment holds a voxel: no SEG written")
            continue
        numbers = {old: new for new, old in enumerate(present, start=1)}
        lookup = np.zeros(int(grid.max()) + 1, dtype=np.uint8)
        for old, new in numbers.items():
            lookup[old] = new
        segments = []
        for old, new in numbers.items():
            segment = labels.segments[old]
            segments.append(
                Segment(
                    number=new,
                    label=segment.label,
                    color=segment.color,
                    code=segment.code,
                    category=segment.category,
                    algorithm_type="SEMIAUTOMATIC" if edited else segment.algorithm_type,
                    algorithm_name=segment.algorithm_name,
                )
            )
        export = LabelMap(
            labels.id,
            labels.image_layer_id,
            lookup[grid],
            labels.affine,
            segments=segments,
            name=labels.name,
        )
        suffix = f"-phase{phase:02d}" if phase is not None else ""
        path = out_dir / f"{stem}-seg{suffix}.dcm"
        description = f"{result.provenance.module_name} (AI)"[:64]
        dataset = write_seg(
            export,
            stack,
            path,
            phase=phase,
            series_description=description,
            content_label=_content_label(result.provenance.module_id),
            content_description=f"AI result of {result.provenance.module_name}"[:64],
            algorithm=algorithm,
            sources=evidence,
        )
        files.seg.append(path)
        written.append(_WrittenSeg(dataset, phase, numbers))
    return written


def _write_sr(
    result: Result,
    *,
    stack: DicomStack,
    path: Path,
    algorithm: Algorithm,
    evidence: list[Any],
    segs: list[_WrittenSeg],
    files: ExportedFiles,
) -> None:
    frame_of_reference = next(
        (r.header.frame_of_reference_uid for r in stack.frames if r.header.frame_of_reference_uid),
        "",
    )
    reference = ImageReference(
        study_instance_uid=stack.study_instance_uid,
        series_instance_uid=stack.series_instance_uid,
        frame_of_reference_uid=frame_of_reference,
    )
    annotations: list[Annotation] = []
    extra: dict[str, list[Any]] = {}  # tracking UID → content items to add to its group
    placed_measurements: set[str] = set()
    placed_findings: set[int] = set()
    first_phase = segs[0].phase if segs else None
    for seg in segs:
        uid = str(seg.dataset.SOPInstanceUID)
        for old, new in seg.numbers.items():
            assert result.labels is not None
            segment = result.labels.segments[old]
            segment_id = result.segment_ids[old - 1]
            measured = [
                m
                for m in result.measurements
                if m.segment == segment_id
                and (m.phase == seg.phase or (m.phase is None and seg.phase == first_phase))
            ]
            values, items = _split_measurements(measured, files)
            findings = [
                (index, f)
                for index, f in enumerate(result.findings)
                if f.segment == segment_id and f.location is None and seg.phase == first_phase
            ]
            items += [_finding_item(f.code) for _, f in findings if f.code is not None]
            label = segment.label if seg.phase is None else f"{segment.label} (phase {seg.phase})"
            annotation = Annotation(
                kind=AnnotationKind.SEGMENTATION,
                reference=reference,
                segment=SegmentReference(uid, new),
                label=label[:64],
                text="\n".join(_finding_text(f) for _, f in findings),
                values=values,
            )
            annotations.append(annotation)
            extra[tracking_uid(annotation.uuid)] = items
            placed_measurements.update(m.key for m in measured)
            placed_findings.update(index for index, _ in findings)
    for index, finding in enumerate(result.findings):
        if finding.location is None:
            continue
        annotation = Annotation(
            kind=AnnotationKind.TEXT,
            reference=reference,
            points=(finding.location,),
            label=(finding.label or finding.kind)[:64],
            text=_finding_text(finding),
        )
        annotations.append(annotation)
        extra[tracking_uid(annotation.uuid)] = [_finding_item(finding.code)] if finding.code else []
        placed_findings.add(index)
    for measurement in result.measurements:
        if measurement.key not in placed_measurements:
            files.notes.append(
                f"measurement {measurement.key} is on no exported segment: not in the SR"
            )
    for index, finding in enumerate(result.findings):
        if index not in placed_findings:
            files.notes.append(f"finding {finding.kind} has no location or segment: not in the SR")
    if not annotations:
        files.notes.append("nothing to report: no SR written")
        return
    review = result.review
    document = write_measurement_report(
        annotations,
        stack,
        path,
        observer_name=_person_name(review.by) if review.state is ReviewState.ACCEPTED else "",
        series_description=f"{result.provenance.module_name} measurements (AI)"[:64],
        algorithm=algorithm,
        segmentations=[seg.dataset for seg in segs],
        sources=evidence,
    )
    if any(extra.values()):
        _append_items(document, extra)
        save_atomically(document, path)
    files.sr = path


def _split_measurements(
    measured: list[Measurement], files: ExportedFiles
) -> tuple[dict[str, float], list[Any]]:
    """Values the SR writer knows by key, and NUM items for the others."""
    values: dict[str, float] = {}
    items: list[Any] = []
    for m in measured:
        if not math.isfinite(m.value):
            files.notes.append(f"measurement {m.key} is not a finite number: not in the SR")
            continue
        key = _KNOWN_KEYS.get((m.code[0], m.code[1], m.unit))
        if key is not None and key not in values:
            values[key] = m.value
        else:
            items.append(_measurement_item(m))
    return values, items


def _coded(code: Code3) -> Any:
    import highdicom as hd

    return hd.sr.CodedConcept(value=code[0], scheme_designator=code[1], meaning=code[2])


def _measurement_item(m: Measurement) -> Any:
    import highdicom as hd

    # The group names the algorithm (TID 4019) already; the item needs only concept and unit.
    return hd.sr.Measurement(name=_coded(m.code), value=float(m.value), unit=_coded(m.unit_code))[0]


def _finding_item(code: Code3) -> Any:
    import highdicom as hd

    return hd.sr.QualitativeEvaluation(name=_coded(_FINDING), value=_coded(code))[0]


def _finding_text(finding: Finding) -> str:
    text = finding.label or finding.kind
    if finding.text:
        text += f": {finding.text}"
    if finding.confidence is not None:
        text += f" (confidence {finding.confidence:.2f})"
    return text


def _concept(item: Any) -> tuple[str, str]:
    names = item.get("ConceptNameCodeSequence") or []
    if not names:
        return ("", "")
    return (str(names[0].get("CodeValue", "")), str(names[0].get("CodingSchemeDesignator", "")))


def _append_items(document: Any, extra: dict[str, list[Any]]) -> None:
    """Add content items to the measurement groups, found by their tracking UIDs."""
    for container in document.ContentSequence:
        if _concept(container) != _IMAGING_MEASUREMENTS:
            continue
        for group in container.get("ContentSequence", []):
            uid = next(
                (
                    str(item.get("UID", ""))
                    for item in group.get("ContentSequence", [])
                    if _concept(item) == _TRACKING_UID
                ),
                "",
            )
            for item in extra.get(uid, []):
                group.ContentSequence.append(item)
