"""smoothed-threshold: a mean filter run as a torch convolution with safetensors weights,
then the threshold and the largest connected part."""

from __future__ import annotations

from typing import Any

import numpy as np

from workstation.inference import helpers
from workstation.inference.worker import ModuleOutput, RunContext


def run(context: RunContext) -> ModuleOutput:
    import torch.nn.functional as F  # noqa: N812 - the usual name

    weights = context.load_weights("smoothing")  # hash-checked, on context.device
    kernel, bias = weights["smooth.weight"], weights["smooth.bias"]

    def smooth(batch: Any) -> Any:  # a torch batch [b, 1, k, j, i]
        return F.conv3d(batch, kernel, bias, padding=1)

    context.progress(0.05, "smoothing")
    with context.autocast():
        smoothed = helpers.sliding_window(
            context.volume.array,
            smooth,
            roi_size=(32, 64, 64),
            overlap=0.25,
            device=context.device,
            mode="constant",
            progress=lambda f: context.progress(0.05 + 0.85 * f, "smoothing"),
        )[0]
    mask = helpers.largest_component(smoothed > float(context.parameters["threshold_hu"]))
    labels = np.where(mask, context.segment_value("bright"), 0).astype(np.uint8)
    return ModuleOutput(
        labels=labels,
        measurements={"bright_volume": helpers.volume_ml(mask, context.volume.affine)},
    )
