"""Fixtures of the cardio module's tests: its plugin folder, generated cases on disk, a worker."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from workstation.inference.discovery import Registry, discover
from workstation.inference.jobs import WorkerPool
from workstation.inference.settings import InferenceSettings

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "plugins" / "cardio"
WEIGHTS = REPO / "weights" / "cardio"

# The generator, measures and pipeline are imported here too (the worker imports them from
# the plugin folder by itself).
if str(PLUGIN) not in sys.path:
    sys.path.insert(0, str(PLUGIN))

from cardio_plugin.synth import WrittenCase, write_case  # noqa: E402

#: The acquisition of the cases written to disk: small enough for a quick test run, within
#: what the generator draws otherwise (8–14 slices, 20–30 phases, 1.2–2 mm pixels).
SMALL = {"n_slices": 9, "n_phases": 20, "pixel_spacing": 1.9, "rows": 144, "columns": 160}


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the user's plugins, settings or site configuration."""
    monkeypatch.setenv("WORKSTATION_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WORKSTATION_SITE_CONFIG", str(tmp_path / "no-site.json"))
    monkeypatch.delenv("WORKSTATION_SITE_PLUGINS", raising=False)
    monkeypatch.delenv("WORKSTATION_DEVICE", raising=False)


@pytest.fixture(scope="session")
def registry() -> Registry:
    return discover(
        InferenceSettings(),
        folders=[PLUGIN],
        entry_points=False,
        app_folder=False,
        user_folder=False,
    )


@pytest.fixture(scope="session")
def pool() -> Iterator[WorkerPool]:
    workers = WorkerPool(max_idle=2, python_paths=())
    yield workers
    workers.shutdown()


@pytest.fixture(scope="session")
def sax_case(tmp_path_factory: pytest.TempPathFactory) -> WrittenCase:
    """A held-out generated case written as a DICOM cine short-axis series."""
    return write_case(tmp_path_factory.mktemp("sax"), 20_101, **SMALL)
