"""The benchmark's data sets, written once and reused: a torso CT and a short-axis cine MR.

Each lives in ``WORKDIR/NAME/``: ``dicom/`` (the series, one file per slice and phase, shuffled
names and instance numbers), ``pixels.raw`` (every file's pixel bytes concatenated: the raw-read
floor) and ``manifest.json`` (what was written; a data set whose manifest differs is rewritten).
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom

from workstation.testing.factories import SeriesSpec, write_series
from workstation.testing.phantoms import cine_short_axis_mr, torso_ct

#: Bumped when the way data sets are written changes, so old caches are rewritten.
FORMAT = 1


@dataclass(frozen=True)
class Size:
    """Slices, phases (None: a volume) and matrix of one data set."""

    n_slices: int
    phases: int | None
    rows: int
    columns: int

    @property
    def n_files(self) -> int:
        return self.n_slices * (self.phases or 1)

    def describe(self) -> str:
        grid = f"{self.rows}×{self.columns}"
        if self.phases is None:
            return f"{self.n_slices} × {grid}"
        return f"{self.n_slices} slices × {self.phases} phases × {grid}"


FULL = {"ct": Size(400, None, 512, 512), "cine": Size(12, 25, 256, 256)}
QUICK = {"ct": Size(40, None, 128, 128), "cine": Size(4, 5, 64, 64)}


@dataclass(frozen=True)
class Dataset:
    """A written series and what the benchmark needs to know about it."""

    name: str
    title: str
    folder: Path
    raw: Path
    raw_dtype: str
    n_files: int
    #: ``int16`` asks SimpleITK for int16 output (CT); ``default`` keeps its own choice.
    simpleitk_pixel_type: str

    @property
    def files(self) -> list[Path]:
        return sorted(self.folder.iterdir())


def prepare(workdir: Path, quick: bool) -> list[Dataset]:
    """Both data sets, written now unless ``workdir`` already holds them."""
    sizes = QUICK if quick else FULL
    return [_ct(workdir, sizes["ct"]), _cine(workdir, sizes["cine"])]


def _ct(workdir: Path, size: Size) -> Dataset:
    spacing = (1.0, 0.7, 0.7)
    spec = SeriesSpec(
        rows=size.rows,
        columns=size.columns,
        n_slices=size.n_slices,
        pixel_spacing=spacing[1:],
        slice_spacing=spacing[0],
        modality="CT",
        shuffle=True,
    )

    def stored() -> npt.NDArray[np.uint16]:
        hounsfield = torso_ct(shape=(size.n_slices, size.rows, size.columns), spacing=spacing)
        return np.clip(hounsfield.astype(np.int32) + 1024, 0, 4095).astype(np.uint16)

    name = f"ct-{size.n_slices}x{size.rows}x{size.columns}"
    root = _ensure(workdir / name, size, spec, stored)
    return Dataset(
        name="ct",
        title=f"CT {size.describe()} int16",
        folder=root / "dicom",
        raw=root / "pixels.raw",
        raw_dtype="int16",
        n_files=size.n_files,
        simpleitk_pixel_type="int16",
    )


def _cine(workdir: Path, size: Size) -> Dataset:
    assert size.phases is not None
    spacing = (8.0, 1.4, 1.4)

    def stored() -> npt.NDArray[np.uint16]:
        return cine_short_axis_mr(
            n_slices=size.n_slices,
            n_phases=size.phases or 1,
            matrix=(size.rows, size.columns),
            spacing=spacing,
        )

    values = stored()  # cheap; needed up front for Bits Stored
    spec = SeriesSpec(
        rows=size.rows,
        columns=size.columns,
        n_slices=size.n_slices,
        phases=size.phases,
        pixel_spacing=spacing[1:],
        slice_spacing=spacing[0],
        modality="MR",
        rescale_slope=None,
        rescale_intercept=None,
        bits_stored=max(12, int(values.max()).bit_length()),
        shuffle=True,
    )
    name = f"cine-{size.n_slices}x{size.phases}x{size.rows}x{size.columns}"
    root = _ensure(workdir / name, size, spec, lambda: values)
    return Dataset(
        name="cine",
        title=f"cine MR {size.describe()} uint16",
        folder=root / "dicom",
        raw=root / "pixels.raw",
        raw_dtype="uint16",
        n_files=size.n_files,
        simpleitk_pixel_type="default",
    )


def _ensure(
    root: Path, size: Size, spec: SeriesSpec, stored: Callable[[], npt.NDArray[Any]]
) -> Path:
    """``root`` holding the series of ``spec``; written (with progress) when not cached."""
    manifest = {"format": FORMAT, "size": asdict(size), "spec": repr(spec)}
    manifest_path = root / "manifest.json"
    if manifest_path.exists() and json.loads(manifest_path.read_text()) == manifest:
        print(f"using cached {root}", file=sys.stderr)
        return root
    shutil.rmtree(root, ignore_errors=True)
    folder = root / "dicom"
    folder.mkdir(parents=True)
    started = time.perf_counter()
    print(f"building {root.name} ({size.describe()})", file=sys.stderr)
    voxels = stored()
    print(
        f"  voxels ready in {time.perf_counter() - started:.1f} s; writing DICOM", file=sys.stderr
    )
    with FileCounter(folder, size.n_files):
        write_series(folder, spec, stored=voxels)
    _write_raw(sorted(folder.iterdir()), root / "pixels.raw")
    manifest_path.write_text(json.dumps(manifest))
    print(f"  done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return root


def _write_raw(files: list[Path], target: Path) -> None:
    """Every file's Pixel Data bytes, one after the other."""
    with target.open("wb") as out:
        for path in files:
            out.write(pydicom.dcmread(path).PixelData)


class FileCounter:
    """Prints how many files a folder holds every half second while a writer fills it."""

    def __init__(self, folder: Path, total: int) -> None:
        self.folder = folder
        self.total = total
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FileCounter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self._show()
        print(file=sys.stderr)

    def _run(self) -> None:
        while not self.stop.wait(0.5):
            self._show()

    def _show(self) -> None:
        count = sum(1 for _ in self.folder.iterdir())
        print(f"\r  {count}/{self.total} files", end="", file=sys.stderr, flush=True)
