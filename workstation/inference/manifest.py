"""The plugin manifest, ``plugin.toml``: what a plugin offers, read without importing its code.

A manifest names the plugin (id, name, version, the host API it was written for, authors) and
its modules. Each module declares the function that runs it (``python_name``,
``"pkg.module:function"``, imported inside the worker only), the series it takes, the results it
produces (segments and measurements as coded concepts, measurements with UCUM units), its weights
(safetensors under ``weights/`` with their SHA-256), what it needs of the device and the time and
memory it may use. The schema is strict (unknown keys are errors), so a typo never passes
silently; :func:`manifest_json_schema` exports it for editors and other tools
(``resources/plugin-manifest.schema.json``).

Example::

    id = "example"
    name = "Example modules"
    version = "1.0.0"
    host_api = "1.0"
    authors = [{ name = "Workstation developers" }]

    [[modules]]
    id = "threshold-bright-structures"
    name = "Bright structures"
    python_name = "example_plugin.bright:run"

    [[modules.inputs]]
    modality = ["CT"]
    series_kind = ["ct"]

    [[modules.outputs.segments]]
    id = "bright"
    label = "Bright structure"
    code = { value = "85756007", scheme = "SCT", meaning = "Tissue" }

    [[modules.outputs.measurements]]
    id = "bright_volume"
    name = "Volume of the bright structure"
    code = { value = "118565006", scheme = "SCT", meaning = "Volume" }
    unit = "ml"
    segment = "bright"
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from workstation.core.errors import WorkstationError
from workstation.inference.api import HOST_API_VERSION

MANIFEST_NAME = "plugin.toml"
SCHEMA_FILE = "plugin-manifest.schema.json"
SCHEMA_ID = "https://workstation.invalid/schemas/plugin-manifest.schema.json"

Code3 = tuple[str, str, str]

_ID = r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$"
_KEY = r"^[a-z][a-z0-9_]*$"
_SEMVER = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
_API = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)$"
_PYTHON_NAME = r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$"
_IMPORT_NAME = r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$"

Identifier = Annotated[str, StringConstraints(pattern=_ID, max_length=64)]
Key = Annotated[str, StringConstraints(pattern=_KEY, max_length=64)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Modality = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,4}$")]
ImportName = Annotated[str, StringConstraints(pattern=_IMPORT_NAME, max_length=200)]
Device = Literal["cuda", "mps", "cpu"]
Precision = Literal["float32", "float16", "bfloat16"]
#: Kinds of series a module can ask for (see :mod:`workstation.inference.matching`).
SeriesKind = Literal[
    "ct", "mr", "pt", "cine-mr", "cine-short-axis-mr", "t1-mr", "t2-mr", "flair-mr"
]
ParameterValue = StrictBool | StrictInt | StrictFloat | StrictStr

#: Meanings of common UCUM units (the SR writes code value, "UCUM" and this meaning).
UCUM_MEANINGS = {
    "ml": "milliliter",
    "mL": "milliliter",
    "l": "liter",
    "mm": "millimeter",
    "cm": "centimeter",
    "mm2": "square millimeter",
    "cm2": "square centimeter",
    "mm3": "cubic millimeter",
    "cm3": "cubic centimeter",
    "g": "gram",
    "%": "percent",
    "1": "no units",
    "deg": "degree",
    "s": "second",
    "ms": "millisecond",
    "[hnsf'U]": "Hounsfield unit",
    "ml/m2": "milliliter per square meter",
    "g/m2": "gram per square meter",
    "ml/s": "milliliter per second",
    "l/min": "liter per minute",
    "/min": "per minute",
    "{beats}/min": "beats per minute",
    "{count}": "count",
}


class ManifestError(WorkstationError):
    """A ``plugin.toml`` that cannot be read or does not follow the schema."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Code(_Model):
    """A coded concept: (code value, coding scheme designator, code meaning), as in DICOM."""

    value: Annotated[str, StringConstraints(pattern=r"^\S{1,16}$")] = Field(
        description="Code Value (SH, at most 16 characters), e.g. 118565006"
    )
    scheme: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,16}$")] = Field(
        description="Coding Scheme Designator: SCT (SNOMED CT), DCM, LN (LOINC), 99..."
    )
    meaning: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="Code Meaning (LO, at most 64 characters)"
    )

    def as_tuple(self) -> Code3:
        return (self.value, self.scheme, self.meaning)


