"""What the screenshot scripts share: waiting on the event loop, and grabbing the screen once
every viewport has rendered and Qt has painted the docks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from workstation.app.early_imports import settle_lazy_modules

settle_lazy_modules()  # the scripts import this module before Qt, as the application does


def wait_until(app: Any, condition: Any, seconds: float = 60.0) -> None:
    """Process events until ``condition()`` holds; a script that waits forever hides the bug."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for the window")
        app.processEvents()
        time.sleep(0.02)


def grab_screen(app: Any, window: Any, output: Path, *, settle_rounds: int = 30) -> None:
    """Render every viewport, let Qt paint, then save the whole screen as a PNG."""
    for viewport in window.grid.viewports:
        viewport.render()
    for _ in range(settle_rounds):
        app.processEvents()
        time.sleep(0.05)
    screen = app.primaryScreen()
    assert screen is not None
    screen.grabWindow(0).save(str(output))
