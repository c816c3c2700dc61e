"""``workstation snapshot``: a series rendered as the viewer shows it, without a display."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from workstation.app.layers import new_layer
from workstation.core.errors import WorkstationError
from workstation.core.presets import preset as find_preset
from workstation.core.scene import Scene
from workstation.io import DicomStack, load_tolerant, scan


class SnapshotError(WorkstationError):
    """Nothing could be rendered from what was given."""


def _choose(result: Any, series_uid: str | None) -> tuple[Any, Any, Any, DicomStack]:
    candidates = [
        entry
        for entry in result.tree.iter_stacks()
        if series_uid is None or entry[2].series_instance_uid == series_uid
    ]
    if not candidates:
        what = f"series {series_uid}" if series_uid else "image"
        raise SnapshotError(f"no {what} found to render")
    chosen: tuple[Any, Any, Any, DicomStack] = max(candidates, key=lambda e: len(e[3].frames))
    return chosen


def load_scene(path: Path, series_uid: str | None = None) -> tuple[Scene, str]:
    """A scene holding the chosen stack of ``path`` (the largest one by default)."""
    result = scan(path)
    patient, study, series, stack = _choose(result, series_uid)
    volume, loaded, errors = load_tolerant(stack)
    if volume is None:
        reason = errors[0].message if errors else "unreadable"
        raise SnapshotError(f"the series cannot be loaded: {reason}")
    layer = new_layer(patient, study, series, loaded, volume)
    layer.loaded = np.ones(layer.slice_count, dtype=bool)
    scene = Scene()
    scene.add_layer(layer)
    return scene, layer.id


def render_snapshot(
    path: Path,
    output: Path,
    *,
    layout: str = "1x1",
    preset: str | None = None,
    slice_index: int | None = None,
    phase: int = 0,
    size: tuple[int, int] = (1024, 1024),
    series_uid: str | None = None,
) -> Path:
    """Render ``path`` into the PNG ``output``; returns it."""
    from workstation.render.snapshot import default_cells, save_png, snapshot

    window_preset = None
    if preset is not None:
        try:
            window_preset = find_preset(preset)
        except KeyError as exc:
            raise SnapshotError(str(exc.args[0])) from exc
    scene, layer_id = load_scene(path, series_uid)
    layer = scene.layers[layer_id]
    if not 0 <= phase < layer.volume.n_phases:
        raise SnapshotError(f"--phase {phase}: the series has {layer.volume.n_phases} phase(s)")
    slices = layer.volume.grid_shape[0]
    if slice_index is not None and not 0 <= slice_index < slices:
        raise SnapshotError(
            f"--slice {slice_index}: the series has {slices} slices (0..{slices - 1})"
        )
    cells = default_cells(scene, layout, layer_id)
    first = cells[0]
    if first is not None:
        cells[0] = dataclasses.replace(first, index=slice_index, phase=phase)
    cells = [dataclasses.replace(c, phase=phase) if c is not None else None for c in cells]
    extra = _volume_cell(layer_id) if layout == "mpr" else None
    array = snapshot(scene, layout, size, views=cells, preset=window_preset, extra_renderer=extra)
    output.parent.mkdir(parents=True, exist_ok=True)
    save_png(array, output)
    return output


def _volume_cell(layer_id: str) -> Any:
    def fill(renderer: Any, scene: Scene) -> None:
        from workstation.render.volume import VolumeView

        view = VolumeView(renderer, scene)
        view.show(layer_id)
        layer = scene.layers[layer_id]
        view.set_preset("ct-soft-tissue" if layer.info.modality == "CT" else "mr-default")
        view.reset_camera()

    return fill
