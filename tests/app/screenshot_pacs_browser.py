"""Run on an Xvfb display in a child process: the main window with the PACS tab in use — a
search on a local Orthanc, the demo CT retrieved over a slow link and already open while the
rest arrives, a finished retrieval and a failed send in the Transfers panel — grabbed into a
PNG (docs/screenshots/pacs-browser.png).

``WORKSTATION_HOME`` must point at a scratch folder; Orthanc runs in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from screenshot_support import grab_screen, wait_until  # the scripts run from this folder

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "pacs"))
sys.path.insert(0, str(HERE))

PACS, ARCHIVE, OLD = "Hospital PACS", "Research archive", "Old archive"


def _wait(app: Any, condition: Any, seconds: float = 90.0) -> None:
    wait_until(app, condition, seconds)


def _item(browser: Any, study_uid: str) -> Any:
    from PySide6.QtCore import Qt

    for index in range(browser.tree.topLevelItemCount()):
        item = browser.tree.topLevelItem(index)
        if item.data(0, Qt.ItemDataRole.UserRole) == study_uid:
            return item
    raise RuntimeError(f"{study_uid} not listed")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("output", type=Path)
    args = parser.parse_args()

    from orthanc_server import HOST, Orthanc, free_port
    from pacs_data import write_catalogue
    from test_pacs_gui import SlowProxy

    from workstation.testing.demo import write_demo_studies

    scratch = Path(tempfile.mkdtemp(prefix="pacs-shot-"))
    orthanc = Orthanc(scratch / "orthanc", aet="HOSP_PACS")
    orthanc.start()
    proxy = None
    try:
        studies = write_catalogue(scratch / "catalogue")
        demo = write_demo_studies(scratch / "demo")
        orthanc.upload(p for s in studies.values() for p in s.files)
        orthanc.upload(p for folder in demo for p in sorted(folder.rglob("*.dcm")))
        proxy = SlowProxy(HOST, orthanc.http_port, rate=1_500_000)  # a WAN: seconds for the CT
        site = scratch / "site.json"
        nodes = [
            {
                "name": PACS,
                "kind": "dicomweb",
                "url": f"http://{HOST}:{proxy.port}/dicom-web",
                "description": "Radiology PACS (DICOMweb)",
            },
            {
                "name": ARCHIVE,
                "kind": "dimse",
                "ae_title": orthanc.aet,
                "host": HOST,
                "port": orthanc.dicom_port,
            },
            {
                "name": OLD,
                "kind": "dimse",
                "ae_title": "OLDARCH",
                "host": HOST,
                "port": free_port(),
            },
        ]
        pacs = {"ae_title": "RAD-WS01", "port": free_port(), "bind": HOST, "nodes": nodes}
        site.write_text(json.dumps({"pacs": pacs}))
        os.environ["WORKSTATION_SITE_CONFIG"] = str(site)

        from PySide6.QtWidgets import QApplication

        from workstation.app.composition import build_main_window
        from workstation.resources import read_text

        app = QApplication(sys.argv[:1])
        app.setStyleSheet(read_text("style.qss"))
        window, services = build_main_window()
        window.resize(1600, 1000)
        window.move(0, 0)
        window.show()
        _wait(app, services.late_panels_added.is_set)  # built just after the first paint
        binding = services.pacs
        assert binding is not None
        _wait(app, lambda: binding.ready)
        window.docks["PACS"].raise_()
        browser = binding.browser

        # A finished retrieval of a prior, and a send that could not reach its node.
        binding.retrieve(PACS, studies["prior1"].uid, [], False)
        _wait(app, lambda: any(r.state == "finished" for r in binding.transfers.rows()))
        ct_files = sorted((demo[0]).rglob("*.dcm"))[:3]
        binding.send(ct_files, OLD, "Demo, Patient · key images")
        _wait(app, lambda: any(r.state == "failed" for r in binding.transfers.rows()), 30)

        # The search: every study of the last years on the PACS.
        browser.set_node(PACS)
        browser.search()
        _wait(app, lambda: "Searching" not in browser.message.text() and browser.study_uids())
        demo_studies = [
            uid for uid in browser.study_uids() if "Demo" in _item(browser, uid).text(0)
        ]
        ct_study = next(uid for uid in demo_studies if "CT" in _item(browser, uid).text(3))
        mr_study = next(uid for uid in demo_studies if uid != ct_study)
        current = _item(browser, studies["current"].uid)
        current.setExpanded(True)
        _wait(app, lambda: current.childCount() == 2 and current.child(0).text(0) == "#1")
        # The CT, retrieved and opened (double-click) ...
        item = _item(browser, ct_study)
        browser.tree.itemDoubleClicked.emit(item, 0)
        _wait(app, lambda: bool(services.scene.layers))
        # ... while the cine MR of the same patient is on its way.
        item = _item(browser, mr_study)
        browser.tree.setCurrentItem(item)
        browser.retrieve_button.click()

        def halfway() -> bool:
            rows = [r for r in binding.transfers.rows() if r.state == "running"]
            return bool(rows) and rows[0].done > 0.4 * rows[0].total

        _wait(app, halfway)
        layers = list(services.scene.layers.values())
        _wait(app, lambda: all(layer.fully_loaded for layer in layers))
        grab_screen(app, window, args.output, settle_rounds=10)
        services.shutdown()
        window.close()
    finally:
        if proxy is not None:
            proxy.close()
        orthanc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
