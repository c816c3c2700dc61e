"""Where the files of ``resources/`` are: beside the executable in the installed bundle, at the
top of the source tree otherwise."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    if getattr(sys, "frozen", False):
        return Path(sys.executable).parent / "resources"
    return Path(__file__).resolve().parents[1] / "resources"


def read_text(name: str, default: str = "") -> str:
    """A resource file's text, or ``default`` when the installation lacks it."""
    try:
        return (resources_dir() / name).read_text(encoding="utf-8")
    except OSError:
        return default
