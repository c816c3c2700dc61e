"""PACS retrieval benchmark: a 400 × 512² study from a local Orthanc into the library, by WADO-RS
and by C-GET, against dcmtk's ``getscu`` fetching the same study in the same run.

Usage::

    python tests/benchmarks/bench_pacs.py [--workdir DIR] [--repeat N] [--quick] [--json OUT]

Orthanc (``/usr/sbin/Orthanc`` + DICOMweb plugin) runs on loopback ports with its storage under
``WORKDIR/pacs-orthanc`` (written once, reused while its manifest matches). Each timed run goes
into a fresh target: a new folder for ``getscu``, a new library (home folder) for ours. One
warm-up round is discarded, then ``--repeat`` rounds with the tools interleaved.

- **getscu** (dcmtk) is timed as a whole process writing one file per instance (its default
  PDU size, and ``--max-pdu 131072``; the faster is the baseline). ``TCP_NODELAY=1`` is set for
  it and for Orthanc (DCMTK's switch for turning Nagle's algorithm off).
- **ours** is timed in-process around :func:`workstation.pacs.sync.retrieve_study`: listing the
  series and instances (resume check), the transfer, filing every instance into managed
  storage (atomic, hash-named) and indexing it in the study database, and the thumbnails.
- **ours, transfer only**: the same retrieval into a sink that drops the bytes (the network
  side alone), to tell transfer from filing when profiling.
- **C-GET (pynetdicom)**: both C-GET measurements again with the lean receiver turned off
  (``DimseSource.lean_get``), for comparison in the same run; each C-GET measurement checks
  that it ran through the receiver it names (``DimseSource.get_path``).

Target: ours ≤ 1.2 × getscu. Prints the table and the ratios; never fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "pacs"))

from orthanc_server import HOST, Orthanc  # noqa: E402

from workstation.pacs.dicomweb import DicomWebSource  # noqa: E402
from workstation.pacs.dimse import DimseSource  # noqa: E402
from workstation.pacs.nodes import parse_node_spec  # noqa: E402
from workstation.pacs.source import DataSource  # noqa: E402
from workstation.pacs.sync import retrieve_study  # noqa: E402
from workstation.testing.factories import SeriesSpec, write_series  # noqa: E402

GETSCU = Path("/usr/bin/getscu")
OUR_AE = "BENCHWS"
TARGET = 1.2
FORMAT = 1


def prepare(workdir: Path, n_slices: int, matrix: int) -> tuple[Orthanc, str, int]:
    """A running Orthanc holding the benchmark study (uploaded once); (server, study UID, bytes)."""
    folder = workdir / f"pacs-orthanc-{n_slices}x{matrix}"
    manifest_path = folder / "manifest.json"
    wanted = {"format": FORMAT, "n_slices": n_slices, "matrix": matrix}
    manifest: dict[str, Any] = {}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
    if {k: manifest.get(k) for k in wanted} != wanted:
        shutil.rmtree(folder, ignore_errors=True)
        manifest = {}
    ports = manifest.get("ports", {})
    server = Orthanc(
        folder, aet="BENCHPACS", http_port=ports.get("http", 0), dicom_port=ports.get("dicom", 0)
    )
    try:
        server.start()
    except RuntimeError:  # the remembered ports are taken: new ones, same storage
        server = Orthanc(folder, aet="BENCHPACS")
        server.start()
    if not manifest:
        print(f"writing and uploading {n_slices} × {matrix}² (once)...", file=sys.stderr)
        with tempfile.TemporaryDirectory() as scratch:
            spec = SeriesSpec(rows=matrix, columns=matrix, n_slices=n_slices, shuffle=True)
            written = write_series(Path(scratch), spec)
            server.upload(written.paths)
            size = sum(path.stat().st_size for path in written.paths)
        manifest = {
            **wanted,
            "study": written.study_instance_uid,
            "bytes": size,
            "ports": {"http": server.http_port, "dicom": server.dicom_port},
        }
        manifest_path.write_text(json.dumps(manifest, indent=2))
    else:
        manifest["ports"] = {"http": server.http_port, "dicom": server.dicom_port}
        manifest_path.write_text(json.dumps(manifest, indent=2))
    if server.instance_count() != n_slices:
        raise RuntimeError(f"Orthanc holds {server.instance_count()} instances, not {n_slices}")
    return server, str(manifest["study"]), int(manifest["bytes"])


def run_getscu(server: Orthanc, study: str, max_pdu: int | None) -> float:
    with tempfile.TemporaryDirectory() as target:
        command = [str(GETSCU), "-aet", OUR_AE, "-aec", server.aet, "-S"]
        if max_pdu is not None:
            command += ["--max-pdu", str(max_pdu)]
        command += [
            "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
            "-od", target, HOST, str(server.dicom_port),
        ]  # fmt: skip
        os.sync()  # every run starts without the last one's writes still being flushed
        started = time.perf_counter()
        subprocess.run(command, check=True, env={**os.environ, "TCP_NODELAY": "1"})
        seconds = time.perf_counter() - started
        count = sum(1 for _ in Path(target).iterdir())
    if count == 0:
        raise RuntimeError("getscu fetched nothing")
    return seconds


def _check_path(source: DataSource, path: str | None) -> None:
    """A C-GET ran through the receiver it was meant to (``DimseSource.get_path``)."""
    used = getattr(source, "get_path", None)
    if path is not None and used != path:
        raise RuntimeError(f"C-GET ran through {used!r}, not {path!r}")


def run_ours(
    make_source: Callable[[], DataSource], study: str, expected: int, path: str | None = None
) -> float:
    with tempfile.TemporaryDirectory() as home:
        source = make_source()
        try:
            os.sync()  # every run starts without the last one's writes still being flushed
            started = time.perf_counter()
            report = retrieve_study(source, study, db_path=Path(home) / "studies.sqlite")
            seconds = time.perf_counter() - started
            _check_path(source, path)
        finally:
            source.close()
    if report.added != expected or not report.complete:
        raise RuntimeError(f"ours fetched {report.added} of {expected}")
    return seconds


class _Drop:
    def __init__(self) -> None:
        self.count = 0

    def put(self, data: bytes) -> None:
        self.count += 1


def run_transfer_only(
    make_source: Callable[[], DataSource], study: str, path: str | None = None
) -> float:
    source = make_source()
    try:
        sink = _Drop()
        started = time.perf_counter()
        for series in source.find_series(study):
            source.find_instances(study, series.series_instance_uid)
            source.retrieve(study, series.series_instance_uid, sink=sink)
        seconds = time.perf_counter() - started
        _check_path(source, path)
        return seconds
    finally:
        source.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "workstation-bench",
        help="where the Orthanc storage is kept between runs",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--quick", action="store_true", help="40 × 128²: a smoke run")
    parser.add_argument("--json", type=Path, help="also write every sample as JSON here")
    args = parser.parse_args(argv)
    if not GETSCU.exists():
        print(f"{GETSCU} is missing (apt-get install dcmtk)", file=sys.stderr)
        return 1
    n_slices, matrix = (40, 128) if args.quick else (400, 512)
    args.workdir.mkdir(parents=True, exist_ok=True)
    server, study, size = prepare(args.workdir, n_slices, matrix)
    try:
        wado_node = parse_node_spec(server.dicomweb_spec)
        dimse_node = parse_node_spec(server.dimse_spec)

        def wado() -> DataSource:
            return DicomWebSource(wado_node)

        def cget() -> DataSource:
            return DimseSource(dimse_node, ae_title=OUR_AE)

        def cget_pynetdicom() -> DataSource:
            source = DimseSource(dimse_node, ae_title=OUR_AE)
            source.lean_get = False
            return source

        tools: dict[str, Callable[[], float]] = {
            "getscu (dcmtk, default PDU)": lambda: run_getscu(server, study, None),
            "getscu (dcmtk, 128 KiB PDU)": lambda: run_getscu(server, study, 131072),
            "ours: WADO-RS into the library": lambda: run_ours(wado, study, n_slices),
            "ours: C-GET into the library": lambda: run_ours(cget, study, n_slices, "lean"),
            "ours: C-GET (pynetdicom) into the library": lambda: run_ours(
                cget_pynetdicom, study, n_slices, "pynetdicom"
            ),
            "ours: WADO-RS transfer only": lambda: run_transfer_only(wado, study),
            "ours: C-GET transfer only": lambda: run_transfer_only(cget, study, "lean"),
            "ours: C-GET (pynetdicom) transfer only": lambda: run_transfer_only(
                cget_pynetdicom, study, "pynetdicom"
            ),
        }
        samples: dict[str, list[float]] = {name: [] for name in tools}
        for round_number in range(args.repeat + 1):
            for name, tool in tools.items():
                seconds = tool()
                if round_number:  # round 0 warms caches up and is discarded
                    samples[name].append(seconds)
            print(f"round {round_number}/{args.repeat} done", file=sys.stderr)
    finally:
        server.stop()

    medians = {name: statistics.median(values) for name, values in samples.items()}
    baseline_name = min((n for n in medians if n.startswith("getscu")), key=lambda n: medians[n])
    baseline = medians[baseline_name]
    megabytes = size / 1e6
    print(f"\nStudy: {n_slices} × {matrix}² ({megabytes:.0f} MB), Orthanc on loopback")
    print(f"{'tool':42s} {'median s':>9s} {'min s':>7s} {'MB/s':>7s} {'× getscu':>9s}")
    for name, values in samples.items():
        median = medians[name]
        print(
            f"{name:42s} {median:9.3f} {min(values):7.3f} {megabytes / median:7.0f} "
            f"{median / baseline:9.2f}"
        )
    print(f"\nbaseline: {baseline_name}")
    verdicts = {}
    for name in ("ours: WADO-RS into the library", "ours: C-GET into the library"):
        ratio = medians[name] / baseline
        verdicts[name] = ratio
        state = "met" if ratio <= TARGET else "NOT MET"
        print(f"{name}: {ratio:.2f} × getscu (target ≤ {TARGET}): {state}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "study": {"n_slices": n_slices, "matrix": matrix, "bytes": size},
                    "samples": samples,
                    "baseline": baseline_name,
                    "ratios": verdicts,
                    "target": TARGET,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
