"""The panels that arrive just after the window's first paint: PACS, Transfers, Collaboration.

Their modules and widgets (node settings, the remote browser, the sync client's panel) take
about a hundred milliseconds that the first sight of the window should not wait for. Their
docks are placed at once, empty, so that the layout is final at the first paint and nothing
jumps when the panels fill them on the next turn of the event loop. Their network services
start later still (see the bindings).
"""

from __future__ import annotations

import logging
import threading
from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt

from workstation.app.early_imports import DICOM, ENGINE, LIBRARY_IMPORT, settle_imports

if TYPE_CHECKING:
    from workstation.app.composition import Services
    from workstation.ui.main_window import MainWindow

log = logging.getLogger(__name__)


def reserve_pacs_docks(window: MainWindow) -> None:
    """The PACS tab beside Studies (the library in front) and Transfers under them."""
    if "PACS" in window.docks:
        return
    left = Qt.DockWidgetArea.LeftDockWidgetArea
    studies = window.docks.get("Studies")
    if studies is not None:
        # Transfers first, so it lands under Studies (a dock split beside a tabbed one would
        # become one more tab), then PACS as a tab of Studies: search and progress side by side.
        transfers = window.reserve_panel("Transfers", left)
        window.reserve_panel("PACS", left, tab_with="Studies", in_front=False)
        # A little wider than the library alone needs: name, ID, date, modality and the
        # start of the description side by side in the PACS results.
        window.resizeDocks([studies], [470], Qt.Orientation.Horizontal)
    else:
        window.reserve_panel("PACS", left)
        transfers = window.reserve_panel("Transfers", left)
    window.resizeDocks([transfers], [240], Qt.Orientation.Vertical)


def reserve_collaboration_dock(window: MainWindow) -> None:
    """The Collaboration tab beside Measurements (the measurement list stays in front)."""
    if "Collaboration" not in window.docks:
        window.reserve_panel("Collaboration", tab_with="Measurements", in_front=False)


def add_after_first_paint(window: MainWindow, services: Services) -> None:
    reserve_pacs_docks(window)
    reserve_collaboration_dock(window)
    window.after_first_paint(partial(_build, window, services))


def _build(window: MainWindow, services: Services) -> None:
    if services.closed:  # the window was closed before it got this far
        return
    from workstation.app.collaboration import add_collaboration_panel
    from workstation.app.pacs_panels import add_pacs_panels

    add_collaboration_panel(window, services)
    add_pacs_panels(window, services)
    services.late_panels_added.set()
    # pydicom and the DICOM engine (~0.2 s) load off the GUI thread, under the import lock:
    # whoever needs them first waits there, and nobody meets them half-imported.
    threading.Thread(target=_warm_imports, name="warm-imports", daemon=True).start()


def _warm_imports() -> None:
    try:
        settle_imports(DICOM, ENGINE, LIBRARY_IMPORT)
    except Exception:  # the thread that needs them imports them again and reports
        log.exception("importing the DICOM engine failed")
