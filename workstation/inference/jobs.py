"""Running an expert module in a worker process: jobs that a GUI or the command line drive.

A :class:`Job` runs one module on one volume. ``start()`` returns at once; a thread of the job
copies the volume into shared memory, takes a worker process from the :class:`WorkerPool`
(started with the ``spawn`` method, so it works the same in the installed bundle), sends the
job and relays what comes back. Callbacks (``on_progress``, ``on_log``, ``on_state``,
``on_finished``, ``on_failed``) run on that thread (or on the thread calling :meth:`Job.cancel`):
a Qt GUI re-emits them as queued signals. Every public method is thread-safe.

What can go wrong ends the job as FAILED with a :class:`Failure` naming the reason, and never
touches the host: the module raises (``exception``), the process dies (``crash``: segmentation
fault, abort, killed), it exceeds its memory limit (``memory``) or its time limit (``timeout``:
the process is killed). :meth:`Job.cancel` kills the process at once (CANCELLED).

Workers are reused for the next job of the same plugin when a run ended well (imports, torch
included, are paid once); a worker that failed, crashed or was cancelled is discarded.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import os
import signal
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import numpy as np

from workstation import __version__
from workstation.core.annotations import now
from workstation.core.errors import WorkstationError
from workstation.core.segmentation import PALETTE, LabelMap, Segment
from workstation.core.volume import StackKind, Volume
from workstation.inference import protocol as msg
from workstation.inference._bootstrap import worker_main
from workstation.inference.api import HOST_API_VERSION
from workstation.inference.discovery import ModuleRecord
from workstation.inference.manifest import ModuleSpec, ParameterValue
from workstation.inference.protocol import FailureKind, WeightsRef, WorkerJob
from workstation.inference.results import Curve, Finding, Measurement, Provenance, Result
from workstation.inference.settings import load_settings
from workstation.inference.shm import SharedArray

log = logging.getLogger(__name__)

#: Longest wait for a fresh worker process to start (the bundle's first start is slow).
START_TIMEOUT_S = 120.0
_POLL_S = 0.2
_LOG_LINES = 2000
_CRASH_REPORT_BYTES = 8192


class JobState(StrEnum):
    PENDING = "pending"
    STARTING = "starting"  # copying the volume, starting or reusing a worker
    RUNNING = "running"  # the worker runs the module
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    #: One line for the reader, e.g. "the module crashed: segmentation fault (SIGSEGV)".
    reason: str
    #: Traceback or crash report, for the log and plugin authors.
    details: str = ""


@dataclass(frozen=True)
class LogLine:
    time: float
    level: int
    name: str
    message: str


class JobFailed(WorkstationError):  # noqa: N818 - reads as the condition it reports
    """A job ended without a result; ``failure`` says why."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


class ModuleUnavailable(WorkstationError):  # noqa: N818 - reads as the condition it reports
    """The module cannot run here (missing dependency, weights, GPU, ...)."""


# --- worker processes ------------------------------------------------------------------------


