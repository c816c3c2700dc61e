"""threshold-bright-structures: voxels above a threshold, the largest connected part."""

from __future__ import annotations

import numpy as np

from workstation.inference import helpers
from workstation.inference.worker import Curve, ModuleOutput, RunContext


def run(context: RunContext) -> ModuleOutput:
    image = context.volume.array  # [k, j, i] in HU, read-only
    threshold = float(context.parameters["threshold_hu"])
    context.progress(0.1, f"voxels above {threshold:g} HU")
    mask = helpers.largest_component(image > threshold)
    context.progress(0.7, "measuring")
    value = context.segment_value("bright")
    labels = np.where(mask, value, 0).astype(np.uint8)
    measurements = {"bright_volume": helpers.volume_ml(mask, context.volume.affine)}
    if mask.any():
        measurements["bright_mean"] = float(image[mask].mean())
    pixel_mm2 = float(np.prod(context.volume.spacing_ijk[:2]))
    areas = mask.reshape(mask.shape[0], -1).sum(axis=1) * pixel_mm2
    # The slice of the largest cross-section, named on the plot.
    largest = ((float(np.argmax(areas)), "largest"),) if mask.any() else ()
    curve = Curve(
        "area_per_slice",
        x=tuple(range(len(areas))),
        y=tuple(float(a) for a in areas),
        marks=largest,
    )
    context.log.info("bright structure: %d voxels", int(mask.sum()))
    return ModuleOutput(labels=labels, measurements=measurements, curves=[curve])
