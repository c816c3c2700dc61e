"""Run by test_screenshot.py in a child process on an Xvfb display: open the demo in the real
main window, wait until every series has loaded, and grab the screen into a PNG.

``--annotate`` also draws what a reader would have on screen after a while — a length, an
ellipse ROI in the liver, a segmented lesion — the pictures of the README.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from screenshot_support import grab_screen  # the scripts run from this folder


def _annotate(services: Any) -> None:
    import numpy as np

    from workstation.core import geometry
    from workstation.core.annotations import Annotation, AnnotationKind, ImageReference
    from workstation.core.measure import measure

    scene = services.scene
    layer = next(each for each in scene.layers.values() if each.info.modality == "CT")
    volume = layer.volume
    k = volume.array.shape[0] // 2
    ref = ImageReference(
        layer.info.study_instance_uid,
        layer.info.series_instance_uid,
        layer.info.frame_of_reference_uid,
        layer.info.sop_instance_uids[k],
    )
    normal = tuple(float(v) for v in geometry.slice_normal((1, 0, 0, 0, 1, 0)))

    def at(i: float, j: float) -> tuple[float, float, float]:
        x, y, z = volume.index_to_lps((i, j, k))
        return float(x), float(y), float(z)

    def add(kind: AnnotationKind, points: tuple[Any, ...], label: str) -> None:
        draft = Annotation(
            kind,
            ref,
            points=points,
            plane_normal=normal,
            label=label,
            value_unit=layer.info.value_unit,
        )
        values = measure(draft, volume.array, volume.affine)
        scene.add_annotation(
            Annotation(
                kind,
                ref,
                points=points,
                plane_normal=normal,
                label=label,
                values=values,
                value_unit=layer.info.value_unit,
            )
        )

    width = volume.array.shape[2]
    add(
        AnnotationKind.ELLIPSE,
        (
            at(0.27 * width, 0.45 * width),
            at(0.33 * width, 0.45 * width),
            at(0.27 * width, 0.50 * width),
        ),
        "liver",
    )
    add(
        AnnotationKind.LENGTH,
        (at(0.16 * width, 0.5 * width), at(0.84 * width, 0.5 * width)),
        "body width",
    )
    labels = services.new_segmentation()
    if labels is not None:
        # The liver: soft tissue of liver attenuation in the patient's right upper quadrant.
        labels.segments[1].label = "liver"
        box = (
            slice(k - 25, k + 10),
            slice(int(0.2 * width), int(0.65 * width)),
            slice(int(0.12 * width), int(0.48 * width)),
        )
        region = volume.array[box]
        labels.array[box] = np.where((region > 45) & (region < 85), 1, 0)
        labels.segments_changed.emit()
        labels.changed.emit(None)


def _run_module(app: Any, window: Any, services: Any, module_id: str, modality: str) -> None:
    """Run an expert module on the demo series of ``modality`` and wait for its result."""
    experts = services.experts
    deadline = time.monotonic() + 60
    while experts.registry is None and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.05)
    layer = next(each for each in services.scene.layers.values() if each.info.modality == modality)
    services.scene.set_active(layer.id)
    run = experts.run(layer.id, module_id, "cpu")
    while run is not None and run.state not in ("succeeded", "failed", "cancelled"):
        if time.monotonic() > deadline + 120:
            break
        app.processEvents()
        time.sleep(0.05)
    window.docks["AI"].raise_()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("output", type=Path)
    parser.add_argument("layout", nargs="?", default="mpr")
    parser.add_argument("--annotate", action="store_true")
    parser.add_argument("--ai", metavar="MODULE", help="run this expert module")
    parser.add_argument("--ai-on", default="CT", choices=("CT", "MR"), help="on this demo series")
    args = parser.parse_args()
    from PySide6.QtWidgets import QApplication

    from workstation.app.composition import build_main_window
    from workstation.resources import read_text

    app = QApplication(sys.argv[:1])
    app.setStyleSheet(read_text("style.qss"))
    window, services = build_main_window()
    window.resize(1600, 1000)
    window.move(0, 0)
    window.show()
    services.open_demo()
    window.set_layout(args.layout)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        app.processEvents()
        layers = services.scene.layers.values()
        if layers and all(layer.fully_loaded for layer in layers):
            break
        time.sleep(0.05)
    if args.annotate:
        _annotate(services)
    if args.ai:
        _run_module(app, window, services, args.ai, args.ai_on)
    grab_screen(app, window, args.output)
    services.shutdown()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
