"""Which series a module takes, and why not."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workstation.core.volume import StackKind
from workstation.inference import matching
from workstation.inference.manifest import InputSpec
from workstation.io import scan
from workstation.testing.demo import _short_axis_orientation
from workstation.testing.factories import SeriesSpec, write_series


def _candidate(
    modality: str,
    kind: StackKind,
    shape: tuple[int, ...],
    description: str = "",
    affine: np.ndarray | None = None,
) -> matching.Candidate:
    return matching.Candidate(
        series_instance_uid="1.2",
        modality=modality,
        series_description=description,
        kind=kind,
        shape=shape,
        affine=np.eye(4) if affine is None else affine,
        stack=None,  # type: ignore[arg-type]
    )


def test_series_kinds() -> None:
    ct = _candidate("CT", StackKind.VOLUME, (40, 64, 64))
    assert matching.series_kinds(ct) == {"ct": 1.0}
    t1 = _candidate("MR", StackKind.VOLUME, (160, 256, 256), "T1 MPRAGE sag")
    assert matching.series_kinds(t1) == {"mr": 1.0, "t1-mr": 0.9}
    flair = _candidate("MR", StackKind.VOLUME, (40, 256, 256), "AX T2 FLAIR")
    assert matching.series_kinds(flair) == {"mr": 1.0, "flair-mr": 0.9}
    sax = _candidate("MR", StackKind.CINE, (20, 10, 128, 128), "cine sax")
    assert matching.series_kinds(sax) == {"cine-mr": 1.0, "cine-short-axis-mr": 0.9}
    oblique = np.eye(4)
    row, column = np.array(_short_axis_orientation()[:3]), np.array(_short_axis_orientation()[3:])
    oblique[:3, 0], oblique[:3, 1], oblique[:3, 2] = row, column, np.cross(row, column) * 8
    unnamed = _candidate("MR", StackKind.CINE, (20, 10, 128, 128), "SSFP", oblique)
    assert matching.series_kinds(unnamed) == {"cine-mr": 1.0, "cine-short-axis-mr": 0.6}
    four_chamber = _candidate("MR", StackKind.CINE, (20, 1, 128, 128), "cine 4ch", oblique)
    assert matching.series_kinds(four_chamber) == {"cine-mr": 1.0}
    assert matching.series_kinds(_candidate("CT", StackKind.RGB, (1, 8, 8, 3))) == {}


def test_examine_says_why_not() -> None:
    spec = InputSpec(
        modality=["MR"], series_kind=["cine-short-axis-mr"], min_slices=6, min_phases=10
    )
    ct = _candidate("CT", StackKind.VOLUME, (3, 64, 64), "Abdomen")
    match = matching.examine(spec, ct)
    assert match.confidence == 0
    assert match.reasons == (
        "modality CT, needs MR",
        "series kind ct, needs cine-short-axis-mr",
        "3 slices, needs at least 6",
        "1 phases, needs at least 10",
    )
    good = _candidate("MR", StackKind.CINE, (20, 10, 128, 128), "sax cine")
    assert matching.examine(spec, good).confidence == 0.9
    accepted, refused = matching.rank(spec, [ct, good])
    assert [m.candidate for m in accepted] == [good] and [m.candidate for m in refused] == [ct]
    line = matching.refusal("LV function", refused)
    assert line.startswith("no series fits LV function: CT series 'Abdomen' (volume, 3 slices)")


def test_candidates_from_a_scan(tmp_path: Path) -> None:
    write_series(tmp_path / "ct", SeriesSpec(localizer=True, series_description="Chest"))
    found = matching.candidates(scan(tmp_path).tree)
    assert [(c.modality, c.kind, c.n_slices) for c in found] == [("CT", StackKind.VOLUME, 8)]
    assert found[0].describe() == "CT series 'Chest' (volume, 8 slices)"
