"""What running a module in the isolated worker costs, against running its work in-process.

A 300 × 512² CT (150 MB of int16) goes to the example module ``threshold-bright-structures``
(threshold, largest connected component, volume, mean, a curve) through a real :class:`Job`:
shared memory in, the worker process, results and label map back. Printed, medians of
``--repeat`` runs:

- the floor: copying the volume once with numpy (what moving it into shared memory costs at
  least), and the module's own work run in this process (``helpers.largest_component`` and the
  same measurements, no worker);
- a warm job (a worker that already ran the plugin: imports paid) and its ratio to the in-process
  work — the price of isolation;
- the first job of a session: starting the worker process (``spawn``) and importing the plugin.

    .venv/bin/python tests/benchmarks/bench_inference.py [--repeat 5] [--slices 300]

Not collected by pytest (no ``test_`` prefix); it prints and never fails on speed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from workstation.core.volume import Volume
from workstation.inference import helpers
from workstation.inference.discovery import discover
from workstation.inference.jobs import Job, WorkerPool
from workstation.inference.settings import InferenceSettings
from workstation.testing.phantoms import torso_ct

REPO = Path(__file__).resolve().parents[2]
MODULE = "example/threshold-bright-structures"


def _median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


def _in_process(volume: Volume) -> None:
    """The module's work without the worker: what isolation is compared with."""
    image = volume.array
    mask = helpers.largest_component(image > 300.0)
    labels = np.where(mask, 1, 0).astype(np.uint8)
    helpers.volume_ml(mask, volume.affine)
    float(image[mask].mean()) if mask.any() else 0.0
    mask.reshape(mask.shape[0], -1).sum(axis=1)
    del labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--slices", type=int, default=300)
    args = parser.parse_args()

    shape = (args.slices, 512, 512)
    spacing = (1.0, 0.7, 0.7)
    array = torso_ct(shape, spacing)
    affine = np.diag([spacing[2], spacing[1], spacing[0], 1.0])
    volume = Volume(array, affine)
    registry = discover(
        InferenceSettings(),
        folders=[REPO / "plugins" / "example"],
        entry_points=False,
        app_folder=False,
        user_folder=False,
    )
    module = registry.find_module(MODULE)
    print(f"volume {shape} {array.dtype}, {array.nbytes / 1e6:.0f} MB; module {MODULE}")

    pool = WorkerPool(max_idle=1, python_paths=())
    started = time.perf_counter()
    Job(module, volume, device="cpu", pool=pool).run()
    cold_ms = (time.perf_counter() - started) * 1000.0
    try:
        copy_ms = _median_ms(array.copy, args.repeat)
        work_ms = _median_ms(lambda: _in_process(volume), args.repeat)
        job_ms = _median_ms(lambda: Job(module, volume, device="cpu", pool=pool).run(), args.repeat)
    finally:
        pool.shutdown()

    rows = [
        ("floor: numpy copy of the volume", copy_ms),
        ("the module's work in this process", work_ms),
        ("job in a warm worker (shared memory in, labels back)", job_ms),
        ("first job of a session (spawn + imports + run)", cold_ms),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:8.1f} ms")
    print(f"{'warm job / in-process work':<{width}}  {job_ms / work_ms:8.2f} ×")
    print(f"{'isolation overhead (warm job − work)':<{width}}  {job_ms - work_ms:8.1f} ms")
    print(
        f"{'overhead / numpy copy of the volume':<{width}}  {(job_ms - work_ms) / copy_ms:8.2f} ×"
    )


if __name__ == "__main__":
    main()
