"""``import`` and ``studies``: the local study library from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from workstation.cli.common import EXIT_OK, EXIT_PARTIAL, UsageError
from workstation.core.errors import WorkstationError


def import_(args: argparse.Namespace) -> int:
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


def import_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="file, folder, .zip archive or DICOMDIR")
    parser.add_argument("--copy", action="store_true", help="copy into managed storage")
    parser.add_argument("--json", action="store_true", help="print the stable JSON report")


def studies(args: argparse.Namespace) -> int:
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


def studies_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the stable JSON listing")
