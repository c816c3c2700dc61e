"""Jobs in the worker process: results, callbacks, crash isolation, limits, cancel, devices."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from workstation.core.volume import StackKind, Volume
from workstation.inference.jobs import Job, JobFailed, JobState, WorkerPool, death_reason
from workstation.inference.protocol import FailureKind
from workstation.inference.results import ReviewState

from .conftest import registry_of


def test_example_module_result(module, pool, ct_volume) -> None:
    progress: list[tuple[float, str]] = []
    states: list[JobState] = []
    finished = threading.Event()
    job = Job(
        module("threshold-bright-structures"),
        ct_volume,
        pool=pool,
        series_instance_uid="1.2.3",
        image_layer_id="layer-1",
        on_progress=lambda _job, fraction, text: progress.append((fraction, text)),
        on_state=lambda _job, state: states.append(state),
        on_finished=lambda _job, _result: finished.set(),
    )
    assert job.state is JobState.PENDING
    result = job.run()
    assert finished.is_set() and job.state is JobState.SUCCEEDED and job.failure is None
    assert states == [JobState.STARTING, JobState.RUNNING, JobState.SUCCEEDED]
    assert progress and progress[0] == (0.1, "voxels above 300 HU")
    assert job.progress[0] == 1.0

    truth = ct_volume.array > 300
    voxel_ml = 0.7 * 0.8 * 2.5 / 1000
    assert result.values["bright_volume"] == pytest.approx(truth.sum() * voxel_ml)
    assert result.units == {"bright_volume": "ml", "bright_mean": "[hnsf'U]"}
    volume = result.measurement("bright_volume")
    assert volume.code == ("118565006", "SCT", "Volume") and volume.segment == "bright"
    labels = result.labels
    assert labels is not None and labels.array.dtype == np.uint8
    np.testing.assert_array_equal(labels.array, truth.astype(np.uint8))
    np.testing.assert_array_equal(labels.affine, ct_volume.affine)
    assert labels.image_layer_id == "layer-1"
    segment = labels.segments[1]
    assert (segment.label, segment.algorithm_type) == ("Bright structure", "AUTOMATIC")
    assert segment.algorithm_name == "Bright structures (threshold)"
    assert segment.code == ("85756007", "SCT", "Tissue") and segment.color == (230, 159, 0)
    (curve,) = result.curves
    assert curve.name == "Area of the bright structure per slice" and curve.y_unit == "mm2"
    assert len(curve.y) == 8

    p = result.provenance
    assert (p.plugin_id, p.plugin_version, p.module_id) == (
        "example",
        "1.0.0",
        "threshold-bright-structures",
    )
    assert (p.device, p.precision, p.host_api) == ("cpu", "float32", "1.0")
    assert p.parameters == {"threshold_hu": 300.0} and p.series_instance_uid == "1.2.3"
    assert p.duration_s > 0 and p.started and p.weights_sha256 == {}
    assert [line.message for line in job.log] == ["bright structure: 672 voxels"]
    assert result.to_json()["segments"][0]["voxels"] == 672


def test_review_states(module, pool, ct_volume) -> None:
    result = Job(module("threshold-bright-structures"), ct_volume, pool=pool).run()
    seen = []
    result.review_changed.connect(seen.append)
    assert result.review.state is ReviewState.PENDING
    result.mark_edited("dr.who", "trimmed the edge")
    result.accept("dr.who")
    assert [r.state for r in result.reviews] == [
        ReviewState.PENDING,
        ReviewState.EDITED,
        ReviewState.ACCEPTED,
    ]
    assert seen[-1].by == "dr.who" and seen[-1].at
    with pytest.raises(ValueError, match="names the reader"):
        result.reject(" ")


def test_workers_are_reused_by_the_same_plugin(module, ct_volume) -> None:
    pool = WorkerPool(python_paths=())
    try:
        first = Job(module("threshold-bright-structures"), ct_volume, pool=pool)
        first.run()
        second = Job(module("threshold-bright-structures"), ct_volume, pool=pool)
        second.run()
        assert first.worker_pid == second.worker_pid
        other = Job(module("testkit/report"), ct_volume, pool=pool)
        other.run()
        assert other.worker_pid != first.worker_pid
        assert pool.idle_count == 2
    finally:
        pool.shutdown()
    assert pool.idle_count == 0


def test_parameters(module, pool, ct_volume) -> None:
    high = Job(
        module("threshold-bright-structures"),
        ct_volume,
        pool=pool,
        parameters={"threshold_hu": 5000},
    ).run()
    assert high.values == {"bright_volume": 0.0}  # nothing that bright: no mean either
    assert high.provenance.parameters == {"threshold_hu": 5000.0}
    with pytest.raises(ValueError, match="no parameter 'threshold'"):
        Job(module("threshold-bright-structures"), ct_volume, parameters={"threshold": 1})
    with pytest.raises(ValueError, match="takes a float"):
        Job(module("threshold-bright-structures"), ct_volume, parameters={"threshold_hu": "x"})
    with pytest.raises(ValueError, match="takes a bool"):
        Job(module("testkit/report"), ct_volume, parameters={"verbose": 1})
    with pytest.raises(ValueError, match="unknown device"):
        Job(module("threshold-bright-structures"), ct_volume, device="tpu")
    rgb = Volume(np.zeros((1, 4, 4, 3), np.uint8), np.eye(4), kind=StackKind.RGB)
    with pytest.raises(ValueError, match="not a rgb stack"):
        Job(module("threshold-bright-structures"), rgb)


CRASHES = {
    "raises": (FailureKind.EXCEPTION, "RuntimeError: deliberate failure in the module"),
    "segfault": (FailureKind.CRASH, "the module crashed: segmentation fault (SIGSEGV)"),
    "abort": (FailureKind.CRASH, "the module crashed: aborted (SIGABRT)"),
    "memory": (FailureKind.MEMORY, "ran out of memory (limit 256 MiB)"),
    "hang": (FailureKind.TIMEOUT, "stopped: exceeded its time limit of 1 s"),
}


@pytest.mark.parametrize("name", list(CRASHES))
def test_crash_matrix(name: str, module, pool, ct_volume) -> None:
    """Each way a module can fail ends its job FAILED with the reason; the host goes on."""
    failures = []
    started = time.monotonic()
    job = Job(
        module(f"testkit/{name}"), ct_volume, pool=pool, on_failed=lambda j, f: failures.append(f)
    )
    with pytest.raises(JobFailed) as raised:
        job.run()
    elapsed = time.monotonic() - started
    kind, reason = CRASHES[name]
    assert job.state is JobState.FAILED and job.result is None
    assert job.failure is not None and failures == [job.failure]
    assert (job.failure.kind, job.failure.reason) == (kind, reason)
    assert str(raised.value) == reason
    if name == "raises":
        assert 'testkit_modules.py", line' in job.failure.details
    if name == "segfault":
        assert "Fatal Python error: Segmentation fault" in job.failure.details
        assert "testkit_modules.py" in job.failure.details
    assert elapsed < 20
    # The host is unharmed and the next job runs.
    healthy = Job(module("threshold-bright-structures"), ct_volume, pool=pool).run()
    assert healthy.values["bright_volume"] > 0


def test_invalid_output_is_a_failure(module, pool, ct_volume) -> None:
    job = Job(module("testkit/bad-output"), ct_volume, pool=pool)
    with pytest.raises(JobFailed, match="measurement 'undeclared' is not in the manifest"):
        job.run()
    assert job.failure is not None and job.failure.kind is FailureKind.INVALID_OUTPUT


def test_cancel_stops_the_worker_at_once(module, pool, ct_volume) -> None:
    running = threading.Event()
    job = Job(
        module("testkit/slow"),
        ct_volume,
        pool=pool,
        on_progress=lambda _job, _f, _text: running.set(),
    ).start()
    assert running.wait(30), job.log
    pid = job.worker_pid
    assert pid is not None
    started = time.monotonic()
    job.cancel()
    assert job.wait(1.0)
    assert time.monotonic() - started < 1.0
    assert job.state is JobState.CANCELLED
    assert job.failure is not None and job.failure.kind is FailureKind.CANCELLED
    deadline = time.monotonic() + 1.0
    while _process_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _process_exists(pid)
    job.cancel()  # a second cancel changes nothing
    assert job.state is JobState.CANCELLED


def _process_exists(pid: int) -> bool:
    """Whether the process still runs (a zombie has stopped running)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def test_cancel_before_start(module, pool, ct_volume) -> None:
    job = Job(module("threshold-bright-structures"), ct_volume, pool=pool)
    job.cancel()
    job.start()
    assert job.wait(1.0) and job.state is JobState.CANCELLED


