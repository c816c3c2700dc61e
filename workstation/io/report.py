"""The JSON descriptions of stacks that ``inspect`` prints and ``convert`` writes beside files."""

from __future__ import annotations

from typing import Any

from workstation.core.study import Patient, Series, Study
from workstation.io.assemble import DicomStack
from workstation.io.scan import ScanResult


def _floats(values: Any) -> list[Any]:
    return [_floats(v) if hasattr(v, "__len__") else float(v) for v in values]


def stack_entry(
    patient: Patient, study: Study, series: Series, stack: DicomStack
) -> dict[str, Any]:
    """One ``series`` entry of ``inspect --json`` (one per stack), as DESIGN.md fixes it."""
    return {
        "study_instance_uid": study.study_instance_uid,
        "study_date": study.study_date,
        "study_description": study.study_description,
        "series_instance_uid": series.series_instance_uid,
        "stack": stack.index,
        "modality": series.modality,
        "series_description": series.series_description,
        "series_number": series.series_number,
        "patient_name": patient.patient_name,
        "patient_id": patient.patient_id,
        "sop_class_uid": stack.sop_class_uid,
        "kind": stack.kind.value,
        "shape": list(stack.shape),
        "spacing_ijk": _floats(stack.spacing_ijk),
        "affine_lps": _floats(stack.affine.tolist()),
        "phases": stack.phases,
        "n_files": stack.n_files,
        "transfer_syntaxes": list(stack.transfer_syntaxes),
        "dtype": stack.dtype,
        "warnings": [warning.to_json() for warning in stack.warnings],
    }


def inspect_report(result: ScanResult) -> dict[str, Any]:
    """``{"series": [...], "errors": [...]}`` for a scan."""
    series = []
    for patient, study, series_node, stack in result.tree.iter_stacks():
        assert isinstance(stack, DicomStack)
        series.append(stack_entry(patient, study, series_node, stack))
    return {
        "series": series,
        "errors": [error.to_json() for error in result.errors],
    }
