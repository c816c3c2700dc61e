"""One measurement in a fresh interpreter, for ``bench_load.py``: prints one JSON object.

Usage: ``python bench_child.py TASK ARG...``. Every task imports what it needs *before* its clock
starts (the import of ``workstation.io`` is timed on its own and reported apart) and stops the
clock once the voxels are in a numpy array. Peak memory is the growth of the resident set during
the timed step: VmRSS before, the peak (VmHWM) reset through ``/proc/self/clear_refs`` (Linux).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Result = dict[str, Any]

#: Single-slice loads timed after the first one (one-slice-from-a-scanned-folder task).
SLICE_LOADS = 20


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024  # the kernel reports kB
    raise RuntimeError(f"{field} missing from /proc/self/status")


class PeakMemory:
    """The resident set before a step and its peak during it."""

    def __init__(self) -> None:
        self.before = 0
        self.peak = 0

    def __enter__(self) -> PeakMemory:
        self.before = _status_bytes("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # 5: reset VmHWM to the current RSS
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak = _status_bytes("VmHWM")

    def facts(self, nbytes: int) -> Result:
        grown = max(0, self.peak - self.before)
        return {"rss_before": self.before, "rss_peak": self.peak, "peak_ratio": grown / nbytes}


def _array_facts(array: Any) -> Result:
    return {"shape": list(array.shape), "dtype": str(array.dtype), "nbytes": int(array.nbytes)}


def ours(folder: str) -> Result:
    """``scan`` + ``load_stack`` of the folder's first stack."""
    start = time.perf_counter()
    from workstation.io import load_stack, scan

    imported = time.perf_counter()
    with PeakMemory() as memory:
        begin = time.perf_counter()
        result = scan(folder)
        volume = load_stack(result.stacks[0])
        elapsed = time.perf_counter() - begin
    facts = _array_facts(volume.array)
    return {
        "elapsed_s": elapsed,
        "import_s": imported - start,
        "n_stacks": len(result.stacks),
        **facts,
        **memory.facts(facts["nbytes"]),
    }


def scan_only(folder: str) -> Result:
    """``scan`` alone: the header indexing rate."""
    from workstation.io import scan

    begin = time.perf_counter()
    result = scan(folder)
    elapsed = time.perf_counter() - begin
    return {"elapsed_s": elapsed, "n_files": len(result.headers), "errors": len(result.errors)}


def first_slice(path: str) -> Result:
    """From nothing (but the import) to one file's slice in an array: ``scan(file)`` + load."""
    from workstation.io import load_stack, scan

    begin = time.perf_counter()
    volume = load_stack(scan(path).stacks[0])
    elapsed = time.perf_counter() - begin
    return {"elapsed_s": elapsed, **_array_facts(volume.array)}


def slice_after_scan(folder: str) -> Result:
    """One slice of an already-scanned folder (``load_frame``): the first, then the next ones."""
    from workstation.io import load_frame, scan

    stack = scan(folder).stacks[0]
    middle = len(stack.frames) // 2
    times = []
    for index in range(middle, middle + SLICE_LOADS + 1):
        begin = time.perf_counter()
        load_frame(stack, index % len(stack.frames))
        times.append(time.perf_counter() - begin)
    return {
        "elapsed_s": times[0],
        "next_median_s": statistics.median(times[1:]),
        "api": "load_frame",
    }


def simpleitk(folder: str, pixel_type: str) -> Result:
    """``ImageSeriesReader``: GDCM's series file names, then ``Execute``; a view, no copy."""
    import SimpleITK

    toolkit: Any = SimpleITK  # its SWIG API is untyped
    with PeakMemory() as memory:
        begin = time.perf_counter()
        reader = toolkit.ImageSeriesReader()
        reader.SetFileNames(toolkit.ImageSeriesReader.GetGDCMSeriesFileNames(folder))
        if pixel_type == "int16":
            reader.SetOutputPixelType(toolkit.sitkInt16)
        image = reader.Execute()
        array = toolkit.GetArrayViewFromImage(image)
        elapsed = time.perf_counter() - begin
    facts = _array_facts(array)
    spacing = [round(s, 3) for s in image.GetSpacing()]
    return {"elapsed_s": elapsed, "spacing": spacing, **facts, **memory.facts(facts["nbytes"])}


def _normal(dataset: Any) -> Any:
    import numpy as np

    cosines = np.asarray(dataset.ImageOrientationPatient, dtype=np.float64)
    return np.cross(cosines[:3], cosines[3:])


def _rescaled(stored: Any, dataset: Any) -> Any:
    """Modality rescale; int16 when the slope is 1 and the intercept whole (CT), else float32."""
    import numpy as np

    if "RescaleSlope" not in dataset and "RescaleIntercept" not in dataset:
        return stored
    slope = float(dataset.get("RescaleSlope", 1.0))
    intercept = float(dataset.get("RescaleIntercept", 0.0))
    if slope == 1.0 and intercept.is_integer() and dataset.BitsStored < 16:
        values = stored.astype(np.int16)
        values += np.int16(intercept)
        return values
    return stored.astype(np.float32) * np.float32(slope) + np.float32(intercept)


def pydicom_loop(folder: str) -> Result:
    """``dcmread`` every file, sort along the slice normal (and trigger time), stack, rescale."""
    import numpy as np
    import pydicom

    with PeakMemory() as memory:
        begin = time.perf_counter()
        datasets = [pydicom.dcmread(path) for path in sorted(Path(folder).iterdir())]
        normal = _normal(datasets[0])
        datasets.sort(
            key=lambda ds: (
                float(ds.get("TriggerTime", 0.0) or 0.0),
                float(np.dot(normal, np.asarray(ds.ImagePositionPatient, dtype=np.float64))),
            )
        )
        array = _rescaled(np.stack([ds.pixel_array for ds in datasets]), datasets[0])
        phases = len({ds.get("TriggerTime") for ds in datasets})
        if phases > 1:
            array = array.reshape(phases, -1, *array.shape[1:])
        elapsed = time.perf_counter() - begin
    facts = _array_facts(array)
    return {"elapsed_s": elapsed, **facts, **memory.facts(facts["nbytes"])}


def raw_floor(path: str, dtype: str) -> Result:
    """``np.fromfile`` of every pixel byte concatenated into one file: the read floor."""
    import numpy as np

    begin = time.perf_counter()
    array = np.fromfile(path, dtype=np.dtype(dtype))
    elapsed = time.perf_counter() - begin
    return {"elapsed_s": elapsed, **_array_facts(array)}


TASKS: dict[str, Callable[..., Result]] = {
    "ours": ours,
    "scan": scan_only,
    "first_slice": first_slice,
    "slice_after_scan": slice_after_scan,
    "simpleitk": simpleitk,
    "pydicom": pydicom_loop,
    "floor": raw_floor,
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in TASKS:
        print(f"usage: bench_child.py {{{','.join(TASKS)}}} ARG...", file=sys.stderr)
        return 2
    print(json.dumps(TASKS[argv[0]](*argv[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
