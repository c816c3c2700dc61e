"""Build the workstation as a PyInstaller one-folder bundle, then prove that it decodes DICOM.

Usage::

    python build_installer.py [--dist DIR] [--work DIR] [--clean] [--no-verify]

``--dist DIR``   where the bundle goes (default ``dist/``; the app lands in ``DIR/workstation/``)
``--work DIR``   PyInstaller's work folder: launcher script, spec file, caches (default ``build/``)
``--clean``      delete the previous bundle and this app's work files first, and PyInstaller's cache
``--no-verify``  skip running the built ``workstation --selftest``

Run it with the interpreter whose environment holds the app and PyInstaller
(``pip install -e '.[dev]'``). The entry point is ``workstation.cli:main``, called from a small
launcher script written into the work folder. PyInstaller hooks for what it cannot see by itself
(pydicom's pixel plugins, pylibjpeg's entry-point codecs, python-gdcm's dictionaries) live in
``workstation/_pyinstaller/``.

Layout of the bundle (``DIR/workstation/``)::

    workstation      the executable: ``workstation --selftest``, ``workstation inspect PATH``, ...
    _internal/       Python, the libraries and the codecs' compiled extensions (PyInstaller)
    plugins/         a copy of the repository's plugins/   (first-party expert modules)
    weights/         a copy of the repository's weights/   (safetensors + metadata.json)
    resources/       a copy of the repository's resources/ (icons, presets, schemas, ...)

In the frozen app these three folders are ``Path(sys.executable).parent / "plugins"`` (and
``"weights"``, ``"resources"``); ``sys.frozen`` is set there. They sit beside the executable, not
inside ``_internal/``, so that IT can add or replace plugins and weights without rebuilding.

torch and the test tools are excluded explicitly (torch loads in the inference worker only and
must not weigh on the installer); GUI and imaging libraries that the app does not import are
left out because nothing reaches them. After the build the script checks that the codecs'
extensions are in the bundle and the excluded packages are not, prints the bundle size, and runs
the built ``workstation --selftest``, which must end with a line starting with ``OK``.

Exit status: 0 built (and verified); 1 the build or a check failed; 2 PyInstaller is missing
or ``--dist``/``--work`` point at the sources.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent
APP_NAME = "workstation"
ENTRY_POINT = ("workstation.cli", "main")
HOOKS_DIR = REPO / "workstation" / "_pyinstaller"
APP_FOLDERS = ("plugins", "weights", "resources")

# Never in the bundle. torch is imported only inside the inference worker; the rest are
# development tools or GUI toolkits the app does not use.
EXCLUDED_MODULES = (
    "torch",
    "torchvision",
    "torchaudio",
    "pytest",
    "_pytest",
    "pytestqt",
    "pytest_timeout",
    "hypothesis",
    "mypy",
    "importlinter",
    "PyInstaller",
    "IPython",
    "matplotlib",
    "tkinter",
    "_tkinter",
    # Reached only through PyInstaller's setuptools hook (urllib3 and nibabel try to import
    # "backports.zstd", which setuptools vendors); its runtime hook would import it at start.
    "setuptools",
    "pkg_resources",
    "_distutils_hack",
    "distutils",
)

# Compiled parts the selftest and pydicom's plugins need, as glob patterns under _internal/.
REQUIRED_FILES = {
    "pylibjpeg-openjpeg extension": "_openjpeg.*",
    "pylibjpeg-libjpeg extension": "_libjpeg.*",
    "pylibjpeg-rle extension": "rle/rle.*",
    "pyjpegls extension (CharLS)": "_CharLS.*",
    "python-gdcm extension": "_gdcm/_gdcmswig*",
    "python-gdcm dictionaries": "_gdcm/XML/Part3.xml",
    "pylibjpeg-openjpeg entry points": "pylibjpeg_openjpeg-*.dist-info/entry_points.txt",
    "pylibjpeg-libjpeg entry points": "pylibjpeg_libjpeg-*.dist-info/entry_points.txt",
    "pylibjpeg-rle entry points": "pylibjpeg_rle-*.dist-info/entry_points.txt",
}

LAUNCHER = f'''\
"""Launcher of the frozen workstation (written by build_installer.py; do not edit)."""

import multiprocessing
import sys

from {ENTRY_POINT[0]} import {ENTRY_POINT[1]}

if __name__ == "__main__":
    multiprocessing.freeze_support()  # worker processes re-enter the frozen executable
    sys.exit({ENTRY_POINT[1]}())
'''

# What an earlier build leaves in the bundle and in PyInstaller's work folder: PyInstaller deletes
# both on the next build, so any other non-empty folder in their place is refused.
BUNDLE_MARKERS = ("_internal", APP_NAME, f"{APP_NAME}.exe")
WORK_MARKERS = ("localpycs", "base_library.zip", f"warn-{APP_NAME}.txt")

SELFTEST_TIMEOUT_S = 300
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class BuildError(Exception):
    """The bundle could not be built or failed a check; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Options:
    dist: Path
    work: Path
    clean: bool
    verify: bool

    @property
    def bundle(self) -> Path:
        return self.dist / APP_NAME

    @property
    def executable(self) -> Path:
        suffix = ".exe" if sys.platform == "win32" else ""
        return self.bundle / f"{APP_NAME}{suffix}"


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description="Build the workstation as a PyInstaller one-folder bundle and verify it."
    )
    parser.add_argument(
        "--dist",
        type=Path,
        default=REPO / "dist",
        help="output folder; the app lands in DIST/workstation (default: dist)",
    )
    parser.add_argument(
        "--work", type=Path, default=REPO / "build", help="PyInstaller work folder (default: build)"
    )
    parser.add_argument(
        "--clean",
        action="store_true",
        help="remove previous bundle, work folder and PyInstaller cache first",
    )
    parser.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="do not run the built 'workstation --selftest'",
    )
    args = parser.parse_args(argv)
    return Options(args.dist.resolve(), args.work.resolve(), args.clean, args.verify)