def test_module_prints_become_log_lines(module, pool, ct_volume) -> None:
    job = Job(module("testkit/report"), ct_volume, pool=pool)
    job.run()
    assert ("stdout", "hello from the module") in [(line.name, line.message) for line in job.log]


def test_cuda_absent_falls_back_to_cpu(module, pool, ct_volume) -> None:
    """The torch module asked for CUDA runs on the CPU and says so; same answer as numpy."""
    job = Job(module("smoothed-threshold"), ct_volume, pool=pool, device="cuda")
    result = job.run()
    p = result.provenance
    assert (p.device, p.precision) == ("cpu", "float32")
    assert p.notes == (
        "cuda requested but not available (this torch is a CPU-only build); ran on cpu",
    )
    assert any("cuda requested but not available" in line.message for line in job.log)
    digest = "d5cc348cbcd9ae06326b802f2c512c9b375fe62d265dae9e3a1ed7dcffb4f593"
    assert p.weights_sha256 == {"smoothing": digest}
    assert result.values["bright_volume"] > 0
    auto = Job(module("smoothed-threshold"), ct_volume, pool=pool, device="auto").run()
    assert auto.provenance.device == "cpu" and auto.provenance.notes == ()
    untested = Job(module("smoothed-threshold"), ct_volume, pool=pool, precision="float16")
    with pytest.raises(JobFailed, match="precision float16 was not tested"):
        untested.run()
    assert untested.failure is not None and untested.failure.kind is FailureKind.DEVICE


