"""Where the workstation keeps what it owns: database, managed storage, settings, logs.

Everything lives under one folder: ``--home DIR``, else ``WORKSTATION_HOME``, else the user's
data folder (platformdirs). Tests and side-by-side installs point it elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

_override: Path | None = None


def set_home(path: Path | None) -> None:
    """Use ``path`` as the home folder for the rest of the process (``--home``)."""
    global _override
    _override = path


def home() -> Path:
    if _override is not None:
        return _override
    configured = os.environ.get("WORKSTATION_HOME")
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_data_path

    return user_data_path("workstation", appauthor=False)


def ensure(sub: str) -> Path:
    """``home()/sub``, created if needed."""
    path = home() / sub
    path.mkdir(parents=True, exist_ok=True)
    return path
