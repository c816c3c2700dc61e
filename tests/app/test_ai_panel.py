"""The AI panel run for real: worker processes, progress, cancel, crashes, review, restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PySide6.QtCore import Qt

from workstation.app.ai_binding import AiPanelBinding, format_value
from workstation.app.expert import ExpertModules
from workstation.app.workstation import Workstation
from workstation.core.scene import Scene
from workstation.inference.discovery import discover
from workstation.inference.jobs import WorkerPool
from workstation.inference.settings import InferenceSettings
from workstation.inference.testing import synthetic_ct_array
from workstation.testing.factories import write_series
from workstation.testing.spec import SeriesSpec
from workstation.ui.ai_panel import AiPanel

REPO = Path(__file__).resolve().parents[2]
PLUGINS = [REPO / "plugins" / "example", REPO / "tests" / "inference" / "plugins" / "testkit"]
BRIGHT = "example/threshold-bright-structures"
READER = "Dr Lee"


UNAVAILABLE = """
id = "needs-more"
name = "Needs a package this machine lacks"
version = "0.1.0"
host_api = "1.0"
authors = [{ name = "Tests" }]
manufacturer = "Tests"
[[modules]]
id = "liver"
name = "Liver (missing dependency)"
python_name = "needs_more:run"
requires = ["no_such_package_here"]
[[modules.inputs]]
modality = ["CT"]
"""


@pytest.fixture(scope="module")
def plugin_folders(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    lacking = tmp_path_factory.mktemp("plugins") / "needs-more"
    lacking.mkdir()
    (lacking / "plugin.toml").write_text(UNAVAILABLE)
    return [*PLUGINS, lacking]


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CT series with a bright box, and an MR series no CT module takes."""
    ct = tmp_path_factory.mktemp("ct")
    array, _truth = synthetic_ct_array((8, 32, 40))
    write_series(
        ct, SeriesSpec(series_description="Abdomen", uid_seed="ai-panel-ct"), stored=array + 1024
    )
    mr = tmp_path_factory.mktemp("mr")
    write_series(
        mr,
        replace(
            SeriesSpec(series_description="T2 axial", uid_seed="ai-panel-mr", modality="MR"),
            rescale_slope=None,
            rescale_intercept=None,
        ),
    )
    return {"ct": ct, "mr": mr}


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    workers = WorkerPool(max_idle=2, python_paths=())
    yield workers
    workers.shutdown()


@dataclass
class Reading:
    scene: Scene
    workstation: Workstation
    experts: ExpertModules
    panel: AiPanel
    binding: AiPanelBinding
    results: Path


def _reading(qtbot, results: Path, pool: WorkerPool, folders: list[Path]) -> Reading:  # type: ignore[no-untyped-def]
    def registry():  # type: ignore[no-untyped-def]
        return discover(
            InferenceSettings(),
            folders=folders,
            entry_points=False,
            app_folder=False,
            user_folder=False,
        )

    scene = Scene()
    workstation = Workstation(scene)
    experts = ExpertModules(
        scene, workstation.stacks, results, reader=lambda: READER, discover=registry, pool=pool
    )
    panel = AiPanel()
    qtbot.addWidget(panel)
    panel.show()
    binding = AiPanelBinding(
        panel, experts, scene, study_titles=lambda: {}, status=lambda _text: None
    )
    experts.discover_async()
    qtbot.waitUntil(lambda: experts.registry is not None, timeout=20000)
    return Reading(scene, workstation, experts, panel, binding, results)


@pytest.fixture
def reading(qtbot, tmp_path: Path, pool: WorkerPool, plugin_folders) -> Iterator[Reading]:  # type: ignore[no-untyped-def]
    opened = _reading(qtbot, tmp_path / "results", pool, plugin_folders)
    yield opened
    opened.experts.shutdown()
    opened.workstation.shutdown()


def _open(qtbot, reading: Reading, folder: Path) -> str:  # type: ignore[no-untyped-def]
    (layer_id,) = reading.workstation.open_paths([folder])
    reading.scene.set_active(layer_id)
    qtbot.waitUntil(lambda: reading.scene.layers[layer_id].fully_loaded, timeout=10000)
    return layer_id


def _choose(panel: AiPanel, module_id: str) -> None:
    index = panel.modules.findData(module_id)
    assert index >= 0, f"{module_id} not offered"
    panel.modules.setCurrentIndex(index)


def _run(qtbot, reading: Reading, module_id: str):  # type: ignore[no-untyped-def]
    _choose(reading.panel, module_id)
    assert reading.panel.run_button.isEnabled()
    before = set(reading.experts.runs)
    reading.panel.run_button.click()
    (run_id,) = set(reading.experts.runs) - before
    return reading.experts.runs[run_id]


def _wait_done(qtbot, run, timeout: int = 60000) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: run.state in ("succeeded", "failed", "cancelled"), timeout=timeout)


def _wait_result(qtbot, run) -> None:  # type: ignore[no-untyped-def]
    _wait_done(qtbot, run)
    assert run.state == "succeeded", run.message


