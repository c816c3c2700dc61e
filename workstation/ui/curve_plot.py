"""A small line plot for a result's curves (e.g. ventricular volume over the cardiac cycle).

Drawn with QPainter: the viewer needs a few labelled lines with readable axes, not a charting
library (Qt Charts is not part of the essentials wheel, matplotlib would add seconds to start).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

_AXIS = QColor("#8a8a86")
_TEXT = QColor("#d0d0cc")
_GRID = QColor("#343432")


@dataclass(frozen=True)
class PlotCurve:
    name: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    color: tuple[int, int, int] = (230, 159, 0)


@dataclass(frozen=True)
class PlotMarker:
    """A labelled vertical line, e.g. end-diastole."""

    x: float
    label: str


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``low..high`` (1, 2, 5 × 10^n steps)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return []
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    return [round(n * step, 10) for n in range(first, last + 1)]


def _label(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e5 else f"{value:.2e}"


class CurvePlot(QWidget):
    """Curves sharing one x and one y axis, with a legend and optional markers."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.curves: list[PlotCurve] = []
        self.markers: list[PlotMarker] = []
        self.x_label = ""
        self.y_label = ""
        self.setMinimumHeight(150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(320, 190)

    def set_curves(
        self,
        curves: list[PlotCurve],
        *,
        x_label: str = "",
        y_label: str = "",
        markers: list[PlotMarker] | None = None,
    ) -> None:
        self.curves = [c for c in curves if c.x and len(c.x) == len(c.y)]
        self.markers = list(markers or [])
        self.x_label, self.y_label = x_label, y_label
        self.update()

    def ranges(self) -> tuple[list[float], list[float]]:
        xs = [v for c in self.curves for v in c.x]
        ys = [v for c in self.curves for v in c.y]
        return nice_ticks(min(xs), max(xs)), nice_ticks(min(0.0, *ys), max(ys))

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if not self.curves:
            painter.setPen(_AXIS)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No curve")
            return
        x_ticks, y_ticks = self.ranges()
        metrics = painter.fontMetrics()
        left = max(metrics.horizontalAdvance(_label(t)) for t in y_ticks) + 10
        top = metrics.height() + 8  # room for the legend
        plot = QRectF(
            left,
            top,
            max(self.width() - left - 10, 10),
            max(self.height() - top - 2.4 * metrics.height() - 4, 10),
        )
        axes = _Axes(plot, x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1])
        self._draw_axes(painter, axes, x_ticks, y_ticks)
        for marker in self.markers:
            painter.setPen(QPen(_AXIS, 1, Qt.PenStyle.DashLine))
            upper = axes.at(marker.x, axes.y1)
            painter.drawLine(upper, axes.at(marker.x, axes.y0))
            painter.setPen(_TEXT)
            painter.drawText(upper + QPointF(3, metrics.ascent()), marker.label)
        self._draw_curves(painter, axes, legend_y=top / 2)

    def _draw_axes(
        self, painter: QPainter, axes: _Axes, x_ticks: list[float], y_ticks: list[float]
    ) -> None:
        metrics = painter.fontMetrics()
        plot = axes.plot
        for tick in y_ticks:
            y = axes.at(axes.x0, tick).y()
            painter.setPen(_GRID)
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            text = _label(tick)
            painter.setPen(_TEXT)
            x = plot.left() - 6 - metrics.horizontalAdvance(text)
            painter.drawText(QPointF(x, y + metrics.ascent() / 2.5), text)
        painter.setPen(_AXIS)
        painter.drawLine(plot.bottomLeft(), plot.bottomRight())
        painter.drawLine(plot.bottomLeft(), plot.topLeft())
        baseline = plot.bottom() + metrics.height() + 2
        for tick in x_ticks:
            point = axes.at(tick, axes.y0)
            painter.setPen(_AXIS)
            painter.drawLine(point, point + QPointF(0, 4))
            text = _label(tick)
            painter.setPen(_TEXT)
            painter.drawText(
                QPointF(point.x() - metrics.horizontalAdvance(text) / 2, baseline), text
            )
        caption = f"{self.x_label}   ↑ {self.y_label}" if self.y_label else self.x_label
        painter.drawText(
            QRectF(0, self.height() - metrics.height() - 2, self.width(), metrics.height()),
            Qt.AlignmentFlag.AlignCenter,
            caption,
        )

    def _draw_curves(self, painter: QPainter, axes: _Axes, legend_y: float) -> None:
        metrics = painter.fontMetrics()
        x_legend = axes.plot.left()
        for curve in self.curves:
            painter.setPen(QPen(QColor(*curve.color), 2))
            points = [axes.at(x, y) for x, y in zip(curve.x, curve.y, strict=True)]
            for start, end in itertools.pairwise(points):
                painter.drawLine(start, end)
            for point in points:
                painter.drawEllipse(point, 1.8, 1.8)
            painter.drawLine(QPointF(x_legend, legend_y), QPointF(x_legend + 14, legend_y))
            painter.setPen(_TEXT)
            baseline = legend_y + metrics.ascent() / 2.5
            painter.drawText(QPointF(x_legend + 18, baseline), curve.name)
            x_legend += 30 + metrics.horizontalAdvance(curve.name)


@dataclass(frozen=True)
class _Axes:
    """Data to widget coordinates."""

    plot: QRectF
    x0: float
    x1: float
    y0: float
    y1: float

    def at(self, x: float, y: float) -> QPointF:
        plot = self.plot
        return QPointF(
            plot.left() + (x - self.x0) / (self.x1 - self.x0 or 1.0) * plot.width(),
            plot.bottom() - (y - self.y0) / (self.y1 - self.y0 or 1.0) * plot.height(),
        )
