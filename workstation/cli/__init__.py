"""The ``workstation`` command.

``workstation [PATH ...]`` and ``workstation --demo`` open the desktop application; the
subcommands work without a display. Exit status 0 on success; otherwise one line on stderr
saying why, never a traceback (an unexpected failure is written in full to the log file).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from workstation import __version__, paths
from workstation.cli import engine, library, pacs, plugins, server, viewer
from workstation.cli.common import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
)
from workstation.core.errors import WorkstationError

log = logging.getLogger("workstation")

Configure = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]

_COMMANDS: dict[str, tuple[str, Configure, Run]] = {
    "inspect": (
        "list the series and stacks found under PATH (files, folders, zip, DICOMDIR)",
        engine.inspect_args,
        engine.inspect,
    ),
    "convert": (
        "write each stack under PATH as NIfTI (.nii.gz) with a JSON sidecar",
        engine.convert_args,
        engine.convert,
    ),
    "import": ("index PATH into the local study database", library.import_args, library.import_),
    "studies": (
        "list the studies of the local database",
        library.studies_args,
        library.studies,
    ),
    "pacs": (
        "query, retrieve from and send to PACS nodes (DICOMweb or DIMSE)",
        pacs.pacs_args,
        pacs.pacs,
    ),
    "analyze": (
        "run an expert module headless on the series of PATH it fits (DICOM SEG + SR out)",
        plugins.analyze_args,
        plugins.analyze,
    ),
    "plugins": (
        "list the plugins and their modules with availability; 'plugins new NAME' creates one",
        plugins.plugins_args,
        plugins.plugins,
    ),
    "snapshot": (
        "render PATH as the viewer shows it into a PNG, without a display",
        viewer.snapshot_args,
        viewer.snapshot,
    ),
    "server": (
        "run the collaboration server, or administer it (create-site, create-user, ...)",
        server.server_args,
        server.server,
    ),
}


def _top_level(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=f"workstation {__version__}")
    parser.add_argument(
        "--home",
        type=Path,
        help="folder for everything the app keeps "
        "(default: $WORKSTATION_HOME or the user data folder)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The subcommand parser (``workstation COMMAND ...``)."""
    parser = argparse.ArgumentParser(
        prog="workstation",
        description="Radiology workstation: DICOM viewer, expert AI modules, PACS, collaboration.",
    )
    _top_level(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, configure, runner) in _COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        configure(sub)
        sub.set_defaults(run=runner)
    return parser


def _viewer_parser() -> argparse.ArgumentParser:
    """``workstation [--demo] [PATH ...]``: the desktop application."""
    commands = ", ".join(_COMMANDS)
    parser = argparse.ArgumentParser(
        prog="workstation",
        description="Open the radiology workstation, showing PATH (files, folders, zip, "
        f"DICOMDIR). Commands without a window: {commands} (workstation COMMAND --help).",
    )
    _top_level(parser)
    parser.add_argument("--demo", action="store_true", help="open generated demo studies")
    parser.add_argument(
        "--selftest", action="store_true", help="check that this installation decodes DICOM"
    )
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH")
    return parser


def _is_command(argv: Sequence[str]) -> bool:
    """Whether the first argument that is not an option names a subcommand."""
    skip = False
    for token in argv:
        if skip:
            skip = False
            continue
        if token == "--home":
            skip = True
            continue
        if token.startswith("-"):
            continue
        return token in _COMMANDS
    return False


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


def _run(argv: list[str]) -> int:
    if _is_command(argv):
        args = build_parser().parse_args(argv)
        if args.home is not None:
            paths.set_home(args.home)
        return int(args.run(args))
    args = _viewer_parser().parse_args(argv)
    if args.home is not None:
        paths.set_home(args.home)
    if args.selftest:
        from workstation.selftest import run_selftest

        return EXIT_OK if run_selftest(print) else EXIT_FAILURE
    return viewer.gui(list(args.paths), demo=args.demo)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(arguments)
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
