"""The desktop application and offscreen rendering from the command line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from workstation.cli.common import EXIT_OK, UsageError


def _check_display() -> None:
    """Say why the window cannot open instead of letting Qt abort the process."""
    if sys.platform.startswith("linux") and os.environ.get("QT_QPA_PLATFORM", "") == "":
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise UsageError(
                "no display to open the window on (DISPLAY is not set); "
                "use `workstation snapshot PATH -o out.png` to render without one"
            )


def gui(paths: list[Path], *, demo: bool) -> int:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"{', '.join(missing)}: no such file or folder")
    _check_display()
    from workstation.app.gui import run_gui

    return run_gui(paths, demo=demo)


def snapshot_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="file, folder, .zip archive or DICOMDIR")
    parser.add_argument("-o", "--output", required=True, type=Path, help="PNG file to write")
    parser.add_argument("--layout", default="1x1", choices=("1x1", "1x2", "2x2", "mpr"))
    parser.add_argument("--preset", help="window preset: soft-tissue, lung, liver, bone, brain…")
    parser.add_argument("--slice", type=int, help="slice index (default: the middle slice)")
    parser.add_argument("--phase", type=int, default=0, help="cine phase")
    parser.add_argument("--size", default="1024x1024", help="image size WIDTHxHEIGHT")
    parser.add_argument("--series", help="series instance UID (default: the largest stack)")


def snapshot(args: argparse.Namespace) -> int:
    from workstation.app.offscreen import render_snapshot

    path = Path(args.path)
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    try:
        width, height = (int(v) for v in str(args.size).lower().split("x"))
    except ValueError as exc:
        raise UsageError(f"--size {args.size}: expected WIDTHxHEIGHT, e.g. 1024x768") from exc
    written = render_snapshot(
        path,
        args.output,
        layout=args.layout,
        preset=args.preset,
        slice_index=args.slice,
        phase=args.phase,
        size=(width, height),
        series_uid=args.series,
    )
    print(written)
    return EXIT_OK
