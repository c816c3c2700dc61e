"""The ``workstation`` command.

Exit status 0 on success; otherwise one line on stderr saying why, never a traceback (an
unexpected failure is written in full to the log file instead).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from workstation import __version__, paths
from workstation.core.errors import WorkstationError

log = logging.getLogger("workstation")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3  # the command ran, but some files could not be used
EXIT_INTERRUPTED = 130


class UsageError(WorkstationError):
    """The command line asks for something that cannot be done."""


def _inspect(args: argparse.Namespace) -> int:
    from workstation.io import inspect_report, scan

    path = Path(args.path)
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    report = inspect_report(scan(path))
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_report(report)
    return EXIT_OK


def _print_report(report: dict[str, Any]) -> None:
    current: tuple[str, str] | None = None
    for entry in report["series"]:
        key = (entry["patient_id"], entry["study_instance_uid"])
        if key != current:
            current = key
            print(
                f"{entry['patient_name'] or '(no name)'} ({entry['patient_id'] or 'no ID'}), "
                f"{_date(entry['study_date'])}, {entry['study_description'] or 'study'} "
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


def _date(text: str) -> str:
    """A DICOM DA (YYYYMMDD) as ISO 8601; anything else as it is."""
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text or "no date"


def _convert(args: argparse.Namespace) -> int:
    from workstation.io import convert, scan

    path = Path(args.path)
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    outdir = Path(args.outdir)
    result = convert(scan(path), outdir)
    for written in result.written:
        print(written)
    for error in result.errors:
        print(f"{error.path}: {error.code.value}: {error.message}", file=sys.stderr)
    if not result.written:
        raise WorkstationError("no image stack could be converted")
    return EXIT_PARTIAL if result.errors else EXIT_OK


def _demo(_: argparse.Namespace) -> int:
    from workstation.io import inspect_report, scan
    from workstation.testing.demo import write_demo_studies

    root = paths.ensure("demo")
    write_demo_studies(root)
    print(f"Demo studies in {root}")
    _print_report(inspect_report(scan(root)))
    return EXIT_OK


def _selftest(_: argparse.Namespace) -> int:
    from workstation.selftest import run_selftest

    return EXIT_OK if run_selftest(print) else EXIT_FAILURE


def _inspect_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="file, folder, .zip archive or DICOMDIR")
    parser.add_argument("--json", action="store_true", help="print the stable JSON report")


def _convert_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="file, folder, .zip archive or DICOMDIR")
    parser.add_argument("outdir", help="folder that receives the .nii.gz and .json files")


def _import(args: argparse.Namespace) -> int:
    from workstation.pacs import import_paths, open_database
    from workstation.pacs.summary import TerminalProgress, failure_reason, import_summary

    path = Path(args.path)
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    with open_database() as db:
        report = import_paths(db, path, copy=args.copy, progress=TerminalProgress(sys.stderr))
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print("\n".join(import_summary(report)))
    reason = failure_reason(report, path)
    if reason is not None:
        raise WorkstationError(reason)
    return EXIT_PARTIAL if report.errors else EXIT_OK


def _import_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="file, folder, .zip archive or DICOMDIR")
    parser.add_argument("--copy", action="store_true", help="copy into managed storage")
    parser.add_argument("--json", action="store_true", help="print the stable JSON report")


def _studies(args: argparse.Namespace) -> int:
    from workstation.pacs import database_path, find_studies, open_database
    from workstation.pacs.summary import studies_json, studies_table

    studies = []
    if database_path().exists():  # listing never creates a database
        with open_database() as db:
            studies = find_studies(db, with_thumbnails=False)
    if args.json:
        json.dump(studies_json(studies), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print("\n".join(studies_table(studies)))
    return EXIT_OK


def _studies_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the stable JSON listing")


Configure = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]

_COMMANDS: dict[str, tuple[str, Configure, Run]] = {
    "inspect": (
        "list the series and stacks found under PATH (files, folders, zip, DICOMDIR)",
        _inspect_args,
        _inspect,
    ),
    "convert": (
        "write each stack under PATH as NIfTI (.nii.gz) with a JSON sidecar",
        _convert_args,
        _convert,
    ),
    "import": ("index PATH into the local study database", _import_args, _import),
    "studies": ("list the studies of the local database", _studies_args, _studies),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workstation",
        description="Radiology workstation: DICOM viewer, expert AI modules, PACS, collaboration.",
    )
    parser.add_argument("--version", action="version", version=f"workstation {__version__}")
    parser.add_argument(
        "--home",
        type=Path,
        help="folder for everything the app keeps "
        "(default: $WORKSTATION_HOME or the user data folder)",
    )
    parser.add_argument("--demo", action="store_true", help="generate and open demo studies")
    parser.add_argument(
        "--selftest",
        action="store_true",
        help="check that this installation decodes compressed DICOM",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, configure, runner) in _COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        configure(sub)
        sub.set_defaults(run=runner)
    return parser


def _setup_logging() -> Path | None:
    try:
        log_dir = paths.ensure("logs")
    except OSError:
        return None
    handler = logging.FileHandler(log_dir / "workstation.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    return log_dir / "workstation.log"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.home is not None:
        paths.set_home(args.home)
    try:
        if getattr(args, "run", None) is not None:
            return int(args.run(args))
        if args.selftest:
            return _selftest(args)
        if args.demo:
            return _demo(args)
        parser.print_help()
        return EXIT_OK
    except KeyboardInterrupt:
        print("workstation: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (``| head``): stop quietly.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115, PTH123 - silence the final flush
        return EXIT_OK
    except UsageError as error:
        print(f"workstation: {error}", file=sys.stderr)
        return EXIT_USAGE
    except WorkstationError as error:
        print(f"workstation: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as error:
        log_file = _setup_logging()
        log.exception("unexpected failure")
        where = f" (details in {log_file})" if log_file else ""
        print(
            f"workstation: unexpected error: {type(error).__name__}: {error}{where}",
            file=sys.stderr,
        )
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
