"""The plugin host for expert modules: manifests, discovery, the worker process, results.

The host side (everything here but :mod:`workstation.inference.worker` and
:mod:`workstation.inference.helpers`) never imports torch nor plugin code: a manifest is read
without importing its plugin, and a module's code runs in a worker process.

::

    from workstation.inference import Job, discover, export_dicom

    registry = discover()                                  # plugins, modules, availability
    module = registry.find_module("threshold-bright-structures")
    job = Job(module, volume, on_progress=..., on_finished=..., on_failed=...).start()
    ...
    job.cancel()                                           # kills the worker at once
    result = job.result                                    # label map, measurements, provenance
    export_dicom(result, stack, out_dir)                   # DICOM SEG + TID 1500 SR

Names are imported on first use, so ``import workstation.inference`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from workstation.inference.api import HOST_API_VERSION

if TYPE_CHECKING:
    from workstation.inference.discovery import (
        ModuleNotFound,
        ModuleRecord,
        PluginRecord,
        Registry,
        discover,
    )
    from workstation.inference.export import ExportedFiles, export_dicom
    from workstation.inference.jobs import (
        Failure,
        Job,
        JobFailed,
        JobState,
        LogLine,
        ModuleUnavailable,
        WorkerPool,
        default_pool,
    )
    from workstation.inference.manifest import (
        ManifestError,
        PluginManifest,
        load_manifest,
        manifest_json_schema,
        write_manifest_schema,
    )
    from workstation.inference.protocol import FailureKind
    from workstation.inference.results import (
        Curve,
        Finding,
        Measurement,
        Provenance,
        Result,
        Review,
        ReviewState,
    )

_EXPORTS = {
    "discovery": ("ModuleNotFound", "ModuleRecord", "PluginRecord", "Registry", "discover"),
    "export": ("ExportedFiles", "export_dicom"),
    "jobs": (
        "Failure",
        "Job",
        "JobFailed",
        "JobState",
        "LogLine",
        "ModuleUnavailable",
        "WorkerPool",
        "default_pool",
    ),
    "manifest": (
        "ManifestError",
        "PluginManifest",
        "load_manifest",
        "manifest_json_schema",
        "write_manifest_schema",
    ),
    "protocol": ("FailureKind",),
    "results": (
        "Curve",
        "Finding",
        "Measurement",
        "Provenance",
        "Result",
        "Review",
        "ReviewState",
    ),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "HOST_API_VERSION",
    "Curve",
    "ExportedFiles",
    "Failure",
    "FailureKind",
    "Finding",
    "Job",
    "JobFailed",
    "JobState",
    "LogLine",
    "ManifestError",
    "Measurement",
    "ModuleNotFound",
    "ModuleRecord",
    "ModuleUnavailable",
    "PluginManifest",
    "PluginRecord",
    "Provenance",
    "Registry",
    "Result",
    "Review",
    "ReviewState",
    "WorkerPool",
    "default_pool",
    "discover",
    "export_dicom",
    "load_manifest",
    "manifest_json_schema",
    "write_manifest_schema",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
