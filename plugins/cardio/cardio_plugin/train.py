"""Train the cardio network on generated cine short-axis images, reproducibly, on the CPU.

    PYTHONPATH=plugins/cardio python -m cardio_plugin.train --out weights/cardio

writes ``unet.safetensors`` and ``training.json`` (generator version, every parameter of the
run, the seeds, the loss and validation curves, the time it took) into ``--out``. Everything
random is seeded: the cases (seeds 0 … cases − 1), the batches and the augmentations. Reruns
with the same arguments, torch version and thread count give the same weights; other thread
counts may differ in the last bits of the sums.

Training cases, validation cases (:data:`VALIDATION_SEEDS`) and the held-out cases of
:mod:`cardio_plugin.evaluate` (:data:`cardio_plugin.evaluate.TEST_SEED_BASE` onwards) never
share a seed.

A site trains on its own annotated images with ``--nifti DIR`` (pairs ``NAME.nii.gz`` +
``NAME_gt.nii.gz``; ``--label-order 3,2,1`` for ACDC-style files), alone (``--cases 0``) or
mixed with generated cases, optionally starting from these weights (``--init``); see
docs/cardio.md.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F  # noqa: N812 - the usual name

from cardio_plugin import N_CLASSES, network
from cardio_plugin.preprocess import TARGET_SPACING_MM
from cardio_plugin.synth.anatomy import GENERATOR_VERSION
from cardio_plugin.training_data import (
    WINDOW,
    Samples,
    augment,
    case_samples,
    concatenate,
    nifti_samples,
)

VALIDATION_SEEDS = tuple(range(10_000, 10_008))


def dice_loss(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 − mean soft Dice of the three structures over the batch."""
    probabilities = scores.softmax(dim=1)[:, 1:]
    one_hot = F.one_hot(target, N_CLASSES).permute(0, 3, 1, 2)[:, 1:].float()
    overlap = (probabilities * one_hot).sum(dim=(0, 2, 3))
    total = probabilities.sum(dim=(0, 2, 3)) + one_hot.sum(dim=(0, 2, 3))
    return 1.0 - ((2.0 * overlap + 1.0) / (total + 1.0)).mean()


def hard_dice(predicted: torch.Tensor, target: torch.Tensor) -> list[float]:
    scores = []
    for value in range(1, N_CLASSES):
        a, b = predicted == value, target == value
        denominator = int(a.sum() + b.sum())
        scores.append(2.0 * int((a & b).sum()) / denominator if denominator else 1.0)
    return scores


def generate(seeds: range | tuple[int, ...], log: Any) -> Samples:
    parts = []
    started = time.perf_counter()
    for number, seed in enumerate(seeds, start=1):
        parts.append(case_samples(seed))
        if number % 20 == 0 or number == len(seeds):
            log(f"generated {number}/{len(seeds)} cases ({time.perf_counter() - started:.0f} s)")
    return concatenate(parts)


def nifti_pairs(folder: Path) -> list[tuple[Path, Path]]:
    """``(image, labels)`` files of a folder: every ``NAME_gt.nii[.gz]`` with its ``NAME``."""
    pairs = []
    for label in sorted(folder.rglob("*_gt.nii*")):
        suffix = ".nii.gz" if label.name.endswith(".nii.gz") else ".nii"
        image = label.with_name(label.name[: -len("_gt" + suffix)] + suffix)
        if image.is_file():
            pairs.append((image, label))
    return pairs


