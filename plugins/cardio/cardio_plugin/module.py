"""The ``cardio`` module: cine short-axis MR → LV, RV and myocardium on every phase, volumes,
ejection fractions and myocardial mass (imported in the worker only).

The host has already refused series that are not cine short-axis MR (the manifest's input);
this checks what the manifest cannot: that the stack has trigger times, that its phases
cover a cardiac cycle and that the slices are thin enough to be a short-axis stack and not
a handful of long-axis planes. Then it segments (:mod:`cardio_plugin.segment`) and measures
(:mod:`cardio_plugin.measures`).
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

from cardio_plugin import measures
from cardio_plugin.segment import segment_cine
from workstation.core.volume import StackKind
from workstation.inference.worker import Curve, ModuleOutput, RunContext

#: The network is small and the images many: two threads per process are what the CPU of a
#: reading-room PC gives best; more only adds synchronisation (set by ``threads``).
DEFAULT_THREADS = 2

_cache: dict[str, Any] = {}


class NotCineShortAxisError(ValueError):
    """The input is not a stack this module can measure; the message says why."""


def check_input(context: RunContext) -> None:
    """Refuse, with the reason, a stack the manifest's input let through but that cannot be a
    cine short-axis stack for volumetry."""
    volume = context.volume
    if volume.kind is not StackKind.CINE:
        raise NotCineShortAxisError(f"a {volume.kind.value} stack, not a cine")
    n_phases, n_slices = volume.array.shape[:2]
    times = volume.phase_times_ms
    if times is None:
        raise NotCineShortAxisError("the phases have no trigger times: not an ECG-gated cine")
    if any(b <= a for a, b in itertools.pairwise(times)):
        raise NotCineShortAxisError("trigger times do not increase from phase to phase")
    spacing = volume.spacing_ijk
    if spacing[2] > 20.0:
        raise NotCineShortAxisError(
            f"slices {spacing[2]:.1f} mm apart: too far for short-axis volumetry (≤ 20 mm)"
        )
    if max(spacing[0], spacing[1]) > 3.5:
        raise NotCineShortAxisError(f"pixels of {max(spacing[:2]):.1f} mm: too coarse (≤ 3.5 mm)")
    context.log.info(
        "cine: %d phases × %d slices of %d × %d, %.2f × %.2f mm, slices %.1f mm apart",
        n_phases,
        n_slices,
        volume.array.shape[2],
        volume.array.shape[3],
        spacing[1],
        spacing[0],
        spacing[2],
    )


def _network(context: RunContext) -> Any:
    """The network with the manifest's weights, loaded once per worker process."""
    from cardio_plugin import network

    path = str(context.weights_path("unet"))
    if _cache.get("path") != path:
        state = context.load_weights("unet")  # SHA-256 checked against the manifest
        model = network.build({name: tensor.float().cpu() for name, tensor in state.items()})
        _cache.update(path=path, model=network.for_inference(model))
    return _cache["model"].to(context.torch_device)


def run(context: RunContext) -> ModuleOutput:
    import torch

    started = time.perf_counter()
    check_input(context)
    threads = int(context.parameters.get("threads", DEFAULT_THREADS))
    if threads > 0:
        torch.set_num_threads(threads)
    context.progress(0.02, "loading the network")
    model = _network(context)
    volume = context.volume
    spacing = volume.spacing_ijk  # (along i = between columns, along j = between rows, slices)
    segmentation = segment_cine(
        volume.array,
        (spacing[1], spacing[0]),
        model,
        progress=lambda f, text: context.progress(0.05 + 0.85 * f, text),
        postprocess=bool(context.parameters.get("keep_largest", True)),
    )
    if not segmentation.found_heart:
        context.log.warning("no heart found on the first phase: segmented the whole field")
    labels = segmentation.labels
    context.progress(0.93, "measuring")
    volumes = measures.phase_volumes(labels, volume.affine)
    patient = context.patient
    bsa = measures.bsa_mosteller(patient.get("height_m"), patient.get("weight_kg"))
    function = measures.cardiac_function(volumes, bsa)
    values = {k: v for k, v in function.values.items() if math.isfinite(v)}
    times = volume.phase_times_ms or tuple(float(t) for t in range(len(volumes["lv"])))
    context.log.info(
        "ED phase %d, ES phase %d; LV EDV %.1f ml, ESV %.1f ml, EF %.1f %%; %s in %.1f s",
        function.ed_phase,
        function.es_phase,
        values.get("lv_edv_ml", float("nan")),
        values.get("lv_esv_ml", float("nan")),
        values.get("lv_ef_percent", float("nan")),
        f"BSA {bsa:.2f} m²" if bsa else "no height and weight in the header: not indexed",
        time.perf_counter() - started,
    )
    # ED and ES named on the volume plots.
    marks = ((float(times[function.ed_phase]), "ED"), (float(times[function.es_phase]), "ES"))
    return ModuleOutput(
        labels=labels,
        measurements=values,
        measurement_phases={k: p for k, p in function.phases.items() if k in values},
        curves=[
            Curve(
                f"{name}_volume_curve",
                x=tuple(times),
                y=tuple(float(v) for v in volumes[name]),
                marks=marks,
            )
            for name in ("lv", "rv")
        ],
    )
