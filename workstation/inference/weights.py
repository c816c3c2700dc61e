"""Model weights: where a module's safetensors files are, their hashes and their model cards.

Weights are safetensors files (never pickles: a pickle runs code when loaded) under a
``weights/`` folder, one folder per model with a ``metadata.json`` model card in the fields of a
MONAI bundle's ``metadata.json``. A manifest names each file by its path under ``weights/`` and
its SHA-256; the host refuses to run a module whose file is missing or hashes otherwise, and the
worker checks the hash again on the very bytes it loads.

A weights path is looked up, in order, under the plugin's own ``weights/`` folder, the site's
weights folders, and the application's ``weights/`` (beside the executable when installed).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workstation.core.errors import WorkstationError
from workstation.inference.manifest import WeightsSpec, describe_errors

_CHUNK = 1 << 20
_cache: dict[tuple[str, int, int], str] = {}
_cache_lock = threading.Lock()


class WeightsError(WorkstationError):
    """Weights that are missing, altered or described by a broken model card."""


def sha256_bytes(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, remembered for this process while its size and time are unchanged."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _cache_lock:
        known = _cache.get(key)
    if known is not None:
        return known
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    value = digest.hexdigest()
    with _cache_lock:
        _cache[key] = value
    return value


class ModelCard(BaseModel):
    """A ``metadata.json`` model card (MONAI bundle fields; further MONAI fields are kept)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    version: str = Field(min_length=1)
    task: str = Field(min_length=1)
    description: str = Field(min_length=1)
    authors: str | list[str]
    intended_use: str = Field(min_length=1)
    data_source: str = Field(min_length=1, description="What the model was trained on")
    data_type: str = ""
    eval_metrics: dict[str, Any] = Field(description="Measured performance, e.g. mean_dice")
    network_data_format: dict[str, Any] = Field(
        description="inputs/outputs with type, format, num_channels, spatial_shape, channel_def"
    )
    references: list[str] = Field(default_factory=list)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    not_for_clinical_use: bool


def load_model_card(path: Path) -> ModelCard:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise WeightsError(f"{path}: cannot read the model card: {exc}") from exc
    try:
        return ModelCard.model_validate(data)
    except ValidationError as exc:
        raise WeightsError(f"{path}: {describe_errors(exc)}") from exc


@dataclass
class WeightsCheck:
    """What the host found for one weights entry of a manifest."""

    name: str
    path: Path | None
    sha256: str
    #: Why the module cannot run with these weights (None: fine).
    problem: str | None = None
    warnings: list[str] = field(default_factory=list)
    card: ModelCard | None = None


def weights_roots(plugin_root: Path | None, extra: Sequence[Path] = ()) -> list[Path]:
    """The ``weights/`` folders searched, in order."""
    from workstation.inference.settings import app_weights_dir

    roots = [plugin_root / "weights"] if plugin_root is not None else []
    roots += list(extra)
    roots.append(app_weights_dir())
    return list(dict.fromkeys(roots))


def resolve(relative: str, roots: Sequence[Path]) -> Path | None:
    for root in roots:
        candidate = root / relative
        if candidate.is_file():
            return candidate
    return None


def check_weights(spec: WeightsSpec, roots: Sequence[Path]) -> WeightsCheck:
    """Find the file, compare its SHA-256 with the manifest's and read its model card."""
    path = resolve(spec.path, roots)
    check = WeightsCheck(name=spec.name, path=path, sha256=spec.sha256)
    if path is None:
        where = ", ".join(str(root) for root in roots)
        check.problem = f"weights {spec.name!r} missing: {spec.path} is in none of {where}"
        return check
    try:
        actual = sha256_file(path)
    except OSError as exc:
        check.problem = f"weights {spec.name!r} unreadable: {path}: {exc.strerror or exc}"
        return check
    if actual != spec.sha256:
        check.problem = (
            f"weights sha256 mismatch for {spec.name!r} ({path}): the manifest expects "
            f"{spec.sha256[:12]}…, the file has {actual[:12]}…; refusing to run altered weights"
        )
        return check
    # The card beside the file comes first, then any root's.
    own_root = next(root for root in roots if (root / spec.path) == path)
    card_path = resolve(spec.card_path, [own_root, *roots])
    if card_path is None:
        check.warnings.append(f"weights {spec.name!r} have no model card ({spec.card_path})")
        return check
    try:
        check.card = load_model_card(card_path)
    except WeightsError as exc:
        check.warnings.append(f"model card of {spec.name!r}: {exc}")
        return check
    if check.card.sha256 is not None and check.card.sha256 != spec.sha256:
        check.warnings.append(
            f"the model card {card_path} describes other weights (sha256 {check.card.sha256[:12]}…)"
        )
    if not check.card.not_for_clinical_use:
        check.warnings.append(f"model card of {spec.name!r} does not say 'not for clinical use'")
    return check
