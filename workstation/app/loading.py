"""Background loading of stacks into scene layers, announced to the GUI thread."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from workstation.app.early_imports import DICOM, ENGINE, settle_imports
from workstation.core.errors import ErrorCode, FileError
from workstation.core.scene import Scene

if TYPE_CHECKING:
    from workstation.io.progressive import ProgressiveLoad

log = logging.getLogger(__name__)


class LayerLoader(QObject):
    """Fills a layer's slices in a worker thread; the scene is only touched in the GUI thread."""

    batch = Signal(str, list)  # layer id, slice indices now loaded
    finished = Signal(str, list)  # layer id, FileErrors
    replaced = Signal(str)  # layer id: the array was re-allocated (wider dtype)

    def __init__(self, scene: Scene, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.scene = scene
        self._cancelled: set[str] = set()
        self._threads: dict[str, threading.Thread] = {}
        self._loads: dict[str, ProgressiveLoad] = {}
        self.batch.connect(self._on_batch)
        self.replaced.connect(self._on_replaced)

    def start(self, layer_id: str, load: ProgressiveLoad, first: int) -> None:
        self._loads[layer_id] = load
        thread = threading.Thread(
            target=self._run,
            args=(layer_id, load, first),
            name=f"load {layer_id[-12:]}",
            daemon=True,
        )
        self._threads[layer_id] = thread
        thread.start()

    def cancel(self, layer_id: str) -> None:
        self._cancelled.add(layer_id)

    def wait(self, timeout: float | None = None) -> None:
        """Join every loading thread (tests, shutdown)."""
        for thread in list(self._threads.values()):
            thread.join(timeout)

    def _run(self, layer_id: str, load: ProgressiveLoad, first: int) -> None:
        settle_imports(DICOM, ENGINE)
        array = load.array
        try:
            load.run(
                first,
                on_batch=lambda done: self.batch.emit(layer_id, done),
                cancel=lambda: layer_id in self._cancelled,
            )
        except Exception as exc:
            # A failure must reach the user as a message, never end the app.
            log.exception("loading failed")
            self.finished.emit(layer_id, [FileError(layer_id, ErrorCode.CORRUPT, str(exc))])
            return
        if load.array is not array:
            self.replaced.emit(layer_id)
        self.finished.emit(layer_id, list(load.errors))

    def _on_batch(self, layer_id: str, indices: list[int]) -> None:
        self.scene.mark_slices_loaded(layer_id, indices)

    def _on_replaced(self, layer_id: str) -> None:
        layer = self.scene.layers.get(layer_id)
        load = self._loads.get(layer_id)
        if layer is None or load is None:
            return
        layer.volume = load.volume
        self.scene.mark_loaded(layer_id, 0, layer.slice_count - 1)
