"""Run by test_screenshot.py in a child process on an Xvfb display: open the demo in the real
main window, wait until every series has loaded, and grab the screen into a PNG."""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main(output: Path, layout: str) -> int:
    from PySide6.QtWidgets import QApplication

    from workstation.app.composition import build_main_window
    from workstation.resources import read_text

    app = QApplication(sys.argv[:1])
    app.setStyleSheet(read_text("style.qss"))
    window, services = build_main_window()
    window.resize(1600, 1000)
    window.move(0, 0)
    window.show()
    services.open_demo()
    window.set_layout(layout)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        app.processEvents()
        layers = services.scene.layers.values()
        if layers and all(layer.fully_loaded for layer in layers):
            break
        time.sleep(0.05)
    for viewport in window.grid.viewports:
        viewport.render()
    for _ in range(20):
        app.processEvents()
        time.sleep(0.05)
    screen = app.primaryScreen()
    assert screen is not None
    screen.grabWindow(0).save(str(output))
    services.shutdown()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "mpr"))
