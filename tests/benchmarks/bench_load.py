"""Load benchmark: our DICOM engine against SimpleITK, dcm2niix, a pydicom loop and the raw read.

Usage::

    python tests/benchmarks/bench_load.py [--workdir DIR] [--repeat N] [--quick] [--json OUT]

Every measurement runs in a fresh Python process (``bench_child.py``) right after every input
file has been read once, so the page cache is warm. Native tools (dcm2niix) are timed as a whole
process; Python tools inside the child, from just before the first file is touched to a filled
numpy array (imports excluded; ours is reported apart). Prints one table per data set and the
derived figures against their targets. It never fails on a missed target: it prints and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_data import Dataset, prepare

HERE = Path(__file__).resolve().parent
CHILD = HERE / "bench_child.py"
#: Replaced by a fresh temporary folder in a job's command line.
OUT = "{out}"
#: The rows of the main table, in order.
MAIN_ROWS = ("ours", "simpleitk", "dcm2niix", "pydicom", "floor")


@dataclass(frozen=True)
class Job:
    """One command to time; ``wall`` times the whole process (native tools)."""

    key: str
    label: str
    argv: tuple[str, ...]
    wall: bool = False


@dataclass
class Samples:
    """The facts every run of one job returned (each with ``elapsed_s``), or why it failed."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def values(self, key: str = "elapsed_s") -> list[float]:
        return [float(run[key]) for run in self.runs if key in run]

    def median(self, key: str = "elapsed_s") -> float | None:
        values = self.values(key)
        return statistics.median(values) if values else None

    def minimum(self, key: str = "elapsed_s") -> float | None:
        values = self.values(key)
        return min(values) if values else None

    @property
    def last(self) -> dict[str, Any]:
        return self.runs[-1] if self.runs else {}


Results = dict[str, Samples]


class ChildError(Exception):
    """A timed command exited with an error."""


# ---------------------------------------------------------------------------------------------
# Running


def jobs_for(dataset: Dataset) -> list[Job]:
    python = (sys.executable, str(CHILD))
    folder = str(dataset.folder)
    sitk = dataset.simpleitk_pixel_type
    jobs = [
        Job("ours", "ours: scan + load_stack", (*python, "ours", folder)),
        Job("simpleitk", f"SimpleITK series reader ({sitk})", (*python, "simpleitk", folder, sitk)),
        Job(
            "dcm2niix",
            "dcm2niix (whole process)",
            ("dcm2niix", "-z", "n", "-o", OUT, "-f", "out", folder),
            wall=True,
        ),
        Job("pydicom", "pydicom loop", (*python, "pydicom", folder)),
        Job("floor", "raw-read floor", (*python, "floor", str(dataset.raw), dataset.raw_dtype)),
        Job("scan", "ours: scan only", (*python, "scan", folder)),
        Job(
            "first_slice",
            "ours: scan(1 file) + load",
            (*python, "first_slice", str(dataset.files[0])),
        ),
        Job(
            "slice_after_scan",
            "ours: 1 slice of a scanned folder",
            (*python, "slice_after_scan", folder),
        ),
    ]
    return [job for job in jobs if job.argv[0] != "dcm2niix" or shutil.which("dcm2niix")]


def warm(dataset: Dataset) -> None:
    """Read every input file once: this VM evicts cold page cache, and we time warm reads."""
    buffer = bytearray(1 << 22)
    for path in (*dataset.files, dataset.raw):
        with path.open("rb") as stream:
            while stream.readinto(buffer):
                pass


def run_job(job: Job, dataset: Dataset) -> dict[str, Any]:
    warm(dataset)
    with tempfile.TemporaryDirectory(prefix="bench-out-") as out:
        argv = [arg.replace(OUT, out) for arg in job.argv]
        begin = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - begin
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ChildError(f"exit {done.returncode}: {' | '.join(tail)}")
        if job.wall:
            return {"elapsed_s": wall, **nifti_facts(Path(out))}
        facts: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        facts["process_s"] = wall
        return facts


