"""PACS nodes and our own DICOM identity: user settings, the site configuration, credentials.

Where the settings come from
----------------------------
- **Site configuration** (deployed by IT, read-only for the user): the file named by
  ``WORKSTATION_SITE_CONFIG``, else ``site.toml`` (or ``site.json``) in the platform's site
  folder (platformdirs ``site_config_path``: ``/etc/xdg/workstation`` on Linux,
  ``C:\\ProgramData\\workstation`` on Windows, ``/Library/Application Support/workstation`` on
  macOS). See ``docs/admin.md`` for the format.
- **User settings**: the ``"pacs"`` object of ``paths.home()/settings.json`` (other keys of the
  file belong to other parts of the application and are kept as they are when we write).

Nodes are merged by name: site nodes come first and cannot be changed or shadowed by the user
(a user node of the same name is ignored, with a warning). Our AE title and storage port are
taken from the command line (``--ae``, ``--port``), else the user settings, else the site
configuration, else :data:`DEFAULT_AE_TITLE` / :data:`DEFAULT_PORT`.

Secrets
-------
Passwords and tokens are never read from or written to these files. They live in the OS
keyring (``keyring``: Windows Credential Manager, macOS Keychain, Secret Service on Linux) under
the service :data:`KEYRING_SERVICE`. Where no keyring backend exists (a Linux box without a
Secret Service), :func:`secret_for` says so and falls back to an environment variable
(``WORKSTATION_PACS_PASSWORD_<NODE>`` / ``WORKSTATION_PACS_TOKEN_<NODE>``, or the same names
without the node suffix), then to asking (a terminal prompt or a GUI dialog passed as
``prompt``); :func:`store_secret` refuses rather than writing a plain file.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from workstation import paths
from workstation.pacs.errors import PacsError, PacsReason

log = logging.getLogger(__name__)

DEFAULT_AE_TITLE = "WORKSTATION"
DEFAULT_PORT = 11112
SITE_CONFIG_ENV = "WORKSTATION_SITE_CONFIG"
SETTINGS_NAME = "settings.json"
KEYRING_SERVICE = "workstation-pacs"
#: Bound on a settings file (they hold a few nodes).
_MAX_SETTINGS_BYTES = 1 << 20

Kind = Literal["dicomweb", "dimse"]
Auth = Literal["none", "basic", "bearer"]
Origin = Literal["site", "user", "inline"]

_AE_TITLE = re.compile(r"[\x20-\x5b\x5d-\x7e]{1,16}")  # PS3.5 AE: no backslash, no controls
_SECRET_KEYS = {"password", "token", "secret", "bearer_token", "api_key"}


def check_ae_title(value: str, what: str = "AE title") -> str:
    """``value`` when it is a valid AE title (1-16 printable characters, no backslash)."""
    if not isinstance(value, str) or not _AE_TITLE.fullmatch(value) or not value.strip():
        raise ValueError(f"{what} must be 1 to 16 printable characters without '\\', got {value!r}")
    return value.strip()


def check_port(value: object, what: str = "port") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError(f"{what} must be a number from 1 to 65535, got {value!r}")
    return value


@dataclass(frozen=True)
class TlsOptions:
    """TLS settings of a node.

    ``enabled`` matters for DIMSE nodes (DICOM TLS, PS3.15 Annex B); a DICOMweb node uses TLS
    when its URL is ``https``. ``verify`` False accepts any server certificate (tests only).
    """

    enabled: bool = False
    verify: bool = True
    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None

    def ssl_context(self) -> Any:
        """An ``ssl.SSLContext`` for the client side of a connection."""
        import ssl

        if self.verify:
            context = ssl.create_default_context(
                cafile=str(self.ca_bundle) if self.ca_bundle else None
            )
        else:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.client_cert is not None:
            try:
                context.load_cert_chain(
                    str(self.client_cert), str(self.client_key) if self.client_key else None
                )
            except (OSError, ssl.SSLError) as exc:
                raise PacsError(
                    PacsReason.CONFIGURATION, f"cannot load the client certificate: {exc}"
                ) from exc
        return context


@dataclass(frozen=True)
class Node:
    """A PACS (or VNA, or another workstation) the user can query, retrieve from, send to.

    Attributes
    ----------
    name:
        What the user calls it; unique among the configured nodes.
    kind:
        ``"dicomweb"`` (QIDO-RS / WADO-RS / STOW-RS) or ``"dimse"`` (C-FIND / C-GET / C-MOVE /
        C-STORE).
    url:
        DICOMweb base URL (``https://host/dicom-web``).
    ae_title, host, port:
        The DIMSE node's called AE title and address.
    auth:
        ``"none"``, ``"basic"`` (``username`` + a password from the keyring) or ``"bearer"``
        (a token from the keyring). DICOMweb only.
    retrieve:
        DIMSE retrieval by ``"get"`` (C-GET, no inbound connection needed) or ``"move"``
        (C-MOVE to our storage SCP: the node must know our AE title, host and port).
    timeout:
        Seconds any single network wait may last.
    origin:
        ``"site"`` (read-only), ``"user"`` or ``"inline"`` (given on the command line).
    """

    name: str
    kind: Kind
    url: str = ""
    ae_title: str = ""
    host: str = ""
    port: int = 0
    auth: Auth = "none"
    username: str = ""
    tls: TlsOptions = field(default_factory=TlsOptions)
    retrieve: Literal["get", "move"] = "get"
    timeout: float = 30.0
    description: str = ""
    origin: Origin = "user"

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 128 or not self.name.isprintable():
            raise ValueError(
                f"a node needs a printable name of at most 128 characters: {self.name!r}"
            )
        if self.kind == "dicomweb":
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"node {self.name}: url must be http(s)://host[:port]/path")
            if parts.username or parts.password:
                raise ValueError(
                    f"node {self.name}: no credentials in the URL (use username and the keyring)"
                )
        elif self.kind == "dimse":
            check_ae_title(self.ae_title, f"node {self.name}: ae_title")
            if not self.host:
                raise ValueError(f"node {self.name}: host is required")
            check_port(self.port, f"node {self.name}: port")
            if self.auth != "none":
                raise ValueError(f"node {self.name}: DIMSE nodes take no auth (use TLS)")
        else:
            raise ValueError(f"node {self.name}: kind must be dicomweb or dimse, not {self.kind!r}")
        if self.auth not in ("none", "basic", "bearer"):
            raise ValueError(f"node {self.name}: auth must be none, basic or bearer")
        if self.auth == "basic" and not self.username:
            raise ValueError(f"node {self.name}: basic auth needs a username")
        if self.retrieve not in ("get", "move"):
            raise ValueError(f"node {self.name}: retrieve must be get or move")
        if not 0.5 <= self.timeout <= 3600:
            raise ValueError(f"node {self.name}: timeout must lie in 0.5..3600 s")

    @property
    def read_only(self) -> bool:
        """Site nodes are managed by IT: the user cannot edit or remove them."""
        return self.origin == "site"

    @property
    def address(self) -> str:
        """Where the node is, for messages (no credentials)."""
        if self.kind == "dicomweb":
            return self.url
        return f"{self.ae_title}@{self.host}:{self.port}"

    def to_json(self) -> dict[str, Any]:
        """The settings entry (secrets are never part of it)."""
        entry: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.kind == "dicomweb":
            entry["url"] = self.url
        else:
            entry |= {"ae_title": self.ae_title, "host": self.host, "port": self.port}
            entry["retrieve"] = self.retrieve
        if self.auth != "none":
            entry["auth"] = self.auth
        if self.username:
            entry["username"] = self.username
        tls = self.tls
        if tls != TlsOptions():
            entry["tls"] = {
                "enabled": tls.enabled,
                "verify": tls.verify,
                **({"ca_bundle": str(tls.ca_bundle)} if tls.ca_bundle else {}),
                **({"client_cert": str(tls.client_cert)} if tls.client_cert else {}),
                **({"client_key": str(tls.client_key)} if tls.client_key else {}),
            }
        if self.timeout != 30.0:
            entry["timeout"] = self.timeout
        if self.description:
            entry["description"] = self.description
        return entry


@dataclass(frozen=True)
class PrefetchSettings:
    """When a study is opened or arrives, fetch the same patient's priors from ``node``.

    ``priors`` older studies (most recent first), of the same modality when ``same_modality``.
    """

    enabled: bool = False
    node: str = ""
    priors: int = 2
    same_modality: bool = True
    on_open: bool = True
    on_arrival: bool = True


@dataclass(frozen=True)
class PacsSettings:
    """Everything the PACS layer needs from configuration, merged."""

    ae_title: str = DEFAULT_AE_TITLE
    port: int = DEFAULT_PORT
    #: Address the storage SCP listens on ("0.0.0.0": every interface).
    bind: str = "0.0.0.0"
    #: Whether the storage SCP runs with the application.
    scp_enabled: bool = True
    nodes: tuple[Node, ...] = ()
    prefetch: PrefetchSettings = field(default_factory=PrefetchSettings)
    #: Problems found while reading the files (bad entries are skipped, never fatal).
    warnings: tuple[str, ...] = ()
    site_path: Path | None = None
    user_path: Path | None = None

    def node(self, name: str) -> Node:
        """The configured node called ``name``.

        Raises
        ------
        PacsError
            ``configuration`` when there is none.
        """
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes) or "none configured"
        raise PacsError(
            PacsReason.CONFIGURATION,
            f"no node called {name!r} (known: {known}; or give dicomweb:URL / dimse:AET@host:port)",
        )

    def resolve(self, name_or_spec: str) -> Node:
        """A configured node by name, or an inline spec (``dicomweb:...``, ``dimse:...``)."""
        if any(node.name == name_or_spec for node in self.nodes):
            return self.node(name_or_spec)
        if name_or_spec.startswith(("dicomweb:", "dimse:")):
            return parse_node_spec(name_or_spec)
        return self.node(name_or_spec)

    def with_local(self, ae_title: str | None = None, port: int | None = None) -> PacsSettings:
        """These settings with our AE title and port overridden (``--ae``, ``--port``)."""
        return replace(
            self,
            ae_title=check_ae_title(ae_title, "--ae") if ae_title else self.ae_title,
            port=check_port(port, "--port") if port is not None else self.port,
        )


def parse_node_spec(spec: str) -> Node:
    """An inline node: ``dicomweb:http://host:port/dicom-web`` or ``dimse:AET@host:port``.

    Raises
    ------
    PacsError
        ``configuration`` when the spec is malformed.
    """
    try:
        if spec.startswith("dicomweb:"):
            return Node(name=spec, kind="dicomweb", url=spec[len("dicomweb:") :], origin="inline")
        if spec.startswith("dimse:"):
            found = re.fullmatch(r"dimse:([^@]{1,16})@(\[[^\]]+\]|[^:@]+):(\d{1,5})", spec)
            if found is None:
                raise ValueError("a DIMSE node is dimse:AET@host:port")
            host = found.group(2).strip("[]")
            return Node(
                name=spec,
                kind="dimse",
                ae_title=found.group(1),
                host=host,
                port=int(found.group(3)),
                origin="inline",
            )
        raise ValueError("a node is a configured name, dicomweb:URL or dimse:AET@host:port")
    except ValueError as exc:
        raise PacsError(PacsReason.CONFIGURATION, f"{spec!r}: {exc}") from None


# --- reading the files -----------------------------------------------------------------------


def site_config_path() -> Path | None:
    """The site configuration file to read, or None when there is none."""
    configured = os.environ.get(SITE_CONFIG_ENV)
    if configured:
        return Path(configured).expanduser()
    from platformdirs import site_config_path as platform_site

    folder = platform_site("workstation", appauthor=False, multipath=False)
    for name in ("site.toml", "site.json"):
        if (folder / name).is_file():
            return folder / name
    return None


def user_settings_path() -> Path:
    return paths.home() / SETTINGS_NAME


def _read_document(path: Path) -> dict[str, Any]:
    """A settings file as a mapping (TOML for ``.toml``, JSON otherwise)."""
    with path.open("rb") as file:
        data = file.read(_MAX_SETTINGS_BYTES + 1)
    if len(data) > _MAX_SETTINGS_BYTES:
        raise ValueError(f"larger than {_MAX_SETTINGS_BYTES} bytes")
    document: Any
    if path.suffix.lower() == ".toml":
        document = tomllib.loads(data.decode("utf-8"))
    else:
        document = json.loads(data.decode("utf-8")) if data.strip() else {}
    if not isinstance(document, dict):
        raise ValueError("the file does not hold a table / object")
    return document


def _expand_ae(value: str) -> str:
    """``{hostname}`` in a site AE title becomes this machine's short name (upper case)."""
    if "{hostname}" in value:
        host = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname().split(".")[0]).upper()
        value = value.replace("{hostname}", host)[:16]
    return value