def require_pyinstaller() -> None:
    if importlib.util.find_spec("PyInstaller") is None:
        raise BuildError(
            f"PyInstaller is not installed for {sys.executable}; install the development "
            "extras with: pip install -e '.[dev]'",
            EXIT_USAGE,
        )


def check_paths(options: Options) -> None:
    """Refuse folders PyInstaller would wipe that hold something else (``--dist .``, a typo)."""
    targets = {options.bundle: BUNDLE_MARKERS, options.work / APP_NAME: WORK_MARKERS}
    for target, markers in targets.items():
        if target == REPO / APP_NAME or REPO.is_relative_to(target):
            raise BuildError(f"refusing to build into {target}: it holds the sources", EXIT_USAGE)
        if holds_foreign_files(target, markers):
            raise BuildError(
                f"refusing to overwrite {target}: it is not from an earlier build", EXIT_USAGE
            )


def holds_foreign_files(folder: Path, markers: Sequence[str]) -> bool:
    """True when ``folder`` is a non-empty folder without any file an earlier build leaves."""
    if not folder.is_dir() or not any(folder.iterdir()):
        return False
    return not any((folder / marker).exists() for marker in markers)


def prepare_folders(options: Options) -> None:
    """Create the output folders; with ``--clean`` first remove only what this script made."""
    if options.clean:
        for folder in (options.bundle, options.work / APP_NAME, options.work / "launcher"):
            shutil.rmtree(folder, ignore_errors=True)
    options.work.mkdir(parents=True, exist_ok=True)
    options.dist.mkdir(parents=True, exist_ok=True)


def write_launcher(work: Path) -> Path:
    # Not "workstation.py": its folder comes first on the analysis path and the script would
    # shadow the package of the same name.
    launcher = work / "launcher" / f"{APP_NAME}_launcher.py"
    launcher.parent.mkdir(parents=True, exist_ok=True)
    launcher.write_text(LAUNCHER, encoding="utf-8")
    return launcher


