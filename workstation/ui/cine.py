"""Cine playback: steps the phase of the active viewport at a chosen frame rate."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal


class CinePlayer(QObject):
    """A timer that calls ``step`` ``fps`` times a second while playing."""

    playing_changed = Signal(bool)

    def __init__(self, step: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._step = step
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._step)
        self.fps = 20.0

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def set_fps(self, fps: float) -> None:
        self.fps = max(1.0, min(float(fps), 120.0))
        self._timer.setInterval(round(1000.0 / self.fps))

    def play(self) -> None:
        self.set_fps(self.fps)
        self._timer.start()
        self.playing_changed.emit(True)

    def stop(self) -> None:
        self._timer.stop()
        self.playing_changed.emit(False)

    def toggle(self) -> None:
        if self.playing:
            self.stop()
        else:
            self.play()