def _node_from(entry: Mapping[str, Any], origin: Origin) -> Node:
    if not isinstance(entry, Mapping):
        raise ValueError("a node entry must be a table / object")
    secrets = _SECRET_KEYS & set(entry)
    if secrets:
        raise ValueError(
            f"node {entry.get('name')!r} holds {', '.join(sorted(secrets))}: secrets are never "
            "read from settings files (use `workstation pacs login` to put them in the keyring)"
        )
    unknown = set(entry) - {
        "name",
        "kind",
        "url",
        "ae_title",
        "host",
        "port",
        "auth",
        "username",
        "tls",
        "retrieve",
        "timeout",
        "description",
    }
    if unknown:
        raise ValueError(f"node {entry.get('name')!r}: unknown keys {', '.join(sorted(unknown))}")
    tls_entry = entry.get("tls", {}) or {}
    if not isinstance(tls_entry, Mapping) or set(tls_entry) - {
        "enabled",
        "verify",
        "ca_bundle",
        "client_cert",
        "client_key",
    }:
        raise ValueError(
            f"node {entry.get('name')!r}: tls takes enabled, verify, ca_bundle, "
            "client_cert, client_key"
        )

    def optional_path(key: str) -> Path | None:
        value = tls_entry.get(key)
        return Path(str(value)).expanduser() if value else None

    tls = TlsOptions(
        enabled=bool(tls_entry.get("enabled", False)),
        verify=bool(tls_entry.get("verify", True)),
        ca_bundle=optional_path("ca_bundle"),
        client_cert=optional_path("client_cert"),
        client_key=optional_path("client_key"),
    )
    timeout = entry.get("timeout", 30.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise ValueError(f"node {entry.get('name')!r}: timeout must be a number of seconds")
    return Node(
        name=str(entry.get("name", "")),
        kind=entry.get("kind", ""),
        url=str(entry.get("url", "")).rstrip("/"),
        ae_title=str(entry.get("ae_title", "")),
        host=str(entry.get("host", "")),
        port=entry.get("port", 0),
        auth=entry.get("auth", "none"),
        username=str(entry.get("username", "")),
        tls=tls,
        retrieve=entry.get("retrieve", "get"),
        timeout=float(timeout),
        description=str(entry.get("description", "")),
        origin=origin,
    )


def _section(document: Mapping[str, Any]) -> Mapping[str, Any]:
    section = document.get("pacs", {})
    if not isinstance(section, Mapping):
        raise ValueError("[pacs] must be a table / object")
    return section


def load_settings(
    *, site_path: Path | Literal["default"] | None = "default", user_path: Path | None = None
) -> PacsSettings:
    """Read and merge the site configuration and the user settings.

    Problems (an unreadable file, a bad node entry) never raise: the entry is skipped and the
    reason lands in ``warnings``, so a typo in one node does not take the others away.
    """
    site = site_config_path() if site_path == "default" else site_path
    user = user_settings_path() if user_path is None else user_path
    warnings: list[str] = []
    values: dict[str, Any] = {}
    nodes: list[Node] = []
    prefetch: dict[str, Any] = {}
    for path, origin in ((site, "site"), (user, "user")):
        if path is None or not path.is_file():
            if origin == "site" and path is not None and site_path != "default":
                warnings.append(f"site configuration {path} does not exist")
            continue
        try:
            section = _section(_read_document(path))
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            warnings.append(f"{path}: not read: {exc}")
            continue
        for key in ("ae_title", "port", "bind", "scp_enabled"):
            if key in section:
                values[key] = section[key]
        raw_prefetch = section.get("prefetch", {})
        if isinstance(raw_prefetch, Mapping):
            prefetch |= {k: raw_prefetch[k] for k in raw_prefetch}
        raw_nodes = section.get("nodes", [])
        if not isinstance(raw_nodes, list):
            warnings.append(f"{path}: pacs.nodes must be a list")
            continue
        for entry in raw_nodes:
            try:
                node = _node_from(entry, origin)  # type: ignore[arg-type]
            except (ValueError, TypeError) as exc:
                warnings.append(f"{path}: node skipped: {exc}")
                continue
            clash = next((n for n in nodes if n.name == node.name), None)
            if clash is not None:
                who = "the site configuration" if clash.origin == "site" else "an earlier entry"
                warnings.append(f"{path}: node {node.name!r} ignored: {who} defines it")
                continue
            nodes.append(node)
    settings = PacsSettings(nodes=tuple(nodes), site_path=site, user_path=user)
    try:
        ae_title = _expand_ae(str(values.get("ae_title", DEFAULT_AE_TITLE)))
        settings = replace(
            settings,
            ae_title=check_ae_title(ae_title, "pacs.ae_title"),
            port=check_port(values.get("port", DEFAULT_PORT), "pacs.port"),
            bind=str(values.get("bind", settings.bind)),
            scp_enabled=bool(values.get("scp_enabled", True)),
        )
    except ValueError as exc:
        warnings.append(f"own DICOM settings ignored: {exc}")
    try:
        settings = replace(settings, prefetch=_prefetch_from(prefetch))
    except (ValueError, TypeError) as exc:
        warnings.append(f"prefetch settings ignored: {exc}")
    return replace(settings, warnings=tuple(warnings))


def _prefetch_from(entry: Mapping[str, Any]) -> PrefetchSettings:
    unknown = set(entry) - {"enabled", "node", "priors", "same_modality", "on_open", "on_arrival"}
    if unknown:
        raise ValueError(f"unknown keys {', '.join(sorted(unknown))}")
    priors = entry.get("priors", 2)
    if isinstance(priors, bool) or not isinstance(priors, int) or not 0 <= priors <= 20:
        raise ValueError("priors must be a number from 0 to 20")
    return PrefetchSettings(
        enabled=bool(entry.get("enabled", False)),
        node=str(entry.get("node", "")),
        priors=priors,
        same_modality=bool(entry.get("same_modality", True)),
        on_open=bool(entry.get("on_open", True)),
        on_arrival=bool(entry.get("on_arrival", True)),
    )


# --- writing the user settings ---------------------------------------------------------------


def _update_user_section(update: Callable[[dict[str, Any]], None], path: Path | None) -> Path:
    path = user_settings_path() if path is None else path
    document: dict[str, Any] = {}
    if path.is_file():
        try:
            document = _read_document(path)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise PacsError(
                PacsReason.CONFIGURATION, f"{path} cannot be read, so it is left as it is: {exc}"
            ) from exc
    section = document.setdefault("pacs", {})
    if not isinstance(section, dict):
        raise PacsError(PacsReason.CONFIGURATION, f"{path}: 'pacs' is not an object")
    update(section)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def save_user_node(node: Node, *, path: Path | None = None) -> Path:
    """Add or replace a user node in the user settings (never a site node)."""
    settings = load_settings(user_path=path)
    existing = next((n for n in settings.nodes if n.name == node.name), None)
    if existing is not None and existing.read_only:
        raise PacsError(
            PacsReason.CONFIGURATION, f"node {node.name!r} is set by the site configuration"
        )

    def update(section: dict[str, Any]) -> None:
        entries = [e for e in section.get("nodes", []) if e.get("name") != node.name]
        section["nodes"] = [*entries, node.to_json()]

    return _update_user_section(update, path)


def remove_user_node(name: str, *, path: Path | None = None) -> bool:
    """Remove a user node; False when there was none. Site nodes cannot be removed."""
    settings = load_settings(user_path=path)
    existing = next((n for n in settings.nodes if n.name == name), None)
    if existing is None:
        return False
    if existing.read_only:
        raise PacsError(PacsReason.CONFIGURATION, f"node {name!r} is set by the site configuration")

    def update(section: dict[str, Any]) -> None:
        section["nodes"] = [e for e in section.get("nodes", []) if e.get("name") != name]

    _update_user_section(update, path)
    return True


def save_local_identity(
    *, ae_title: str | None = None, port: int | None = None, path: Path | None = None
) -> Path:
    """Store our own AE title and/or storage port in the user settings."""

    def update(section: dict[str, Any]) -> None:
        if ae_title is not None:
            section["ae_title"] = check_ae_title(ae_title)
        if port is not None:
            section["port"] = check_port(port)

    return _update_user_section(update, path)


# --- secrets ---------------------------------------------------------------------------------


def _env_name(prefix: str, node: Node) -> str:
    return f"{prefix}_{re.sub(r'[^A-Za-z0-9]', '_', node.name).upper()}"


def _account(node: Node) -> str:
    return f"{node.name}:{node.username}" if node.auth == "basic" else f"{node.name}:token"


def keyring_status() -> tuple[bool, str]:
    """Whether an OS keyring backend is usable, and its name or why not."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:  # pragma: no cover - a dependency
        return False, "the keyring package is not installed"
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 1) <= 0:
        return False, (
            "no OS keyring is available (on Linux, a Secret Service such as GNOME Keyring "
            "or KWallet must be running)"
        )
    return True, f"{type(backend).__module__}.{type(backend).__name__}"


def secret_for(
    node: Node,
    *,
    prompt: Callable[[str], str | None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """The password (basic) or token (bearer) of ``node``; None for ``auth = "none"``.

    Looked up in order: the environment (``WORKSTATION_PACS_PASSWORD_<NODE>``, then
    ``WORKSTATION_PACS_PASSWORD``; ``TOKEN`` for bearer), the OS keyring, then ``prompt``.

    Raises
    ------
    PacsError
        ``unauthorized`` when none of them has it (saying whether a keyring exists).
    """
    if node.auth == "none":
        return None
    environ = os.environ if environ is None else environ
    prefix = "WORKSTATION_PACS_PASSWORD" if node.auth == "basic" else "WORKSTATION_PACS_TOKEN"
    for name in (_env_name(prefix, node), prefix):
        if environ.get(name):
            return environ[name]
    available, status = keyring_status()
    if available:
        import keyring
        from keyring.errors import KeyringError

        try:
            found = keyring.get_password(KEYRING_SERVICE, _account(node))
        except KeyringError as exc:
            log.warning("keyring lookup failed: %s", exc)
            found = None
        if found:
            return found
    what = "password" if node.auth == "basic" else "token"
    if prompt is not None:
        answer = prompt(f"{what} for {node.username + '@' if node.username else ''}{node.name}: ")
        if answer:
            return answer
    where = "the keyring has none" if available else status
    raise PacsError(
        PacsReason.UNAUTHORIZED,
        f"no {what} for this node: {where}; run `workstation pacs login {node.name}` "
        f"or set {_env_name(prefix, node)}",
        node=node.name,
    )


def store_secret(node: Node, secret: str) -> str:
    """Put the node's password or token into the OS keyring; the backend's name.

    Raises
    ------
    PacsError
        ``configuration`` when no keyring backend exists: the secret is **not** written
        anywhere else.
    """
    if node.auth == "none":
        raise PacsError(PacsReason.CONFIGURATION, f"node {node.name!r} uses no credentials")
    available, status = keyring_status()
    if not available:
        prefix = "WORKSTATION_PACS_PASSWORD" if node.auth == "basic" else "WORKSTATION_PACS_TOKEN"
        raise PacsError(
            PacsReason.CONFIGURATION,
            f"{status}; the secret was not stored (it is never written to a file): set "
            f"{_env_name(prefix, node)} or answer the prompt instead",
        )
    import keyring
    from keyring.errors import KeyringError

    try:
        keyring.set_password(KEYRING_SERVICE, _account(node), secret)
    except KeyringError as exc:
        raise PacsError(PacsReason.CONFIGURATION, f"the keyring refused the secret: {exc}") from exc
    return status


def forget_secret(node: Node) -> bool:
    """Remove the node's secret from the keyring; False when there was none (or no keyring)."""
    available, _ = keyring_status()
    if not available or node.auth == "none":
        return False
    import keyring
    from keyring.errors import KeyringError, PasswordDeleteError

    try:
        keyring.delete_password(KEYRING_SERVICE, _account(node))
    except (PasswordDeleteError, KeyringError):
        return False
    return True
