"""A module run from files to results, headless: what ``workstation analyze`` does.

Scan the path, pick the series the module's input fits best (or refuse, saying why each
series does not fit), load it, run the module in the worker and export DICOM SEG + SR.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workstation.core.errors import WorkstationError
from workstation.inference import matching
from workstation.inference.discovery import Registry, discover
from workstation.inference.export import ExportedFiles, export_dicom
from workstation.inference.jobs import Job, ModuleUnavailable, WorkerPool
from workstation.inference.results import Result
from workstation.io.assemble import DicomStack


class InvalidRequest(WorkstationError):  # noqa: N818 - reads as the condition it reports
    """The run asks for what the module does not take (a parameter, a device)."""


class NoSeriesFits(WorkstationError):  # noqa: N818 - reads as the condition it reports
    """None of the series found is one the module takes."""


@dataclass
class Analysis:
    result: Result
    stack: DicomStack
    candidate: matching.Candidate
    confidence: float
    files: ExportedFiles | None


def patient_facts(stack: DicomStack) -> dict[str, Any]:
    """What the stack's first header says of the patient that a module may use: ``height_m``
    (PatientSize), ``weight_kg`` (PatientWeight) and ``sex`` (PatientSex), each when present
    and plausible. Never names or identifiers (they would reach the module's logs)."""
    if not stack.frames:
        return {}
    header = stack.frames[0].header
    facts: dict[str, Any] = {}
    if header.patient_size_m is not None and 0.0 < header.patient_size_m < 3.0:
        facts["height_m"] = float(header.patient_size_m)
    if header.patient_weight_kg is not None and 0.0 < header.patient_weight_kg < 700.0:
        facts["weight_kg"] = float(header.patient_weight_kg)
    if header.patient_sex in ("M", "F", "O"):
        facts["sex"] = header.patient_sex
    return facts


def analyze(
    path: Path,
    module_ref: str,
    *,
    device: str | None = None,
    precision: str = "auto",
    parameters: Mapping[str, Any] | None = None,
    out_dir: Path | None = None,
    registry: Registry | None = None,
    pool: WorkerPool | None = None,
    time_limit_s: float | None = None,
    on_progress: Callable[[float, str], None] | None = None,
) -> Analysis:
    """Run module ``module_ref`` on the best-fitting series under ``path``.

    Raises
    ------
    ModuleNotFound, ModuleUnavailable, NoSeriesFits, InvalidRequest
        Before anything runs.
    JobFailed
        The module failed (the reason says how).
    """
    from workstation.io import load_stack, scan

    registry = registry or discover()
    module = registry.find_module(module_ref)
    if not module.available:
        raise ModuleUnavailable(
            f"{module.qualified_id} cannot run: {'; '.join(module.unavailable_reasons)}"
        )
    found = matching.candidates(scan(path).tree)
    accepted, refused = matching.rank(module.spec.inputs[0], found)
    if not accepted:
        raise NoSeriesFits(matching.refusal(module.spec.name, refused))
    best = accepted[0]
    stack = best.candidate.stack
    assert isinstance(stack, DicomStack)
    volume = load_stack(stack)
    try:
        job = Job(
            module,
            volume,
            device=device,
            precision=precision,
            parameters=parameters,
            time_limit_s=time_limit_s,
            series_instance_uid=stack.series_instance_uid,
            patient=patient_facts(stack),
            pool=pool,
            on_progress=(lambda _job, f, text: on_progress(f, text)) if on_progress else None,
        )
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from exc
    result = job.run()
    files = export_dicom(result, stack, out_dir) if out_dir is not None else None
    return Analysis(result, stack, best.candidate, best.confidence, files)
