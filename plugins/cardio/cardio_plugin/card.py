"""Write the model card (``metadata.json``, MONAI bundle fields) of trained cardio weights.

    PYTHONPATH=plugins/cardio python -m cardio_plugin.card weights/cardio [--update-manifest]

reads ``unet.safetensors``, ``training.json`` (from :mod:`cardio_plugin.train`) and
``evaluation.json`` (from :mod:`cardio_plugin.evaluate`) in that folder and writes
``metadata.json`` beside them: what the model does, on what it was trained, how it was
trained, the held-out figures, the file's SHA-256 and "not for clinical use". With
``--update-manifest`` it also writes the SHA-256 into ``plugins/cardio/plugin.toml``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from cardio_plugin.preprocess import TARGET_SPACING_MM

PLUGIN = Path(__file__).resolve().parents[1]
VERSION = "1.0.0"
CHANNELS = {"0": "background", "1": "LV blood pool", "2": "LV myocardium", "3": "RV blood pool"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


#: The module's targets on held-out generated cases: (summary keys averaged, bound, "min"/"max").
TARGETS = {
    "lv_dice_ed_es >= 0.93": (("dice_lv_ed", "dice_lv_es"), 0.93, "min"),
    "myocardium_dice_ed_es >= 0.85": (("dice_myo_ed", "dice_myo_es"), 0.85, "min"),
    "rv_dice_ed_es >= 0.88": (("dice_rv_ed", "dice_rv_es"), 0.88, "min"),
    "lv_ef_abs_error_points <= 3": (("lv_ef_percent_abs_error_vs_reference",), 3.0, "max"),
    "lv_edv_abs_error_percent <= 8": (("lv_edv_ml_abs_error_percent_vs_reference",), 8.0, "max"),
}


def _targets(summary: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Each target with the measured figure and whether it is met."""
    out = {}
    for name, (keys, bound, kind) in TARGETS.items():
        value = round(sum(summary[k] for k in keys) / len(keys), 4)
        met = value >= bound if kind == "min" else value <= bound
        out[name] = {"measured": value, "met": met}
    return out


