"""Modules that fail in every way a module can, and one that reports every kind of output."""

from __future__ import annotations

import ctypes
import os
import time

import numpy as np

from workstation.inference import helpers
from workstation.inference.worker import Curve, Finding, ModuleOutput, RunContext


def raises(context: RunContext) -> ModuleOutput:
    raise RuntimeError("deliberate failure in the module")


def segfault(context: RunContext) -> ModuleOutput:
    ctypes.string_at(0)
    return ModuleOutput()


def abort(context: RunContext) -> ModuleOutput:
    os.abort()


def exhaust_memory(context: RunContext) -> ModuleOutput:
    hog = np.ones(2**31 // 8 * 2, dtype=np.float64)  # 4 GiB, far over the 256 MiB limit
    return ModuleOutput(measurements={"size": float(hog.sum())})


def hang(context: RunContext) -> ModuleOutput:
    context.progress(0.1, "hanging")
    while True:
        time.sleep(0.05)


def slow(context: RunContext) -> ModuleOutput:
    for step in range(6000):
        context.progress(step / 6000, "working slowly")
        time.sleep(0.01)
    return ModuleOutput()


def bad_output(context: RunContext) -> ModuleOutput:
    return ModuleOutput(measurements={"declared": 1.0, "undeclared": 2.0})


def report(context: RunContext) -> ModuleOutput:
    print("hello from the module")
    image = context.volume.array
    box = helpers.largest_component(image > float(context.parameters["threshold_hu"]))
    body = image > -500
    rim = np.zeros_like(box)
    rim[:, :, :-1] |= box[:, :, 1:] & ~box[:, :, :-1]  # a one-voxel rim left of the box
    labels = np.zeros(image.shape, dtype=np.uint8)
    labels[rim] = context.segment_value("rim")
    labels[box] = context.segment_value("box")
    k, j, i = (float(v.mean()) for v in np.nonzero(box))
    centre = context.volume.index_to_lps([i, j, k])
    areas = box.reshape(box.shape[0], -1).sum(axis=1) * float(
        np.prod(context.volume.spacing_ijk[:2])
    )
    side = max(int(n) for n in np.ptp(np.argwhere(box), axis=0) + 1) * max(
        context.volume.spacing_ijk
    )
    return ModuleOutput(
        labels=labels,
        measurements={
            "box_volume": helpers.volume_ml(box, context.volume.affine),
            "box_fraction": 100.0 * box.sum() / body.sum(),
            "longest_side": float(side),
            "global_score": 3.0,
        },
        findings=[
            Finding(
                "lesion",
                text="bright box",
                location=tuple(float(v) for v in centre),
                confidence=0.9,
            ),
            Finding("lesion", label="Box lesion", segment="box"),
        ],
        curves=[
            Curve(
                "area",
                x=tuple(range(len(areas))),
                y=tuple(float(a) for a in areas),
                marks=[(0, "first")],  # as a module may write it: a list, an int
            )
        ],
    )


def cine(context: RunContext) -> ModuleOutput:
    volume = context.volume
    image = volume.array  # [t, k, j, i]
    labels = np.zeros(image.shape, dtype=np.uint8)
    first, last = 0, volume.n_phases - 1
    for phase in (first, last):
        labels[phase] = image[phase] > np.percentile(image[phase], 90)
    volumes = [
        helpers.volume_ml(image[t] > np.percentile(image[t], 90), volume.affine)
        for t in range(volume.n_phases)
    ]
    times = volume.phase_times_ms or tuple(float(t) for t in range(volume.n_phases))
    return ModuleOutput(
        labels=labels,
        measurements={"volume_first": volumes[first], "volume_last": volumes[last]},
        measurement_phases={"volume_first": first, "volume_last": last},
        curves=[Curve("volume_curve", x=tuple(times), y=tuple(volumes))],
    )
