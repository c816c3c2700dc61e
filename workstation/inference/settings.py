"""Where plugins and weights are looked for, and the inference settings IT and users choose.

Sources, in order of precedence (the first plugin of an id wins, later ones are "shadowed"):

1. site plugin folders: ``WORKSTATION_SITE_PLUGINS`` (folders joined by ``os.pathsep``), then
   ``inference.plugin_dirs`` of the site configuration;
2. the user's plugin folder, ``<home>/plugins``;
3. installed distributions with a ``workstation.plugins`` entry point;
4. the application's ``plugins/``: beside the executable in the installed bundle, at the top of
   the source tree otherwise.

The site configuration is a JSON file IT places: ``WORKSTATION_SITE_CONFIG``, else ``site.json``
beside the executable of the installed bundle, else ``site.json`` in the system's site
configuration folder (platformdirs). Its ``inference`` section may hold ``plugin_dirs``,
``weights_dirs``, ``python_paths`` (folders put on the worker's import path, e.g. a torch
installation for the bundle, which leaves torch out) and ``device``. Relative paths are relative
to the file. The user's ``<home>/settings.json`` may set ``inference.device``; the environment
variable ``WORKSTATION_DEVICE`` overrides both. Every run may override the device again.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workstation import paths

log = logging.getLogger(__name__)

ENV_SITE_PLUGINS = "WORKSTATION_SITE_PLUGINS"
ENV_SITE_CONFIG = "WORKSTATION_SITE_CONFIG"
ENV_DEVICE = "WORKSTATION_DEVICE"
DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")


@dataclass(frozen=True)
class InferenceSettings:
    device: str = "auto"
    site_plugin_dirs: tuple[Path, ...] = ()
    site_weights_dirs: tuple[Path, ...] = ()
    python_paths: tuple[Path, ...] = ()
    site_config: Path | None = None


def install_dir() -> Path:
    """The folder holding ``plugins/`` and ``weights/``: the bundle's, or the source tree's."""
    if getattr(sys, "frozen", False):
        return Path(sys.executable).parent
    return Path(__file__).resolve().parents[2]


def app_plugin_dir() -> Path:
    return install_dir() / "plugins"


def app_weights_dir() -> Path:
    return install_dir() / "weights"


def user_plugin_dir() -> Path:
    return paths.home() / "plugins"


def site_config_path() -> Path | None:
    """The site configuration file in use, or None when there is none."""
    configured = os.environ.get(ENV_SITE_CONFIG)
    if configured:
        return Path(configured).expanduser()
    candidates = []
    if getattr(sys, "frozen", False):
        candidates.append(Path(sys.executable).parent / "site.json")
    from platformdirs import site_config_path as platform_site

    candidates.append(platform_site("workstation", appauthor=False) / "site.json")
    return next((path for path in candidates if path.is_file()), None)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return {}
    section = data.get("inference") if isinstance(data, dict) else None
    return section if isinstance(section, dict) else {}


def _folders(value: Any, base: Path) -> tuple[Path, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    return tuple((base / Path(v).expanduser()) for v in value if isinstance(v, str) and v)


def load_settings() -> InferenceSettings:
    """The settings now in force (read afresh: IT may change the files while the app runs)."""
    site_file = site_config_path()
    site = _read_json(site_file) if site_file is not None and site_file.is_file() else {}
    base = site_file.parent if site_file is not None else Path.cwd()
    user_file = paths.home() / "settings.json"
    user = _read_json(user_file) if user_file.is_file() else {}

    env_plugins = tuple(
        Path(p).expanduser() for p in os.environ.get(ENV_SITE_PLUGINS, "").split(os.pathsep) if p
    )
    device = str(os.environ.get(ENV_DEVICE) or user.get("device") or site.get("device") or "auto")
    if device not in DEVICE_CHOICES:
        log.warning("unknown inference device %r in the settings; using auto", device)
        device = "auto"
    return InferenceSettings(
        device=device,
        site_plugin_dirs=env_plugins + _folders(site.get("plugin_dirs"), base),
        site_weights_dirs=_folders(site.get("weights_dirs"), base),
        python_paths=_folders(site.get("python_paths"), base),
        site_config=site_file,
    )
