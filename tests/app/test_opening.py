"""Opening series: the first image at once, the rest progressively, problems shown not raised."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from workstation.app.workstation import Workstation
from workstation.core.scene import Scene
from workstation.testing.factories import SeriesSpec, write_series

SPEC = SeriesSpec(n_slices=40, shuffle=True)


def test_open_shows_the_middle_slice_at_once_and_fills_the_rest(qtbot, tmp_path) -> None:
    written = write_series(tmp_path, replace(SPEC, series_description="Chest"))
    scene = Scene()
    workstation = Workstation(scene)
    with qtbot.waitSignal(workstation.opened, timeout=5000) as opened:
        workstation.open_paths([tmp_path])
    (layer_id,) = opened.args[0]
    layer = scene.layers[layer_id]
    assert layer.info.series_description == "Chest"
    assert layer.info.value_unit == "HU"
    assert layer.loaded[20]  # the middle slice is there before the loader runs
    np.testing.assert_array_equal(layer.volume.array[20], written.values[20])
    qtbot.waitUntil(lambda: layer.fully_loaded, timeout=10000)
    np.testing.assert_array_equal(layer.volume.array.astype(float), written.values)
    assert len(layer.info.sop_instance_uids) == 40
    workstation.shutdown()


def test_problems_are_signalled_and_the_good_series_opens(qtbot, tmp_path) -> None:
    write_series(tmp_path / "good", replace(SPEC, n_slices=4))
    (tmp_path / "good" / "notes.txt").write_text("not dicom")
    scene = Scene()
    workstation = Workstation(scene)
    problems: list[tuple[str, str]] = []
    workstation.problem.connect(lambda title, text: problems.append((title, text)))
    opened = workstation.open_paths([tmp_path / "good", tmp_path / "missing"])
    assert len(opened) == 1
    titles = [title for title, _ in problems]
    assert "Cannot open" in titles
    assert any("could not be used" in title for title in titles)
    assert any("notes.txt" in text for _, text in problems)
    workstation.shutdown()


def test_reopening_a_series_does_not_load_it_twice(qtbot, tmp_path) -> None:
    write_series(tmp_path, replace(SPEC, n_slices=4))
    scene = Scene()
    workstation = Workstation(scene)
    first = workstation.open_paths([tmp_path])
    second = workstation.open_paths([tmp_path])
    assert first == second and len(scene.layers) == 1
    workstation.shutdown()
