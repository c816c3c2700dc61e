"""Small valid objects covering every encoding and layout the engine reads (fuzzing seeds)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
)

from workstation.testing.factories import (
    SeriesSpec,
    write_enhanced_mr,
    write_multiframe_xa,
    write_rgb,
    write_series,
    write_single_image,
)

_SMALL = SeriesSpec(rows=12, columns=10, n_slices=2)


def write_seed_files(folder: Path) -> list[Path]:
    """Write the seeds into ``folder``; JPEG baseline is included when dcmtk is installed."""
    folder.mkdir(parents=True, exist_ok=True)
    seeds: list[Path] = []
    for name, transfer_syntax in (
        ("explicit", ExplicitVRLittleEndian),
        ("implicit", ImplicitVRLittleEndian),
        ("big_endian", ExplicitVRBigEndian),
        ("deflated", DeflatedExplicitVRLittleEndian),
        ("rle", RLELossless),
        ("jpeg_ls", JPEGLSLossless),
        ("j2k", JPEG2000Lossless),
    ):
        spec = replace(_SMALL, transfer_syntax=transfer_syntax)
        if transfer_syntax == JPEG2000Lossless:
            # OpenJPEG needs a few dozen pixels per side for its default resolution levels.
            spec = replace(spec, rows=32, columns=40)
        written = write_series(folder / name, spec)
        seeds.append(written.paths[0])
    if shutil.which("dcmcjpeg"):
        spec = replace(
            _SMALL,
            transfer_syntax=JPEGBaseline8Bit,
            bits_stored=8,
            bits_allocated=8,
            rescale_intercept=0.0,
            lossy=True,
        )
        seeds.append(write_series(folder / "jpeg", spec).paths[0])
    mr = replace(_SMALL, modality="MR", rescale_slope=None, rescale_intercept=None, phases=2)
    seeds.append(write_enhanced_mr(folder / "enhanced.dcm", mr).paths[0])
    seeds.append(write_multiframe_xa(folder / "xa.dcm", frames=3, rows=8, columns=6).path)
    seeds.append(write_rgb(folder / "rgb.dcm", frames=2, rows=6, columns=8).path)
    seeds.append(write_single_image(folder / "cr.dcm", rows=10, columns=8).path)
    return seeds
