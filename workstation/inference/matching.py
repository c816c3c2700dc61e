"""Which series a module can take: Slicer's ``examine()`` idea, one confidence per candidate.

A :class:`Candidate` describes a loadable stack by its header facts (modality, layout, slices,
phases, orientation, description). :func:`series_kinds` names the kinds of series it is, with a
confidence: from the layout and modality alone (``ct``, ``mr``, ``cine-mr``), or guessed from
the description and the orientation (``t1-mr``, ``cine-short-axis-mr``). :func:`examine` tells
whether a module's input accepts a candidate and, when not, why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from workstation.core import geometry
from workstation.core.study import Stack, StudyTree
from workstation.core.volume import StackKind
from workstation.inference.manifest import InputSpec

#: Confidence of a kind read from the layout and the modality.
CERTAIN = 1.0
#: ... named by the series description.
DESCRIBED = 0.9
#: ... inferred from the orientation only.
INFERRED = 0.6

_SHORT_AXIS = re.compile(r"\b(sax|sa|short[ _-]?axis|kurzachse)\b", re.IGNORECASE)
_LONG_AXIS = re.compile(r"\b(2ch|3ch|4ch|lax|long[ _-]?axis|lvot)\b", re.IGNORECASE)
_FLAIR = re.compile(r"flair|\bdark[ _-]?fluid", re.IGNORECASE)
_T1 = re.compile(r"\bt1|mprage|mp-rage|spgr|bravo|\btfl|vibe", re.IGNORECASE)
_T2 = re.compile(r"\bt2(?!\*)|\btse\b|\bfse\b|space", re.IGNORECASE)


@dataclass(frozen=True)
class Candidate:
    """A loadable stack of a series, as far as its headers tell."""

    series_instance_uid: str
    modality: str
    series_description: str
    kind: StackKind
    shape: tuple[int, ...]
    affine: np.ndarray = field(repr=False, compare=False)
    stack: Stack = field(repr=False, compare=False)
    study_instance_uid: str = ""

    @property
    def n_slices(self) -> int:
        return int(self.shape[1] if self.kind is StackKind.CINE else self.shape[0])

    @property
    def n_phases(self) -> int:
        return int(self.shape[0]) if self.kind is StackKind.CINE else 1

    def describe(self) -> str:
        phases = f", {self.n_phases} phases" if self.kind is StackKind.CINE else ""
        text = self.series_description or "(no description)"
        layout = f"{self.kind.value}, {self.n_slices} slices{phases}"
        return f"{self.modality or '??'} series {text!r} ({layout})"


def candidates(tree: StudyTree) -> list[Candidate]:
    """Every stack of a scanned study tree, localizers left out."""
    found = []
    for _, study, series, stack in tree.iter_stacks():
        if getattr(stack, "is_localizer", False):
            continue
        found.append(
            Candidate(
                series_instance_uid=series.series_instance_uid,
                modality=series.modality,
                series_description=series.series_description,
                kind=stack.kind,
                shape=tuple(stack.shape),
                affine=stack.affine,
                stack=stack,
                study_instance_uid=study.study_instance_uid,
            )
        )
    return found


def _oblique(affine: np.ndarray) -> bool:
    """Whether the slice normal is away from every patient axis by more than 20°."""
    normal = geometry.unit_vector(np.asarray(affine, dtype=np.float64)[:3, 2])
    return bool(float(np.max(np.abs(normal))) < np.cos(np.radians(20.0)))


def series_kinds(candidate: Candidate) -> dict[str, float]:
    """The series kinds of a candidate with the confidence of each."""
    modality = candidate.modality.upper()
    description = candidate.series_description
    kinds: dict[str, float] = {}
    if candidate.kind not in (StackKind.VOLUME, StackKind.CINE):
        return kinds
    if modality == "CT" and candidate.kind is StackKind.VOLUME:
        kinds["ct"] = CERTAIN
    if modality == "PT" and candidate.kind is StackKind.VOLUME:
        kinds["pt"] = CERTAIN
    if modality == "MR" and candidate.kind is StackKind.VOLUME:
        kinds["mr"] = CERTAIN
        if _FLAIR.search(description):
            kinds["flair-mr"] = DESCRIBED
        elif _T1.search(description):
            kinds["t1-mr"] = DESCRIBED
        elif _T2.search(description):
            kinds["t2-mr"] = DESCRIBED
    if modality == "MR" and candidate.kind is StackKind.CINE:
        kinds["cine-mr"] = CERTAIN
        if _SHORT_AXIS.search(description):
            kinds["cine-short-axis-mr"] = DESCRIBED
        elif (
            not _LONG_AXIS.search(description)
            and candidate.n_slices > 3
            and _oblique(candidate.affine)
        ):
            kinds["cine-short-axis-mr"] = INFERRED
    return kinds


@dataclass(frozen=True)
class Match:
    candidate: Candidate
    #: 0 when the input does not accept the candidate, else how sure the match is.
    confidence: float
    #: Why it does not fit (empty when it does).
    reasons: tuple[str, ...] = ()


def examine(spec: InputSpec, candidate: Candidate) -> Match:
    """Whether the module input ``spec`` accepts ``candidate``, and how confidently."""
    reasons = []
    if candidate.modality.upper() not in spec.modality:
        reasons.append(
            f"modality {candidate.modality or 'unknown'}, needs {'/'.join(spec.modality)}"
        )
    if candidate.kind not in (StackKind.VOLUME, StackKind.CINE):
        reasons.append(f"a {candidate.kind.value} stack, needs a volume or a cine")
    confidence = CERTAIN
    if spec.series_kind:
        kinds = series_kinds(candidate)
        best = max((kinds.get(kind, 0.0) for kind in spec.series_kind), default=0.0)
        if best == 0.0:
            found = ", ".join(sorted(kinds)) or "none"
            reasons.append(f"series kind {found}, needs {' or '.join(spec.series_kind)}")
        confidence = best
    n_slices, n_phases = candidate.n_slices, candidate.n_phases
    if n_slices < spec.min_slices or (spec.max_slices is not None and n_slices > spec.max_slices):
        reasons.append(f"{n_slices} slices, needs {_range(spec.min_slices, spec.max_slices)}")
    if n_phases < spec.min_phases or (spec.max_phases is not None and n_phases > spec.max_phases):
        reasons.append(f"{n_phases} phases, needs {_range(spec.min_phases, spec.max_phases)}")
    if reasons:
        return Match(candidate, 0.0, tuple(reasons))
    return Match(candidate, confidence)


def _range(low: int, high: int | None) -> str:
    if high is None:
        return f"at least {low}"
    return f"{low}..{high}" if high != low else str(low)


def rank(spec: InputSpec, found: Iterable[Candidate]) -> tuple[list[Match], list[Match]]:
    """The accepted candidates, best first (then larger), and the refused ones."""
    matches = [examine(spec, candidate) for candidate in found]
    accepted = sorted(
        (m for m in matches if m.confidence > 0),
        key=lambda m: (-m.confidence, -int(np.prod(m.candidate.shape))),
    )
    return accepted, [m for m in matches if m.confidence == 0]


def refusal(module_name: str, refused: Sequence[Match]) -> str:
    """One line saying why no series fits a module."""
    if not refused:
        return f"no image series found for {module_name}"
    parts = [f"{m.candidate.describe()}: {'; '.join(m.reasons)}" for m in refused]
    return f"no series fits {module_name}: " + " | ".join(parts)
