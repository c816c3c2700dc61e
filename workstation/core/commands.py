"""Commands and the undo stack: every change to the scene is a command that can be undone."""

from __future__ import annotations

from typing import Protocol

from psygnal import Signal


class Command(Protocol):
    """A reversible change. ``apply`` is called on push and on redo, ``revert`` on undo."""

    text: str

    def apply(self) -> None: ...

    def revert(self) -> None: ...


class UndoStack:
    """Linear history: pushing after an undo drops what could have been redone."""

    changed = Signal()

    def __init__(self, limit: int = 500) -> None:
        self._done: list[Command] = []
        self._undone: list[Command] = []
        self._limit = limit

    def push(self, command: Command) -> None:
        """Apply ``command`` and remember it."""
        command.apply()
        self._done.append(command)
        del self._done[: -self._limit]
        self._undone.clear()
        self.changed.emit()

    def undo(self) -> str | None:
        """Revert the last command; its text, or None when there is nothing to undo."""
        if not self._done:
            return None
        command = self._done.pop()
        command.revert()
        self._undone.append(command)
        self.changed.emit()
        return command.text

    def redo(self) -> str | None:
        if not self._undone:
            return None
        command = self._undone.pop()
        command.apply()
        self._done.append(command)
        self.changed.emit()
        return command.text

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    @property
    def undo_text(self) -> str:
        return self._done[-1].text if self._done else ""

    @property
    def redo_text(self) -> str:
        return self._undone[-1].text if self._undone else ""

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
        self.changed.emit()
