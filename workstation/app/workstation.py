"""The application's services behind the main window: open, load, import, export.

Widgets call these methods and observe the scene; nothing here draws. Long work (loading the
rest of a series, importing) runs in worker threads and reports back through Qt signals.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from workstation.app.early_imports import ENGINE, settle_imports
from workstation.app.layers import new_layer
from workstation.app.loading import LayerLoader
from workstation.core.errors import DicomFileError, FileError, WorkstationError
from workstation.core.scene import Scene
from workstation.core.volume import StackKind

if TYPE_CHECKING:
    # The engine loads with the first study opened (or just after the window's first paint).
    from workstation.io import DicomStack, ScanResult

log = logging.getLogger(__name__)


def first_slice(kind: StackKind, shape: tuple[int, ...]) -> int:
    """The slice shown first: the middle of a volume (anatomy at once), phase 0 of a cine's
    middle slice, the first frame of a movie."""
    if kind is StackKind.VOLUME:
        return shape[0] // 2
    if kind is StackKind.CINE:
        return shape[1] // 2  # phase 0 of the middle slice (phase-major order)
    return 0


class Workstation(QObject):
    """Scene, loaders, database and annotation store, wired together."""

    #: A problem to show without blocking: (title, message).
    problem = Signal(str, str)
    #: A short status message.
    status = Signal(str)
    #: Layers just added to the scene, in the order they should be shown.
    opened = Signal(list)

    def __init__(self, scene: Scene, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.scene = scene
        #: The DICOM stack behind each layer (for references, tags and DICOM export).
        self.stacks: dict[str, DicomStack] = {}
        self.loader = LayerLoader(scene, self)
        self.loader.finished.connect(self._on_loaded)
        self.scene.events.layer_removed.connect(self.loader.cancel)
        self.scene.events.layer_removed.connect(lambda layer_id: self.stacks.pop(layer_id, None))

    # --- opening ----------------------------------------------------------------------------

    def open_paths(self, paths: Sequence[Path]) -> list[str]:
        """Scan files, folders, zip archives or DICOMDIR and open every stack found."""
        missing = [str(p) for p in paths if not Path(p).exists()]
        if missing:
            self.problem.emit("Cannot open", "No such file or folder: " + ", ".join(missing))
        existing = [Path(p) for p in paths if Path(p).exists()]
        if not existing:
            return []
        settle_imports(ENGINE)
        from workstation.io import scan

        result = scan(list(existing))
        return self.open_scan(result)

    def open_scan(self, result: ScanResult) -> list[str]:
        """Open the stacks of a scan as layers; report files that could not be used."""
        settle_imports(ENGINE)
        from workstation.io import DicomStack
        from workstation.io.progressive import ProgressiveLoad

        opened: list[str] = []
        failures: list[str] = []
        for patient, study, series, stack in result.tree.iter_stacks():
            assert isinstance(stack, DicomStack)
            layer_id = f"{stack.series_instance_uid}#{stack.index}"
            if layer_id in self.scene.layers:
                opened.append(layer_id)
                continue
            try:
                load = ProgressiveLoad(stack)
            except DicomFileError as error:
                failures.append(
                    f"{series.series_description or series.series_instance_uid}: {error.message}"
                )
                continue
            first = first_slice(stack.kind, stack.shape)
            load.load([first])
            layer = new_layer(patient, study, series, stack, load.volume)
            layer.loaded[:] = load.loaded
            self.stacks[layer.id] = stack
            self.scene.add_layer(layer)
            self.loader.start(layer.id, load, first)
            opened.append(layer.id)
        self.report_files(result.errors, failures)
        if opened:
            self.opened.emit(opened)
        elif not failures and not result.errors:
            self.problem.emit("Nothing to show", "No images were found there.")
        return opened

    def report_files(self, errors: list[FileError], failures: list[str]) -> None:
        lines = failures + [f"{Path(e.path).name}: {e.code.value} — {e.message}" for e in errors]
        if not lines:
            return
        shown = "\n".join(lines[:12])
        more = f"\n… and {len(lines) - 12} more" if len(lines) > 12 else ""
        self.problem.emit(
            f"{len(lines)} file(s) could not be used",
            f"The other images are open.\n\n{shown}{more}",
        )

    def _on_loaded(self, layer_id: str, errors: list[FileError]) -> None:
        layer = self.scene.layers.get(layer_id)
        if layer is None:
            return
        if errors:
            layer.notes = (*layer.notes, f"{len(errors)} file(s) of this series could not be read")
            self.report_files(errors, [])
        self.status.emit(f"{layer.info.series_description or 'Series'} loaded")

    def close_layer(self, layer_id: str) -> None:
        self.scene.remove_layer(layer_id)

    def close_all(self) -> None:
        for layer_id in list(self.scene.layers):
            self.scene.remove_layer(layer_id)

    def shutdown(self) -> None:
        for layer_id in list(self.scene.layers):
            self.loader.cancel(layer_id)
        self.loader.wait(timeout=5.0)


class OpenError(WorkstationError):
    """Something asked for could not be opened."""