def pyinstaller_command(options: Options, launcher: Path) -> list[str]:
    settings = {
        "--name": APP_NAME,
        "--log-level": "WARN",
        "--distpath": str(options.dist),
        "--workpath": str(options.work),
        "--specpath": str(options.work),  # keeps the generated .spec out of the repository
        "--paths": str(REPO),  # an editable install is invisible to PyInstaller's analysis
        "--additional-hooks-dir": str(HOOKS_DIR),
    }
    command = [sys.executable, "-m", "PyInstaller", str(launcher), "--onedir", "--console"]
    command += ["--noconfirm", *(["--clean"] if options.clean else [])]
    for flag, value in settings.items():
        command += [flag, value]
    for module in EXCLUDED_MODULES:
        command += ["--exclude-module", module]
    return command


def run_pyinstaller(command: list[str], dist: Path) -> None:
    print(f"Building with PyInstaller into {dist} ...", flush=True)
    completed = subprocess.run(command, cwd=REPO, check=False)
    if completed.returncode != 0:
        raise BuildError(f"PyInstaller failed with exit status {completed.returncode}")


def copy_app_folders(bundle: Path) -> None:
    """Put plugins/, weights/ and resources/ beside the executable (created empty if absent)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".gitkeep")
    for name in APP_FOLDERS:
        target = bundle / name
        shutil.rmtree(target, ignore_errors=True)
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        else:
            target.mkdir(parents=True)


def internal_folder(bundle: Path) -> Path:
    internal = bundle / "_internal"
    return internal if internal.is_dir() else bundle  # PyInstaller < 6 had no contents folder


def missing_files(bundle: Path) -> list[str]:
    internal = internal_folder(bundle)
    return [what for what, pattern in REQUIRED_FILES.items() if not any(internal.glob(pattern))]


def excluded_present(bundle: Path) -> list[str]:
    internal = internal_folder(bundle)
    return [
        module
        for module in EXCLUDED_MODULES
        if (internal / module).exists() or any(internal.glob(f"{module}.*"))
    ]


def check_contents(bundle: Path) -> None:
    problems = [f"missing {what}" for what in missing_files(bundle)]
    problems += [f"excluded package bundled: {name}" for name in excluded_present(bundle)]
    if problems:
        raise BuildError("bundle check failed: " + "; ".join(problems))


def disk_size(path: Path) -> int:
    """Bytes under ``path``; symbolic links (PyInstaller links libraries to one copy) count 0."""
    if path.is_symlink():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def report_size(bundle: Path) -> None:
    internal = internal_folder(bundle)
    largest = sorted(((disk_size(p), p.name) for p in internal.iterdir()), reverse=True)[:6]
    print(f"Bundle {bundle}: {disk_size(bundle) / 2**20:.1f} MiB")
    print(
        "  largest parts: " + ", ".join(f"{name} {size / 2**20:.1f} MiB" for size, name in largest)
    )


def run_selftest(executable: Path) -> None:
    """Run the built ``--selftest``; its last line must start with ``OK``."""
    print(f"Verifying: {executable} --selftest")
    try:
        completed = subprocess.run(
            [str(executable), "--selftest"],
            capture_output=True,
            text=True,
            timeout=SELFTEST_TIMEOUT_S,
            check=False,
            env=selftest_environment(),
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BuildError(f"the built selftest could not run: {error}") from error
    output = completed.stdout.rstrip()
    print(output)
    if completed.stderr.strip():
        print(completed.stderr.rstrip(), file=sys.stderr)
    lines = output.splitlines()
    if completed.returncode != 0 or not lines or not lines[-1].startswith("OK"):
        raise BuildError(f"the built selftest failed (exit status {completed.returncode})")


def selftest_environment() -> dict[str, str]:
    """The caller's environment without Python variables that could leak into the bundle."""
    return {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}


def build(options: Options) -> None:
    require_pyinstaller()
    check_paths(options)
    prepare_folders(options)
    started = time.monotonic()
    run_pyinstaller(pyinstaller_command(options, write_launcher(options.work)), options.dist)
    if not options.executable.is_file():
        raise BuildError(f"PyInstaller reported success but {options.executable} is missing")
    copy_app_folders(options.bundle)
    check_contents(options.bundle)
    print(f"Built in {time.monotonic() - started:.0f} s: {options.executable}")
    report_size(options.bundle)
    if options.verify:
        run_selftest(options.executable)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    try:
        build(options)
    except BuildError as error:
        print(f"build_installer: {error}", file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        print("build_installer: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
