"""Finding plugins and telling which of their modules can run, without importing plugin code.

A plugin is a folder holding ``plugin.toml`` (and the Python package its modules name), found
in a plugin folder, or an installed distribution whose ``workstation.plugins`` entry point names
the package (``name = "my_plugin"``) or a folder inside it (``name = "my_plugin:manifest"``)
that holds ``plugin.toml``. Only manifests are read: the package is located with
``importlib.util.find_spec`` semantics, never imported. Sources and their precedence are in
:mod:`workstation.inference.settings`.

Every plugin found is listed, including those that cannot run: a broken manifest (with the
validation error), an incompatible host API, a missing dependency, missing or altered weights
(SHA-256 mismatch), or no GPU for a module that requires one. Nothing a plugin holds can make
discovery raise.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from workstation.core.errors import WorkstationError
from workstation.inference import availability
from workstation.inference.api import HOST_API_VERSION
from workstation.inference.manifest import (
    MANIFEST_NAME,
    ManifestError,
    ModuleSpec,
    PluginManifest,
    api_incompatibility,
    load_manifest,
)
from workstation.inference.settings import (
    InferenceSettings,
    app_plugin_dir,
    load_settings,
    user_plugin_dir,
)
from workstation.inference.weights import WeightsCheck, check_weights, weights_roots

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "workstation.plugins"


class Source(StrEnum):
    SITE = "site"
    USER = "user"
    ENTRY_POINT = "entry-point"
    APP = "app"
    EXPLICIT = "explicit"


class ModuleNotFound(WorkstationError):  # noqa: N818 - reads as the condition it reports
    """No module of the given id, or several of that id in different plugins."""


@dataclass
class ModuleRecord:
    """A module of a discovered plugin and whether it can run here."""

    plugin: PluginRecord = field(repr=False)
    spec: ModuleSpec
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    weights: list[WeightsCheck] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def qualified_id(self) -> str:
        return f"{self.plugin.id}/{self.spec.id}"

    @property
    def available(self) -> bool:
        return not self.reasons and not self.plugin.reasons

    @property
    def unavailable_reasons(self) -> list[str]:
        return [*self.plugin.reasons, *self.reasons]

    @property
    def manifest(self) -> PluginManifest:
        assert self.plugin.manifest is not None  # a module only exists in a valid manifest
        return self.plugin.manifest

    def to_json(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "id": spec.id,
            "qualified_id": self.qualified_id,
            "name": spec.name,
            "description": spec.description,
            "available": self.available,
            "reasons": self.unavailable_reasons,
            "warnings": self.warnings,
            "inputs": [item.model_dump(mode="json") for item in spec.inputs],
            "outputs": spec.outputs.model_dump(mode="json"),
            "requires": list(spec.requires),
            "weights": [
                {
                    "name": check.name,
                    "path": str(check.path) if check.path else None,
                    "sha256": check.sha256,
                    "ok": check.problem is None,
                }
                for check in self.weights
            ],
            "device": spec.device.model_dump(mode="json"),
            "limits": spec.limits.model_dump(mode="json"),
            "parameters": dict(spec.parameters),
        }


@dataclass
class PluginRecord:
    """A plugin found by discovery, valid or not."""

    id: str
    source: Source
    #: Where it was found: the manifest's path, or the entry point ("name = value").
    location: str
    #: Folder holding ``plugin.toml`` (None when an entry point could not be resolved).
    root: Path | None
    #: Folders put first on the worker's import path to find the plugin's package.
    code_paths: tuple[Path, ...] = ()
    manifest: PluginManifest | None = None
    #: The manifest could not be read or validated: why.
    error: str | None = None
    #: Why none of its modules can run (broken manifest, host API, shadowed).
    reasons: list[str] = field(default_factory=list)
    modules: list[ModuleRecord] = field(default_factory=list)
    shadowed_by: str | None = None

    @property
    def available(self) -> bool:
        return not self.reasons and any(m.available for m in self.modules)

    @property
    def version(self) -> str:
        return self.manifest.version if self.manifest is not None else ""

    def to_json(self) -> dict[str, Any]:
        manifest = self.manifest
        return {
            "id": self.id,
            "name": manifest.name if manifest else "",
            "version": self.version,
            "host_api": manifest.host_api if manifest else "",
            "description": manifest.description if manifest else "",
            "authors": [a.name for a in manifest.authors] if manifest else [],
            "source": self.source.value,
            "location": self.location,
            "available": self.available,
            "reasons": list(self.reasons),
            "error": self.error,
            "modules": [module.to_json() for module in self.modules],
        }


@dataclass
class Registry:
    """Every plugin discovered, in order of precedence."""

    plugins: list[PluginRecord]
    host_api: str = HOST_API_VERSION

    def modules(self, *, available_only: bool = False) -> list[ModuleRecord]:
        found = [
            module
            for plugin in self.plugins
            if plugin.shadowed_by is None
            for module in plugin.modules
        ]
        return [m for m in found if m.available] if available_only else found

    def plugin(self, plugin_id: str) -> PluginRecord:
        for plugin in self.plugins:
            if plugin.id == plugin_id and plugin.shadowed_by is None:
                return plugin
        raise ModuleNotFound(f"no plugin {plugin_id!r}")

    def find_module(self, ref: str) -> ModuleRecord:
        """The module ``ref`` names: ``module-id`` or ``plugin-id/module-id``.

        Raises
        ------
        ModuleNotFound
            When none matches (naming the modules there are) or several do.
        """
        plugin_id, _, module_id = ref.rpartition("/")
        matches = [
            m for m in self.modules() if m.id == module_id and plugin_id in ("", m.plugin.id)
        ]
        if len(matches) == 1:
            return matches[0]
        if matches:
            names = ", ".join(m.qualified_id for m in matches)
            raise ModuleNotFound(f"module {ref!r} is ambiguous: {names}; name the plugin too")
        known = ", ".join(m.qualified_id for m in self.modules()) or "none"
        raise ModuleNotFound(f"no module {ref!r} (modules found: {known})")

    def to_json(self) -> dict[str, Any]:
        return {
            "host_api": self.host_api,
            "plugins": [plugin.to_json() for plugin in self.plugins],
        }


def discover(
    settings: InferenceSettings | None = None,
    *,
    folders: Sequence[Path] | None = None,
    entry_points: bool = True,
    app_folder: bool = True,
    user_folder: bool = True,
) -> Registry:
    """Find every plugin and check each module's availability.

    Parameters
    ----------
    settings:
        The inference settings (default: :func:`load_settings`).
    folders:
        Extra plugin folders searched first (a folder holding ``plugin.toml``, or holding
        plugin folders), e.g. for tests or a plugin under development.
    entry_points, app_folder, user_folder:
        Whether to look at installed distributions, at the application's ``plugins/`` and at
        the user's ``<home>/plugins``.
    """
    settings = settings or load_settings()
    records: list[PluginRecord] = []
    for folder in folders or ():
        records += _from_folder(folder, Source.EXPLICIT)
    for folder in settings.site_plugin_dirs:
        records += _from_folder(folder, Source.SITE)
    if user_folder:
        records += _from_folder(user_plugin_dir(), Source.USER)
    if entry_points:
        records += _from_entry_points()
    if app_folder:
        records += _from_folder(app_plugin_dir(), Source.APP)

    first: dict[str, PluginRecord] = {}
    for record in records:
        winner = first.setdefault(record.id, record)
        if winner is not record:
            record.shadowed_by = winner.location
            record.reasons.append(f"shadowed by the plugin of the same id at {winner.location}")
            continue
        if record.manifest is not None:
            _check_plugin(record, settings)
    return Registry(records)


def _plugin_folders(folder: Path) -> Iterable[Path]:
    if (folder / MANIFEST_NAME).is_file():
        yield folder
        return
    try:
        children = sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError:
        return
    for child in children:
        if (child / MANIFEST_NAME).is_file():
            yield child


def _from_folder(folder: Path, source: Source) -> list[PluginRecord]:
    records = []
    for root in _plugin_folders(folder):
        manifest_path = root / MANIFEST_NAME
        record = PluginRecord(
            id=root.name, source=source, location=str(manifest_path), root=root, code_paths=(root,)
        )
        _read(record, manifest_path)
        records.append(record)
    return records


def _from_entry_points() -> list[PluginRecord]:
    try:
        found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    except Exception as exc:  # noqa: BLE001 - broken metadata of some distribution
        log.warning("cannot list the %s entry points: %s", ENTRY_POINT_GROUP, exc)
        return []
    records = []
    for entry in found:
        location = f"{entry.name} = {entry.value}"
        package, _, inner = entry.value.partition(":")
        package_dir = availability.package_dir(package.strip())
        record = PluginRecord(
            id=entry.name, source=Source.ENTRY_POINT, location=location, root=None
        )
        if package_dir is None:
            record.error = f"entry point {location}: package {package.strip()!r} not found"
            record.reasons.append(record.error)
            records.append(record)
            continue
        root = package_dir.joinpath(*[p for p in inner.strip().split("/") if p])
        record.root = root
        record.location = f"{root / MANIFEST_NAME} (entry point {location})"
        _read(record, root / MANIFEST_NAME)
        records.append(record)
    return records


def _read(record: PluginRecord, path: Path) -> None:
    try:
        record.manifest = load_manifest(path)
    except ManifestError as exc:
        record.error = str(exc)
        record.reasons.append(f"broken manifest: {exc}")
        return
    record.id = record.manifest.id


def _check_plugin(record: PluginRecord, settings: InferenceSettings) -> None:
    manifest = record.manifest
    assert manifest is not None
    problem = api_incompatibility(manifest.host_api)
    if problem is not None:
        record.reasons.append(problem)
    extra = list(settings.python_paths)
    gpu = None
    roots = weights_roots(record.root, settings.site_weights_dirs)
    for spec in manifest.modules:
        module = ModuleRecord(plugin=record, spec=spec)
        record.modules.append(module)
        code_module = spec.python_name.partition(":")[0]
        if availability.find_module(code_module, [*record.code_paths, *extra]) is None:
            module.reasons.append(f"module code not found: {code_module}")
        missing = availability.missing_requirements(spec.requires, extra)
        if missing:
            module.reasons.append(f"missing dependency: {', '.join(missing)}")
        for weights in spec.weights:
            check = check_weights(weights, roots)
            module.weights.append(check)
            module.warnings += check.warnings
            if check.problem is not None:
                module.reasons.append(check.problem)
        if spec.device.requires_gpu:
            gpu = gpu if gpu is not None else (availability.gpu_probe(extra) or "")
            if not gpu or gpu not in spec.device.devices:
                module.reasons.append("needs a GPU (CUDA or Apple MPS); none usable here")
