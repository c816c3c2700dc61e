"""Whether a module can run here, found out without importing it or its dependencies.

Like pydicom's ``is_available()`` for its pixel handlers: a dependency is present when
``importlib`` can find it (nothing is imported: importing torch costs seconds and most of a
gigabyte), and a GPU is present when a CUDA build of torch and an NVIDIA driver are installed,
or on Apple silicon (MPS). The worker checks again, for real, when it runs the module.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import platform
import shutil
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path


def find_module(name: str, extra_paths: Sequence[Path] = ()) -> ModuleSpec | None:
    """The spec of module ``name`` (dotted), found without importing it or its parents."""
    parts = name.split(".")
    spec = _find_top(parts[0], extra_paths)
    for depth in range(1, len(parts)):
        if spec is None or not spec.submodule_search_locations:
            return None
        locations = list(spec.submodule_search_locations)
        spec = importlib.machinery.PathFinder.find_spec(".".join(parts[: depth + 1]), locations)
    return spec


def _find_top(name: str, extra_paths: Sequence[Path]) -> ModuleSpec | None:
    if extra_paths:
        spec = importlib.machinery.PathFinder.find_spec(name, [str(p) for p in extra_paths])
        if spec is not None:
            return spec
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def missing_requirements(names: Sequence[str], extra_paths: Sequence[Path] = ()) -> list[str]:
    """The import names among ``names`` that cannot be found."""
    return [name for name in names if find_module(name, extra_paths) is None]


def package_dir(name: str, extra_paths: Sequence[Path] = ()) -> Path | None:
    """The folder of package ``name``, found without importing it."""
    spec = find_module(name, extra_paths)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def gpu_probe(extra_paths: Sequence[Path] = ()) -> str | None:
    """ "cuda" or "mps" when torch could use a GPU here, else None (never imports torch)."""
    torch_dir = package_dir("torch", extra_paths)
    if torch_dir is None:
        return None
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "mps"
    lib = torch_dir / "lib"
    cuda_build = any(lib.glob("libtorch_cuda*")) or any(lib.glob("torch_cuda*.dll"))
    if cuda_build and _nvidia_driver():
        return "cuda"
    return None


def _nvidia_driver() -> bool:
    if Path("/proc/driver/nvidia/version").exists():
        return True
    if sys.platform == "win32":
        system = Path(os.environ.get("SYSTEMROOT", r"C:\Windows")) / "System32"
        return (system / "nvcuda.dll").exists()
    return shutil.which("nvidia-smi") is not None
