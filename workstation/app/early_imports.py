"""Imports that must happen before Qt's import hook starts looking at modules.

PySide6, once its feature machinery has started (lazily, on the first use of a Qt signature),
reads the source of every newly imported module and probes it for ``__wrapped__``. pydantic
answers that probe on several of its modules by importing ``pydantic._internal._validators``;
when the probe runs while that very module is being imported, the import fails as a circular
one. Plugin discovery imports pydantic on its own thread while the window starts, so whether it
failed depended on timing. Importing pydantic's internals first, before Qt, makes the order
fixed (about 40 ms).
"""

from __future__ import annotations


def settle_lazy_modules() -> None:
    """Import what Qt's import hook would otherwise catch half-initialised."""
    import pydantic._internal._validators  # noqa: F401