class WorkerProcess:
    """One worker process and the host's end of its pipe."""

    def __init__(self, context: Any, python_paths: Sequence[Path]) -> None:
        self.conn, child = context.Pipe(duplex=True)
        self.cancel_event = context.Event()
        handle, self.crash_path = tempfile.mkstemp(prefix="workstation-worker-", suffix=".txt")
        os.close(handle)
        # Daemonic: the host's exit ends it; a module cannot start processes of its own.
        self.process = context.Process(
            target=worker_main,
            args=(child, self.cancel_event, self.crash_path, [str(p) for p in python_paths]),
            name="workstation-inference-worker",
            daemon=True,
        )
        self.process.start()
        child.close()
        #: The plugin whose code this worker has imported (it only runs that plugin again).
        self.key: tuple[str, ...] | None = None

    @property
    def alive(self) -> bool:
        return bool(self.process.is_alive())

    def kill(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self.process.kill()

    def retire(self) -> None:
        """Stop the process (politely when idle, else killed) and remove its files."""
        if self.process.is_alive():
            with contextlib.suppress(OSError, ValueError):
                self.conn.send((msg.STOP,))
            self.process.join(timeout=1.0)
        self.kill()
        self.process.join(timeout=5.0)
        with contextlib.suppress(OSError):
            self.conn.close()
        with contextlib.suppress(OSError):
            Path(self.crash_path).unlink()

    def crash_report(self) -> str:
        try:
            with Path(self.crash_path).open("rb") as file:
                file.seek(0, os.SEEK_END)
                file.seek(max(0, file.tell() - _CRASH_REPORT_BYTES))
                return file.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""


class WorkerPool:
    """Worker processes, kept for reuse by later jobs of the same plugin."""

    def __init__(self, *, max_idle: int = 2, python_paths: Sequence[Path] | None = None) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._max_idle = max_idle
        self._python_paths = (
            tuple(python_paths) if python_paths is not None else load_settings().python_paths
        )
        self._idle: list[WorkerProcess] = []
        self._busy: set[WorkerProcess] = set()
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self, key: tuple[str, ...]) -> WorkerProcess:
        """An idle worker that ran this plugin, or one that ran nothing yet, or a new one."""
        dead = []
        chosen = None
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool is shut down")
            for worker in list(self._idle):
                if not worker.alive:
                    self._idle.remove(worker)
                    dead.append(worker)
                elif chosen is None and worker.key in (None, key):
                    self._idle.remove(worker)
                    chosen = worker
            if chosen is not None:
                self._busy.add(chosen)
        for worker in dead:
            worker.retire()
        if chosen is None:
            chosen = WorkerProcess(self._context, self._python_paths)
            with self._lock:
                self._busy.add(chosen)
        chosen.key = key
        return chosen

    def release(self, worker: WorkerProcess, *, reusable: bool) -> None:
        evicted: list[WorkerProcess] = []
        with self._lock:
            self._busy.discard(worker)
            keep = reusable and not self._closed and worker.alive
            if keep:
                self._idle.append(worker)
                while len(self._idle) > self._max_idle:
                    evicted.append(self._idle.pop(0))
        for old in evicted:
            old.retire()
        if not keep:
            worker.retire()

    def prestart(self) -> None:
        """Start a worker now, so the next job does not wait for the process to start."""
        worker = WorkerProcess(self._context, self._python_paths)
        self.release(worker, reusable=True)

    @property
    def idle_count(self) -> int:
        with self._lock:
            return len(self._idle)

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            workers = [*self._idle, *self._busy]
            self._idle.clear()
            self._busy.clear()
        for worker in workers:
            worker.kill()
        for worker in workers:
            worker.retire()


_default_pool: WorkerPool | None = None
_default_lock = threading.Lock()


def default_pool() -> WorkerPool:
    """The process-wide pool (shut down when the host exits)."""
    global _default_pool
    with _default_lock:
        if _default_pool is None:
            _default_pool = WorkerPool()
            atexit.register(_default_pool.shutdown)
        return _default_pool


# --- jobs ------------------------------------------------------------------------------------

ProgressCallback = Callable[["Job", float, str], None]
LogCallback = Callable[["Job", LogLine], None]
StateCallback = Callable[["Job", JobState], None]
FinishedCallback = Callable[["Job", Result], None]
FailedCallback = Callable[["Job", Failure], None]


def resolve_parameters(
    spec: ModuleSpec, overrides: Mapping[str, Any] | None
) -> dict[str, ParameterValue]:
    """The module's parameter defaults with ``overrides`` applied, type-checked."""
    values: dict[str, ParameterValue] = dict(spec.parameters)
    for name, value in (overrides or {}).items():
        if name not in spec.parameters:
            known = ", ".join(spec.parameters) or "none"
            raise ValueError(f"module {spec.id} has no parameter {name!r} (parameters: {known})")
        default = spec.parameters[name]
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if ok and isinstance(default, float):
            values[name] = float(value)
            continue
        if not ok:
            raise ValueError(f"parameter {name!r} takes a {type(default).__name__}, got {value!r}")
        values[name] = value
    return values


