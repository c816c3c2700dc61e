"""Measure the cardio module on held-out generated cases (seeds no training run uses).

    PYTHONPATH=plugins/cardio python -m cardio_plugin.evaluate \
        --weights weights/cardio/unet.safetensors --json weights/cardio/evaluation.json

Each case is drawn and rendered in full (every phase and slice) and segmented by the module's
own pipeline (:func:`cardio_plugin.segment.segment_cine`, in this process: the DICOM round trip
changes nothing the tests do not check). Reported per case and on average:

* Dice of LV blood pool, LV myocardium and RV blood pool, over the 3-D volume at the true
  end-diastolic and end-systolic phases (the ACDC convention), and over all phases;
* LV EF absolute error (points), LV EDV and ESV error (%), LV mass error (%), RV EF error,
  against the reference the ground-truth label maps give when measured the same way (slice
  summation, ED/ES from the LV curve), and against the generator's analytic volumes (with,
  for scale, how far the ground-truth label maps themselves are from the analytic volumes:
  what slice summation on thick slices costs even without segmentation errors);
* whether the end-diastolic and end-systolic phases are found (± 1 phase).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cardio_plugin import N_CLASSES, measures, network
from cardio_plugin.segment import segment_cine
from cardio_plugin.synth.anatomy import GENERATOR_VERSION, draw_case
from cardio_plugin.synth.dicom import truth_of
from cardio_plugin.synth.render import render

#: Held-out cases start here; training uses 0 … cases − 1, validation 10 000 … 10 007.
TEST_SEED_BASE = 20_000


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum() + b.sum())
    return 2.0 * int((a & b).sum()) / total if total else 1.0


def evaluate_case(seed: int, model: torch.nn.Module) -> dict[str, Any]:
    case = draw_case(seed)
    rendered = render(case)
    truth = truth_of(case, rendered.labels)
    acq = case.acquisition
    started = time.perf_counter()
    segmentation = segment_cine(rendered.stored, (acq.pixel_spacing, acq.pixel_spacing), model)
    seconds = time.perf_counter() - started
    predicted = segmentation.labels
    bsa = measures.bsa_mosteller(round(case.height_m, 2), round(case.weight_kg, 1))
    found = measures.cardiac_function(measures.phase_volumes(predicted, acq.affine), bsa)
    reference = truth.measured
    analytic = truth.to_json()["analytic"]
    row: dict[str, Any] = {
        "seed": seed,
        "shape": list(predicted.shape),
        "pixel_mm": round(acq.pixel_spacing, 2),
        "slice_mm": round(acq.slice_spacing, 2),
        "seconds": round(seconds, 2),
        "true_ed": truth.ed_phase,
        "true_es": truth.es_phase,
        "found_ed": found.ed_phase,
        "found_es": found.es_phase,
    }
    names = ("lv", "myo", "rv")
    for which, phase in (("ed", truth.ed_phase), ("es", truth.es_phase)):
        for value, name in enumerate(names, start=1):
            row[f"dice_{name}_{which}"] = dice(
                predicted[phase] == value, truth.labels[phase] == value
            )
    for value, name in enumerate(names, start=1):
        row[f"dice_{name}_all"] = dice(predicted == value, truth.labels == value)
    for key in ("lv_edv_ml", "lv_esv_ml", "lv_ef_percent", "lv_mass_g", "rv_edv_ml"):
        row[f"{key}"] = round(found.values[key], 2)
        row[f"{key}_reference"] = round(reference[key], 2)
        row[f"{key}_analytic"] = round(analytic[key], 2)
    row["rv_ef_percent"] = round(found.values["rv_ef_percent"], 2)
    row["rv_ef_percent_reference"] = round(reference["rv_ef_percent"], 2)
    row["rv_ef_percent_analytic"] = round(analytic["rv_ef_percent"], 2)
    return row


def summarise(rows: list[dict[str, Any]]) -> dict[str, float]:
    def mean(values: list[float]) -> float:
        return float(np.mean(values))

    summary: dict[str, float] = {"cases": len(rows)}
    for key in rows[0]:
        if key.startswith("dice_"):
            summary[key] = mean([r[key] for r in rows])
    for base in ("reference", "analytic"):
        for key in ("lv_ef_percent", "rv_ef_percent"):
            errors = [r[key] - r[f"{key}_{base}"] for r in rows]
            summary[f"{key}_abs_error_vs_{base}"] = mean([abs(e) for e in errors])
            summary[f"{key}_bias_vs_{base}"] = mean(errors)
            summary[f"{key}_sd_vs_{base}"] = float(np.std(errors, ddof=1)) if len(rows) > 1 else 0
        for key in ("lv_edv_ml", "lv_esv_ml", "lv_mass_g", "rv_edv_ml"):
            relative = [100.0 * (r[key] / r[f"{key}_{base}"] - 1.0) for r in rows]
            summary[f"{key}_abs_error_percent_vs_{base}"] = mean([abs(e) for e in relative])
            summary[f"{key}_bias_percent_vs_{base}"] = mean(relative)
    # The floor: the ground-truth label maps, measured by slice summation, against the
    # continuous model (thick slices, gaps and partial volume; no segmentation error).
    for key in ("lv_ef_percent", "rv_ef_percent"):
        errors = [r[f"{key}_reference"] - r[f"{key}_analytic"] for r in rows]
        summary[f"{key}_abs_error_reference_vs_analytic"] = mean([abs(e) for e in errors])
    for key in ("lv_edv_ml", "lv_esv_ml", "lv_mass_g", "rv_edv_ml"):
        relative = [100.0 * (r[f"{key}_reference"] / r[f"{key}_analytic"] - 1.0) for r in rows]
        summary[f"{key}_abs_error_percent_reference_vs_analytic"] = mean([abs(e) for e in relative])
    found = [r["lv_ef_percent"] for r in rows]
    for base in ("reference", "analytic"):
        truth = [r[f"lv_ef_percent_{base}"] for r in rows]
        summary[f"lv_ef_correlation_vs_{base}"] = float(np.corrcoef(found, truth)[0, 1])
    summary["ed_within_1_phase"] = mean(
        [
            min(
                abs(r["found_ed"] - r["true_ed"]), r["shape"][0] - abs(r["found_ed"] - r["true_ed"])
            )
            <= 1
            for r in rows
        ]
    )
    summary["es_within_1_phase"] = mean(
        [
            min(
                abs(r["found_es"] - r["true_es"]), r["shape"][0] - abs(r["found_es"] - r["true_es"])
            )
            <= 1
            for r in rows
        ]
    )
    summary["seconds_per_case"] = mean([r["seconds"] for r in rows])
    return {k: round(v, 4) for k, v in summary.items()}


def load_model(path: Path) -> torch.nn.Module:
    from safetensors.torch import load_file

    return network.for_inference(network.build(load_file(str(path))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=TEST_SEED_BASE)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write every row and the summary here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load_model(args.weights)
    assert N_CLASSES == network.OUT_CLASSES
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.cases):
        row = evaluate_case(seed, model)
        rows.append(row)
        print(
            f"case {seed}: Dice ED LV {row['dice_lv_ed']:.3f} myo {row['dice_myo_ed']:.3f} "
            f"RV {row['dice_rv_ed']:.3f} | ES LV {row['dice_lv_es']:.3f} "
            f"myo {row['dice_myo_es']:.3f} RV {row['dice_rv_es']:.3f} | "
            f"EF {row['lv_ef_percent']:.1f} vs {row['lv_ef_percent_reference']:.1f} | "
            f"EDV {row['lv_edv_ml']:.1f} vs {row['lv_edv_ml_reference']:.1f} ml",
            flush=True,
        )
    summary = summarise(rows)
    print(json.dumps(summary, indent=2))
    if args.json:
        record = {
            "command": "python -m cardio_plugin.evaluate "
            + " ".join(argv if argv is not None else sys.argv[1:]),
            "generator_version": GENERATOR_VERSION,
            "weights_sha256": hashlib.sha256(args.weights.read_bytes()).hexdigest(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "summary": summary,
            "cases": rows,
        }
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
