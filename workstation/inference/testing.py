"""Testing expert modules: synthetic inputs and a runner that uses the real worker process.

For plugin authors (and the workstation's own tests). In a plugin's ``conftest.py``::

    from workstation.inference.testing import module_runner, synthetic_ct  # noqa: F401

and in a test::

    def test_volume(module_runner, synthetic_ct):
        result = module_runner(PLUGIN_FOLDER, "my-module", synthetic_ct.volume)
        assert result.measurement("my_volume").value == pytest.approx(synthetic_ct.truth_ml)

Without pytest fixtures, :func:`run_plugin_module` does the same. The run goes through
discovery (so the manifest is checked), the worker process, shared memory and the result
conversion, exactly as in the application; nothing is mocked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from workstation.core.volume import StackKind, Volume
from workstation.inference.discovery import discover
from workstation.inference.jobs import Job, WorkerPool
from workstation.inference.results import Result
from workstation.inference.settings import InferenceSettings

#: Hounsfield units of the synthetic CT: soft tissue, air outside the body, the bright box.
SOFT_TISSUE_HU = 40
AIR_HU = -1000
BRIGHT_HU = 1000


@dataclass(frozen=True)
class SyntheticCase:
    """An input volume and its ground truth."""

    volume: Volume
    #: Voxels of the bright structure (``[k, j, i]``).
    truth: npt.NDArray[np.bool_]

    @property
    def truth_ml(self) -> float:
        voxel_ml = abs(float(np.linalg.det(self.volume.affine[:3, :3]))) / 1000.0
        return float(self.truth.sum()) * voxel_ml


def ct_affine(
    spacing_ijk: tuple[float, float, float], origin: tuple[float, float, float]
) -> npt.NDArray[np.float64]:
    """An axial affine: i along L (x), j along P (y), k along S (z), with these spacings."""
    affine = np.diag([*spacing_ijk, 1.0])
    affine[:3, 3] = origin
    return affine


def synthetic_ct_array(
    shape: tuple[int, int, int] = (12, 40, 48), *, seed: int = 0, noise_hu: float = 8.0
) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.bool_]]:
    """An elliptical body of soft tissue in air with a bright box inside, and the box's mask."""
    rng = np.random.default_rng(seed)
    n_k, n_j, n_i = shape
    jj, ii = np.mgrid[0:n_j, 0:n_i]
    body = ((jj - (n_j - 1) / 2) / (0.45 * n_j)) ** 2 + ((ii - (n_i - 1) / 2) / (0.45 * n_i)) ** 2
    image = np.where(body <= 1.0, SOFT_TISSUE_HU, AIR_HU).astype(np.float32)
    image = np.broadcast_to(image, shape).copy()
    truth = np.zeros(shape, dtype=bool)
    truth[n_k // 4 : n_k - n_k // 4, n_j // 3 : n_j - n_j // 3, n_i // 3 : n_i - n_i // 3] = True
    image[truth] = BRIGHT_HU
    image += rng.normal(0.0, noise_hu, size=shape).astype(np.float32)
    return np.clip(np.rint(image), -1024, 3071).astype(np.int16), truth


def synthetic_ct_case(
    shape: tuple[int, int, int] = (12, 40, 48),
    spacing_ijk: tuple[float, float, float] = (0.8, 0.8, 2.0),
    *,
    seed: int = 0,
) -> SyntheticCase:
    """A small CT volume (:func:`synthetic_ct_array`) with its LPS geometry."""
    array, truth = synthetic_ct_array(shape, seed=seed)
    origin = (-0.5 * spacing_ijk[0] * shape[2], -0.5 * spacing_ijk[1] * shape[1], 40.0)
    return SyntheticCase(Volume(array, ct_affine(spacing_ijk, origin)), truth)


def torso_ct_volume(
    shape: tuple[int, int, int] = (40, 96, 96),
    spacing: tuple[float, float, float] = (4.5, 3.7, 3.7),
) -> Volume:
    """The anatomical torso phantom (:func:`workstation.testing.phantoms.torso_ct`) as a
    Volume; ``spacing`` is (slice, row, column) mm."""
    from workstation.testing.phantoms import torso_ct

    array = torso_ct(shape, spacing)
    affine = ct_affine((spacing[2], spacing[1], spacing[0]), (-150.0, -150.0, -260.0))
    return Volume(array, affine)


def cine_mr_volume(
    n_slices: int = 6, n_phases: int = 8, matrix: tuple[int, int] = (64, 64)
) -> Volume:
    """The beating-heart short-axis cine phantom as a ``[t, k, j, i]`` Volume."""
    from workstation.testing.phantoms import cine_short_axis_mr

    spacing = (8.0, 5.2, 5.2)
    array = cine_short_axis_mr(n_slices, n_phases, matrix, spacing)
    affine = ct_affine((spacing[2], spacing[1], spacing[0]), (-160.0, -160.0, 0.0))
    times = tuple(t * 800.0 / n_phases for t in range(n_phases))
    return Volume(array, affine, kind=StackKind.CINE, phase_times_ms=times)


def run_plugin_module(
    plugin: Path,
    module_id: str,
    volume: Volume,
    *,
    device: str = "cpu",
    parameters: Mapping[str, Any] | None = None,
    time_limit_s: float | None = None,
    pool: WorkerPool | None = None,
) -> Result:
    """Run a module of the plugin folder ``plugin`` on ``volume`` in a real worker.

    Raises
    ------
    AssertionError
        The manifest is broken or the module cannot run here (with the reasons).
    JobFailed
        The module failed.
    """
    registry = discover(
        InferenceSettings(),
        folders=[Path(plugin)],
        entry_points=False,
        app_folder=False,
        user_folder=False,
    )
    records = [p for p in registry.plugins if p.root == Path(plugin)]
    assert records, f"no plugin.toml in {plugin}"
    record = records[0]
    assert record.error is None, record.error
    module = next((m for m in record.modules if m.id == module_id), None)
    assert module is not None, f"{record.id} has no module {module_id!r}"
    assert module.available, f"{module.qualified_id} cannot run: {module.unavailable_reasons}"
    job = Job(
        module,
        volume,
        device=device,
        parameters=parameters,
        time_limit_s=time_limit_s,
        pool=pool,
    )
    return job.run()


@pytest.fixture
def module_runner() -> Iterator[Callable[..., Result]]:
    """``module_runner(plugin_folder, module_id, volume, **options) -> Result``; workers are
    reused within the test and stopped after it."""
    pool = WorkerPool(python_paths=())

    def run(plugin: Path, module_id: str, volume: Volume, **options: Any) -> Result:
        return run_plugin_module(plugin, module_id, volume, pool=pool, **options)

    yield run
    pool.shutdown()


@pytest.fixture
def synthetic_ct() -> SyntheticCase:
    """A small CT with a bright box of known volume (``truth``, ``truth_ml``)."""
    return synthetic_ct_case()
