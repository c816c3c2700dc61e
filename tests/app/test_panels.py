"""The measurement list, the segmentation panel and the study browser, on a real scene."""

from __future__ import annotations

import numpy as np

from workstation.core.annotations import Annotation, AnnotationKind, ImageReference
from workstation.core.scene import ImageLayer, LayerInfo, Scene
from workstation.core.segmentation import LabelMap
from workstation.core.volume import Volume
from workstation.ui.measurements_panel import MeasurementsPanel, describe_values
from workstation.ui.segments_panel import SegmentsPanel


def _scene() -> Scene:
    scene = Scene()
    volume = Volume(np.zeros((4, 8, 8), np.int16), np.eye(4))
    scene.add_layer(
        ImageLayer(
            "L",
            volume,
            LayerInfo(series_instance_uid="1.2", modality="CT", series_description="Chest"),
        )
    )
    return scene


def _length() -> Annotation:
    return Annotation(
        AnnotationKind.LENGTH,
        ImageReference("1", "1.2"),
        points=((0, 0, 0), (42.13, 0, 0)),
        values={"length_mm": 42.13},
    )


def test_measurement_values_read_as_radiologists_say_them() -> None:
    assert describe_values(_length()) == "42.1 mm"
    roi = Annotation(
        AnnotationKind.ELLIPSE,
        ImageReference("1", "1.2"),
        points=((0, 0, 0), (1, 0, 0), (0, 1, 0)),
        value_unit="HU",
        values={"area_mm2": 314.2, "mean": 41.4, "sd": 12.2, "min": 3, "max": 80},
    )
    assert describe_values(roi) == "314 mm² · 41 ± 12 HU [3, 80]"


def test_measurement_list_follows_the_scene_and_edits_labels(qtbot) -> None:
    scene = _scene()
    panel = MeasurementsPanel(scene)
    qtbot.addWidget(panel)
    annotation = _length()
    scene.add_annotation(annotation)
    assert panel.table.rowCount() == 1
    assert panel.table.item(0, 2).text() == "42.1 mm"
    panel.table.selectRow(0)
    assert scene.selected_annotation == annotation.uuid
    panel.table.item(0, 0).setText("aorta")
    assert scene.annotations[annotation.uuid].label == "aorta"
    panel.delete_button.click()
    assert panel.table.rowCount() == 0
    scene.undo.undo()  # the deletion
    assert panel.table.rowCount() == 1


def test_segments_panel_lists_segments_and_emits_the_target(qtbot) -> None:
    scene = _scene()
    panel = SegmentsPanel(scene)
    qtbot.addWidget(panel)
    labels = LabelMap.empty_like("S", "L", (4, 8, 8), np.eye(4))
    labels.add_segment("Liver")
    with qtbot.waitSignal(panel.target_changed) as target:
        scene.add_labels(labels)
    assert target.args == ["S", 1]
    assert panel.segments.count() == 1
    with qtbot.waitSignal(panel.target_changed) as target:
        labels.add_segment("Lesion")
    assert target.args == ["S", 2]
    panel.segments.item(0).setCheckState(panel.segments.item(0).checkState().__class__(0))
    assert not labels.segments[1].visible
