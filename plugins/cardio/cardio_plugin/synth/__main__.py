"""Write generated cine short-axis cases as DICOM: ``python -m cardio_plugin.synth OUT``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cardio_plugin.synth.dicom import write_case


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cardio_plugin.synth",
        description="Write synthetic cine short-axis MR cases (DICOM + truth.json + labels.npz).",
    )
    parser.add_argument("out", type=Path, help="folder; each case goes into case-SEED/")
    parser.add_argument("--seed", type=int, nargs="+", default=[20_000])
    parser.add_argument("--rows", type=int)
    parser.add_argument("--columns", type=int)
    parser.add_argument("--slices", type=int, dest="n_slices")
    parser.add_argument("--phases", type=int, dest="n_phases")
    parser.add_argument("--pixel-spacing", type=float, dest="pixel_spacing")
    parser.add_argument("--description", default="Cine SAX bSSFP")
    args = parser.parse_args(argv)
    overrides = {
        name: getattr(args, name)
        for name in ("rows", "columns", "n_slices", "n_phases", "pixel_spacing")
        if getattr(args, name) is not None
    }
    for seed in args.seed:
        folder = args.out / f"case-{seed}"
        written = write_case(folder, seed, description=args.description, **overrides)
        acq, truth = written.case.acquisition, written.truth
        summary = {
            "folder": str(written.folder),
            "shape": [acq.n_phases, acq.n_slices, acq.rows, acq.columns],
            "ed_phase": truth.ed_phase,
            "es_phase": truth.es_phase,
            **{k: round(v, 2) for k, v in truth.measured.items()},
        }
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