def nifti_facts(folder: Path) -> dict[str, Any]:
    """Shape and type of what dcm2niix wrote (read by nibabel, outside the clock)."""
    import nibabel as nib

    images = sorted(folder.glob("*.nii"))
    if not images:
        return {"files": 0}
    header: Any = nib.load(images[0]).header  # a Nifti1Header; nibabel types it loosely
    return {
        "files": len(images),
        "shape": [int(n) for n in header.get_data_shape()],
        "dtype": str(header.get_data_dtype()),
    }


def measure(dataset: Dataset, repeat: int) -> Results:
    """One discarded warm-up round, then ``repeat`` rounds of every job, interleaved."""
    jobs = jobs_for(dataset)
    results: Results = {job.key: Samples() for job in jobs}
    for round_ in range(repeat + 1):
        name = "warm-up" if round_ == 0 else f"{round_}/{repeat}"
        print(f"  {dataset.name} round {name}", file=sys.stderr, flush=True)
        for job in jobs:
            samples = results[job.key]
            if samples.error is not None:
                continue
            try:
                facts = run_job(job, dataset)
            except ChildError as failure:
                samples.error = str(failure)
                print(f"    {job.key} failed: {failure}", file=sys.stderr)
                continue
            if round_ > 0:
                samples.runs.append(facts)
    return results


# ---------------------------------------------------------------------------------------------
# Figures


@dataclass(frozen=True)
class Target:
    """A derived figure and the bound it should meet."""

    name: str
    value: float | None
    unit: str
    bound: float
    at_most: bool

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value <= self.bound if self.at_most else self.value >= self.bound

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "target": f"{'≤' if self.at_most else '≥'} {self.bound:g}",
            "met": self.met,
        }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def targets(dataset: Dataset, results: Results) -> list[Target]:
    ours = results["ours"].median()
    median = {key: samples.median() for key, samples in results.items()}
    scan = median.get("scan")
    indexed = results["scan"].last.get("n_files", dataset.n_files) if "scan" in results else None
    return [
        Target("ours / raw-read floor", ratio(ours, median.get("floor")), "×", 3.0, True),
        Target("speed-up over SimpleITK", ratio(median.get("simpleitk"), ours), "×", 8.0, False),
        Target("speed-up over dcm2niix", ratio(median.get("dcm2niix"), ours), "×", 3.0, False),
        Target("header indexing (scan only)", ratio(indexed, scan), "files/s", 5000, False),
        Target(
            "first slice: scan(1 file) + load",
            scaled(median.get("first_slice"), 1e3),
            "ms",
            5.0,
            True,
        ),
        Target(
            "peak RSS of our load / volume", results["ours"].median("peak_ratio"), "×", 1.25, True
        ),
    ]


def figures(results: Results) -> dict[str, float | None]:
    """Figures reported without a target."""
    after_scan = results.get("slice_after_scan", Samples())
    api = after_scan.last.get("api", "")
    return {
        "import workstation.io (ms)": scaled(results["ours"].median("import_s"), 1e3),
        "ours as a whole process: start + import + load (ms)": scaled(
            results["ours"].median("process_s"), 1e3
        ),
        "of our load, scan alone (ms)": scaled(results.get("scan", Samples()).median(), 1e3),
        f"1 slice of a scanned folder ({api}), first (ms)": scaled(after_scan.median(), 1e3),
        f"1 slice of a scanned folder ({api}), next (ms)": scaled(
            after_scan.median("next_median_s"), 1e3
        ),
        "speed-up over the pydicom loop (×)": ratio(
            results.get("pydicom", Samples()).median(), results["ours"].median()
        ),
        "peak RSS / volume, SimpleITK (×)": results.get("simpleitk", Samples()).median(
            "peak_ratio"
        ),
        "peak RSS / volume, pydicom loop (×)": results.get("pydicom", Samples()).median(
            "peak_ratio"
        ),
    }


# ---------------------------------------------------------------------------------------------
# Printing


