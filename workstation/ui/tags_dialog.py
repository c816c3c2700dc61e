"""The DICOM tag browser: every attribute of the image under the cursor, searchable."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QHeaderView,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workstation.io.tags import TagRow


class TagsDialog(QDialog):
    """A non-modal window listing tag, keyword, VR and value; typing filters the rows."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("DICOM tags")
        self.resize(760, 620)
        self.filter = QLineEdit(self)
        self.filter.setPlaceholderText("Filter by tag, keyword or value…")
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(4)
        self.tree.setHeaderLabels(["Tag", "Keyword", "VR", "Value"])
        self.tree.header().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.tree.setAlternatingRowColors(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(self.tree)
        self.filter.textChanged.connect(self._apply_filter)

    def show_rows(self, title: str, rows: list[TagRow]) -> None:
        self.setWindowTitle(f"DICOM tags — {title}")
        self.tree.clear()
        self.tree.addTopLevelItems([self._item(row) for row in rows])
        self.tree.resizeColumnToContents(0)
        self.tree.resizeColumnToContents(1)
        self._apply_filter(self.filter.text())

    def _item(self, row: TagRow) -> QTreeWidgetItem:
        item = QTreeWidgetItem([row.tag, row.keyword, row.vr, row.value])
        item.addChildren([self._item(child) for child in row.children])
        return item

    def _apply_filter(self, text: str) -> None:
        needle = text.strip().lower()
        for index in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(index)
            if item is not None:
                self._filter_item(item, needle)

    def _filter_item(self, item: QTreeWidgetItem, needle: str) -> bool:
        own = not needle or any(needle in item.text(c).lower() for c in range(4))
        child_match = False
        for index in range(item.childCount()):
            child = item.child(index)
            if child is not None:
                child_match |= self._filter_item(child, needle)
        visible = own or child_match
        item.setHidden(not visible)
        return visible
