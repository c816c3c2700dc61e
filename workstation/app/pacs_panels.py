"""The PACS tab, the Transfers panel and "Send study to PACS…" in the main window."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer
from PySide6.QtGui import QAction

from workstation.app.late_panels import reserve_pacs_docks
from workstation.app.pacs_binding import PacsBinding
from workstation.core.study import format_date, format_patient_name
from workstation.ui.remote_browser import RemoteBrowser
from workstation.ui.transfers_panel import TransfersPanel

#: How long after the window is built the PACS services start.
START_DELAY_MS = 500

if TYPE_CHECKING:
    from workstation.app.composition import Services
    from workstation.ui.main_window import MainWindow


def add_pacs_panels(window: MainWindow, services: Services) -> PacsBinding:
    """The PACS tab beside Studies, the Transfers panel under them, Send wired to the queue.

    Nothing touches the network here: the settings are read and the SCP started in a thread
    once the window is up.
    """
    browser = RemoteBrowser(window)
    transfers = TransfersPanel(window)
    reserve_pacs_docks(window)
    window.add_panel("PACS", browser)
    window.add_panel("Transfers", transfers)

    library_browser = services.browser
    binding = PacsBinding(
        browser,
        transfers,
        database=services.database,
        open_series=services.open_series,
        refresh_library=library_browser.refresh if library_browser is not None else lambda: None,
        status=lambda text: window.statusBar().showMessage(text, 8000),
        dialog_parent=window,
        parent=window,
    )
    services.pacs = binding

    def opened(layer_ids: list[str]) -> None:
        layers = services.scene.layers
        for study in {layers[i].info.study_instance_uid for i in layer_ids if i in layers}:
            binding.study_opened(study)

    services.workstation.opened.connect(opened)

    send_study = QAction("Send study to PACS…", window)
    send_study.setStatusTip("Send every image of the shown study to a PACS node")
    send_study.setEnabled(False)
    send_study.triggered.connect(lambda _checked=False: _send_active_study(services, binding))
    window.actions_by_name["send_study"] = send_study
    files_menu = _menu_holding(window, window.actions_by_name.get("export_csv"))
    if files_menu is not None:
        files_menu.insertAction(window.actions_by_name["export_csv"], send_study)
        files_menu.insertSeparator(window.actions_by_name["export_csv"])

    def nodes_changed(available: bool) -> None:
        send_study.setEnabled(available)
        ai = getattr(services, "ai_binding", None)
        if ai is not None:
            ai.set_sender(binding.ask_and_send if available else None)

    binding.nodes_changed.connect(nodes_changed)
    # Once the window has painted: the SCP's imports (pydicom, pynetdicom: about half a second
    # of CPU) must not compete with the first paint, and a listener a moment later costs nothing.
    QTimer.singleShot(START_DELAY_MS, binding.start)
    return binding


def _menu_holding(window: MainWindow, action: QAction | None) -> Any:
    """The menu-bar menu that lists ``action`` (the File menu for "export_csv")."""
    if action is None:
        return None
    for entry in window.menuBar().actions():
        menu = entry.menu()
        if menu is not None and action in menu.actions():  # type: ignore[attr-defined]
            return menu
    return None


def study_files(services: Services, study_uid: str) -> list[Path]:
    """The files of a study: from the library when it holds it, else those of the open series."""
    from workstation.io.sources import FileSource

    found: list[Path] = []
    database = services.database
    if database is not None:
        from workstation.pacs import series_sources

        for (series_uid,) in database.connection.execute(
            "SELECT series_uid FROM series WHERE study_uid = ?", (study_uid,)
        ).fetchall():
            found += [
                s.path for s in series_sources(database, series_uid) if isinstance(s, FileSource)
            ]
    if not found:
        for stack in services.workstation.stacks.values():
            if stack.study_instance_uid == study_uid:
                found += [
                    frame.header.source.path
                    for frame in stack.frames
                    if isinstance(frame.header.source, FileSource)
                ]
    return list(dict.fromkeys(found))


def _send_active_study(services: Services, binding: PacsBinding) -> None:
    layer = services.scene.active_layer
    if layer is None:
        services.window.show_problem("Nothing to send", "Open a study first.")
        return
    info = layer.info
    files = study_files(services, info.study_instance_uid)
    if not files:
        services.window.show_problem(
            "Nothing to send", "The study's images are not files on this computer."
        )
        return
    subject = " · ".join(
        p
        for p in (
            format_patient_name(info.patient_name),
            format_date(info.study_date),
            info.study_description,
        )
        if p
    )
    binding.ask_and_send(files, subject)