def validate(model: torch.nn.Module, samples: Samples) -> list[float]:
    """Dice per structure on the centre 128 × 128 of the validation windows (no augmentation)."""
    model.eval()
    offset = (WINDOW - 128) // 2
    images = torch.from_numpy(samples.images[:, offset : offset + 128, offset : offset + 128])
    labels = torch.from_numpy(samples.labels[:, offset : offset + 128, offset : offset + 128])
    predicted = []
    with torch.inference_mode():
        for start in range(0, len(images), 64):
            batch = images[start : start + 64, None].float()
            predicted.append(model(batch.contiguous(memory_format=torch.channels_last)).argmax(1))
    model.train()
    return hard_dice(torch.cat(predicted), labels.long())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the weights")
    parser.add_argument("--cases", type=int, default=320, help="generated training cases")
    parser.add_argument("--steps", type=int, default=2400, help="optimiser steps")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--crop", type=int, default=96, help="training crop (working pixels)")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument("--seed", type=int, default=0, help="seed of batches and augmentation")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--validate-every", type=int, default=200)
    parser.add_argument(
        "--validation-cases", type=int, default=len(VALIDATION_SEEDS), help="at most 8"
    )
    parser.add_argument("--nifti", type=Path, help="a site's annotated images (NIfTI pairs)")
    parser.add_argument(
        "--label-order",
        default="1,2,3",
        help="label values of LV blood pool, LV myocardium, RV blood pool in --nifti files",
    )
    parser.add_argument("--init", type=Path, help="start from these weights (safetensors)")
    args = parser.parse_args(argv)

    def log(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    started = time.perf_counter()
    parts = [generate(range(args.cases), log)] if args.cases else []
    if args.nifti is not None:
        labels_in = tuple(int(v) for v in args.label_order.split(","))
        if len(labels_in) != 3:
            parser.error("--label-order takes three values")
        pairs = nifti_pairs(args.nifti)
        if not pairs:
            parser.error(f"no NAME_gt.nii.gz with its NAME.nii.gz under {args.nifti}")
        parts += [
            nifti_samples(image, label, (labels_in[0], labels_in[1], labels_in[2]), seed=index)
            for index, (image, label) in enumerate(pairs)
        ]
        log(f"read {len(pairs)} annotated NIfTI volumes")
    if not parts:
        parser.error("nothing to train on: --cases 0 and no --nifti")
    train = concatenate(parts)
    valid = generate(VALIDATION_SEEDS[: args.validation_cases], log)
    generation_s = time.perf_counter() - started
    log(f"{len(train.images)} training and {len(valid.images)} validation images")

    initial = None
    if args.init is not None:
        from safetensors.torch import load_file

        initial = load_file(str(args.init))
    model = network.build(initial).to(memory_format=torch.channels_last)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    warmup = max(1, args.steps // 20)

    def rate(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, args.steps - warmup)
        return 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * progress))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, rate)
    generator = torch.Generator().manual_seed(args.seed)
    order = np.random.default_rng(args.seed)
    images, labels = torch.from_numpy(train.images), torch.from_numpy(train.labels)
    history: list[dict[str, Any]] = []
    running = 0.0
    training_started = time.perf_counter()
    model.train()
    for step in range(args.steps):
        index = torch.from_numpy(order.integers(0, len(images), args.batch))
        x, y = augment(images[index], labels[index], args.crop, generator)
        scores = model(x.contiguous(memory_format=torch.channels_last))
        loss = F.cross_entropy(scores, y) + dice_loss(scores, y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        value = float(loss.detach())
        running = 0.98 * running + 0.02 * value if step else value
        if (step + 1) % args.validate_every == 0 or step + 1 == args.steps:
            dice = validate(model, valid)
            elapsed = time.perf_counter() - training_started
            history.append(
                {
                    "step": step + 1,
                    "loss": round(running, 4),
                    "val_dice": [round(d, 4) for d in dice],
                }
            )
            log(
                f"step {step + 1}/{args.steps} loss {running:.3f} "
                f"val Dice LV {dice[0]:.3f} myo {dice[1]:.3f} RV {dice[2]:.3f} ({elapsed:.0f} s)"
            )
    training_s = time.perf_counter() - training_started

    from safetensors.torch import save_file

    args.out.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    weights = args.out / "unet.safetensors"
    # One metadata entry only: safetensors writes several in no fixed order, and the same
    # weights must give the same file (and SHA-256). The generator version is in training.json.
    save_file(state, str(weights), metadata={"format": "pt"})
    record = {
        "command": " ".join(["python -m cardio_plugin.train", *(argv or sys.argv[1:])]),
        "generator_version": GENERATOR_VERSION,
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "training_seeds": [0, args.cases - 1] if args.cases else [],
        "nifti_volumes": len(nifti_pairs(args.nifti)) if args.nifti else 0,
        "validation_seeds": list(VALIDATION_SEEDS[: args.validation_cases]),
        "training_images": len(train.images),
        "working_spacing_mm": TARGET_SPACING_MM,
        "network": network.describe(),
        "history": history,
        "generation_s": round(generation_s, 1),
        "training_s": round(training_s, 1),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
    }
    (args.out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    log(f"wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