def _record(run) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return json.loads((run.stored.folder / "result.json").read_text())


def test_only_modules_that_fit_the_series_can_run(qtbot, reading: Reading, series) -> None:
    _open(qtbot, reading, series["ct"])
    panel = reading.panel
    offered = {panel.modules.itemData(i): i for i in range(panel.modules.count())}
    assert BRIGHT in offered
    model = panel.modules.model()
    assert model.item(offered[BRIGHT]).isEnabled()  # type: ignore[attr-defined]
    # A module that cannot run here is listed, greyed out, with the reason.
    lacking = offered["needs-more/liver"]
    assert not model.item(lacking).isEnabled()  # type: ignore[attr-defined]
    assert "no_such_package_here" in panel.modules.itemData(lacking, Qt.ItemDataRole.ToolTipRole)

    mr = _open(qtbot, reading, series["mr"])
    assert reading.scene.active_layer_id == mr
    for row in range(panel.modules.count()):
        assert not model.item(row).isEnabled()  # type: ignore[attr-defined]
    bright = panel.modules.findData(BRIGHT)
    assert "modality MR, needs CT" in panel.modules.itemData(bright, Qt.ItemDataRole.ToolTipRole)
    assert not panel.run_button.isEnabled()
    assert "Not for this series" in panel.why_label.text()

    # Where a module can run, the others' reasons move to the tooltip: room for the results.
    _open(qtbot, reading, series["ct"])
    panel.modules.setCurrentIndex(panel.modules.findData(BRIGHT))
    assert "not for this series" in panel.why_label.text()
    assert "Not for this series" not in panel.why_label.text()
    assert "no_such_package_here" in panel.why_label.toolTip()


def test_run_shows_progress_overlay_marked_ai_and_measurements(
    qtbot, reading: Reading, series
) -> None:
    layer_id = _open(qtbot, reading, series["ct"])
    progress: list[float] = []
    reading.experts.runs_changed.connect(
        lambda: progress.extend(r.progress for r in reading.experts.runs.values())
    )
    run = _run(qtbot, reading, BRIGHT)
    qtbot.waitUntil(lambda: reading.panel.progress.isVisible() or run.state == "succeeded")
    _wait_done(qtbot, run)
    assert run.state == "succeeded", run.message
    assert any(0.0 < p < 1.0 for p in progress), progress
    assert not reading.panel.progress.isVisible()

    # The overlay is on the image, marked as AI output awaiting review.
    labels = run.result.labels
    assert labels.id in reading.scene.labels and labels.image_layer_id == layer_id
    assert labels.algorithms == ["Bright structures (threshold)"]
    assert labels.review_status == "pending review"
    assert labels.array.any()

    # The panel lists the measurements, each marked AI, with the review state.
    item = reading.panel.results.topLevelItem(0).child(0)
    assert item.text(0) == "Bright structures (threshold) (AI)"
    assert item.text(1) == "pending"
    names = [item.child(i).text(0) for i in range(item.childCount())]
    assert "AI · Volume of the bright structure" in names
    volume = run.result.measurement("bright_volume")
    assert item.child(names.index("AI · Volume of the bright structure")).text(1) == format_value(
        volume.value, volume.unit
    )

    # Its curve is plotted under the list.
    reading.panel.select_run(run.id)
    assert reading.panel.plot.isVisible()
    (curve,) = reading.panel.plot.curves
    assert curve.name == "Area of the bright structure per slice"
    assert curve.y == pytest.approx(run.result.curves[0].y)
    assert reading.panel.plot.y_label == "Area mm²"
    # The point the module named on the curve is drawn as a labelled line.
    (marker,) = reading.panel.plot.markers
    assert marker.label == "largest"
    assert marker.x == float(max(range(len(curve.y)), key=lambda k: curve.y[k]))
    image = reading.panel.plot.grab().toImage()
    assert image.width() > 100  # painted without error

    # Kept on disk with its DICOM SEG + SR as soon as it finished.
    record = _record(run)
    assert record["review"]["state"] == "pending"
    assert {Path(p).suffix for p in record["files"]} == {".dcm"}
    modalities = {pydicom.dcmread(p).Modality for p in record["files"]}
    assert modalities == {"SEG", "SR"}


def test_accept_and_reject_are_recorded_with_the_reader(qtbot, reading: Reading, series) -> None:
    _open(qtbot, reading, series["ct"])
    run = _run(qtbot, reading, BRIGHT)
    _wait_result(qtbot, run)
    reading.panel.select_run(run.id)

    reading.panel.accept_button.click()
    assert run.result.review.state.value == "accepted"
    assert run.result.review.by == READER
    assert run.result.labels.review_status == f"accepted by {READER}"
    record = _record(run)
    assert record["review"] == {**record["review"], "state": "accepted", "by": READER}
    sr = next(p for p in record["files"] if p.endswith("-sr.dcm"))
    assert READER in str(pydicom.dcmread(sr).ContentSequence)  # the verifying observer
    assert not reading.panel.accept_button.isEnabled()

    reading.panel.reject_button.click()
    assert run.result.review.state.value == "rejected"
    assert run.result.labels.id not in reading.scene.labels  # the overlay goes
    record = _record(run)
    assert [r["state"] for r in record["reviews"]] == ["pending", "accepted", "rejected"]
    assert record["files"] == []
    assert not list(run.stored.folder.glob("*.dcm"))  # nothing left to send by mistake
    assert not reading.panel.export_button.isEnabled()


