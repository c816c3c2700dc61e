"""What an expert module produced, where it came from, and what the reader made of it.

A :class:`Result` holds the label map in the input's geometry (segments marked AUTOMATIC with
the algorithm's name), measurements as coded concepts with UCUM units, findings, curves, the
:class:`Provenance` (plugin, version, weights hash, device, precision, duration, host version)
and the reader's :class:`Review` (pending, accepted, rejected or edited, by whom and when; IHE
AIRA). :func:`workstation.inference.export.export_dicom` writes it as DICOM SEG + SR.

:class:`Finding` and :class:`Curve` are also what a module returns (inside
:class:`workstation.inference.worker.ModuleOutput`); the host completes them from the manifest.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

import numpy as np
from psygnal import Signal

from workstation.core.annotations import now
from workstation.core.segmentation import LabelMap

Code3 = tuple[str, str, str]
Point = tuple[float, float, float]


@dataclass(frozen=True)
class Measurement:
    """One reported number."""

    key: str
    name: str
    code: Code3
    value: float
    unit: str
    unit_code: Code3
    #: Id of the segment it was measured on (the manifest's), if any.
    segment: str | None = None
    #: Cine phase it was measured on, if any.
    phase: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "code": list(self.code),
            "value": self.value,
            "unit": self.unit,
            "unit_code": list(self.unit_code),
            "segment": self.segment,
            "phase": self.phase,
        }


@dataclass(frozen=True)
class Finding:
    """Something the module found, e.g. a lesion.

    A module fills ``kind`` (a finding id of its manifest) and what it knows; the host adds
    the code and the default label from the manifest.
    """

    kind: str
    label: str = ""
    text: str = ""
    #: Where it is, LPS mm.
    location: Point | None = None
    #: Id of the segment that outlines it, if any.
    segment: str | None = None
    confidence: float | None = None
    code: Code3 | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["location"] = list(self.location) if self.location is not None else None
        data["code"] = list(self.code) if self.code is not None else None
        return data


@dataclass(frozen=True)
class Curve:
    """Values over something, e.g. a ventricle's volume over the cardiac cycle.

    A module fills ``id`` (a curve id of its manifest), ``x`` and ``y``, and may name points
    of the x axis in ``marks`` (``(x, label)``, e.g. the end-diastolic time and "ED"), which
    the viewer draws as labelled lines; the host adds names and units from the manifest.
    """

    id: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    name: str = ""
    x_name: str = ""
    x_unit: str = ""
    y_name: str = ""
    y_unit: str = ""
    marks: tuple[tuple[float, str], ...] = ()

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"curve {self.id!r}: {len(self.x)} x values, {len(self.y)} y values")
        for mark in self.marks:
            if len(mark) != 2 or not isinstance(mark[1], str) or not 0 < len(mark[1]) <= 16:
                raise ValueError(f"curve {self.id!r}: a mark is (x, label of 1-16 characters)")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["x"], data["y"] = list(self.x), list(self.y)
        data["marks"] = [[x, label] for x, label in self.marks]
        return data


@dataclass(frozen=True)
class Provenance:
    """Who computed a result, with what, on what, and how long it took."""

    plugin_id: str
    plugin_version: str
    module_id: str
    module_name: str
    manufacturer: str
    device: str
    precision: str
    duration_s: float
    host_version: str
    host_api: str
    weights_sha256: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    series_instance_uid: str = ""
    started: str = ""
    #: Remarks of the run, e.g. "cuda requested but not available; ran on cpu".
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["notes"] = list(self.notes)
        return data


class ReviewState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EDITED = "edited"


@dataclass(frozen=True)
class Review:
    state: ReviewState
    by: str = ""
    at: str = ""
    note: str = ""

    def to_json(self) -> dict[str, str]:
        return {"state": self.state.value, "by": self.by, "at": self.at, "note": self.note}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Review:
        return cls(
            ReviewState(data["state"]),
            by=str(data.get("by", "")),
            at=str(data.get("at", "")),
            note=str(data.get("note", "")),
        )


class Result:
    """An expert module's output for one series.

    ``review_changed`` (psygnal) is emitted with the new :class:`Review` whenever a reader
    accepts, rejects or edits it; ``reviews`` keeps the whole history.
    """

    review_changed: ClassVar[Signal] = Signal(object)

    def __init__(
        self,
        *,
        id: str,
        labels: LabelMap | None,
        measurements: list[Measurement],
        findings: list[Finding],
        curves: list[Curve],
        provenance: Provenance,
        segment_ids: tuple[str, ...] = (),
    ) -> None:
        self.id = id
        #: The manifest's segment ids in label order (label value n is ``segment_ids[n - 1]``).
        self.segment_ids = segment_ids
        self.labels = labels
        self.measurements = measurements
        self.findings = findings
        self.curves = curves
        self.provenance = provenance
        self._lock = threading.Lock()
        self.reviews: list[Review] = [Review(ReviewState.PENDING, at=now())]

    @property
    def review(self) -> Review:
        with self._lock:
            return self.reviews[-1]

    def _set(self, state: ReviewState, by: str, note: str) -> Review:
        if not by.strip():
            raise ValueError("a review names the reader")
        review = Review(state, by=by, at=now(), note=note)
        with self._lock:
            self.reviews.append(review)
        self.review_changed.emit(review)
        return review

    def accept(self, by: str, note: str = "") -> Review:
        return self._set(ReviewState.ACCEPTED, by, note)

    def reject(self, by: str, note: str = "") -> Review:
        return self._set(ReviewState.REJECTED, by, note)

    def mark_edited(self, by: str, note: str = "") -> Review:
        """Record that a reader changed the label map (its segments become SEMIAUTOMATIC)."""
        return self._set(ReviewState.EDITED, by, note)

    @property
    def edited(self) -> bool:
        """Whether a reader ever changed the label map (accepting it later keeps that true)."""
        with self._lock:
            return any(r.state is ReviewState.EDITED for r in self.reviews)

    def measurement(self, key: str) -> Measurement:
        for item in self.measurements:
            if item.key == key:
                return item
        raise KeyError(key)

    @property
    def values(self) -> dict[str, float]:
        return {m.key: m.value for m in self.measurements}

    @property
    def units(self) -> dict[str, str]:
        return {m.key: m.unit for m in self.measurements}

    def to_json(self) -> dict[str, Any]:
        labels = self.labels
        segments = []
        if labels is not None:
            counts = np.bincount(
                labels.array.ravel(), minlength=max(labels.segments, default=0) + 1
            )
            for number, segment in labels.segments.items():
                segments.append(
                    {
                        "number": number,
                        "label": segment.label,
                        "code": list(segment.code) if segment.code else None,
                        "voxels": int(counts[number]) if number < counts.size else 0,
                        "volume_ml": labels.volume_ml(number) if labels.array.ndim == 3 else None,
                    }
                )
        return {
            "id": self.id,
            "provenance": self.provenance.to_json(),
            "review": self.review.to_json(),
            "reviews": [r.to_json() for r in self.reviews],
            "segment_ids": list(self.segment_ids),
            "measurements": [m.to_json() for m in self.measurements],
            "findings": [f.to_json() for f in self.findings],
            "curves": [c.to_json() for c in self.curves],
            "segments": segments,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], labels: LabelMap | None) -> Result:
        """A result as :meth:`to_json` wrote it, with its label map kept apart.

        Raises ``KeyError``, ``TypeError`` or ``ValueError`` on a malformed record.
        """
        provenance = dict(data["provenance"])
        provenance["notes"] = tuple(provenance.get("notes", ()))
        result = cls(
            id=str(data["id"]),
            labels=labels,
            measurements=[
                Measurement(
                    key=m["key"],
                    name=m["name"],
                    code=_code(m["code"]),
                    value=float(m["value"]),
                    unit=m["unit"],
                    unit_code=_code(m.get("unit_code") or (m["unit"], "UCUM", m["unit"])),
                    segment=m.get("segment"),
                    phase=m.get("phase"),
                )
                for m in data.get("measurements", [])
            ],
            findings=[
                Finding(
                    kind=f["kind"],
                    label=f.get("label", ""),
                    text=f.get("text", ""),
                    location=_point(f.get("location")),
                    segment=f.get("segment"),
                    confidence=f.get("confidence"),
                    code=_code(f["code"]) if f.get("code") else None,
                )
                for f in data.get("findings", [])
            ],
            curves=[
                Curve(
                    **{
                        **c,
                        "x": tuple(c["x"]),
                        "y": tuple(c["y"]),
                        "marks": tuple((float(x), str(label)) for x, label in c.get("marks", ())),
                    }
                )
                for c in data.get("curves", [])
            ],
            provenance=Provenance(**provenance),
            segment_ids=tuple(data.get("segment_ids", ())),
        )
        reviews = [Review.from_json(r) for r in data.get("reviews", [])]
        if reviews:
            result.reviews = reviews
        return result


def _code(value: Any) -> Code3:
    first, second, third = (str(part) for part in value)
    return (first, second, third)


def _point(value: Any) -> Point | None:
    if value is None:
        return None
    x, y, z = (float(v) for v in value)
    return (x, y, z)