class Job:
    """One run of a module on one volume.

    Parameters
    ----------
    module:
        A discovered, available module (:class:`ModuleUnavailable` otherwise).
    volume:
        The input (a volume ``[k, j, i]`` or a cine ``[t, k, j, i]``); it is copied into
        shared memory when the job starts, so the caller may go on using it.
    device:
        "auto" (cuda, then mps, then cpu), "cuda", "mps" or "cpu"; default: the settings'.
    precision:
        "auto" or one the module lists as tested.
    parameters:
        Overrides of the manifest's parameter defaults.
    time_limit_s, memory_limit_mb:
        Overrides of the manifest's limits (memory: address space the run may add; POSIX).
    series_instance_uid, image_layer_id:
        Recorded in the result (provenance, and the label map's image layer).
    patient:
        Header facts about the patient handed to the module (``context.patient``), e.g.
        :func:`workstation.inference.analysis.patient_facts` of the stack.
    """

    def __init__(
        self,
        module: ModuleRecord,
        volume: Volume,
        *,
        device: str | None = None,
        precision: str = "auto",
        parameters: Mapping[str, Any] | None = None,
        time_limit_s: float | None = None,
        memory_limit_mb: int | None = None,
        series_instance_uid: str = "",
        image_layer_id: str = "",
        patient: Mapping[str, Any] | None = None,
        pool: WorkerPool | None = None,
        on_progress: ProgressCallback | None = None,
        on_log: LogCallback | None = None,
        on_state: StateCallback | None = None,
        on_finished: FinishedCallback | None = None,
        on_failed: FailedCallback | None = None,
    ) -> None:
        if not module.available:
            raise ModuleUnavailable(
                f"{module.qualified_id} cannot run: {'; '.join(module.unavailable_reasons)}"
            )
        if volume.kind not in (StackKind.VOLUME, StackKind.CINE):
            raise ValueError(f"a module takes a volume or a cine, not a {volume.kind.value} stack")
        self.id = uuid.uuid4().hex
        self.module = module
        self.volume = volume
        self.device = device or load_settings().device
        if self.device not in ("auto", "cuda", "mps", "cpu"):
            raise ValueError(f"unknown device {self.device!r} (auto, cuda, mps or cpu)")
        self.precision = precision
        self.parameters = resolve_parameters(module.spec, parameters)
        self.time_limit_s = float(time_limit_s or module.spec.limits.time_s)
        self.memory_limit_mb = memory_limit_mb or module.spec.limits.memory_mb
        self.series_instance_uid = series_instance_uid
        self.image_layer_id = image_layer_id
        self.patient = dict(patient or {})
        self._pool = pool or default_pool()
        self._callbacks: dict[str, list[Callable[..., None]]] = {
            "progress": [],
            "log": [],
            "state": [],
            "finished": [],
            "failed": [],
        }
        for event, callback in (
            ("progress", on_progress),
            ("log", on_log),
            ("state", on_state),
            ("finished", on_finished),
            ("failed", on_failed),
        ):
            if callback is not None:
                self._callbacks[event].append(callback)
        self._lock = threading.RLock()
        self._done = threading.Event()
        self._state = JobState.PENDING
        self._progress = 0.0
        self._message = ""
        self._log: deque[LogLine] = deque(maxlen=_LOG_LINES)
        self._result: Result | None = None
        self._failure: Failure | None = None
        self._worker: WorkerProcess | None = None
        self._thread: threading.Thread | None = None
        self.started_at = ""

    # --- observing

    def connect(self, event: str, callback: Callable[..., None]) -> None:
        """Add a callback: "progress", "log", "state", "finished" or "failed"."""
        with self._lock:
            self._callbacks[event].append(callback)

    @property
    def state(self) -> JobState:
        with self._lock:
            return self._state

    @property
    def progress(self) -> tuple[float, str]:
        with self._lock:
            return self._progress, self._message

    @property
    def result(self) -> Result | None:
        with self._lock:
            return self._result

    @property
    def failure(self) -> Failure | None:
        with self._lock:
            return self._failure

    @property
    def log(self) -> list[LogLine]:
        with self._lock:
            return list(self._log)

    @property
    def worker_pid(self) -> int | None:
        with self._lock:
            return self._worker.process.pid if self._worker is not None else None

    # --- driving

    def start(self) -> Job:
        """Start the job in the background; returns at once."""
        with self._lock:
            if self._thread is not None or self._state.finished:
                return self
            self._thread = threading.Thread(
                target=self._drive, name=f"inference-job-{self.id[:8]}", daemon=True
            )
            self._thread.start()
        return self

    def cancel(self) -> None:
        """Stop the job now: the worker process is killed; the job ends CANCELLED."""
        with self._lock:
            if self._state.finished:
                return
            worker = self._worker
        if worker is not None:
            worker.cancel_event.set()
            worker.kill()
        self._finish(Failure(FailureKind.CANCELLED, "cancelled by the user"))

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the job ends (and its shared memory is released); False when
        ``timeout`` passed first."""
        started = time.monotonic()
        if not self._done.wait(timeout):
            return False
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            left = None if timeout is None else max(timeout - (time.monotonic() - started), 0.0)
            thread.join(left)
        return True

    def run(self) -> Result:
        """Start, wait and return the result (raises :class:`JobFailed`)."""
        self.start()
        self.wait()
        failure = self.failure
        if failure is not None:
            raise JobFailed(failure)
        result = self.result
        assert result is not None
        return result

    # --- inside the job's thread

    def _ended(self) -> bool:
        with self._lock:
            return self._state.finished

    def _emit(self, event: str, *args: Any) -> None:
        with self._lock:
            callbacks = list(self._callbacks[event])
        for callback in callbacks:
            try:
                callback(self, *args)
            except Exception:
                log.exception("a %s callback of job %s failed", event, self.id[:8])

    def _set_state(self, state: JobState) -> bool:
        with self._lock:
            if self._state.finished or self._state == state:
                return False
            self._state = state
        self._emit("state", state)
        return True

    def _finish(self, failure: Failure | None, result: Result | None = None) -> None:
        state = JobState.SUCCEEDED if failure is None else JobState.FAILED
        if failure is not None and failure.kind is FailureKind.CANCELLED:
            state = JobState.CANCELLED
        with self._lock:
            if self._state.finished:
                return
            self._state = state
            self._failure = failure
            self._result = result
            if result is not None:
                self._progress = 1.0
        self._done.set()
        self._emit("state", state)
        if failure is None:
            assert result is not None
            self._emit("finished", result)
        else:
            log.info(
                "job %s (%s) %s: %s", self.id[:8], self.module.qualified_id, state, failure.reason
            )
            self._emit("failed", failure)

    def _drive(self) -> None:
        self._set_state(JobState.STARTING)
        self.started_at = now()
        shared: SharedArray | None = None
        outputs: list[SharedArray] = []
        worker: WorkerProcess | None = None
        reusable = False
        try:
            shared = SharedArray.copy_of(np.ascontiguousarray(self.volume.array))
            plugin = self.module.plugin
            key = (plugin.id, plugin.version, *[str(p) for p in plugin.code_paths])
            if self._ended():  # cancelled meanwhile
                return
            worker = self._pool.acquire(key)
            with self._lock:
                self._worker = worker
            if self._ended():
                worker.kill()
                return
            worker.conn.send((msg.JOB, self._worker_job(shared)))
            reusable = self._relay(worker, outputs)
        except Exception as exc:
            log.exception("job %s failed in the host", self.id[:8])
            self._finish(Failure(FailureKind.WORKER, f"the worker could not run the job: {exc}"))
        finally:
            if worker is not None:
                self._pool.release(worker, reusable=reusable and self.state is JobState.SUCCEEDED)
            for block in [*outputs, *([shared] if shared is not None else [])]:
                block.unlink()

    def _worker_job(self, shared: SharedArray) -> WorkerJob:
        spec = self.module.spec
        plugin = self.module.plugin
        weights = tuple(
            WeightsRef(check.name, str(check.path), check.sha256)
            for check in self.module.weights
            if check.path is not None
        )
        outputs = spec.outputs
        return WorkerJob(
            job_id=self.id,
            plugin_id=plugin.id,
            plugin_version=plugin.version,
            module_id=spec.id,
            module_name=spec.name,
            python_name=spec.python_name,
            code_paths=tuple(str(p) for p in plugin.code_paths),
            volume=shared.ref,
            affine=tuple(tuple(float(v) for v in row) for row in self.volume.affine),
            kind=self.volume.kind.value,
            phase_times_ms=self.volume.phase_times_ms,
            device=self.device,
            precision=self.precision,
            devices=tuple(spec.device.devices),
            precisions=tuple(spec.device.precisions),
            requires_gpu=spec.device.requires_gpu,
            min_gpu_memory_mb=spec.device.min_gpu_memory_mb,
            uses_torch=spec.uses_torch,
            weights=weights,
            parameters=dict(self.parameters),
            input_name=spec.inputs[0].name,
            segments=tuple(s.id for s in outputs.segments),
            measurements=tuple(m.id for m in outputs.measurements),
            findings=tuple(f.id for f in outputs.findings),
            curves=tuple(c.id for c in outputs.curves),
            memory_limit_mb=self.memory_limit_mb,
            patient=dict(self.patient),
        )

    def _relay(self, worker: WorkerProcess, outputs: list[SharedArray]) -> bool:
        """Relay the worker's messages until the job ends; True when the worker is reusable."""
        start_deadline = time.monotonic() + START_TIMEOUT_S
        deadline: float | None = None
        while True:
            if self._ended():  # cancelled
                return False
            limit = deadline if deadline is not None else start_deadline
            remaining = limit - time.monotonic()
            if remaining <= 0:
                worker.kill()
                if deadline is None:
                    reason = f"the worker did not start within {START_TIMEOUT_S:g} s"
                    self._finish(Failure(FailureKind.WORKER, reason))
                else:
                    reason = f"stopped: exceeded its time limit of {self.time_limit_s:g} s"
                    self._finish(Failure(FailureKind.TIMEOUT, reason))
                return False
            ready = wait([worker.conn, worker.process.sentinel], timeout=min(remaining, _POLL_S))
            if not ready:
                continue
            if worker.conn not in ready:
                # The process ended and nothing is left in the pipe.
                self._died(worker)
                return False
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                worker.process.join(timeout=2.0)
                self._died(worker)
                return False
            tag = message[0]
            if tag == msg.STARTED:
                deadline = time.monotonic() + self.time_limit_s
                self._set_state(JobState.RUNNING)
            elif tag == msg.PROGRESS:
                with self._lock:
                    self._progress, self._message = float(message[1]), str(message[2])
                self._emit("progress", float(message[1]), str(message[2]))
            elif tag == msg.LOG:
                line = LogLine(time.time(), int(message[1]), str(message[2]), str(message[3]))
                with self._lock:
                    self._log.append(line)
                log.log(line.level, "[%s] %s", line.name, line.message)
                self._emit("log", line)
            elif tag == msg.ALLOC:
                if not self._allocate(worker, int(message[1]), outputs):
                    return False
            elif tag == msg.RESULT:
                payload = message[1]
                result = self._result_from(payload, outputs)
                self._finish(None, result)
                return bool(payload.get("reusable", False))
            elif tag == msg.ERROR:
                kind = FailureKind(message[1])
                self._finish(Failure(kind, str(message[2]), str(message[3])))
                return False

    def _allocate(self, worker: WorkerProcess, nbytes: int, outputs: list[SharedArray]) -> bool:
        expected = int(self.volume.array.size)  # uint8 labels on the input grid
        if nbytes != expected or outputs:
            worker.kill()
            reason = (
                f"the module asked for {nbytes} bytes of labels; the input grid holds {expected}"
            )
            self._finish(Failure(FailureKind.INVALID_OUTPUT, reason))
            return False
        block = SharedArray.create((nbytes,), np.uint8)
        outputs.append(block)
        worker.conn.send((msg.BUFFER, block.name))
        return True

    def _died(self, worker: WorkerProcess) -> None:
        worker.process.join(timeout=2.0)
        code = worker.process.exitcode
        report = worker.crash_report()
        self._finish(Failure(FailureKind.CRASH, death_reason(code), report))

    def _result_from(self, payload: dict[str, Any], outputs: list[SharedArray]) -> Result:
        spec = self.module.spec
        manifest = self.module.manifest
        out = spec.outputs
        labels = None
        if payload.get("labels") is not None:
            shape = tuple(int(n) for n in payload["labels"]["shape"])
            array = np.array(outputs[0].array.reshape(shape))  # a copy: the block goes
            segments = [
                Segment(
                    number=number,
                    label=segment.label,
                    color=segment.color or PALETTE[(number - 1) % len(PALETTE)],
                    code=segment.code.as_tuple(),
                    category=segment.category.as_tuple(),
                    algorithm_type="AUTOMATIC",
                    algorithm_name=spec.name,
                )
                for number, segment in enumerate(out.segments, start=1)
            ]
            labels = LabelMap(
                id=f"ai-{self.id}",
                image_layer_id=self.image_layer_id,
                array=array,
                affine=self.volume.affine.copy(),
                segments=segments,
                name=f"{spec.name} (AI)",
            )
        phases = payload.get("measurement_phases", {})
        measurements = [
            Measurement(
                key=m.id,
                name=m.name,
                code=m.code.as_tuple(),
                value=float(payload["measurements"][m.id]),
                unit=m.unit,
                unit_code=m.unit_code,
                segment=m.segment,
                phase=phases.get(m.id),
            )
            for m in out.measurements
            if m.id in payload["measurements"]
        ]
        finding_specs = {f.id: f for f in out.findings}
        findings = [
            Finding(
                kind=f.kind,
                label=f.label or finding_specs[f.kind].label,
                text=f.text,
                location=f.location,
                segment=f.segment,
                confidence=f.confidence,
                code=finding_specs[f.kind].code.as_tuple(),
            )
            for f in payload.get("findings", [])
        ]
        curve_specs = {c.id: c for c in out.curves}
        curves = [
            Curve(
                id=c.id,
                x=c.x,
                y=c.y,
                name=curve_specs[c.id].name,
                x_name=curve_specs[c.id].x_name,
                x_unit=curve_specs[c.id].x_unit,
                y_name=curve_specs[c.id].y_name,
                y_unit=curve_specs[c.id].y_unit,
                marks=c.marks,
            )
            for c in payload.get("curves", [])
        ]
        provenance = Provenance(
            plugin_id=self.module.plugin.id,
            plugin_version=manifest.version,
            module_id=spec.id,
            module_name=spec.name,
            manufacturer=manifest.maker,
            device=str(payload["device"]),
            precision=str(payload["precision"]),
            duration_s=float(payload["duration_s"]),
            host_version=__version__,
            host_api=HOST_API_VERSION,
            weights_sha256=dict(payload.get("weights_sha256", {})),
            parameters=dict(self.parameters),
            series_instance_uid=self.series_instance_uid,
            started=self.started_at,
            notes=tuple(payload.get("notes", ())),
        )
        return Result(
            id=self.id,
            labels=labels,
            measurements=measurements,
            findings=findings,
            curves=curves,
            provenance=provenance,
            segment_ids=tuple(s.id for s in out.segments),
        )


def death_reason(exitcode: int | None) -> str:
    """The reason line for a worker that ended without answering."""
    if exitcode is None:
        return "the worker process stopped answering"
    if exitcode < 0:
        number = -exitcode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        what = {
            "SIGSEGV": "segmentation fault",
            "SIGBUS": "bus error",
            "SIGILL": "illegal instruction",
            "SIGFPE": "floating-point exception",
            "SIGABRT": "aborted",
        }.get(name)
        if what is not None:
            return f"the module crashed: {what} ({name})"
        if name == "SIGKILL":
            return "the worker was killed (SIGKILL), e.g. by the system when memory ran out"
        return f"the worker was stopped by {name}"
    if exitcode == 0xC0000005:  # Windows access violation
        return "the module crashed: access violation"
    return f"the worker exited with status {exitcode} without a result"
