"""``inspect`` and ``convert``: the DICOM engine from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from workstation.cli.common import EXIT_OK, EXIT_PARTIAL, UsageError, iso_date
from workstation.core.errors import WorkstationError


def inspect(args: argparse.Namespace) -> int:
    from workstation.io import inspect_report, scan

    path = Path(args.path)
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    report = inspect_report(scan(path))
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_report(report)
    return EXIT_OK


def print_report(report: dict[str, Any]) -> None:
    current: tuple[str, str] | None = None
    for entry in report["series"]:
        key = (entry["patient_id"], entry["study_instance_uid"])
        if key != current:
            current = key
            print(
                f"{entry['patient_name'] or '(no name)'} ({entry['patient_id'] or 'no ID'}), "
                f"{iso_date(entry['study_date'])}, {entry['study_description'] or 'study'} "
                f"{entry['study_instance_uid']}"
            )
        spacing = " × ".join(f"{s:.3g}" for s in entry["spacing_ijk"])
        phases = f", {entry['phases']} phases" if entry["phases"] else ""
        print(
            f"  {entry['modality'] or '??':3s} #{entry['series_number'] or '-'} "
            f"{entry['series_description'] or '(no description)'} [stack {entry['stack']}]: "
            f"{entry['kind']} {tuple(entry['shape'])} {entry['dtype']}, {spacing} mm{phases}, "
            f"{entry['n_files']} file(s)"
        )
        for warning in entry["warnings"]:
            print(f"      ! {warning['code']}: {warning['message']}")
    if not report["series"]:
        print("No images found.")
    for error in report["errors"]:
        print(f"  x {error['path']}: {error['code']}: {error['message']}")


def convert(args: argparse.Namespace) -> int:
    from workstation.io import convert as convert_stacks
    from workstation.io import scan

    path = Path(args.path)
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    outdir = Path(args.outdir)
    result = convert_stacks(scan(path), outdir)
    for written in result.written:
        print(written)
    for error in result.errors:
        print(f"{error.path}: {error.code.value}: {error.message}", file=sys.stderr)
    if not result.written:
        raise WorkstationError("no image stack could be converted")
    return EXIT_PARTIAL if result.errors else EXIT_OK


def inspect_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="file, folder, .zip archive or DICOMDIR")
    parser.add_argument("--json", action="store_true", help="print the stable JSON report")


def convert_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="file, folder, .zip archive or DICOMDIR")
    parser.add_argument("outdir", help="folder that receives the .nii.gz and .json files")