#: Segmented Property Category of a segment that names none.
ANATOMICAL_STRUCTURE = Code(value="91723000", scheme="SCT", meaning="Anatomical Structure")


class Author(_Model):
    name: Text
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    organisation: Text | None = None


class InputSpec(_Model):
    """The series a module takes: every given condition must hold."""

    name: Key = Field(default="image", description="Name of the input in the run context")
    modality: list[Modality] = Field(min_length=1, description="DICOM Modality values, e.g. CT")
    series_kind: list[SeriesKind] = Field(
        default_factory=list, description="Any of these kinds (empty: any series of the modality)"
    )
    min_slices: int = Field(default=1, ge=1)
    max_slices: int | None = Field(default=None, ge=1)
    min_phases: int = Field(default=1, ge=1, description="Cine phases (1 for a still volume)")
    max_phases: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _ranges(self) -> InputSpec:
        if self.max_slices is not None and self.max_slices < self.min_slices:
            raise ValueError(f"max_slices {self.max_slices} < min_slices {self.min_slices}")
        if self.max_phases is not None and self.max_phases < self.min_phases:
            raise ValueError(f"max_phases {self.max_phases} < min_phases {self.min_phases}")
        return self


class SegmentSpec(_Model):
    """A structure the module labels; label value = position in the list, from 1."""

    id: Key
    label: Text
    code: Code = Field(description="Segmented Property Type (SNOMED CT / DCM, CID 7151)")
    category: Code = Field(
        default=ANATOMICAL_STRUCTURE, description="Segmented Property Category (CID 7150)"
    )
    color: tuple[int, int, int] | None = Field(default=None, description="RGB 0..255")

    @field_validator("color")
    @classmethod
    def _rgb(cls, value: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
        if value is not None and not all(0 <= c <= 255 for c in value):
            raise ValueError("colour components must lie in 0..255")
        return value


class MeasurementSpec(_Model):
    """A number the module reports: a coded concept with a UCUM unit."""

    id: Key = Field(description="Key of the value in results and in `analyze --json`")
    name: Text
    code: Code = Field(description="Concept name, e.g. (118565006, SCT, Volume)")
    unit: Annotated[str, StringConstraints(pattern=r"^\S{1,32}$")] = Field(
        description="UCUM unit code, e.g. ml, mm, %, [hnsf'U], 1"
    )
    unit_meaning: Text | None = None
    segment: Key | None = Field(default=None, description="Id of the segment it was measured on")
    description: LongText = ""

    @property
    def unit_code(self) -> Code3:
        meaning = self.unit_meaning or UCUM_MEANINGS.get(self.unit, self.unit)
        return (self.unit, "UCUM", meaning)


class FindingSpec(_Model):
    """A kind of finding the module may report (e.g. a lesion)."""

    id: Key
    label: Text
    code: Code


class CurveSpec(_Model):
    """A series of values, e.g. the ventricle's volume over the cardiac cycle."""

    id: Key
    name: Text
    x_name: Text = "Time"
    x_unit: Annotated[str, StringConstraints(pattern=r"^\S{1,32}$")] = "ms"
    y_name: Text
    y_unit: Annotated[str, StringConstraints(pattern=r"^\S{1,32}$")]


class OutputSpec(_Model):
    segments: list[SegmentSpec] = Field(default_factory=list)
    measurements: list[MeasurementSpec] = Field(default_factory=list)
    findings: list[FindingSpec] = Field(default_factory=list)
    curves: list[CurveSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> OutputSpec:
        for kind in ("segments", "measurements", "findings", "curves"):
            _unique(kind, [item.id for item in getattr(self, kind)])
        if len(self.segments) > 255:
            raise ValueError("at most 255 segments")
        segment_ids = {segment.id for segment in self.segments}
        for measurement in self.measurements:
            if measurement.segment is not None and measurement.segment not in segment_ids:
                raise ValueError(
                    f"measurement {measurement.id!r} names segment {measurement.segment!r}, "
                    "which is not among the module's segments"
                )
        return self


def _relative_path(value: str) -> str:
    path = PurePosixPath(value)
    if not value or "\\" in value or ":" in value or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"{value!r} must be a relative path inside weights/ (no '..')")
    return value


RelativePath = Annotated[str, StringConstraints(min_length=1, max_length=300)]


class WeightsSpec(_Model):
    """A safetensors file under ``weights/`` with its model card."""

    name: Key = Field(description="Name the module asks for: context.load_weights(name)")
    path: RelativePath = Field(description="Path under weights/, e.g. spleen/model.safetensors")
    sha256: Sha256 = Field(description="SHA-256 of the file: checked before it is loaded")
    model_card: RelativePath | None = Field(
        default=None,
        description="Path under weights/ of its metadata.json (default: beside the file)",
    )

    @field_validator("path", "model_card")
    @classmethod
    def _inside(cls, value: str | None) -> str | None:
        return None if value is None else _relative_path(value)

    @field_validator("path")
    @classmethod
    def _safetensors(cls, value: str) -> str:
        if not value.endswith(".safetensors"):
            raise ValueError("weights are safetensors files (*.safetensors): never pickles")
        return value

    @property
    def card_path(self) -> str:
        return self.model_card or str(PurePosixPath(self.path).parent / "metadata.json")


def _all_devices() -> list[Device]:
    return ["cuda", "mps", "cpu"]


def _full_precision() -> list[Precision]:
    return ["float32"]


class DeviceSpec(_Model):
    requires_gpu: bool = False
    min_gpu_memory_mb: int = Field(default=0, ge=0)
    devices: list[Device] = Field(
        default_factory=_all_devices, min_length=1, description="Supported"
    )
    precisions: list[Precision] = Field(
        default_factory=_full_precision,
        min_length=1,
        description="Precisions the module was tested with; others are never used",
    )

    @model_validator(mode="after")
    def _consistent(self) -> DeviceSpec:
        if self.requires_gpu and self.devices == ["cpu"]:
            raise ValueError("requires_gpu with devices = ['cpu']")
        if not self.requires_gpu and "cpu" not in self.devices:
            raise ValueError("a module that runs without a GPU must list 'cpu' in devices")
        return self


class LimitsSpec(_Model):
    time_s: float = Field(default=600.0, gt=0, le=86400, description="Wall-clock limit of one run")
    memory_mb: int = Field(
        default=8192, gt=0, description="Memory the run may add to the worker (POSIX RLIMIT_AS)"
    )


class ModuleSpec(_Model):
    id: Identifier
    name: Text
    description: LongText = ""
    intended_use: LongText = ""
    python_name: Annotated[str, StringConstraints(pattern=_PYTHON_NAME, max_length=200)] = Field(
        description='"package.module:function", imported inside the worker on first run'
    )
    requires: list[ImportName] = Field(
        default_factory=list,
        description="Import names needed (checked with importlib.util.find_spec); "
        "'torch' enables device choice",
    )
    inputs: list[InputSpec] = Field(min_length=1, max_length=1)
    outputs: OutputSpec = Field(default_factory=OutputSpec)
    weights: list[WeightsSpec] = Field(default_factory=list)
    device: DeviceSpec = DeviceSpec()
    limits: LimitsSpec = LimitsSpec()
    parameters: dict[Key, ParameterValue] = Field(
        default_factory=dict, description="Defaults a run may override (same type)"
    )

    @model_validator(mode="after")
    def _weights_unique(self) -> ModuleSpec:
        _unique("weights", [w.name for w in self.weights])
        return self

    @property
    def uses_torch(self) -> bool:
        return any(name.split(".")[0] in ("torch", "monai") for name in self.requires)


class PluginManifest(_Model):
    """A ``plugin.toml``."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="Workstation plugin manifest (plugin.toml)",
        json_schema_extra={"$id": SCHEMA_ID},
    )

    id: Identifier
    name: Text
    version: Annotated[str, StringConstraints(pattern=_SEMVER, max_length=64)] = Field(
        description="Semantic version, e.g. 1.2.0"
    )
    host_api: Annotated[str, StringConstraints(pattern=_API)] = Field(
        description=f"Host API version written for, MAJOR.MINOR (this host: {HOST_API_VERSION})"
    )
    description: LongText = ""
    authors: list[Author] = Field(min_length=1)
    manufacturer: Text | None = Field(
        default=None,
        description="Manufacturer in DICOM Contributing Equipment (default: first author)",
    )
    license: Text | None = None
    homepage: Text | None = None
    modules: list[ModuleSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _modules_unique(self) -> PluginManifest:
        _unique("modules", [m.id for m in self.modules])
        return self

    @property
    def maker(self) -> str:
        return self.manufacturer or self.authors[0].organisation or self.authors[0].name

    def module(self, module_id: str) -> ModuleSpec:
        for module in self.modules:
            if module.id == module_id:
                return module
        raise KeyError(module_id)


def _unique(what: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"{what}: id {item!r} appears twice")
        seen.add(item)


def api_incompatibility(declared: str, host: str = HOST_API_VERSION) -> str | None:
    """Why a plugin written for host API ``declared`` cannot run here, or None."""
    want_major, want_minor = (int(part) for part in declared.split("."))
    have_major, have_minor = (int(part) for part in host.split("."))
    if want_major != have_major or want_minor > have_minor:
        return f"written for host API {declared}; this workstation provides {host}"
    return None


def parse_manifest(text: str, source: str = MANIFEST_NAME) -> PluginManifest:
    """The manifest in ``text``.

    Raises
    ------
    ManifestError
        Not TOML, or not a valid manifest; the message names each problem with its place
        (``modules.0.python_name: ...``).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{source}: not valid TOML: {exc}") from exc
    try:
        return PluginManifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(f"{source}: {describe_errors(exc)}") from exc


def load_manifest(path: Path) -> PluginManifest:
    """The manifest file at ``path`` (a ``plugin.toml``); see :func:`parse_manifest`."""
    try:
        if path.stat().st_size > 1 << 20:
            raise ManifestError(f"{path}: larger than 1 MiB; not a manifest")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read: {exc}") from exc
    return parse_manifest(text, str(path))


def describe_errors(error: ValidationError) -> str:
    """Pydantic's errors, one ``place: problem`` per error, joined by ``; ``."""
    parts = []
    for item in error.errors(include_url=False):
        place = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = str(item["msg"])
        if item["type"] == "extra_forbidden":
            message = "unknown key (not in the manifest schema)"
        parts.append(f"{place}: {message}")
    return "; ".join(parts)


def manifest_json_schema() -> dict[str, Any]:
    """The JSON schema of ``plugin.toml`` (draft 2020-12), as checked in under resources/."""
    schema = PluginManifest.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def manifest_schema_text() -> str:
    return json.dumps(manifest_json_schema(), indent=2, sort_keys=True) + "\n"


def write_manifest_schema(path: Path | None = None) -> Path:
    """Regenerate ``resources/plugin-manifest.schema.json`` (or ``path``)."""
    if path is None:
        from workstation.resources import resources_dir

        path = resources_dir() / SCHEMA_FILE
    path.write_text(manifest_schema_text(), encoding="utf-8")
    return path
