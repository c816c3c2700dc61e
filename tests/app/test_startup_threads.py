"""The real application, started as a user starts it: every thread it launches at once (demo
loading, plugin discovery, the storage SCP) imports its libraries whole.

Two threads importing pydicom for the first time at once used to hand one of them a half-built
module ("cannot import name 'Dataset' from partially initialized module"): the demo did not
open and the storage SCP did not start. Run several times because the race depends on timing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

# The application shows the window, opens the demo, finds the plugins and starts the SCP, then
# quits once all three are done (or after a deadline, which fails the test).
SCRIPT = r"""
import sys, threading, time
from workstation.app.early_imports import settle_lazy_modules

settle_lazy_modules()  # what run_gui does first, before the composition module brings in Qt
from workstation.app import composition, gui

captured = {}
build = composition.build_main_window

def build_and_keep():
    window, services = build()
    captured["services"] = services
    return window, services

composition.build_main_window = build_and_keep

def watch():
    from PySide6.QtCore import QMetaObject, Qt
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        app = QApplication.instance()
        services = captured.get("services")
        if services is not None:
            demo = any(l.fully_loaded for l in services.scene.layers.values())
            experts = services.experts is not None and services.experts.registry is not None
            pacs = services.pacs is not None and services.pacs.ready
            if demo and experts and pacs:
                print("READY", len(services.experts.registry.plugins), flush=True)
                QMetaObject.invokeMethod(app, "quit", Qt.ConnectionType.QueuedConnection)
                return
        time.sleep(0.1)
    print("TIMEOUT", flush=True)
    app = QApplication.instance()
    QMetaObject.invokeMethod(app, "quit", Qt.ConnectionType.QueuedConnection)

threading.Thread(target=watch, daemon=True).start()
sys.exit(gui.run_gui(demo=True))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(
    code: str, tmp_path: Path, timeout: float, **extra: str
) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter, offscreen, with its own home folder."""
    env = {
        **os.environ,
        "WORKSTATION_HOME": str(tmp_path / "home"),
        "QT_QPA_PLATFORM": "offscreen",
        "VTK_DEFAULT_OPENGL_WINDOW": "vtkOSOpenGLRenderWindow",
        **extra,
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


@pytest.mark.parametrize("attempt", range(3))
def test_the_app_starts_its_threads_without_half_imported_modules(
    tmp_path: Path, attempt: int
) -> None:
    site = tmp_path / "site.json"
    site.write_text(
        json.dumps({"pacs": {"port": _free_port(), "bind": "127.0.0.1", "scp_enabled": True}})
    )
    completed = _run(SCRIPT, tmp_path, 150, WORKSTATION_SITE_CONFIG=str(site))
    assert "READY" in completed.stdout, completed.stdout + completed.stderr
    assert "partially initialized" not in completed.stderr, completed.stderr
    assert "Traceback" not in completed.stderr, completed.stderr
    assert "storage SCP not started" not in completed.stderr, completed.stderr


# A program that embeds the window (a test, a benchmark, a site's launcher) imports Qt first;
# plugin discovery must still import pydantic whole on its thread.
QT_FIRST = r"""
import sys, time
from PySide6.QtWidgets import QApplication

app = QApplication([])
from workstation.app.composition import build_main_window

window, services = build_main_window()
window.show()
deadline = time.monotonic() + 60
while services.experts.registry is None and time.monotonic() < deadline:
    app.processEvents()
    time.sleep(0.02)
registry = services.experts.registry
print("PLUGINS", len(registry.plugins) if registry is not None else -1, flush=True)
print("ERROR", services.experts.discovery_error or "-", flush=True)
services.shutdown()
"""


@pytest.mark.parametrize("attempt", range(2))
def test_plugins_are_found_when_qt_was_imported_first(tmp_path: Path, attempt: int) -> None:
    completed = _run(QT_FIRST, tmp_path, 120)
    assert "ERROR -" in completed.stdout, completed.stdout + completed.stderr
    found = int(completed.stdout.split("PLUGINS", 1)[1].split()[0])
    assert found >= 2, completed.stdout  # the first-party plugins: cardio and the example
    assert "partially initialized" not in completed.stderr, completed.stderr
