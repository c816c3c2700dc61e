"""Fixtures of the plugin-host tests: the example and test-kit plugins, a worker pool, data."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from workstation.core.volume import Volume
from workstation.inference.discovery import ModuleRecord, Registry, discover
from workstation.inference.jobs import WorkerPool
from workstation.inference.settings import InferenceSettings
from workstation.inference.testing import synthetic_ct_array
from workstation.io import DicomStack, load_stack, scan
from workstation.testing.factories import SeriesSpec, write_series

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "plugins" / "example"
TESTKIT = Path(__file__).resolve().parent / "plugins" / "testkit"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the user's plugins, settings or site configuration."""
    monkeypatch.setenv("WORKSTATION_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WORKSTATION_SITE_CONFIG", str(tmp_path / "no-site.json"))
    monkeypatch.delenv("WORKSTATION_SITE_PLUGINS", raising=False)
    monkeypatch.delenv("WORKSTATION_DEVICE", raising=False)


def registry_of(*folders: Path) -> Registry:
    return discover(
        InferenceSettings(),
        folders=list(folders),
        entry_points=False,
        app_folder=False,
        user_folder=False,
    )


@pytest.fixture(scope="session")
def registry() -> Registry:
    return registry_of(TESTKIT, EXAMPLE)


@pytest.fixture(scope="session")
def module(registry: Registry):  # type: ignore[no-untyped-def]
    def find(ref: str) -> ModuleRecord:
        return registry.find_module(ref)

    return find


@pytest.fixture(scope="session")
def pool() -> Iterator[WorkerPool]:
    """Workers shared by the tests (a worker that ran a plugin well runs it again)."""
    workers = WorkerPool(max_idle=3, python_paths=())
    yield workers
    workers.shutdown()


@pytest.fixture(scope="session")
def ct_volume() -> Volume:
    array, _ = synthetic_ct_array((8, 32, 40))
    affine = np.diag([0.7, 0.8, 2.5, 1.0])
    affine[:3, 3] = (-14.0, -12.4, 40.0)
    return Volume(array, affine)


@dataclass(frozen=True)
class Series:
    folder: Path
    stack: DicomStack
    volume: Volume
    truth: np.ndarray


@pytest.fixture(scope="session")
def ct_series(tmp_path_factory: pytest.TempPathFactory) -> Series:
    """A synthetic CT series on disk (HU = stored − 1024) with a bright box, scanned and loaded."""
    folder = tmp_path_factory.mktemp("ct")
    array, truth = synthetic_ct_array((8, 32, 40))
    write_series(
        folder,
        SeriesSpec(series_description="Abdomen", uid_seed="inference-ct"),
        stored=array.astype(np.int32) + 1024,
    )
    result = scan(folder)
    (stack,) = result.stacks
    return Series(folder, stack, load_stack(stack), truth)
