"""The real main window on an X server (Xvfb): it opens, shows the demo and looks dark."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage

HERE = Path(__file__).parent


@pytest.fixture
def xvfb_display():
    executable = shutil.which("Xvfb")
    if executable is None:
        pytest.fail("Xvfb is not installed (apt-get install xvfb); this test must run")
    number = 90 + os.getpid() % 50
    server = subprocess.Popen(
        [executable, f":{number}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    try:
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _image(path: Path) -> np.ndarray:
    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes())
    rows = rows.reshape(image.height(), image.bytesPerLine())[:, : image.width() * 3]
    # Copy while the QImage still owns the memory the view points into.
    return rows.reshape(image.height(), image.width(), 3).copy()


@pytest.mark.parametrize("layout", ["mpr", "2x2"])
def test_main_window_screenshot(xvfb_display, tmp_path, layout) -> None:
    output = Path(os.environ.get("WORKSTATION_SCREENSHOTS", tmp_path)) / f"main-window-{layout}.png"
    output.parent.mkdir(parents=True, exist_ok=True)
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("QT_QPA_PLATFORM", "VTK_DEFAULT_OPENGL_WINDOW")
    }
    environment.update(DISPLAY=xvfb_display, WORKSTATION_HOME=str(tmp_path / "home"))
    result = subprocess.run(
        [sys.executable, str(HERE / "screenshot_main_window.py"), str(output), layout],
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    pixels = _image(output)
    assert pixels.shape == (1000, 1600, 3)
    # A dark reading-room theme: most of the screen is near black.
    assert np.median(pixels.mean(axis=2)) < 60
    # The images are there: the viewport area holds many grey levels (anatomy), not a blank.
    centre = pixels[150:900, 420:1180].mean(axis=2)
    assert len(np.unique(centre.astype(np.uint8))) > 100
