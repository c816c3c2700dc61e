"""What the host and the worker process say to each other (standard library only).

The host sends one :class:`WorkerJob` at a time over a duplex pipe. The voxels are not in it: the
input volume lies in a shared memory block that :class:`ArrayRef` names. The worker answers with
small tagged tuples:

==============================  ============================================================
``("ready", pid)``              the worker started and waits for jobs
``("started", job_id)``         it took the job (the host's time limit starts here)
``("progress", f, text)``       fraction done in [0, 1] and what it is doing
``("log", level, name, text)``  a log record of the module or the worker
``("alloc", nbytes)``           it needs a shared block for a label map; the host answers
                                ``("buffer", name)``
``("result", payload)``         the module's output (labels already in the block)
``("error", kind, text, tb)``   the run failed; ``kind`` is a :class:`FailureKind`
==============================  ============================================================

The host may also send ``("stop",)``: the worker exits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class FailureKind(StrEnum):
    """Why a job ended without a result."""

    EXCEPTION = "exception"  # the module raised
    CRASH = "crash"  # the worker process died (segmentation fault, abort, killed)
    MEMORY = "memory"  # the module exceeded its memory limit
    TIMEOUT = "timeout"  # the module exceeded its time limit
    CANCELLED = "cancelled"  # the user cancelled it
    INVALID_OUTPUT = "invalid-output"  # the module returned something the manifest does not allow
    DEVICE = "device"  # no device the module can run on (e.g. it needs a GPU)
    WEIGHTS = "weights"  # weights missing or altered
    IMPORT = "import"  # the module's code could not be imported
    WORKER = "worker"  # the worker process could not start


@dataclass(frozen=True)
class ArrayRef:
    """A numpy array in a named shared memory block."""

    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class WeightsRef:
    name: str
    path: str
    sha256: str
    card_path: str | None = None


@dataclass(frozen=True)
class WorkerJob:
    """Everything the worker needs to run one module on one volume (no voxels)."""

    job_id: str
    plugin_id: str
    plugin_version: str
    module_id: str
    module_name: str
    python_name: str
    #: Folders put first on the worker's import path (a folder plugin's own folder).
    code_paths: tuple[str, ...]
    volume: ArrayRef
    affine: tuple[tuple[float, ...], ...]
    kind: str
    phase_times_ms: tuple[float, ...] | None
    device: str = "auto"
    precision: str = "auto"
    devices: tuple[str, ...] = ("cuda", "mps", "cpu")
    precisions: tuple[str, ...] = ("float32",)
    requires_gpu: bool = False
    min_gpu_memory_mb: int = 0
    uses_torch: bool = False
    weights: tuple[WeightsRef, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    input_name: str = "image"
    segments: tuple[str, ...] = ()
    measurements: tuple[str, ...] = ()
    findings: tuple[str, ...] = ()
    curves: tuple[str, ...] = ()
    #: Address space the run may add to the worker, in MiB (POSIX); None: no limit.
    memory_limit_mb: int | None = None
    #: What the series' header says of the patient, for modules that need it (e.g. body
    #: surface area from ``height_m`` and ``weight_kg``); never names or identifiers.
    patient: dict[str, Any] = field(default_factory=dict)


READY = "ready"
STARTED = "started"
PROGRESS = "progress"
LOG = "log"
ALLOC = "alloc"
BUFFER = "buffer"
RESULT = "result"
ERROR = "error"
JOB = "job"
STOP = "stop"
