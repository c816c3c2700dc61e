"""What ``workstation import`` and ``workstation studies`` print."""

from __future__ import annotations

import time
from typing import Any, TextIO

from workstation.pacs.importer import ImportReport
from workstation.pacs.records import StudyRecord


def studies_json(studies: list[StudyRecord]) -> dict[str, Any]:
    """The stable ``studies --json`` document (DESIGN.md, command line)."""
    return {
        "studies": [
            {
                "study_instance_uid": study.study_instance_uid,
                "patient_name": study.patient_name,
                "patient_id": study.patient_id,
                "study_date": study.study_date,
                "series": [
                    {
                        "series_instance_uid": series.series_instance_uid,
                        "modality": series.modality,
                        "series_description": series.series_description,
                        "n_instances": series.n_instances,
                    }
                    for series in study.series
                ],
            }
            for study in studies
        ]
    }


def _date(text: str) -> str:
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text or "no date"


def studies_table(studies: list[StudyRecord]) -> list[str]:
    """A readable listing: one line per study, one indented line per series."""
    if not studies:
        return ["The study database is empty (add studies with `workstation import PATH`)."]
    lines = []
    for study in studies:
        lines.append(
            f"{_date(study.study_date)}  {study.patient_name or '(no name)'} "
            f"({study.patient_id or 'no ID'})  {study.study_description or 'study'}  "
            f"[{', '.join(study.modalities) or '-'}]  {study.study_instance_uid}"
        )
        for series in study.series:
            number = "-" if series.series_number is None else str(series.series_number)
            lines.append(
                f"    {series.modality or '??':3s} #{number:>3s}  "
                f"{series.series_description or '(no description)'}: "
                f"{series.n_instances} instance(s)"
            )
    total = sum(study.n_instances for study in studies)
    lines.append(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'}, {total} instance(s)")
    return lines


def import_summary(report: ImportReport) -> list[str]:
    """The human summary of an import, errors last."""
    state = "Import cancelled" if report.cancelled else "Imported"
    lines = [
        f"{state}: {report.added} new instance(s), {report.already_present} already present, "
        f"{report.updated} updated, {report.non_image} non-image object(s) skipped, "
        f"{len(report.errors)} error(s); {report.thumbnails} thumbnail(s).",
        f"{report.files} object(s) in {report.seconds:.2f} s "
        f"({report.files_per_second:,.0f} per second).",
    ]
    lines += [f"  x {e.path}: {e.code.value}: {e.message}" for e in report.errors]
    return lines


def failure_reason(report: ImportReport, path: object) -> str | None:
    """Why nothing was imported, in one line; None when something was."""
    if report.imported:
        return None
    if report.cancelled:
        return "import cancelled before any image was stored"
    if report.errors:
        return f"no image could be imported from {path} ({len(report.errors)} error(s))"
    if report.non_image:
        return f"{path} holds no images ({report.non_image} non-image object(s) skipped)"
    return f"no DICOM images found in {path}"


class TerminalProgress:
    """``done/total`` on one line of a terminal, rewritten in place (nothing when not a tty)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.active = stream.isatty()
        self._last = -1.0

    def __call__(self, done: int, total: int) -> None:
        if not self.active:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        self.stream.write(f"\r{done}/{total} objects read")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()
