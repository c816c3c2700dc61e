"""The transfer queue: retrievals, sends and prefetches with progress, cancel and resume.

Widgets only. The application gives one :class:`TransferRow` per job each time it changes
(:meth:`TransfersPanel.update_row`) and acts on the buttons' signals. Each job is a small card
(what and whose, state, progress with done/total, its button, the latest message) so the panel
reads well in a narrow dock beside the browsers.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

#: Colours shared with the other panels.
STATE_COLOURS = {
    "queued": "#8a9199",
    "running": "#8fb8e0",
    "cancelling": "#f0a040",
    "finished": "#7fc97f",
    "failed": "#e07b7b",
    "cancelled": "#f0a040",
}
ACTIVE_STATES = ("queued", "running", "cancelling")
_MUTED = "#8a9199"
_NOTICE = "#f0a040"


@dataclass(frozen=True)
class TransferRow:
    """One job as the panel shows it."""

    id: int
    #: "retrieve", "send" or "prefetch"
    kind: str
    #: What it does: "Retrieve study from Hospital PACS".
    title: str
    #: Whose images: "DOE, Jane · 2024-01-15 · CT abdomen" (may be empty).
    subject: str = ""
    #: "queued", "running", "cancelling", "finished", "failed" or "cancelled"
    state: str = "queued"
    done: int = 0
    total: int = 0
    #: Retry notices while it runs, the outcome or the one-line reason once it ended.
    message: str = ""
    #: Whether it can be run again (failed or cancelled; a retrieval resumes).
    retryable: bool = False
    #: A notice (a retry under way, part of a send refused) rather than plain information.
    notice: bool = False

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


class ElidedLabel(QLabel):
    """One line that shortens itself with "…" to the width it gets (full text as tooltip)."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        self._full = text
        self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(self.width(), 40)
        self.setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, width))


