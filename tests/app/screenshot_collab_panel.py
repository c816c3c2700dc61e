"""Run on an Xvfb display in a child process: the main window with the Collaboration panel in
use — signed in to a local server, a comment thread with a colleague, then the server gone and
two edits waiting in the outbox — grabbed into a PNG (docs/screenshots/collaboration-panel.png).

``WORKSTATION_HOME`` must point at a scratch folder (the server's database lives there too).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from screenshot_support import grab_screen, wait_until  # the scripts run from this folder

HERE = Path(__file__).parent


def _measure_offline(services: Any, layer: Any) -> None:
    """A length on the lesion, as a reader adds it with the Length tool."""
    from dataclasses import replace

    from workstation.core.annotations import Annotation
    from workstation.core.measure import measure

    volume = layer.volume
    template = next(a for a in services.scene.annotations.values() if a.kind.value == "length")
    k = volume.array.shape[0] // 2

    def at(i: float, j: float) -> tuple[float, float, float]:
        x, y, z = volume.index_to_lps((i, j, k))
        return float(x), float(y), float(z)

    # The lesion below the liver ROI, 18 mm across, in the slice's pixel grid.
    centre = next(a for a in services.scene.annotations.values() if a.label == "liver").points[0]
    ci, cj, _ = volume.lps_to_index(centre)
    half = 18.0 / 2 / volume.spacing_ijk[0]
    cj += 5 * half  # below the line across the body, so the labels stay apart
    for label, points in (("lesion", (at(ci - half, cj), at(ci + half, cj))),):
        draft: Annotation = replace(template, points=points, label=label)
        values = measure(draft, volume.array, volume.affine)
        services.scene.add_annotation(
            Annotation(
                template.kind,
                template.reference,
                points=points,
                plane_normal=template.plane_normal,
                label=label,
                values=values,
            )
        )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    # Loaded before the window: other parts start threads that import pydicom at window
    # creation, and two threads importing it at once can see it half initialised.
    import pydicom  # noqa: F401
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from workstation import paths
    from workstation.app.composition import build_main_window
    from workstation.collab.server import admin
    from workstation.collab.server.testkit import FAST_HASHER, PASSWORD, Deployment
    from workstation.collab.store import AnnotationStore
    from workstation.collab.sync import SyncEngine
    from workstation.resources import read_text

    sys.path.insert(0, str(HERE))
    from screenshot_main_window import _annotate

    folder = paths.home() / "server"
    server = Deployment.start("sqlite", f"sqlite:///{folder / 'server.sqlite'}", folder / "files")
    with server.database.write() as connection:
        admin.create_site(connection, "St Mary")
        for name, display in (("aalvarez", "Dr A. Alvarez"), ("bbrown", "Dr B. Brown")):
            admin.create_user(
                connection,
                name,
                PASSWORD,
                site="St Mary",
                display_name=display,
                actor="demo",
                hasher=FAST_HASHER,
            )

    app = QApplication(sys.argv[:1])
    app.setStyleSheet(read_text("style.qss"))
    window, services = build_main_window()
    window.resize(1600, 1000)
    window.move(0, 0)
    window.show()
    wait_until(app, services.late_panels_added.is_set)  # built just after the first paint
    binding = services.collaboration
    assert binding is not None
    # The reader has dragged the splitters: the panel over most of the right-hand column. Set
    # before the images open, so the viewports are made at their final size.
    window.docks["Collaboration"].raise_()
    window.resizeDocks([window.docks["Collaboration"]], [420], Qt.Orientation.Horizontal)
    window.resizeDocks(
        [window.docks["Collaboration"], window.docks["AI"]], [700, 160], Qt.Orientation.Vertical
    )
    for _ in range(20):
        app.processEvents()
    services.open_demo()
    window.set_layout("1x1")
    wait_until(
        app,
        lambda: (
            services.scene.layers and all(x.fully_loaded for x in services.scene.layers.values())
        ),
    )
    ct = next(x for x in services.scene.layers.values() if x.info.modality == "CT")
    services.scene.set_active(ct.id)
    _annotate(services)
    wait_until(app, lambda: binding.is_ready)

    panel = binding.panel
    panel.server_edit.setText(server.url)
    panel.user_edit.setText("aalvarez")
    panel.password_edit.setText(PASSWORD)
    panel.sign_in_button.click()
    wait_until(app, lambda: panel.state == "online" and binding.store.outbox.count() == 0)

    # A colleague's workstation: comments on the study and on the liver ROI.
    study = ct.info.study_instance_uid
    liver = next(a for a in services.scene.annotations.values() if a.label == "liver")
    colleague = AnnotationStore(paths.home() / "colleague.sqlite")
    engine = SyncEngine(colleague, server.api("bbrown"), cursor_key="c")
    colleague.outbox.add_comment(
        study, "Prior CT from March is in PACS: the lesion was 14 mm then.", author="bbrown"
    )
    engine.sync()
    wait_until(app, lambda: len(panel.comment_texts()) == 1)
    panel.comment_edit.setPlainText("Thanks. Now 18 mm: I will call it progression.")
    panel.send_button.click()
    services.scene.select(liver.uuid)
    colleague.outbox.add_comment(
        study,
        "Mean 58 HU: agree, hypodense to the spleen.",
        author="bbrown",
        annotation_uuid=liver.uuid,
    )
    engine.sync()
    wait_until(app, lambda: binding.store.outbox.count() == 0)
    panel.scope_box.setCurrentIndex(0)
    wait_until(
        app,
        lambda: (
            len(panel.comment_texts()) == 3 and "Dr B. Brown" in panel.thread_view.toPlainText()
        ),
    )

    # The server goes away; the reader measures on, two measurements wait in the outbox.
    server.stop()
    _measure_offline(services, ct)
    liver = services.scene.edit_annotation(liver, label="liver, segment 6")
    wait_until(app, lambda: panel.state == "offline" and binding.store.outbox.count() == 2)
    services.scene.select(liver.uuid)
    # Under Xvfb a render window can keep the size it was made with; a resize brings every
    # one to its widget's size (else a strip of stale pixels stays at the right edge).
    window.resize(1599, 1000)
    for _ in range(10):
        app.processEvents()
    window.resize(1600, 1000)
    for _ in range(10):
        app.processEvents()
    for viewport in window.grid.viewports:
        viewport.reset_view()  # fit the images to the viewports as the docks left them
    grab_screen(app, window, args.output)
    services.shutdown()
    colleague.close()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
