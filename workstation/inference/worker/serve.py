"""The worker loop: take a job, run the module, send back its output or why it failed.

Runs only in the worker process (started by :mod:`workstation.inference.jobs` through a spawn
context). What protects the host is the process boundary: a module that segfaults, aborts or is
killed takes only this process down. Within the process the worker

* sends stdout (Python's and the file descriptor's) to the host as log lines, so a module's
  prints never mix with the host's output (``analyze --json``);
* writes a crash report (faulthandler) to a file the host reads when the process dies;
* limits the address space a run may add (``RLIMIT_AS``, POSIX, not with CUDA, which reserves
  huge address ranges), so a runaway allocation raises ``MemoryError`` instead of swapping;
* exits when the host goes away.
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from workstation.core.volume import StackKind, Volume
from workstation.inference import protocol as msg
from workstation.inference.protocol import ArrayRef, FailureKind, WorkerJob
from workstation.inference.results import Curve, Finding
from workstation.inference.shm import SharedArray
from workstation.inference.weights import WeightsError
from workstation.inference.worker import device as devices
from workstation.inference.worker.context import ModuleOutput, RunContext

log = logging.getLogger("workstation.inference.worker")

_TRACEBACK_LINES = 60


class OutputError(Exception):
    """The module returned something its manifest does not allow."""


class Channel:
    """The pipe to the host; sends are serialised (modules may log from threads)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        with self.lock:
            self.conn.send(message)

    def request(self, message: tuple[Any, ...]) -> Any:
        """Send and wait for the host's answer (the host answers before anything else)."""
        with self.lock:
            self.conn.send(message)
            return self.conn.recv()


class _PipeHandler(logging.Handler):
    def __init__(self, channel: Channel) -> None:
        super().__init__(logging.INFO)
        self.channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        # When the host is gone the parent watch ends the process.
        with contextlib.suppress(OSError, ValueError):
            self.channel.send((msg.LOG, record.levelno, record.name, self.format(record)))


