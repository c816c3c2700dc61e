"""Offscreen pictures of the viewer: one view, layouts of views, PNG files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")

from vtkmodules.vtkIOImage import vtkPNGReader
from vtkmodules.vtkRenderingCore import vtkRenderer

from workstation.core.planes import Orientation
from workstation.core.presets import preset
from workstation.core.scene import ImageLayer, LayerInfo, Scene
from workstation.core.volume import Volume
from workstation.render._vtk import to_numpy
from workstation.render.snapshot import (
    LAYOUTS,
    ViewSpec,
    default_cells,
    render_view_to_array,
    save_png,
    snapshot,
)


def ct_scene(count: int = 1) -> Scene:
    scene = Scene()
    for n in range(count):
        array = np.full((10, 40, 50), 40, dtype=np.int16)
        array[:, 15:25, 20:30] = -600  # lung-like block
        affine = np.diag([0.8, 0.8, 2.0, 1.0])
        info = LayerInfo(modality="CT", series_instance_uid=f"1.2.{n}", patient_name="A^B")
        scene.add_layer(ImageLayer(f"ct{n}", Volume(array, affine), info))
    return scene


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_snapshot_layouts_have_the_requested_size(layout: str) -> None:
    image = snapshot(ct_scene(2), layout, size=(320, 240))
    assert image.shape == (240, 320, 3) and image.dtype == np.uint8
    assert image.max() > 100  # something was drawn


def test_mpr_fourth_cell_is_left_to_the_3d_hook() -> None:
    calls: list[Any] = []

    def fill(renderer: Any, scene: Scene) -> None:
        calls.append((renderer, scene))
        renderer.SetBackground(0.0, 0.0, 1.0)

    scene = ct_scene()
    image = snapshot(scene, "mpr", size=(200, 200), extra_renderer=fill)
    assert len(calls) == 1 and isinstance(calls[0][0], vtkRenderer) and calls[0][1] is scene
    assert tuple(image[150, 150]) == (0, 0, 255)  # bottom right: the 3D cell
    plain = snapshot(scene, "mpr", size=(200, 200))
    assert plain[120:195, 120:195].max() == 0  # black without a hook


def test_default_cells_fill_a_grid_with_the_layers_then_other_orientations() -> None:
    cells = default_cells(ct_scene(1), "2x2")
    assert [(c.layer_id, c.orientation) for c in cells if c] == [
        ("ct0", Orientation.AXIAL),
        ("ct0", Orientation.CORONAL),
        ("ct0", Orientation.SAGITTAL),
    ]
    assert cells[3] is None
    cells = default_cells(ct_scene(2), "1x2")
    assert [c.layer_id for c in cells if c] == ["ct0", "ct1"]


def test_a_cell_preset_changes_only_that_picture() -> None:
    scene = ct_scene()
    display = scene.layers["ct0"].display
    before = (display.window, display.center)
    soft = render_view_to_array(scene, "ct0", Orientation.AXIAL, 5, size=(100, 100), overlays=False)
    lung = render_view_to_array(
        scene, "ct0", Orientation.AXIAL, 5, size=(100, 100), preset=preset("lung"), overlays=False
    )
    assert (display.window, display.center) == before
    assert soft[50, 50, 0] == 0  # -600 HU is black in the soft-tissue window
    assert 100 < lung[50, 50, 0] < 160  # and mid-grey in the lung window
    two = snapshot(
        scene,
        "1x2",
        size=(200, 100),
        views=[ViewSpec("ct0", index=5), ViewSpec("ct0", index=5, preset=preset("lung"))],
        overlays=False,
    )
    assert two[50, 50, 0] == 0 and 100 < two[50, 150, 0] < 160


def test_save_png_writes_the_pixels(tmp_path: Path) -> None:
    image = np.zeros((30, 40, 3), dtype=np.uint8)
    image[0, 0] = (255, 0, 0)  # top left
    path = tmp_path / "view.png"
    save_png(image, path)
    reader = vtkPNGReader()
    reader.SetFileName(str(path))
    reader.Update()
    output = reader.GetOutput()
    width, height, _ = output.GetDimensions()
    pixels = to_numpy(output.GetPointData().GetScalars()).reshape(height, width, -1)[::-1]
    assert (width, height) == (40, 30) and tuple(pixels[0, 0, :3]) == (255, 0, 0)
    with pytest.raises(ValueError, match="uint8"):
        save_png(image.astype(np.float32), path)


def test_empty_scene_and_missing_layer_give_black_pictures() -> None:
    assert snapshot(Scene(), "2x2", size=(64, 64)).max() <= 45  # only the cell gaps
    image = snapshot(ct_scene(), "1x1", size=(64, 64), views=[ViewSpec("nope")])
    assert image.max() == 0
