"""Importing into the library in a worker thread, with progress and cancel for the GUI."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from workstation.app.early_imports import DICOM, LIBRARY_IMPORT, settle_imports

if TYPE_CHECKING:
    from workstation.pacs import ImportReport

log = logging.getLogger(__name__)


class ImportJob(QObject):
    """One import; ``progress`` and ``finished`` arrive in the GUI thread (queued signals)."""

    progress = Signal(int, int)
    finished = Signal(object)  # ImportReport
    failed = Signal(str)

    def __init__(self, paths: list[Path], copy: bool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.paths = paths
        self.copy = copy
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="import", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        settle_imports(DICOM, LIBRARY_IMPORT)
        from workstation.pacs import import_paths, open_database

        try:
            # SQLite connections belong to the thread that opens them.
            with open_database() as db:
                report: ImportReport = import_paths(
                    db,
                    self.paths,
                    copy=self.copy,
                    progress=self.progress.emit,
                    cancel=self._cancel.is_set,
                )
        except Exception as exc:
            # Reported to the user; the viewer goes on.
            log.exception("import failed")
            self.failed.emit(f"{type(exc).__name__}: {exc}")
            return
        self.finished.emit(report)


def describe(report: ImportReport) -> str:
    """A one-paragraph summary for the reader."""
    parts = [f"{report.added} new image(s)"]
    if report.already_present or report.updated:
        parts.append(f"{report.already_present + report.updated} already in the library")
    if report.non_image:
        parts.append(f"{report.non_image} non-image object(s) skipped")
    if report.errors:
        parts.append(f"{len(report.errors)} file(s) could not be read")
    text = ", ".join(parts) + "."
    if report.cancelled:
        text = "Import cancelled: " + text
    return text
