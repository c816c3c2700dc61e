"""Ventricular volumes, ejection fractions and myocardial mass from cine label maps (numpy only).

Volumes are by slice summation (the disc method): per phase, each slice's segmented area times
the distance between slice centres, which is the voxel count times the voxel volume of the
stack's affine (patient millimetres). End-diastole is the phase of the largest LV blood-pool
volume and end-systole that of the smallest; the RV is measured at the same two phases, as
the usual reading protocols do. Myocardial mass is the myocardium's volume at end-diastole
times 1.05 g/ml. Body surface area is Mosteller's, sqrt(height_cm × weight_kg / 3600)
(DICOM DCM 122244, ``BSA = (HT*WT/36)^0.5`` with HT in metres).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from cardio_plugin import LV_BLOOD_POOL, LV_MYOCARDIUM, RV_BLOOD_POOL

MYOCARDIAL_DENSITY_G_PER_ML = 1.05


def voxel_ml(affine: npt.ArrayLike) -> float:
    return abs(float(np.linalg.det(np.asarray(affine, dtype=np.float64)[:3, :3]))) / 1000.0


def phase_volumes(labels: npt.NDArray[np.integer], affine: npt.ArrayLike) -> dict[str, np.ndarray]:
    """Per phase (ml): ``lv``, ``myo`` and ``rv`` of a ``[t, k, j, i]`` label map."""
    size = voxel_ml(affine)
    flat = np.asarray(labels).reshape(labels.shape[0], -1)
    counts = np.stack([np.bincount(row, minlength=4)[:4] for row in flat])
    return {
        "lv": counts[:, LV_BLOOD_POOL] * size,
        "myo": counts[:, LV_MYOCARDIUM] * size,
        "rv": counts[:, RV_BLOOD_POOL] * size,
    }


def bsa_mosteller(height_m: float | None, weight_kg: float | None) -> float | None:
    """Body surface area (m²), or None when height or weight is missing or implausible."""
    if height_m is None or weight_kg is None:
        return None
    if not (0.3 <= height_m <= 2.6 and 1.0 <= weight_kg <= 400.0):
        return None
    return math.sqrt(height_m * 100.0 * weight_kg / 3600.0)


@dataclass(frozen=True)
class Function:
    """The cardiac function measurements of one cine."""

    values: dict[str, float]
    #: The phase each value belongs to, where it has one.
    phases: dict[str, int] = field(default_factory=dict)
    ed_phase: int = 0
    es_phase: int = 0


def _ef(edv: float, esv: float) -> float:
    return 100.0 * (edv - esv) / edv if edv > 0 else float("nan")


def cardiac_function(volumes: Mapping[str, np.ndarray], bsa_m2: float | None = None) -> Function:
    """The measurements (manifest ids) from :func:`phase_volumes`' curves.

    Ties between phases go to the earliest. Ejection fractions of an empty ventricle are NaN
    (and left out by the caller).
    """
    lv, myo, rv = volumes["lv"], volumes["myo"], volumes["rv"]
    ed, es = int(np.argmax(lv)), int(np.argmin(lv))
    values = {
        "lv_edv_ml": float(lv[ed]),
        "lv_esv_ml": float(lv[es]),
        "lv_sv_ml": float(lv[ed] - lv[es]),
        "lv_ef_percent": _ef(float(lv[ed]), float(lv[es])),
        "lv_mass_g": float(myo[ed]) * MYOCARDIAL_DENSITY_G_PER_ML,
        "rv_edv_ml": float(rv[ed]),
        "rv_esv_ml": float(rv[es]),
        "rv_sv_ml": float(rv[ed] - rv[es]),
        "rv_ef_percent": _ef(float(rv[ed]), float(rv[es])),
        "ed_phase": float(ed),
        "es_phase": float(es),
    }
    at_ed = ["lv_edv_ml", "lv_sv_ml", "lv_ef_percent", "lv_mass_g", "rv_edv_ml", "rv_sv_ml"]
    at_ed += ["rv_ef_percent", "ed_phase"]
    phases = {key: ed for key in at_ed}
    phases.update({key: es for key in ("lv_esv_ml", "rv_esv_ml", "es_phase")})
    if bsa_m2:
        values["bsa_m2"] = bsa_m2
        phases["bsa_m2"] = ed
        for key, indexed in (
            ("lv_edv_ml", "lv_edv_index_ml_m2"),
            ("lv_esv_ml", "lv_esv_index_ml_m2"),
            ("lv_sv_ml", "lv_sv_index_ml_m2"),
            ("lv_mass_g", "lv_mass_index_g_m2"),
            ("rv_edv_ml", "rv_edv_index_ml_m2"),
            ("rv_esv_ml", "rv_esv_index_ml_m2"),
        ):
            values[indexed] = values[key] / bsa_m2
            phases[indexed] = phases[key]
    return Function(values, phases, ed, es)