def test_an_edited_result_is_exported_as_semiautomatic(qtbot, reading: Reading, series) -> None:
    _open(qtbot, reading, series["ct"])
    run = _run(qtbot, reading, BRIGHT)
    _wait_result(qtbot, run)
    labels = run.result.labels
    before = int(np.count_nonzero(labels.array))
    centre = labels.affine @ np.array([20.0, 16.0, 4.0, 1.0])
    reading.scene.undo.push(labels.brush(centre[:3], 6.0, 1, plane_normal=(0.0, 0.0, 1.0)))
    assert run.result.review.state.value == "edited"
    reading.experts.flush_edits()
    record = _record(run)
    assert record["review"]["state"] == "edited"
    with np.load(run.stored.folder / "labels.npz") as stored:
        assert int(np.count_nonzero(stored["labels"])) > before

    reading.panel.select_run(run.id)
    reading.panel.accept_button.click()
    seg = next(p for p in _record(run)["files"] if p.endswith("-seg.dcm") or "seg" in p)
    segment = pydicom.dcmread(seg).SegmentSequence[0]
    assert segment.SegmentAlgorithmType == "SEMIAUTOMATIC"


def test_cancel_stops_the_module_at_once(qtbot, reading: Reading, series) -> None:
    _open(qtbot, reading, series["ct"])
    run = _run(qtbot, reading, "testkit/slow")
    qtbot.waitUntil(lambda: run.state == "running", timeout=30000)
    assert reading.panel.cancel_button.isVisible()
    reading.panel.cancel_button.click()
    qtbot.waitUntil(lambda: run.state == "cancelled", timeout=5000)
    assert not reading.panel.cancel_button.isVisible()
    assert run.job.wait(10.0)  # the worker is gone, its shared memory released


@pytest.mark.parametrize(
    ("module_id", "reason"),
    [("testkit/segfault", "segmentation fault"), ("testkit/raises", "deliberate failure")],
)
def test_a_crashing_module_leaves_the_viewer_running(
    qtbot, reading: Reading, series, module_id: str, reason: str
) -> None:
    layer_id = _open(qtbot, reading, series["ct"])
    run = _run(qtbot, reading, module_id)
    _wait_done(qtbot, run)
    assert run.state == "failed"
    assert reason in run.message.lower(), run.message
    item = reading.panel.results.topLevelItem(0).child(0)
    assert item.text(1) == "failed"
    assert reason in item.child(0).text(0).lower()
    # The reader carries on: the next run works.
    assert layer_id in reading.scene.layers
    again = _run(qtbot, reading, BRIGHT)
    _wait_done(qtbot, again)
    assert again.state == "succeeded"


def test_results_are_listed_again_after_a_restart(
    qtbot, tmp_path: Path, pool, series, plugin_folders
) -> None:
    first = _reading(qtbot, tmp_path / "results", pool, plugin_folders)
    _open(qtbot, first, series["ct"])
    run = _run(qtbot, first, BRIGHT)
    _wait_result(qtbot, run)
    values = run.result.values
    first.experts.shutdown()
    first.workstation.shutdown()

    second = _reading(qtbot, tmp_path / "results", pool, plugin_folders)
    try:
        layer_id = _open(qtbot, second, series["ct"])
        qtbot.waitUntil(lambda: run.result.id in second.experts.runs)
        stored = second.experts.runs[run.result.id]
        assert stored.state == "stored" and stored.result is None
        item = second.panel.results.topLevelItem(0).child(0)
        assert item.text(1) == "pending"
        second.panel.select_run(stored.id)
        assert second.panel.show_button.isEnabled()
        second.panel.show_button.click()
        labels = stored.result.labels
        assert labels.id in second.scene.labels and labels.image_layer_id == layer_id
        assert stored.result.values == pytest.approx(values)
        second.panel.accept_button.click()
        assert _record(stored)["review"]["by"] == READER
    finally:
        second.experts.shutdown()
        second.workstation.shutdown()


def test_nice_ticks() -> None:
    from workstation.ui.curve_plot import nice_ticks

    assert nice_ticks(0, 142) == [0, 50, 100, 150]
    assert nice_ticks(0, 24) == [0, 10, 20, 30]
    flat = nice_ticks(3.2, 3.2)  # a constant curve still gets an axis around it
    assert flat[0] <= 3.2 < flat[-1] and len(flat) >= 3
    assert nice_ticks(float("nan"), 1) == []
