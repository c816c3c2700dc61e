"""End-to-end time of the cardio module on a 12-slice × 25-phase × 256² cine, on the CPU.

The cine is a generated short-axis case written once as DICOM (300 files; cached under
``--workdir``). Each timed run is a fresh process, as a user's command is:

- ``workstation analyze DIR --module cardio --json``: interpreter start, scanning and loading
  the series, starting the worker (torch import), segmenting all 300 images, measuring;
- the same with ``--out``: plus one DICOM SEG per phase and the SR;
- baselines measured in the same run: reading the same 300 files with pydicom (a Python loop
  over ``dcmread(...).pixel_array``) and with SimpleITK's ``ImageSeriesReader``, each as a
  fresh process too.

Also, in this process: the module's own pipeline on the loaded array (normalise, resample,
locate the heart, the network on every image, back to the acquisition grid), without process
or worker start. The target (docs/cardio.md): ``analyze`` ≤ 10 s on 2 CPU cores.

    .venv/bin/python tests/benchmarks/bench_cardio.py [--repeat 3] [--threads 2] [--json OUT]

Not collected by pytest (no ``test_`` prefix); it never fails on speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "plugins" / "cardio"
SHAPE = {"n_slices": 12, "n_phases": 25, "rows": 256, "columns": 256, "pixel_spacing": 1.4}
SEED = 20_900
TARGET_S = 10.0

READ_PYDICOM = """
import sys, time, pathlib, numpy, pydicom
start = time.perf_counter()
files = sorted(pathlib.Path(sys.argv[1]).iterdir())
pixels = numpy.stack([pydicom.dcmread(f).pixel_array for f in files])
print(time.perf_counter() - start)
"""
READ_SITK = """
import sys, time, SimpleITK as sitk
start = time.perf_counter()
reader = sitk.ImageSeriesReader()
reader.SetFileNames(reader.GetGDCMSeriesFileNames(sys.argv[1]))
array = sitk.GetArrayFromImage(reader.Execute())
print(time.perf_counter() - start)
"""


def case_folder(workdir: Path) -> Path:
    """The benchmark cine as DICOM, written on the first run."""
    sys.path.insert(0, str(PLUGIN))
    from cardio_plugin.synth import GENERATOR_VERSION, write_case

    folder = workdir / f"cardio-{SEED}-{GENERATOR_VERSION}"
    marker = folder / "truth.json"
    if not marker.is_file():
        print(f"writing the benchmark cine into {folder} ...", flush=True)
        write_case(folder, SEED, **SHAPE)
    return folder / "dicom"


def whole_process(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-2000:]}")
    return elapsed, done.stdout


def warm_cache(folder: Path) -> None:
    for path in folder.iterdir():
        path.read_bytes()


def pipeline_only(folder: Path, threads: int) -> dict[str, float]:
    """The module's pipeline in this process on the loaded series (no process starts)."""
    import torch
    from safetensors.torch import load_file

    sys.path.insert(0, str(PLUGIN))
    from cardio_plugin import network
    from cardio_plugin.segment import segment_cine

    from workstation.io import load_stack, scan

    torch.set_num_threads(threads)
    start = time.perf_counter()
    (stack,) = scan(folder).stacks
    volume = load_stack(stack)
    load_s = time.perf_counter() - start
    model = network.for_inference(
        network.build(load_file(str(REPO / "weights" / "cardio" / "unet.safetensors")))
    )
    spacing = volume.spacing_ijk
    segment_cine(volume.array, (spacing[1], spacing[0]), model)  # warm-up (oneDNN kernels)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        segment_cine(volume.array, (spacing[1], spacing[0]), model)
        times.append(time.perf_counter() - start)
    return {"scan_and_load_s": load_s, "segment_cine_s": statistics.median(times)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per tool")
    parser.add_argument("--threads", type=int, default=2, help="the module's torch threads")
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "workstation-bench"
    )
    parser.add_argument("--json", type=Path, help="write every sample and figure here")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    folder = case_folder(args.workdir)
    n_files = sum(1 for _ in folder.iterdir())
    env = dict(os.environ)
    home = Path(tempfile.mkdtemp(prefix="bench-cardio-home-"))
    out = Path(tempfile.mkdtemp(prefix="bench-cardio-out-"))
    analyze = [sys.executable, "-m", "workstation", "--home", str(home), "analyze", str(folder)]
    analyze += ["--module", "cardio", "--device", "cpu", "--param", f"threads={args.threads}"]
    tools = {
        "pydicom read (baseline)": [sys.executable, "-c", READ_PYDICOM, str(folder)],
        "SimpleITK read (baseline)": [sys.executable, "-c", READ_SITK, str(folder)],
        "workstation analyze --json": [*analyze, "--json"],
        "workstation analyze --json --out": [*analyze, "--json", "--out", str(out)],
    }
    samples: dict[str, list[float]] = {name: [] for name in tools}
    inner: dict[str, list[float]] = {name: [] for name in tools}
    module_s: list[float] = []
    for round_ in range(args.repeat + 1):  # round 0 warms caches and is discarded
        for name, command in tools.items():
            warm_cache(folder)
            elapsed, stdout = whole_process(command, env)
            if round_ == 0:
                continue
            samples[name].append(elapsed)
            if name.startswith("workstation"):
                summary = json.loads(stdout)
                module_s.append(float(summary["duration_s"]))
            else:
                inner[name].append(float(stdout.strip()))
    pipeline = pipeline_only(folder, args.threads)

    baseline = statistics.median(samples["pydicom read (baseline)"])
    print(f"\ncine: 12 slices × 25 phases × 256² ({n_files} files), {args.threads} torch threads")
    print(f"{'tool (fresh process)':36} {'median s':>9} {'min s':>7} {'× pydicom read':>15}")
    figures: dict[str, Any] = {}
    for name, values in samples.items():
        median = statistics.median(values)
        figures[name] = {"median_s": median, "min_s": min(values), "samples_s": values}
        print(f"{name:36} {median:9.2f} {min(values):7.2f} {median / baseline:15.2f}")
    end_to_end = figures["workstation analyze --json"]["median_s"]
    print(
        f"\nworker run (torch import, weights, segmentation, measures): median "
        f"{statistics.median(module_s):.2f} s"
    )
    print(
        f"in-process: scan + load {pipeline['scan_and_load_s']:.2f} s, "
        f"segment_cine {pipeline['segment_cine_s']:.2f} s"
    )
    met = "met" if end_to_end <= TARGET_S else "NOT MET"
    print(f"target: analyze end to end ≤ {TARGET_S:.0f} s: {end_to_end:.2f} s, {met}")
    if args.json:
        record = {
            "shape": SHAPE,
            "threads": args.threads,
            "figures": figures,
            "worker_run_s": module_s,
            "pipeline": pipeline,
            "target_s": TARGET_S,
            "target_met": end_to_end <= TARGET_S,
            "python": platform.python_version(),
            "machine": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
        }
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