def test_device_settings(module, pool, ct_volume, tmp_path: Path) -> None:
    (tmp_path / "home").mkdir(exist_ok=True)
    (tmp_path / "home" / "settings.json").write_text('{"inference": {"device": "cpu"}}')
    job = Job(module("threshold-bright-structures"), ct_volume, pool=pool)
    assert job.device == "cpu"


WEIGHTED = """\
id = "weighted"
name = "Weighted"
version = "1.0.0"
host_api = "1.0"
authors = [{{ name = "Tester" }}]

[[modules]]
id = "sum"
name = "Sums its weights"
python_name = "weighted_code:run"
requires = ["safetensors"]

[[modules.inputs]]
modality = ["CT"]

[[modules.outputs.measurements]]
id = "total"
name = "Total"
code = {{ value = "246205007", scheme = "SCT", meaning = "Quantity" }}
unit = "1"

[[modules.weights]]
name = "numbers"
path = "numbers/numbers.safetensors"
sha256 = "{sha256}"
"""

WEIGHTED_CODE = """\
from workstation.inference.worker import ModuleOutput


def run(context):
    arrays = context.load_weights_numpy("numbers")
    return ModuleOutput(measurements={"total": float(arrays["values"].sum())})
"""


def test_weights_are_checked_again_when_loaded(tmp_path: Path, pool, ct_volume) -> None:
    from safetensors.numpy import save_file

    plugin = tmp_path / "weighted"
    (plugin / "weights" / "numbers").mkdir(parents=True)
    weights = plugin / "weights" / "numbers" / "numbers.safetensors"
    save_file({"values": np.arange(5, dtype=np.float32)}, str(weights))
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    (plugin / "plugin.toml").write_text(WEIGHTED.format(sha256=digest))
    (plugin / "weighted_code.py").write_text(WEIGHTED_CODE)
    module = registry_of(plugin).find_module("sum")
    assert module.available, module.reasons
    assert Job(module, ct_volume, pool=pool).run().values == {"total": 10.0}
    # Altered after discovery: the worker refuses to load them.
    save_file({"values": np.arange(6, dtype=np.float32)}, str(weights))
    job = Job(module, ct_volume, pool=pool)
    with pytest.raises(JobFailed, match="weights sha256 mismatch for 'numbers'"):
        job.run()
    assert job.failure is not None and job.failure.kind is FailureKind.WEIGHTS


def test_death_reasons() -> None:
    assert death_reason(-9).startswith("the worker was killed (SIGKILL)")
    assert death_reason(-15) == "the worker was stopped by SIGTERM"
    assert death_reason(3) == "the worker exited with status 3 without a result"
    assert death_reason(None) == "the worker process stopped answering"


def test_shared_memory_is_released(module, pool, ct_volume) -> None:
    shm = Path("/dev/shm")
    before = {p.name for p in shm.iterdir()} if shm.is_dir() else set()
    Job(module("threshold-bright-structures"), ct_volume, pool=pool).run()
    with pytest.raises(JobFailed):
        Job(module("testkit/segfault"), ct_volume, pool=pool).run()
    after = {p.name for p in shm.iterdir()} if shm.is_dir() else set()
    assert not {name for name in after - before if name.startswith("psm_")}
