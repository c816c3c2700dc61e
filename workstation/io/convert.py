"""``convert``: every stack found under a path, written as NIfTI plus a JSON sidecar."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from workstation.core.errors import FileError
from workstation.io.assemble import DicomStack
from workstation.io.limits import DEFAULT_LIMITS, Limits
from workstation.io.nifti import safe_stem, write_nifti, write_sidecar
from workstation.io.report import stack_entry
from workstation.io.scan import ScanResult, load_tolerant


@dataclass
class ConvertResult:
    written: list[Path] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)


def convert(result: ScanResult, outdir: Path, limits: Limits = DEFAULT_LIMITS) -> ConvertResult:
    """Write each stack of ``result`` to ``outdir``; a failing object never stops the others."""
    outdir.mkdir(parents=True, exist_ok=True)
    converted = ConvertResult(errors=list(result.errors))
    used: set[str] = set()
    for patient, study, series, stack in result.tree.iter_stacks():
        assert isinstance(stack, DicomStack)
        volume, loaded, errors = load_tolerant(stack, limits)
        converted.errors.extend(errors)
        if volume is None:
            continue
        stem = safe_stem(
            series.series_number, series.series_description, series.series_instance_uid, stack.index
        )
        unique, n = stem, 1
        while unique in used:
            unique, n = f"{stem}-{n}", n + 1
        used.add(unique)
        image_path = outdir / f"{unique}.nii.gz"
        write_nifti(volume, image_path)
        write_sidecar(
            outdir / f"{unique}.json", stack_entry(patient, study, series, loaded), volume
        )
        converted.written.append(image_path)
    return converted
