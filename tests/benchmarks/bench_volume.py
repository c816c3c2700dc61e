"""Frame time of the 3D view: CPU ray casting against the default smart volume mapper.

Renders ``torso_ct`` (120 × 256 × 256, 1.5 × 1.4 × 1.4 mm) offscreen at 600 × 600 while the
camera turns about the patient's long axis, with every volume preset, and prints the median time
per frame for still quality (the window's desired update rate 0.0001, as after a drag) and
interactive quality (15 frames/s, as during a drag), plus the first frame of each preset (which
builds the mapper's tables; for the CPU ray caster the first preset's also encodes the gradients).

The smart mapper in its default mode uses the GPU ray caster wherever OpenGL runs, so on a
machine without a GPU it measures Mesa's software emulation; that comparison is why the view
uses the CPU ray caster on software OpenGL. The last column says which one the view picks on
this machine. Both mappers are measured preset by preset, interleaved, so that a drifting machine
load (shared CI runners) falls on both.

    VTK_DEFAULT_OPENGL_WINDOW=vtkOSOpenGLRenderWindow \\
        .venv/bin/python tests/benchmarks/bench_volume.py [--frames 8] [--size 600] [--json OUT]

Not collected by pytest (no ``test_`` prefix); it never fails on speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")

import numpy as np
import vtkmodules
import vtkmodules.vtkRenderingOpenGL2  # the OpenGL back end
from vtkmodules.vtkCommonCore import vtkCommand
from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindow

from workstation.core.scene import ImageLayer, LayerInfo, Scene
from workstation.core.volume import Volume
from workstation.render import volume as volume_module
from workstation.render.volume import VolumeView
from workstation.testing.phantoms import torso_ct

SHAPE = (120, 256, 256)
SPACING = (1.5, 1.4, 1.4)  # slice, row, column (mm)
PRESETS = ("ct-bone", "ct-soft-tissue", "mip", "mr-default")
MAPPERS = {"cpu ray cast": "1", "smart (default)": "0"}
STILL_RATE, INTERACTIVE_RATE = 0.0001, 15.0


def scene() -> Scene:
    array = torso_ct(shape=SHAPE, spacing=SPACING)
    affine = np.diag([SPACING[2], SPACING[1], SPACING[0], 1.0])
    affine[:3, 3] = (-0.5 * SHAPE[2] * SPACING[2], -0.5 * SHAPE[1] * SPACING[1], -300.0)
    out = Scene()
    out.add_layer(ImageLayer("ct", Volume(array, affine), LayerInfo(modality="CT")))
    # The same voxels as "MR", for the percentile-based preset.
    out.add_layer(ImageLayer("mr", Volume(array, affine), LayerInfo(modality="MR")))
    out.layers["ct"].display.window, out.layers["ct"].display.center = 1000.0, 300.0
    return out


def timed_frame(window: Any, renderer: Any, degrees: float) -> float:
    renderer.GetActiveCamera().Azimuth(degrees)
    renderer.ResetCameraClippingRange()
    start = time.perf_counter()
    window.Render()
    window.WaitForCompletion()
    return (time.perf_counter() - start) * 1000.0


class Rig:
    """A window with its own view, whose mapper choice is forced by ``mapper_env``."""

    def __init__(self, mapper_env: str, size: int, data: Scene) -> None:
        os.environ[volume_module.CPU_RAYCAST_ENV] = mapper_env  # read by the view's constructor
        self.renderer = vtkRenderer()
        self.window = vtkRenderWindow()
        self.window.SetOffScreenRendering(1)
        self.window.AddRenderer(self.renderer)
        self.window.SetSize(size, size)
        self.view = VolumeView(self.renderer, data, request_render=lambda: None)
        os.environ.pop(volume_module.CPU_RAYCAST_ENV)

    def measure(self, preset: str, frames: int) -> dict[str, Any]:
        view, window, renderer = self.view, self.window, self.renderer
        view.show("mr" if preset == "mr-default" else "ct")
        view.set_preset(preset)
        window.SetDesiredUpdateRate(STILL_RATE)
        first = timed_frame(window, renderer, 0.0)
        row: dict[str, Any] = {
            "preset": view.preset,
            "mapper": type(view.mapper).__name__,
            "first_ms": first,
        }
        for quality, rate in (("still", STILL_RATE), ("interactive", INTERACTIVE_RATE)):
            window.SetDesiredUpdateRate(rate)
            timed_frame(window, renderer, 3.0)  # settle the quality switch
            samples = [timed_frame(window, renderer, 6.0) for _ in range(frames)]
            row[f"{quality}_ms"] = statistics.median(samples)
            row[f"{quality}_samples_ms"] = samples
        print(
            f"  {row['mapper']:<34} {row['preset']:<15} first {first:8.0f} ms, "
            f"still {row['still_ms']:8.0f} ms, interactive {row['interactive_ms']:8.0f} ms",
            file=sys.stderr,
            flush=True,
        )
        return row

    def close(self) -> None:
        self.view.detach()
        self.window.Finalize()


def auto_choice(data: Scene) -> dict[str, str]:
    """The mapper the view picks by itself for each preset on this machine."""
    os.environ.pop(volume_module.CPU_RAYCAST_ENV, None)
    renderer = vtkRenderer()
    window = vtkRenderWindow()
    window.SetOffScreenRendering(1)
    window.AddRenderer(renderer)
    window.SetSize(8, 8)
    view = VolumeView(renderer, data, request_render=lambda: None)
    picks = {}
    for preset in PRESETS:
        view.show("mr" if preset == "mr-default" else "ct")
        view.set_preset(preset)
        window.Render()
        picks[preset] = "cpu ray cast" if view.uses_cpu_raycast else "smart (default)"
    view.detach()
    window.Finalize()
    return picks


def gl_renderer() -> str:
    renderer = vtkRenderer()
    window = vtkRenderWindow()
    window.SetOffScreenRendering(1)
    window.AddRenderer(renderer)
    window.SetSize(8, 8)
    found: list[str] = []
    renderer.AddObserver(
        vtkCommand.StartEvent, lambda *_: found.append(volume_module._gl_renderer(window))
    )
    window.Render()
    window.Finalize()
    return found[0] if found else "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=8, help="timed frames per quality")
    parser.add_argument("--size", type=int, default=600, help="window width and height")
    parser.add_argument("--json", type=Path, help="write every sample here")
    args = parser.parse_args(argv)

    data = scene()
    opengl = gl_renderer()
    print(
        f"volume {SHAPE[2]}×{SHAPE[1]}×{SHAPE[0]} int16, window {args.size}², "
        f"{args.frames} frames per quality, OpenGL: {opengl}, VTK {vtkmodules.__version__}, "
        f"{os.cpu_count()} CPUs",
        file=sys.stderr,
    )
    small = Scene()  # the pick depends on the preset and OpenGL, not on the data's size
    for layer_id, modality in (("ct", "CT"), ("mr", "MR")):
        volume = Volume(np.zeros((4, 4, 4), dtype=np.int16), np.eye(4))
        small.add_layer(ImageLayer(layer_id, volume, LayerInfo(modality=modality)))
    picks = auto_choice(small)
    # Presets outside, mappers inside: both mappers see the same machine load (a shared CI
    # machine's load drifts over the minutes this takes).
    rigs = {label: Rig(env, args.size, data) for label, env in MAPPERS.items()}
    results: dict[str, list[dict[str, Any]]] = {label: [] for label in MAPPERS}
    load_before = os.getloadavg()[0]
    try:
        for preset in PRESETS:
            for label, rig in rigs.items():
                results[label].append(rig.measure(preset, args.frames))
    finally:
        for rig in rigs.values():
            rig.close()
    load_after = os.getloadavg()[0]

    print()
    print(
        f"median ms per frame, {args.size}×{args.size}, OpenGL: {opengl}, "
        f"{os.cpu_count()} CPUs, load average {load_before:.1f} → {load_after:.1f}"
    )
    header = (
        f"{'preset':<15} {'mapper':<16} {'first':>8} {'still':>8} {'interactive':>12}"
        f"  the view picks"
    )
    print(header)
    print("-" * len(header))
    for index, preset in enumerate(PRESETS):
        for label in MAPPERS:
            row = results[label][index]
            print(
                f"{preset:<15} {label:<16} {row['first_ms']:8.0f} {row['still_ms']:8.0f} "
                f"{row['interactive_ms']:12.0f}  {'←' if picks[preset] == label else ''}"
            )
        cpu, smart = (results[label][index] for label in MAPPERS)
        print(
            f"{'':<15} {'smart / cpu':<16} {smart['first_ms'] / cpu['first_ms']:7.1f}× "
            f"{smart['still_ms'] / cpu['still_ms']:7.1f}× "
            f"{smart['interactive_ms'] / cpu['interactive_ms']:11.1f}×"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "shape": SHAPE,
                    "spacing": SPACING,
                    "size": args.size,
                    "frames": args.frames,
                    "opengl": opengl,
                    "vtk": vtkmodules.__version__,
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "results": results,
                    "picks": picks,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
