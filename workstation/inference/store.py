"""Expert-module results kept per study, so a reader reviews them after a restart too.

Layout: ``ROOT/<study uid>/<result id>/`` holding ``result.json`` (the result, its whole review
history, the series it was computed on, the files written), ``labels.npz`` (the label map as
computed, or as the reader edited it) and the DICOM SEG + SR export. A rejected result keeps its
record and label map for the audit trail, but its DICOM files are removed so they cannot be
sent by mistake. Every file is written to a temporary name and renamed: a crash never leaves a
half-written record.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.errors import WorkstationError
from workstation.core.segmentation import LabelMap, Segment
from workstation.inference.results import Result, Review, ReviewState
from workstation.io.assemble import DicomStack

log = logging.getLogger(__name__)

RECORD = "result.json"
LABELS = "labels.npz"


class ResultStoreError(WorkstationError):
    """A stored result could not be read or written."""


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "unknown"


@dataclass(frozen=True)
class StoredResult:
    """One result's record on disk."""

    folder: Path
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def study_instance_uid(self) -> str:
        return str(self.data.get("study_instance_uid", ""))

    @property
    def series_instance_uid(self) -> str:
        return str(self.data["provenance"].get("series_instance_uid", ""))

    @property
    def series_description(self) -> str:
        return str(self.data.get("series_description", ""))

    @property
    def module_name(self) -> str:
        return str(self.data["provenance"].get("module_name", ""))

    @property
    def started(self) -> str:
        return str(self.data["provenance"].get("started", ""))

    @property
    def review(self) -> Review:
        return Review.from_json(self.data["review"])

    @property
    def measurements(self) -> list[dict[str, Any]]:
        return list(self.data.get("measurements", []))

    @property
    def files(self) -> list[Path]:
        return [Path(p) for p in self.data.get("files", [])]

    def load(self, image_layer_id: str) -> Result:
        """The result with its label map, ready to show on layer ``image_layer_id``.

        Raises
        ------
        ResultStoreError
            The record or its label map is unreadable.
        """
        labels = None
        meta = self.data.get("label_map")
        try:
            if meta:
                with np.load(self.folder / LABELS, allow_pickle=False) as stored:
                    array, affine = stored["labels"], stored["affine"]
                labels = LabelMap(
                    f"{image_layer_id}/ai/{self.id}",
                    image_layer_id,
                    array,
                    affine,
                    segments=[Segment(**{**s, **_tuples(s)}) for s in meta.get("segments", [])],
                    name=str(meta.get("name", self.module_name)),
                )
            return Result.from_json(self.data, labels)
        except (OSError, KeyError, TypeError, ValueError) as error:
            raise ResultStoreError(
                f"result {self.id} in {self.folder} is unreadable: {error}"
            ) from error


def _tuples(segment: dict[str, Any]) -> dict[str, Any]:
    """JSON lists back to the tuples a :class:`Segment` holds."""
    return {
        name: tuple(segment[name]) if segment.get(name) is not None else None
        for name in ("color", "code", "category")
        if name in segment
    }


class ResultStore:
    """Results of one workstation, by study."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder_of(self, result: Result, study_instance_uid: str) -> Path:
        return self.root / _safe(study_instance_uid) / _safe(result.id)

    def save(
        self,
        result: Result,
        stack: DicomStack,
        *,
        study_instance_uid: str,
        series_description: str = "",
    ) -> StoredResult:
        """Write (or rewrite, after a review) ``result``: record, label map, DICOM SEG + SR.

        The record and label map are written first: a DICOM export that fails (a source file
        gone) is noted in the record and loses nothing.

        Raises
        ------
        ResultStoreError
            The record could not be written (disk full, no permission).
        """
        folder = self.folder_of(result, study_instance_uid)
        data = result.to_json()
        data["study_instance_uid"] = study_instance_uid
        data["series_description"] = series_description
        data["files"] = []
        data["notes"] = []
        try:
            folder.mkdir(parents=True, exist_ok=True)
            labels = result.labels
            if labels is not None:
                data["label_map"] = {
                    "name": labels.name,
                    "segments": [asdict(s) for s in labels.segments.values()],
                }
                _write_atomically(
                    folder / LABELS,
                    lambda f: np.savez_compressed(f, labels=labels.array, affine=labels.affine),
                )
            for old in folder.glob("*.dcm"):
                old.unlink()
            if result.review.state is not ReviewState.REJECTED:
                from workstation.inference.export import export_dicom  # highdicom: on demand

                try:
                    files = export_dicom(result, stack, folder, write_json=False)
                    data["files"] = [str(p) for p in files.paths]
                    data["notes"] = files.notes
                except (WorkstationError, ValueError, OSError) as error:
                    data["notes"] = [f"DICOM export failed: {error}"]
                    log.warning("result %s: DICOM export failed: %s", result.id, error)
            text = json.dumps(data, indent=2) + "\n"
            _write_atomically(folder / RECORD, lambda f: f.write(text.encode("utf-8")))
        except OSError as error:
            raise ResultStoreError(f"result not saved in {folder}: {error}") from error
        return StoredResult(folder, data)

    def for_study(self, study_instance_uid: str) -> list[StoredResult]:
        """The study's results, newest first; unreadable records are logged and left out."""
        found = []
        for record in sorted((self.root / _safe(study_instance_uid)).glob(f"*/{RECORD}")):
            try:
                data = json.loads(record.read_text(encoding="utf-8"))
                stored = StoredResult(record.parent, data)
                stored.review  # noqa: B018 - validates the record's shape
                found.append(stored)
            except (OSError, ValueError, KeyError, TypeError) as error:
                log.warning("result record %s unreadable: %s", record, error)
        return sorted(found, key=lambda s: s.started, reverse=True)


def _write_atomically(path: Path, write: Any) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()
