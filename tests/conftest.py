"""Shared fixtures: external tools the tests need are required, never skipped."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from workstation.app.early_imports import settle_lazy_modules

settle_lazy_modules()  # before any test touches Qt, as the application does

# Timings on a loaded 2-core machine vary too much for per-example deadlines, and CI must be
# reproducible: the same examples every run (long explorations run locally with more examples).
settings.register_profile("suite", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("suite")

#: marker → (executable, how to install it)
TOOLS = {
    "dcmtk": ("dcmcjpeg", "apt-get install dcmtk"),
    "dciodvfy": ("dciodvfy", "apt-get install dicom3tools"),
    "dcm2niix": ("dcm2niix", "apt-get install dcm2niix"),
}


def pytest_configure(config: pytest.Config) -> None:
    for marker, (executable, _) in TOOLS.items():
        config.addinivalue_line(
            "markers", f"{marker}: needs {executable}; fails (never skips) when it is missing"
        )


@pytest.fixture(autouse=True)
def _require_tools(request: pytest.FixtureRequest) -> None:
    for marker, (executable, install) in TOOLS.items():
        if request.node.get_closest_marker(marker) and shutil.which(executable) is None:
            pytest.fail(f"{executable} is not installed ({install}); this test must run")


@pytest.fixture(autouse=True)
def _forget_home_override() -> Iterator[None]:
    """A test that runs the command line in-process with ``--home`` sets the home folder for
    the process; the next test must find it where its own environment says."""
    yield
    from workstation import paths

    paths.set_home(None)


@pytest.fixture
def dciodvfy_errors() -> Callable[[Path], list[str]]:
    """Lines of dciodvfy's report that name an error (its exit code is 0 even then)."""
    executable = shutil.which("dciodvfy")
    if executable is None:
        pytest.fail("dciodvfy is not installed (apt-get install dicom3tools); this test must run")

    def run(path: Path) -> list[str]:
        result = subprocess.run(
            [executable, str(path)], capture_output=True, text=True, check=False
        )
        report = result.stdout + result.stderr
        return [line for line in report.splitlines() if "Error" in line]

    return run
