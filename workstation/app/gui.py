"""Starting the desktop application: the window first, everything heavy after it is shown."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)


def _prefer_software_raycast() -> None:
    """Force VTK's CPU ray cast when no GPU renders (about 12× faster on Mesa)."""
    os.environ.setdefault("WORKSTATION_CPU_RAYCAST", "0")


def run_gui(paths: Sequence[Path] = (), *, demo: bool = False) -> int:
    """Open the main window (showing ``paths`` or the demo studies); the exit status."""
    from workstation.app.early_imports import settle_lazy_modules

    settle_lazy_modules()  # before Qt: see the module's note
    from PySide6.QtWidgets import QApplication

    from workstation import __version__
    from workstation.resources import read_text

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Workstation")
    app.setApplicationVersion(__version__)
    app.setStyleSheet(read_text("style.qss"))
    from workstation.app.composition import build_main_window

    window, services = build_main_window()
    window.showMaximized()  # a reading room uses the whole screen
    # The viewports (VTK) and the studies once the window has been seen: a timer alone can
    # fire before the window's first paint.
    window.after_first_paint(window.grid.materialize)
    if demo:
        window.after_first_paint(services.open_demo)
    elif paths:
        window.after_first_paint(lambda: services.open_paths([Path(p) for p in paths]))
    return int(app.exec())