class TransferCard(QFrame):
    """One job in two lines: whose images and the state; progress with done/total, the latest
    message and the button. A failure's reason gets a line of its own, wrapped."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("transferCard")
        self.setStyleSheet("QFrame#transferCard { border-bottom: 1px solid #262a30; }")
        self.title = ElidedLabel("", self)
        self.state = QLabel("", self)
        self.state.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.progress = QProgressBar(self)
        self.progress.setTextVisible(True)
        self.progress.setFixedHeight(16)
        self.progress.setFixedWidth(120)
        self.detail = ElidedLabel("", self)
        self.button = QPushButton("", self)
        self.button.setFixedWidth(72)
        self.message = QLabel("", self)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top = QHBoxLayout()
        top.setSpacing(6)
        top.addWidget(self.title, 1)
        top.addWidget(self.state)
        middle = QHBoxLayout()
        middle.setSpacing(6)
        middle.addWidget(self.progress)
        middle.addWidget(self.detail, 1)
        middle.addWidget(self.button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 3, 4, 4)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addLayout(middle)
        layout.addWidget(self.message)

    def show_row(self, row: TransferRow) -> None:
        # Whose images first (what a reader looks for); what the job does goes below.
        self.title.set_full_text(row.subject or row.title)
        self.title.setToolTip(f"{row.title}\n{row.subject}".strip())
        self.state.setText(row.state)
        self.state.setStyleSheet(f"color: {STATE_COLOURS.get(row.state, _MUTED)};")
        # A failure's reason, or how to resume, is read in full on a line of its own.
        own_line = row.state in ("failed", "cancelled") and bool(row.message)
        failed = row.state == "failed"
        what = row.title if row.subject else ""
        inline = " · ".join(p for p in (what, "" if own_line else row.message) if p)
        self.detail.set_full_text(inline)
        self.detail.setStyleSheet(f"color: {_NOTICE if row.notice and not own_line else _MUTED};")
        colour = STATE_COLOURS["failed"] if failed else _NOTICE
        self.message.setStyleSheet(f"color: {colour};")
        self.message.setText(row.message if own_line else "")
        self.message.setVisible(own_line)
        self._show_progress(row)
        self._show_button(row)

    def _show_progress(self, row: TransferRow) -> None:
        bar = self.progress
        if row.total > 0:
            bar.setRange(0, row.total)
            bar.setValue(min(row.done, row.total))
            bar.setFormat(f"{row.done} / {row.total}")
        elif row.state == "running":
            bar.setRange(0, 0)  # busy: finding out what to fetch
        else:
            bar.setRange(0, 1)
            bar.setValue(1 if row.state == "finished" else 0)
            bar.setFormat("done" if row.state == "finished" else "–")

    def _show_button(self, row: TransferRow) -> None:
        button = self.button
        button.setVisible(True)
        button.setEnabled(True)
        if row.state in ("queued", "running"):
            button.setText("Cancel")
            button.setToolTip("Stop this transfer (what arrived is kept)")
        elif row.state == "cancelling":
            button.setText("Cancel")
            button.setEnabled(False)
        elif row.retryable and row.kind == "retrieve":
            button.setText("Resume")
            button.setToolTip("Fetch what is still missing (nothing is fetched twice)")
        elif row.retryable:
            button.setText("Retry")
            button.setToolTip("Run this transfer again")
        else:
            button.setVisible(False)


class TransfersPanel(QWidget):
    """The jobs, newest on top, with Cancel / Resume / Retry each and "Clear finished"."""

    cancel_requested = Signal(int)  # job id
    retry_requested = Signal(int)  # job id (failed or cancelled: run again)
    #: Rows removed by "Clear finished" (the application forgets these jobs).
    cleared = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._list = QWidget(self)
        self._cards_layout = QVBoxLayout(self._list)
        self._cards_layout.setContentsMargins(0, 0, 0, 0)
        self._cards_layout.setSpacing(0)
        self.empty = QLabel(
            "No transfers. Retrievals from the PACS tab, results sent to a PACS and "
            "prefetched priors appear here.",
            self._list,
        )
        self.empty.setObjectName("hint")
        self.empty.setWordWrap(True)
        self.empty.setContentsMargins(4, 4, 4, 4)
        self._cards_layout.addWidget(self.empty)
        self._cards_layout.addStretch(1)
        self.area = QScrollArea(self)
        self.area.setWidgetResizable(True)
        self.area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.area.setFrameShape(QFrame.Shape.NoFrame)
        self.area.setWidget(self._list)
        self.receiver = ElidedLabel("", self)
        self.receiver.setObjectName("hint")
        self.summary = QLabel("", self)
        self.summary.setObjectName("hint")
        self.clear_button = QPushButton("Clear finished", self)
        self.clear_button.setToolTip(
            "Remove finished, failed and cancelled transfers from the list"
        )
        bottom = QHBoxLayout()
        bottom.addWidget(self.receiver, 1)
        bottom.addWidget(self.summary)
        bottom.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.area, 1)
        layout.addLayout(bottom)
        self._rows: dict[int, TransferRow] = {}
        self._cards: dict[int, TransferCard] = {}
        self.clear_button.clicked.connect(self.clear_finished)
        self._update_summary()

    # --- filled by the application ------------------------------------------------------------

    def update_row(self, row: TransferRow) -> None:
        """Add the job's card or bring it up to date (newest jobs on top)."""
        card = self._cards.get(row.id)
        if card is None:
            card = TransferCard(self._list)
            card.button.clicked.connect(lambda _c=False, job=row.id: self._on_button(job))
            self._cards_layout.insertWidget(0, card)
            self._cards[row.id] = card
        self._rows[row.id] = row
        card.show_row(row)
        self._update_summary()

    def set_receiver(self, text: str, ok: bool = True) -> None:
        """Our storage SCP's state: "Receiving as AET on port N", or why it is not running."""
        self.receiver.set_full_text(text)
        self.receiver.setStyleSheet("" if ok else f"color: {STATE_COLOURS['failed']};")

    def row(self, job_id: int) -> TransferRow | None:
        return self._rows.get(job_id)

    def rows(self) -> list[TransferRow]:
        """The rows as listed (newest first)."""
        return [self._rows[job] for job in sorted(self._rows, reverse=True)]

    def card(self, job_id: int) -> TransferCard | None:
        return self._cards.get(job_id)

    def remove(self, job_id: int) -> None:
        card = self._cards.pop(job_id, None)
        self._rows.pop(job_id, None)
        if card is not None:
            self._cards_layout.removeWidget(card)
            card.deleteLater()
        self._update_summary()

    def clear_finished(self) -> None:
        ended = [job for job, row in self._rows.items() if not row.active]
        for job in ended:
            self.remove(job)
        if ended:
            self.cleared.emit(ended)

    # --- reacting -----------------------------------------------------------------------------

    def _update_summary(self) -> None:
        rows = list(self._rows.values())
        running = sum(1 for r in rows if r.state in ("running", "cancelling"))
        queued = sum(1 for r in rows if r.state == "queued")
        failed = sum(1 for r in rows if r.state == "failed")
        parts = []
        if running:
            parts.append(f"{running} running")
        if queued:
            parts.append(f"{queued} queued")
        if failed:
            parts.append(f"{failed} failed")
        self.summary.setText(", ".join(parts))
        self.clear_button.setEnabled(any(not r.active for r in rows))
        self.empty.setVisible(not rows)

    def _on_button(self, job_id: int) -> None:
        row = self._rows.get(job_id)
        if row is None:
            return
        if row.state in ("queued", "running"):
            self.cancel_requested.emit(job_id)
        elif row.retryable:
            self.retry_requested.emit(job_id)
