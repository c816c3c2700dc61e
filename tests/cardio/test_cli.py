"""``workstation analyze --module cardio`` on a generated DICOM cine: JSON, SEG and SR."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest

from workstation.io import scan
from workstation.io.seg import read_seg

from .conftest import REPO

KEYS = {
    "lv_edv_ml",
    "lv_esv_ml",
    "lv_sv_ml",
    "lv_ef_percent",
    "lv_mass_g",
    "rv_edv_ml",
    "rv_esv_ml",
    "rv_ef_percent",
    "ed_phase",
    "es_phase",
}


def _concept(item) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    code = item.ConceptNameCodeSequence[0]
    return (str(code.CodeValue), str(code.CodingSchemeDesignator))


def _numbers(sr) -> dict[str, list[tuple[str, float, str]]]:  # type: ignore[no-untyped-def]
    """Per measurement group (its tracking label): (concept, value, UCUM unit) of each NUM."""
    container = next(i for i in sr.ContentSequence if _concept(i) == ("126010", "DCM"))
    groups = {}
    for group in container.ContentSequence:
        label = str(group.ContentSequence[0].TextValue)
        groups[label] = [
            (
                str(item.ConceptNameCodeSequence[0].CodeValue),
                float(item.MeasuredValueSequence[0].NumericValue),
                str(item.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue),
            )
            for item in group.ContentSequence
            if item.ValueType == "NUM"
        ]
    return groups


@pytest.mark.dciodvfy
def test_analyze_writes_measurements_seg_and_sr(
    tmp_path: Path, sax_case, dciodvfy_errors: Callable[[Path], list[str]]
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    completed = subprocess.run(
        [
            *(sys.executable, "-m", "workstation", "--home", str(tmp_path / "home")),
            *("analyze", str(sax_case.folder), "--module", "cardio", "--device", "cpu"),
            *("--out", str(out), "--json"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=REPO,
    )
    assert completed.returncode == 0, completed.stderr
    summary = json.loads(completed.stdout)
    values, units = summary["measurements"], summary["units"]
    assert set(values) >= KEYS
    assert (units["lv_ef_percent"], units["lv_mass_g"], units["lv_edv_ml"]) == ("%", "g", "ml")
    truth = sax_case.truth
    assert values["lv_ef_percent"] == pytest.approx(truth.measured["lv_ef_percent"], abs=5.0)
    assert values["lv_edv_ml"] == pytest.approx(truth.measured["lv_edv_ml"], rel=0.08)
    # Height and weight are in the header: the values are indexed (Mosteller).
    case = sax_case.case
    bsa = np.sqrt(round(case.height_m, 2) * 100 * round(case.weight_kg, 1) / 3600)
    assert values["bsa_m2"] == pytest.approx(bsa, rel=1e-6)
    assert values["lv_edv_index_ml_m2"] == pytest.approx(values["lv_edv_ml"] / bsa)
    assert summary["notes"] == []

    ed, es = int(values["ed_phase"]), int(values["es_phase"])
    outputs = [Path(p) for p in summary["outputs"]]
    names = [p.name for p in outputs]
    n_phases = sax_case.stored.shape[0]
    # One SEG per phase (every phase is segmented), the SR and the JSON result.
    assert names == [f"cardio-seg-phase{t:02d}.dcm" for t in range(n_phases)] + [
        "cardio-sr.dcm",
        "cardio-result.json",
    ]
    seg_ed, seg_es, sr_path = outputs[ed], outputs[es], outputs[-2]
    for path in (seg_ed, seg_es, sr_path):
        assert dciodvfy_errors(path) == []

    # The ED SEG lies on the source series: read back, it matches the truth at ED.
    (stack,) = scan(sax_case.folder).stacks
    labels = read_seg(seg_ed, stack, phase=ed).array[ed]
    reference = sax_case.truth.labels[ed]
    for value in (1, 2, 3):
        a, b = labels == value, reference == value
        assert 2 * (a & b).sum() / (a.sum() + b.sum()) > 0.8
    segments = pydicom.dcmread(seg_ed).SegmentSequence
    assert [s.SegmentLabel for s in segments] == ["LV blood pool", "LV myocardium", "RV blood pool"]
    assert segments[0].SegmentedPropertyTypeCodeSequence[0].CodeValue == "87878005"

    # The SR holds the coded measurements with UCUM units in the ED and ES groups.
    groups = _numbers(pydicom.dcmread(sr_path))
    at_ed = groups[f"LV blood pool (phase {ed})"]
    at_es = groups[f"LV blood pool (phase {es})"]
    assert ("18026-5", pytest.approx(values["lv_edv_ml"]), "ml") in at_ed
    assert ("8811-2", pytest.approx(values["lv_ef_percent"]), "%") in at_ed
    assert ("18148-7", pytest.approx(values["lv_esv_ml"]), "ml") in at_es
    mass = groups[f"LV myocardium (phase {ed})"]
    assert ("18087-7", pytest.approx(values["lv_mass_g"]), "g") in mass
    rv = groups[f"RV blood pool (phase {ed})"]
    assert ("8818-7", pytest.approx(values["rv_ef_percent"]), "%") in rv


def test_analyze_refuses_a_series_that_is_not_a_cine(tmp_path: Path) -> None:
    from workstation.testing.factories import SeriesSpec, write_series

    write_series(
        tmp_path / "mr",
        SeriesSpec(
            modality="MR", rescale_slope=None, rescale_intercept=None, series_description="T2 TSE"
        ),
    )
    completed = subprocess.run(
        [
            *(sys.executable, "-m", "workstation", "--home", str(tmp_path / "home")),
            *("analyze", str(tmp_path / "mr"), "--module", "cardio"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=REPO,
    )
    assert completed.returncode == 1
    (line,) = completed.stderr.strip().splitlines()
    assert line.startswith("workstation: no series fits Cardiac function (cine MR): MR series")
    assert "series kind mr, t2-mr, needs cine-short-axis-mr" in line