def number(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def output_of(facts: dict[str, Any]) -> str:
    if "shape" not in facts:
        return ""
    text = f"{'×'.join(str(n) for n in facts['shape'])} {facts.get('dtype', '')}"
    if "spacing" in facts:
        text += f", spacing {facts['spacing']}"
    if facts.get("files", 1) > 1:
        text += f" ({facts['files']} files)"
    return text


def table(jobs: Iterable[Job], results: Results) -> list[str]:
    ours = results["ours"].median()
    floor = results["floor"].median() if "floor" in results else None
    rows = [("tool", "median ms", "min ms", "× ours", "× floor", "peak RSS/vol", "output")]
    for job in jobs:
        if job.key not in MAIN_ROWS:
            continue
        samples = results[job.key]
        if samples.error is not None:
            rows.append((job.label, "failed", "", "", "", "", samples.error[:60]))
            continue
        rows.append(
            (
                job.label,
                number(scaled(samples.median(), 1e3)),
                number(scaled(samples.minimum(), 1e3)),
                number(ratio(samples.median(), ours), 2),
                number(ratio(samples.median(), floor), 2),
                number(samples.median("peak_ratio"), 2) if "peak_ratio" in samples.last else "",
                output_of(samples.last),
            )
        )
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.ljust(width) if col in (0, 6) else cell.rjust(width)
            for col, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return lines


def target_lines(found: list[Target]) -> list[str]:
    lines = []
    for target in found:
        verdict = {True: "met", False: "NOT MET", None: "n/a"}[target.met]
        bound = f"{'≤' if target.at_most else '≥'} {target.bound:g}"
        digits = 0 if target.unit == "files/s" else 2
        value = f"{number(target.value, digits)} {target.unit}"
        lines.append(f"  {target.name:<36} {value:>16}  target {bound:<6} {verdict}")
    return lines


def report(dataset: Dataset, results: Results, repeat: int) -> list[str]:
    lines = [
        "",
        f"== {dataset.title}: {dataset.n_files} files, {repeat} runs each, warm page cache ==",
        *table(jobs_for(dataset), results),
        "",
        "targets:",
        *target_lines(targets(dataset, results)),
        "",
        "other figures:",
    ]
    found = figures(results)
    width = max(len(name) for name in found)
    for name, value in found.items():
        lines.append(f"  {name:<{width}} {number(value, 2):>10}")
    return lines


# ---------------------------------------------------------------------------------------------
# JSON


def environment() -> dict[str, Any]:
    import numpy
    import pydicom
    import SimpleITK

    toolkit: Any = SimpleITK  # its SWIG API is untyped
    dcm2niix = ""
    if shutil.which("dcm2niix"):
        done = subprocess.run(
            ["dcm2niix", "--version"], check=False, capture_output=True, text=True
        )
        dcm2niix = (done.stdout.strip().splitlines() or [""])[0]
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "pydicom": pydicom.__version__,
        "simpleitk": str(toolkit.Version.VersionString()),
        "dcm2niix": dcm2niix,
    }


def dataset_json(dataset: Dataset, results: Results) -> dict[str, Any]:
    ours = results["ours"].median()
    floor = results["floor"].median() if "floor" in results else None
    tools = {}
    for job in jobs_for(dataset):
        samples = results[job.key]
        tools[job.key] = {
            "label": job.label,
            "median_ms": scaled(samples.median(), 1e3),
            "min_ms": scaled(samples.minimum(), 1e3),
            "samples_ms": [value * 1e3 for value in samples.values()],
            "ratio_to_ours": ratio(samples.median(), ours),
            "ratio_to_floor": ratio(samples.median(), floor),
            "facts": samples.last,
            "error": samples.error,
        }
    return {
        "title": dataset.title,
        "n_files": dataset.n_files,
        "tools": tools,
        "targets": [target.as_json() for target in targets(dataset, results)],
        "figures": figures(results),
    }


# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "workstation-bench",
        help="where the data sets are written once and reused (default: %(default)s)",
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per tool (default 5)")
    parser.add_argument("--quick", action="store_true", help="small data sets: a smoke run")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    datasets = prepare(args.workdir, args.quick)
    document: dict[str, Any] = {"quick": args.quick, "repeat": args.repeat, "datasets": {}}
    for dataset in datasets:
        results = measure(dataset, max(1, args.repeat))
        print("\n".join(report(dataset, results, max(1, args.repeat))), flush=True)
        document["datasets"][dataset.name] = dataset_json(dataset, results)
    elapsed = time.perf_counter() - started
    print(f"\nwhole run: {elapsed:.0f} s ({os.cpu_count()} CPUs)")
    if args.json is not None:
        document["run_seconds"] = elapsed
        document["environment"] = environment()
        args.json.write_text(json.dumps(document, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
