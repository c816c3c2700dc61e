"""Time of a slice change in the 2D viewer at 512², split into pipeline update and render.

Renders ``torso_ct`` (120 × 512², 1.5 × 0.7 × 0.7 mm) offscreen at 600 × 600 through the same
:class:`SliceView` as the viewport, stepping slices, and prints the median time per step of

- (a) the pipeline update: ``SliceView.set_slice`` (plane, copying the slice into the view's
  buffer, placing the actor, labels, annotations and overlay text);
- (b) the render: ``vtkRenderWindow.Render`` (texture upload, window/level through the colour
  table, drawing);

for axial (acquired) slices, coronal reformats and an oblique MPR plane — trilinear, as it is
shown at rest, and previewed, as it is while it moves (the reslice runs inside the render) —
with a label overlay and a measurement on screen, against the floor of copying one slice with
numpy measured in the same run.

    VTK_DEFAULT_OPENGL_WINDOW=vtkOSOpenGLRenderWindow \\
        .venv/bin/python tests/benchmarks/bench_viewer_slice.py [--steps 40] [--size 600]

Not collected by pytest (no ``test_`` prefix); it prints and never fails on speed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")

import numpy as np
from vtkmodules.vtkRenderingCore import vtkRenderer

from workstation.core.annotations import Annotation, AnnotationKind, ImageReference
from workstation.core.planes import Orientation, oblique_plane
from workstation.core.scene import ImageLayer, LayerInfo, Scene
from workstation.core.segmentation import LabelMap
from workstation.core.volume import Volume
from workstation.render.slice_view import SliceView
from workstation.render.snapshot import offscreen_window
from workstation.testing.phantoms import torso_ct

SHAPE = (120, 512, 512)
SPACING = (1.5, 0.7, 0.7)  # slice, row, column (mm)


def build_scene() -> Scene:
    started = time.perf_counter()
    array = torso_ct(SHAPE, SPACING)
    affine = np.diag([SPACING[2], SPACING[1], SPACING[0], 1.0])
    affine[:3, 3] = (-179.0, -179.0, -90.0)
    scene = Scene()
    info = LayerInfo(patient_name="BENCH^CT", modality="CT", series_instance_uid="1.2.3")
    scene.add_layer(ImageLayer("ct", Volume(array, affine), info))
    labels = LabelMap.empty_like("seg", "ct", array.shape, affine)
    labels.add_segment("liver")
    labels.array[40:70, 200:300, 150:250] = 1
    scene.add_labels(labels)
    z = float(affine[2, 3])
    scene.load_annotations(
        [
            Annotation(
                AnnotationKind.LENGTH,
                ImageReference("1", "1.2.3"),
                points=((-50.0, 0.0, z + 90.0), (50.0, 0.0, z + 90.0)),
                values={"length_mm": 100.0},
            )
        ]
    )
    print(f"phantom {SHAPE[0]} × {SHAPE[1]}² built in {time.perf_counter() - started:.1f} s")
    return scene


def median_ms(samples: list[float]) -> float:
    return 1000.0 * statistics.median(samples)


def time_steps(
    view: SliceView, render: Callable[[], None], steps: int
) -> tuple[list[float], list[float]]:
    update_times: list[float] = []
    render_times: list[float] = []
    count = view.slice_count
    start = view.slice_index
    for step in range(steps):
        index = (start + step + 1) % count
        t0 = time.perf_counter()
        view.set_slice(index)
        t1 = time.perf_counter()
        render()
        t2 = time.perf_counter()
        update_times.append(t1 - t0)
        render_times.append(t2 - t1)
    return update_times, render_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--size", type=int, default=600)
    args = parser.parse_args()

    scene = build_scene()
    array = scene.layers["ct"].volume.array
    buffer = np.empty(array.shape[1:], dtype=array.dtype)
    floor: list[float] = []
    for step in range(args.steps):
        t0 = time.perf_counter()
        np.copyto(buffer, array[step % array.shape[0]])
        floor.append(time.perf_counter() - t0)
    floor_ms = median_ms(floor)

    window = offscreen_window((args.size, args.size))
    renderer = vtkRenderer()
    window.AddRenderer(renderer)
    view = SliceView(renderer, scene, "ct")
    window.Render()
    print(f"window {args.size}² ({window.GetClassName()}), {args.steps} steps each, medians:")
    print(f"  floor: numpy copy of one 512² int16 slice        {floor_ms:7.3f} ms")

    def oblique(preview: bool) -> None:
        view.preview_oblique = preview  # as the Qt viewport does; off for snapshots
        view.set_oblique(
            oblique_plane(
                (0.0, 0.0, 0.0),
                (np.cos(np.radians(30)), np.sin(np.radians(30)), 0.0),
                (0.0, 0.0, -1.0),
                (0.7, 0.7),
                (520, 700),
            )
        )

    cases: list[tuple[str, Callable[[], None]]] = [
        ("axial (acquired slices)", lambda: view.set_orientation(Orientation.AXIAL)),
        ("coronal reformat", lambda: view.set_orientation(Orientation.CORONAL)),
        ("oblique MPR 30°, trilinear (at rest)", lambda: oblique(False)),
        ("oblique MPR 30°, preview (moving)", lambda: oblique(True)),
    ]
    for name, prepare in cases:
        prepare()
        window.Render()
        update, render = time_steps(view, window.Render, args.steps)
        total = [u + r for u, r in zip(update, render, strict=True)]
        print(
            f"  {name:<38} (a) update {median_ms(update):6.2f} ms"
            f"  (b) render {median_ms(render):6.2f} ms"
            f"  total {median_ms(total):6.2f} ms"
            f"  ({median_ms(update) / floor_ms:5.1f}× the copy floor for (a))"
        )
    view.disconnect()
    window.Finalize()


if __name__ == "__main__":
    main()
