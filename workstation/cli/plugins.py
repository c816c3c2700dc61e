"""``plugins`` (list, ``new``) and ``analyze``: expert modules from the command line.

Neither command imports torch or plugin code in this process: plugins are listed from their
manifests, and ``analyze`` runs the module in the worker process.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from workstation.cli.common import EXIT_OK, UsageError


def plugins_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the stable JSON listing")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    new = actions.add_parser(
        "new",
        help="create a plugin folder (manifest, module, test) that passes its own test",
        description="Create DIR/<id>/ with plugin.toml, a module and its test.",
    )
    new.add_argument("name", help="plugin name, e.g. 'Liver volume'")
    new.add_argument(
        "--dir", type=Path, default=Path.cwd(), help="parent folder (default: the current one)"
    )


def plugins(args: argparse.Namespace) -> int:
    if args.action == "new":
        from workstation.inference.scaffold import create_plugin

        root = create_plugin(args.name, Path(args.dir))
        print(root)
        return EXIT_OK
    from workstation.inference.discovery import discover

    registry = discover()
    if args.json:
        json.dump(registry.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_registry(registry.to_json())
    return EXIT_OK


def _describe_input(item: dict[str, Any]) -> str:
    kinds = "/".join(item["series_kind"]) or "any kind"
    slices = f"≥{item['min_slices']} slices"
    if item["max_slices"]:
        slices = f"{item['min_slices']}..{item['max_slices']} slices"
    phases = ""
    if item["min_phases"] > 1 or item["max_phases"]:
        phases = f", ≥{item['min_phases']} phases"
    return f"{'/'.join(item['modality'])} ({kinds}), {slices}{phases}"


def _print_registry(data: dict[str, Any]) -> None:
    if not data["plugins"]:
        print("No plugins found.")
        return
    for plugin in data["plugins"]:
        state = "available" if plugin["available"] else "unavailable"
        print(
            f"{plugin['id']} {plugin['version'] or '?'}: {plugin['name'] or '(no name)'} "
            f"[{plugin['source']}, {state}] {plugin['location']}"
        )
        for reason in plugin["reasons"]:
            print(f"    ! {reason}")
        for module in plugin["modules"]:
            mark = "+" if module["available"] else "x"
            inputs = "; ".join(_describe_input(item) for item in module["inputs"])
            print(f"  {mark} {module['id']}: {module['name']} — {inputs}")
            if not plugin["reasons"]:
                for reason in module["reasons"]:
                    print(f"      unavailable: {reason}")
            for warning in module["warnings"]:
                print(f"      warning: {warning}")


def analyze_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="file, folder, .zip archive or DICOMDIR")
    parser.add_argument(
        "--module", required=True, help="module id (or plugin-id/module-id), see 'plugins'"
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cuda", "mps", "cpu"),
        default=None,
        help="where to run (default: the settings', else auto: cuda, then mps, then cpu)",
    )
    parser.add_argument(
        "--precision",
        choices=("auto", "float32", "float16", "bfloat16"),
        default="auto",
        help="only precisions the module was tested with are used",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a module parameter (repeatable)",
    )
    parser.add_argument("--time-limit", type=float, default=None, metavar="SECONDS")
    parser.add_argument("--out", type=Path, help="folder for the DICOM SEG and SR (and JSON)")
    parser.add_argument("--json", action="store_true", help="print the stable JSON summary")


def _parameters(items: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--param {item!r}: write NAME=VALUE")
        try:
            values[name] = json.loads(text)
        except ValueError:
            values[name] = text
    return values


def analyze(args: argparse.Namespace) -> int:
    from workstation.inference.analysis import InvalidRequest
    from workstation.inference.analysis import analyze as run_analysis
    from workstation.inference.discovery import ModuleNotFound
    from workstation.inference.jobs import default_pool

    path = Path(args.path)
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")

    def progress(fraction: float, text: str) -> None:
        print(f"{fraction * 100:5.1f} % {text}", file=sys.stderr, flush=True)

    try:
        analysis = run_analysis(
            path,
            args.module,
            device=args.device,
            precision=args.precision,
            parameters=_parameters(args.param),
            out_dir=args.out,
            time_limit_s=args.time_limit,
            on_progress=None if args.json else progress,
        )
    except (ModuleNotFound, InvalidRequest) as error:
        raise UsageError(str(error)) from error
    finally:
        default_pool().shutdown()
    result = analysis.result
    p = result.provenance
    outputs = [str(path) for path in analysis.files.paths] if analysis.files else []
    if args.json:
        summary = {
            "module": p.module_id,
            "plugin": p.plugin_id,
            "version": p.plugin_version,
            "device": p.device,
            "precision": p.precision,
            "duration_s": round(p.duration_s, 3),
            "measurements": result.values,
            "units": result.units,
            "outputs": outputs,
            "series_instance_uid": analysis.stack.series_instance_uid,
            "weights_sha256": p.weights_sha256,
            "findings": [finding.to_json() for finding in result.findings],
            "notes": [*p.notes, *(analysis.files.notes if analysis.files else [])],
        }
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    print(
        f"{p.module_name} ({p.plugin_id} {p.plugin_version}) on "
        f"{analysis.candidate.describe()}: {p.device}, {p.precision}, {p.duration_s:.1f} s"
    )
    for measurement in result.measurements:
        print(f"  {measurement.name}: {measurement.value:.4g} {measurement.unit}")
    for finding in result.findings:
        print(f"  finding: {finding.label or finding.kind} {finding.text}".rstrip())
    for note in p.notes:
        print(f"  note: {note}")
    for path_out in outputs:
        print(f"  wrote {path_out}")
    return EXIT_OK