class _LogWriter:
    """A text stream whose lines become log records (the worker's stdout)."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.buffer = ""

    def write(self, text: str) -> int:
        self.buffer += text
        while "\n" in self.buffer:
            line, self.buffer = self.buffer.split("\n", 1)
            if line.strip():
                self.logger.info("%s", line)
        return len(text)

    def flush(self) -> None:
        if self.buffer.strip():
            self.logger.info("%s", self.buffer)
        self.buffer = ""

    def isatty(self) -> bool:
        return False


def _watch_parent() -> None:
    """End this process when the host ends (even mid-run, even if the host was killed)."""
    import multiprocessing
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serve(conn: Any, cancel_event: Any, crash_path: str, python_paths: list[str]) -> None:
    channel = Channel(conn)
    _watch_parent()
    if crash_path:
        crash_file = Path(crash_path).open("w", encoding="utf-8")  # noqa: SIM115 - until exit
        faulthandler.enable(crash_file)
    else:
        faulthandler.enable()
    root = logging.getLogger()
    root.handlers[:] = [_PipeHandler(channel)]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    with contextlib.suppress(OSError):
        os.dup2(2, 1)  # C libraries printing to fd 1 must not reach the host's stdout
    sys.stdout = _LogWriter(logging.getLogger("stdout"))
    for path in reversed(python_paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    channel.send((msg.READY, os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message[0] == msg.STOP:
            return
        if message[0] != msg.JOB:
            continue
        if not run_job(message[1], channel, cancel_event):
            return  # not safe to reuse: exit, the host starts a fresh worker


def run_job(job: WorkerJob, channel: Channel, cancel_event: Any) -> bool:
    """Run one job and report it; True when this process can take another job."""
    started = time.perf_counter()
    cancel_event.clear()
    channel.send((msg.STARTED, job.job_id))
    module_log = logging.getLogger(f"workstation.plugin.{job.plugin_id}.{job.module_id}")
    try:
        function = _resolve(job)
        device, precision, notes = devices.choose(job)
        for note in notes:
            module_log.warning("%s", note)
        shared = SharedArray.attach(job.volume)
        try:
            payload = _run(
                job,
                function=function,
                shared=shared,
                device=device,
                precision=precision,
                module_log=module_log,
                channel=channel,
                cancel_event=cancel_event,
            )
        finally:
            # A module that kept a view of the input pins the block: then this worker retires.
            reusable = shared.close()
        payload.update(
            device=device,
            precision=precision,
            notes=notes,
            duration_s=time.perf_counter() - started,
            weights_sha256={ref.name: ref.sha256 for ref in job.weights},
            reusable=reusable,
        )
        channel.send((msg.RESULT, payload))
        return reusable
    except MemoryError:
        limit = f"{job.memory_limit_mb} MiB" if job.memory_limit_mb else "the machine's memory"
        _fail(channel, FailureKind.MEMORY, f"ran out of memory (limit {limit})")
    except devices.DeviceError as exc:
        _fail(channel, FailureKind.DEVICE, str(exc))
    except WeightsError as exc:
        _fail(channel, FailureKind.WEIGHTS, str(exc))
    except OutputError as exc:
        _fail(channel, FailureKind.INVALID_OUTPUT, str(exc))
    except _CodeImportError as exc:
        _fail(channel, FailureKind.IMPORT, str(exc), _traceback(exc.__cause__))
    except BaseException as exc:  # noqa: BLE001 - anything a module raises is its failure
        _fail(channel, FailureKind.EXCEPTION, f"{type(exc).__name__}: {exc}", _traceback(exc))
    return False


def _run(
    job: WorkerJob,
    *,
    function: Callable[[RunContext], Any],
    shared: SharedArray,
    device: str,
    precision: str,
    module_log: logging.Logger,
    channel: Channel,
    cancel_event: Any,
) -> dict[str, Any]:
    array = shared.array
    array.flags.writeable = False
    volume = Volume(
        array=array,
        affine=np.asarray(job.affine, dtype=np.float64),
        kind=StackKind(job.kind),
        phase_times_ms=job.phase_times_ms,
    )
    context = RunContext(
        volume=volume,
        input_name=job.input_name,
        parameters=job.parameters,
        device=device,
        precision=precision,
        segments=job.segments,
        weights=job.weights,
        log=module_log,
        send_progress=lambda f, text: channel.send((msg.PROGRESS, f, text)),
        is_cancelled=cancel_event.is_set,
        patient=job.patient,
    )
    with memory_limit(job.memory_limit_mb, device):
        output = function(context)
    del context, volume, array
    output = _as_output(output)
    payload = _payload(output, job)
    if output.labels is not None:
        payload["labels"] = _send_labels(_checked_labels(output.labels, job), channel)
    return payload


class _CodeImportError(Exception):
    pass


def _resolve(job: WorkerJob) -> Callable[[RunContext], Any]:
    for path in reversed(job.code_paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    module_name, _, attribute = job.python_name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except BaseException as exc:  # a module's import may raise anything
        raise _CodeImportError(f"cannot import {module_name}: {type(exc).__name__}: {exc}") from exc
    function = getattr(module, attribute, None)
    if not callable(function):
        raise _CodeImportError(f"{job.python_name} is not a function")
    return function  # type: ignore[no-any-return]


@contextmanager
def memory_limit(limit_mb: int | None, device: str) -> Iterator[None]:
    """Let the run add at most ``limit_mb`` MiB of address space (POSIX RLIMIT_AS)."""
    try:
        import resource
    except ImportError:  # Windows
        yield
        return
    if limit_mb is None:
        yield
        return
    if device == "cuda":
        log.info("memory limit not applied: CUDA reserves large address ranges")
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    wanted = _address_space() + limit_mb * 2**20
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
    except (OSError, ValueError) as exc:
        log.info("memory limit not applied: %s", exc)
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _address_space() -> int:
    """This process's current virtual size in bytes (0 where /proc does not tell)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:  # noqa: PTH123
            pages = int(statm.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def _as_output(output: Any) -> ModuleOutput:
    if isinstance(output, ModuleOutput):
        return output
    if isinstance(output, dict):
        try:
            return ModuleOutput(**output)
        except TypeError as exc:
            raise OutputError(f"the module returned a dict that is no ModuleOutput: {exc}") from exc
    raise OutputError(f"the module returned {type(output).__name__}, not a ModuleOutput")


def _payload(output: ModuleOutput, job: WorkerJob) -> dict[str, Any]:
    measurements: dict[str, float] = {}
    for key, value in output.measurements.items():
        if key not in job.measurements:
            raise OutputError(f"measurement {key!r} is not in the manifest")
        try:
            measurements[key] = float(value)
        except (TypeError, ValueError) as exc:
            raise OutputError(f"measurement {key!r} is not a number: {value!r}") from exc
    phases = {}
    for key, phase in output.measurement_phases.items():
        if key not in measurements:
            raise OutputError(f"a phase is given for measurement {key!r}, which has no value")
        phases[key] = int(phase)
    findings = []
    for finding in output.findings:
        if not isinstance(finding, Finding) or finding.kind not in job.findings:
            raise OutputError(f"finding {finding!r} is not a finding the manifest declares")
        if finding.segment is not None and finding.segment not in job.segments:
            raise OutputError(f"finding names segment {finding.segment!r}, not in the manifest")
        findings.append(finding)
    curves = []
    for curve in output.curves:
        if not isinstance(curve, Curve) or curve.id not in job.curves:
            raise OutputError(f"curve {curve!r} is not a curve the manifest declares")
        curves.append(
            Curve(
                curve.id,
                tuple(float(v) for v in curve.x),
                tuple(float(v) for v in curve.y),
                marks=tuple((float(x), str(label)) for x, label in curve.marks),
            )
        )
    return {
        "measurements": measurements,
        "measurement_phases": phases,
        "findings": findings,
        "curves": curves,
        "labels": None,
    }


def _checked_labels(labels: Any, job: WorkerJob) -> npt.NDArray[np.uint8]:
    array = np.asarray(labels)
    expected = tuple(job.volume.shape)
    if array.shape != expected:
        raise OutputError(f"labels of shape {array.shape}, the input grid is {expected}")
    if array.dtype.kind == "b":
        array = array.astype(np.uint8)
    if array.dtype.kind not in "ui":
        raise OutputError(f"labels must be integers, got {array.dtype}")
    if not job.segments:
        raise OutputError("the module returned labels but its manifest declares no segment")
    if array.size:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > len(job.segments):
            raise OutputError(
                f"label values {low}..{high}; the manifest declares {len(job.segments)} segments"
            )
    return array.astype(np.uint8, copy=False)


def _send_labels(labels: npt.NDArray[np.uint8], channel: Channel) -> dict[str, Any]:
    """Put the labels into a block the host allocates, so they cross without a pickle."""
    answer = channel.request((msg.ALLOC, int(labels.nbytes)))
    if not (isinstance(answer, tuple) and answer and answer[0] == msg.BUFFER):
        raise OutputError(f"the host answered {answer!r} to a buffer request")
    ref = ArrayRef(answer[1], labels.shape, labels.dtype.str)
    block = SharedArray.attach(ref)
    np.copyto(block.array, labels)
    block.close()
    return {"shape": list(labels.shape), "dtype": labels.dtype.str}


def _traceback(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    lines = traceback.format_exception(exc)
    text = "".join(lines).splitlines()
    return "\n".join(text[-_TRACEBACK_LINES:])


def _fail(channel: Channel, kind: FailureKind, reason: str, details: str = "") -> None:
    with contextlib.suppress(OSError, ValueError):
        channel.send((msg.ERROR, kind.value, reason, details))
