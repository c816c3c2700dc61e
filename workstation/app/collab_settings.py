"""Where the collaboration server is, how to trust it, and where the sign-in token is kept.

Settings
--------
- **Site configuration** (IT): the ``"collaboration"`` section of the site file the rest of
  the application reads (``WORKSTATION_SITE_CONFIG``; else ``site.json`` beside the executable
  of the installed bundle; else ``site.toml`` or ``site.json`` in the platform's site folder)::

      [collaboration]
      server_url = "https://collab.hospital.org"
      ca_bundle = "hospital-ca.pem"   # relative to the site file; replaces the system CAs
      verify = true                   # false only on a test bench

- **User settings**: the ``"collaboration"`` object of ``<home>/settings.json`` remembers the
  server, user name and display name of the last sign-in (other keys of the file are kept as
  they are).
  The user's server wins over the site default; TLS trust comes from the site file only.

The token
---------
The bearer token of a sign-in is kept in the OS keyring (``keyring``: Windows Credential
Manager, macOS Keychain, Secret Service on Linux) under :data:`KEYRING_SERVICE`, so the next
start resumes the session. Where no keyring backend exists it is kept in memory only and the
panel says so: it is never written to a file.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from workstation import paths

log = logging.getLogger(__name__)

SITE_CONFIG_ENV = "WORKSTATION_SITE_CONFIG"
SECTION = "collaboration"
KEYRING_SERVICE = "workstation-collab"
#: Settings files hold a few keys; anything larger is not one.
_MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class CollabSettings:
    """The server to offer, and how to verify its certificate."""

    #: The user's last server, else the site's, else "".
    server_url: str = ""
    #: The user name of the last sign-in ("" when none), and the name colleagues know them by
    #: (signs AI reviews while the app resumes offline).
    username: str = ""
    display_name: str = ""
    #: The site's default server ("" when IT set none).
    site_server_url: str = ""
    #: httpx's ``verify``: True (system CAs), a CA bundle path, or False.
    verify: bool | str = True
    site_config: Path | None = None


def normalize_url(text: str) -> str:
    """``text`` as a server base URL: ``https://`` added when no scheme is given.

    Raises ``ValueError`` with a reader's sentence when it cannot be a server address.
    """
    value = text.strip().rstrip("/")
    if not value:
        raise ValueError("Enter the server address, e.g. https://collab.hospital.org")
    if "://" not in value:
        value = f"https://{value}"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{text.strip()!r} is not a server address (e.g. https://collab.hospital.org)"
        )
    return value


def site_config_path() -> Path | None:
    """The site configuration file in use, or None (the same file the PACS and AI parts read)."""
    configured = os.environ.get(SITE_CONFIG_ENV)
    if configured:
        return Path(configured).expanduser()
    candidates: list[Path] = []
    if getattr(sys, "frozen", False):
        candidates.append(Path(sys.executable).parent / "site.json")
    from platformdirs import site_config_path as platform_site

    folder = platform_site("workstation", appauthor=False, multipath=False)
    candidates += [folder / "site.toml", folder / "site.json"]
    return next((path for path in candidates if path.is_file()), None)


def user_settings_path() -> Path:
    return paths.home() / "settings.json"


def _read(path: Path) -> dict[str, Any]:
    """A settings file as a mapping ({} when missing or unreadable, with a warning)."""
    try:
        with path.open("rb") as file:
            data = file.read(_MAX_BYTES + 1)
        if len(data) > _MAX_BYTES:
            raise ValueError(f"larger than {_MAX_BYTES} bytes")
        text = data.decode("utf-8")
        document = (
            tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text or "{}")
        )
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return {}
    return document if isinstance(document, dict) else {}


def _section(document: dict[str, Any]) -> dict[str, Any]:
    section = document.get(SECTION)
    return section if isinstance(section, dict) else {}


def load_settings() -> CollabSettings:
    """The settings now in force (read afresh: IT may change the site file while the app runs)."""
    site_file = site_config_path()
    site = _section(_read(site_file)) if site_file is not None else {}
    user = _section(_read(user_settings_path()))
    site_url = ""
    if isinstance(site.get("server_url"), str) and site["server_url"].strip():
        try:
            site_url = normalize_url(site["server_url"])
        except ValueError as exc:
            log.warning("site configuration: collaboration server_url ignored: %s", exc)
    user_url = user.get("server_url") if isinstance(user.get("server_url"), str) else ""
    verify: bool | str = True
    if site.get("verify") is False:
        verify = False
    elif isinstance(site.get("ca_bundle"), str) and site["ca_bundle"].strip():
        bundle = Path(site["ca_bundle"]).expanduser()
        if not bundle.is_absolute() and site_file is not None:
            bundle = site_file.parent / bundle
        verify = str(bundle)
    return CollabSettings(
        server_url=str(user_url or site_url),
        username=str(user.get("username") or ""),
        display_name=str(user.get("display_name") or ""),
        site_server_url=site_url,
        verify=verify,
        site_config=site_file,
    )


def remember(server_url: str, username: str, display_name: str = "") -> None:
    """Keep the server and user of a sign-in in the user settings (never a secret)."""
    path = user_settings_path()
    document = _read(path) if path.is_file() else {}
    section = document.get(SECTION)
    if not isinstance(section, dict):
        section = {}
    section.update(server_url=server_url, username=username, display_name=display_name)
    document[SECTION] = section
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A name of its own: two sign-ins (two threads) may write at the same moment.
        partial = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
        partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        log.warning("sign-in not remembered in %s: %s", path, exc)


class TokenVault:
    """The sign-in token in the OS keyring, one entry per (server, user).

    Every method swallows keyring failures (a locked keyring, a D-Bus error): losing the token
    only means signing in again, and must never break the window. Calls may block (a keyring
    asking to be unlocked), so the application makes them off the GUI thread.
    """

    def __init__(self, service: str = KEYRING_SERVICE) -> None:
        self.service = service

    def status(self) -> tuple[bool, str]:
        """Whether a keyring backend can keep the token, and a sentence for the panel."""
        try:
            import keyring
            from keyring.backends import fail
        except ImportError:  # pragma: no cover - a dependency
            return False, "No keyring support: you will sign in again after a restart."
        try:
            backend = keyring.get_keyring()
        except Exception as exc:  # noqa: BLE001 - a broken backend must not stop the app
            log.warning("keyring unavailable: %s", exc)
            backend = None
        if backend is None or isinstance(backend, fail.Keyring) or backend.priority <= 0:
            return False, "No keyring on this computer: you will sign in again after a restart."
        return True, ""

    @staticmethod
    def _account(server_url: str, username: str) -> str:
        return f"{username}@{server_url}"

    def load(self, server_url: str, username: str) -> str | None:
        if not server_url or not username or not self.status()[0]:
            return None
        import keyring

        try:
            return keyring.get_password(self.service, self._account(server_url, username))
        except Exception as exc:  # noqa: BLE001 - see the class notes
            log.warning("keyring lookup failed: %s", exc)
            return None

    def save(self, server_url: str, username: str, token: str) -> bool:
        if not self.status()[0]:
            return False
        import keyring

        try:
            keyring.set_password(self.service, self._account(server_url, username), token)
        except Exception as exc:  # noqa: BLE001 - see the class notes
            log.warning("keyring refused the token: %s", exc)
            return False
        return True

    def forget(self, server_url: str, username: str) -> None:
        if not server_url or not username or not self.status()[0]:
            return
        import keyring

        try:
            keyring.delete_password(self.service, self._account(server_url, username))
        except Exception as exc:  # noqa: BLE001 - nothing kept is fine too
            log.debug("no token removed from the keyring: %s", exc)
