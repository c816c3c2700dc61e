"""A synthetic case as a real DICOM cine series, with its ground truth.

The series is written by the workstation's own DICOM factory (MR Image Storage, one file per
slice and phase, trigger times, short-axis orientation, slice thickness, patient height and
weight), so it goes through exactly the loader the module meets in use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cardio_plugin import measures
from cardio_plugin.synth.anatomy import GENERATOR_VERSION, Case, draw_case
from cardio_plugin.synth.render import render


@dataclass(frozen=True)
class Truth:
    """What a perfect analysis of a generated case reports."""

    labels: npt.NDArray[np.uint8]  # [t, k, j, i]
    affine: npt.NDArray[np.float64]
    analytic: dict[str, npt.NDArray[np.float64]]  # per phase: lv_ml, myo_ml, rv_ml
    measured: dict[str, float]  # the module's measurements from the true label maps
    ed_phase: int  # of the analytic LV volume curve
    es_phase: int

    def to_json(self) -> dict[str, Any]:
        lv, rv = self.analytic["lv_ml"], self.analytic["rv_ml"]
        ed, es = self.ed_phase, self.es_phase
        return {
            "generator_version": GENERATOR_VERSION,
            "ed_phase": ed,
            "es_phase": es,
            "analytic": {
                "lv_ml": [round(float(v), 3) for v in lv],
                "myo_ml": [round(float(v), 3) for v in self.analytic["myo_ml"]],
                "rv_ml": [round(float(v), 3) for v in rv],
                "lv_edv_ml": float(lv[ed]),
                "lv_esv_ml": float(lv[es]),
                "lv_ef_percent": 100.0 * float(lv[ed] - lv[es]) / float(lv[ed]),
                "lv_mass_g": float(self.analytic["myo_ml"][ed]) * 1.05,
                "rv_edv_ml": float(rv[ed]),
                "rv_esv_ml": float(rv[es]),
                "rv_ef_percent": 100.0 * float(rv[ed] - rv[es]) / float(rv[ed]),
            },
            "label_maps": self.measured,
        }


def truth_of(case: Case, labels: npt.NDArray[np.uint8]) -> Truth:
    analytic = case.analytic_volumes()
    affine = case.acquisition.affine
    # As written in the header (PatientSize in cm precision, PatientWeight to 100 g).
    bsa = measures.bsa_mosteller(round(case.height_m, 2), round(case.weight_kg, 1))
    measured = measures.cardiac_function(measures.phase_volumes(labels, affine), bsa).values
    return Truth(
        labels=labels,
        affine=affine,
        analytic=analytic,
        measured=measured,
        ed_phase=int(np.argmax(analytic["lv_ml"])),
        es_phase=int(np.argmin(analytic["lv_ml"])),
    )


def series_spec(case: Case, *, description: str = "Cine SAX bSSFP") -> Any:
    """The :class:`~workstation.testing.factories.SeriesSpec` of ``case``."""
    from workstation.testing.factories import SeriesSpec

    acq = case.acquisition
    orientation = tuple(round(float(v), 8) for v in (*acq.row_direction, *acq.column_direction))
    return SeriesSpec(
        rows=acq.rows,
        columns=acq.columns,
        n_slices=acq.n_slices,
        pixel_spacing=(acq.pixel_spacing, acq.pixel_spacing),
        slice_spacing=acq.slice_spacing,
        slice_thickness=acq.slice_thickness,
        orientation=orientation,  # type: ignore[arg-type]
        origin=tuple(float(v) for v in acq.origin),  # type: ignore[arg-type]
        modality="MR",
        bits_stored=12,
        rescale_slope=None,
        rescale_intercept=None,
        phases=acq.n_phases,
        trigger_times=acq.trigger_times,
        nominal_interval_ms=acq.rr_ms,
        uid_seed=f"cardio-synthetic-{case.seed}-{GENERATOR_VERSION}",
        patient_name=f"Synthetic^Heart{case.seed}",
        patient_id=f"SYNHEART{case.seed:05d}",
        study_description="Cardiac MR (synthetic)",
        series_description=description,
        patient_size_m=round(case.height_m, 2),
        patient_weight_kg=round(case.weight_kg, 1),
    )


@dataclass(frozen=True)
class WrittenCase:
    folder: Path  # the DICOM files
    case: Case
    truth: Truth
    stored: npt.NDArray[np.uint16]  # [t, k, j, i] as written

    @property
    def volume(self) -> Any:
        """The series as the workstation's loader gives it (a cine Volume), without reading."""
        from workstation.core.volume import StackKind, Volume

        acq = self.case.acquisition
        return Volume(
            self.stored, acq.affine, kind=StackKind.CINE, phase_times_ms=acq.trigger_times
        )


def write_case(
    folder: Path, seed: int, *, description: str = "Cine SAX bSSFP", **overrides: float
) -> WrittenCase:
    """Draw case ``seed`` (with acquisition ``overrides``), write it as DICOM into
    ``folder``/dicom with ``truth.json`` and ``labels.npz`` beside."""
    from workstation.testing.factories import write_series

    case = draw_case(seed, **overrides)
    rendered = render(case)
    folder = Path(folder)
    write_series(folder / "dicom", series_spec(case, description=description), rendered.stored)
    truth = truth_of(case, rendered.labels)
    record = {
        "seed": seed,
        "overrides": overrides,
        "height_m": round(case.height_m, 2),
        "weight_kg": round(case.weight_kg, 1),
        **truth.to_json(),
    }
    (folder / "truth.json").write_text(json.dumps(record, indent=2) + "\n")
    np.savez_compressed(folder / "labels.npz", labels=rendered.labels)
    return WrittenCase(folder / "dicom", case, truth, rendered.stored)