def card(folder: Path) -> dict[str, Any]:
    weights = folder / "unet.safetensors"
    training = json.loads((folder / "training.json").read_text())
    evaluation = json.loads((folder / "evaluation.json").read_text())
    digest = sha256(weights)
    if evaluation.get("weights_sha256") != digest:
        raise SystemExit("evaluation.json was not made with these weights: evaluate them again")
    summary = evaluation["summary"]
    arguments = training["arguments"]
    last = training["history"][-1]
    network = training["network"]

    def mean(a: str, b: str) -> float:
        return round((summary[a] + summary[b]) / 2.0, 4)

    return {
        "schema": "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/"
        "0.8.1/meta_schema_20220324.json",
        "version": VERSION,
        "changelog": {VERSION: "first version: 2D U-Net trained on synthetic cine short-axis MR"},
        "pytorch_version": training["torch"],
        "numpy_version": training["numpy"],
        "required_packages_version": {"safetensors": metadata.version("safetensors")},
        "task": "Cine short-axis MR: segmentation of the LV blood pool, LV myocardium and RV "
        "blood pool on every image, for ventricular volumes, ejection fractions and LV mass",
        "description": (
            f"A 2D U-Net ({network['levels']} levels, {network['base_channels']} channels at "
            f"full resolution, batch normalisation, {network['parameters']:,} parameters) "
            "applied to each short-axis image after resampling to "
            f"{TARGET_SPACING_MM} mm pixels and dividing by the image's 99th percentile. "
            "Trained from scratch on synthetic cine stacks only."
        ),
        "authors": "Workstation developers",
        "copyright": "Copyright (c) Workstation developers",
        "data_source": (
            f"Synthetic only: {arguments['cases']} cases (seeds 0-{arguments['cases'] - 1}) of "
            f"the plugin's generator, version {training['generator_version']} "
            "(cardio_plugin.synth): a beating LV (blood pool, myocardium of 6-15 mm with "
            "constant volume, papillary muscles, base-to-apex taper, base descent in systole), "
            "an RV crescent on the septum, atria above the base, chest wall, fat, lungs, liver, "
            "spine and aorta; EF 15-75 %, 20-30 phases, 8-14 slices of 6-10 mm (gaps up to "
            "25 %), 1.2-2 mm pixels, random double-oblique short-axis planes, breath-hold "
            "offsets, partial volume, bias field, Rician noise, random intensities (one case in "
            "five with SynthSeg-style random tissue intensities). Per case the ED and ES "
            f"phases and two others, every slice: {training['training_images']} images. "
            f"Validation: seeds {training['validation_seeds'][0]}-"
            f"{training['validation_seeds'][-1]}. No patient data."
        ),
        "data_type": "synthetic cine MR (bSSFP-like), generated in memory",
        "image_classes": "one channel: MR magnitude / the image's 99th percentile, clipped to "
        f"[0, 3], at {TARGET_SPACING_MM} mm pixels",
        "label_classes": "0 background, 1 LV blood pool (papillary muscles and trabeculae "
        "included, as in ACDC), 2 LV myocardium, 3 RV blood pool (RV wall not labelled)",
        "pred_classes": "class scores of the four labels",
        "training": {
            "command": training["command"],
            "arguments": arguments,
            "generation_s": training["generation_s"],
            "training_s": training["training_s"],
            "final_loss": last["loss"],
            "final_validation_dice": dict(zip(("lv", "myo", "rv"), last["val_dice"], strict=True)),
            "optimiser": "AdamW (weight decay 1e-4), linear warm-up then cosine decay; loss "
            "cross-entropy + soft Dice; augmentation: any rotation, mirror, ±15 % scale, "
            "shifts, gamma, contrast, noise",
            "machine": f"{training['machine']}, {arguments['threads']} CPU threads",
        },
        "eval_metrics": {
            "held_out_cases": summary["cases"],
            "held_out_seeds": [evaluation["cases"][0]["seed"], evaluation["cases"][-1]["seed"]],
            "lv_dice_ed_es": mean("dice_lv_ed", "dice_lv_es"),
            "myocardium_dice_ed_es": mean("dice_myo_ed", "dice_myo_es"),
            "rv_dice_ed_es": mean("dice_rv_ed", "dice_rv_es"),
            "lv_dice_all_phases": summary["dice_lv_all"],
            "myocardium_dice_all_phases": summary["dice_myo_all"],
            "rv_dice_all_phases": summary["dice_rv_all"],
            "lv_ef_abs_error_points": summary["lv_ef_percent_abs_error_vs_reference"],
            "lv_ef_bias_points": summary["lv_ef_percent_bias_vs_reference"],
            "lv_ef_sd_points": summary["lv_ef_percent_sd_vs_reference"],
            "lv_ef_correlation": summary["lv_ef_correlation_vs_reference"],
            "lv_edv_abs_error_percent": summary["lv_edv_ml_abs_error_percent_vs_reference"],
            "lv_esv_abs_error_percent": summary["lv_esv_ml_abs_error_percent_vs_reference"],
            "lv_mass_abs_error_percent": summary["lv_mass_g_abs_error_percent_vs_reference"],
            "rv_ef_abs_error_points": summary["rv_ef_percent_abs_error_vs_reference"],
            "rv_edv_abs_error_percent": summary["rv_edv_ml_abs_error_percent_vs_reference"],
            "lv_ef_abs_error_points_vs_analytic": summary["lv_ef_percent_abs_error_vs_analytic"],
            "lv_edv_abs_error_percent_vs_analytic": summary[
                "lv_edv_ml_abs_error_percent_vs_analytic"
            ],
            "ground_truth_lv_ef_abs_error_points_vs_analytic": summary[
                "lv_ef_percent_abs_error_reference_vs_analytic"
            ],
            "ground_truth_lv_edv_abs_error_percent_vs_analytic": summary[
                "lv_edv_ml_abs_error_percent_reference_vs_analytic"
            ],
            "ed_found_within_1_phase": summary["ed_within_1_phase"],
            "es_found_within_1_phase": summary["es_within_1_phase"],
            "seconds_per_case": summary["seconds_per_case"],
            "reference": "errors against the ground-truth label maps measured the same way "
            "(slice summation, ED/ES from the LV curve); '_vs_analytic': against the "
            "generator's exact volumes of the continuous model; 'ground_truth_..._vs_analytic': "
            "the ground-truth label maps themselves against the analytic volumes (what slice "
            "summation on 6-12 mm slices costs without any segmentation error)",
            "command": evaluation["command"],
        },
        "targets": _targets(summary),
        "intended_use": "Research, teaching and tests of the workstation's expert-module "
        "framework. Trained and evaluated on synthetic images only: its figures say nothing "
        "about patient images. Not for clinical use.",
        "references": [
            "Bernard O. et al. Deep learning techniques for automatic MRI cardiac multi-"
            "structures segmentation and diagnosis: is the problem solved? IEEE TMI 2018 (ACDC)",
            "Billot B. et al. SynthSeg: segmentation of brain MRI scans of any contrast and "
            "resolution without retraining. Medical Image Analysis 2023",
            "Ronneberger O. et al. U-Net: convolutional networks for biomedical image "
            "segmentation. MICCAI 2015",
        ],
        "network_data_format": {
            "inputs": {
                "image": {
                    "type": "image",
                    "format": "magnitude",
                    "modality": "MR",
                    "num_channels": 1,
                    "spatial_shape": ["16*n", "16*n"],
                    "dtype": "float32",
                    "value_range": [0, 3],
                    "is_patch_data": True,
                    "channel_def": {"0": "image"},
                }
            },
            "outputs": {
                "pred": {
                    "type": "image",
                    "format": "segmentation",
                    "num_channels": 4,
                    "spatial_shape": ["16*n", "16*n"],
                    "dtype": "float32",
                    "value_range": [],
                    "is_patch_data": True,
                    "channel_def": CHANNELS,
                }
            },
        },
        "sha256": digest,
        "not_for_clinical_use": True,
    }


def update_manifest(digest: str, manifest: Path = PLUGIN / "plugin.toml") -> None:
    text = manifest.read_text()
    pattern = r'(path = "cardio/unet\.safetensors"\nsha256 = ")[0-9a-f]{64}(")'
    updated, count = re.subn(pattern, rf"\g<1>{digest}\g<2>", text)
    if count != 1:
        raise SystemExit(f"{manifest}: no weights entry for cardio/unet.safetensors")
    manifest.write_text(updated)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the weights folder (weights/cardio)")
    parser.add_argument("--update-manifest", action="store_true")
    args = parser.parse_args(argv)
    record = card(args.folder)
    (args.folder / "metadata.json").write_text(json.dumps(record, indent=2) + "\n")
    if args.update_manifest:
        update_manifest(record["sha256"])
    print(f"{args.folder / 'metadata.json'}: sha256 {record['sha256']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
