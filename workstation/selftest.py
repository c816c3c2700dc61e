"""``workstation --selftest``: proof that this installation decodes compressed DICOM.

It writes a small phantom image in several lossless compressed transfer syntaxes with the
installed encoders, reads each back through the engine, and compares every pixel. In a
PyInstaller bundle this catches codec plugins that were not collected.
"""

from __future__ import annotations

import platform
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from workstation import __version__

_SYNTAXES = (
    ("1.2.840.10008.1.2.5", "RLE Lossless", "pydicom"),
    ("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless", "pyjpegls"),
    ("1.2.840.10008.1.2.4.90", "JPEG 2000 Lossless", "pylibjpeg"),
)


def _phantom() -> np.ndarray:
    """A 64 × 64 12-bit image with edges, a gradient and a disc: exact decoding shows."""
    j, i = np.mgrid[0:64, 0:64]
    image = (i * 40 + j * 13) % 4096
    image[(i - 32) ** 2 + (j - 28) ** 2 < 200] = 3000
    return np.asarray(image, dtype=np.uint16)


def _write(path: Path, uid: str, plugin: str, pixels: np.ndarray) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture
    dataset.SOPInstanceUID = generate_uid()
    dataset.StudyInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.Modality = "OT"
    dataset.Rows, dataset.Columns = pixels.shape
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 12, 11
    dataset.PixelRepresentation = 0
    dataset.PixelData = pixels.tobytes()
    dataset.compress(uid, pixels, encoding_plugin=plugin)
    dataset.save_as(path, enforce_file_format=True)


def run_selftest(say: Callable[[str], None]) -> bool:
    """Print one line per codec and a verdict; True when every codec decodes exactly."""
    from workstation.io import load_stack, scan

    say(
        f"workstation {__version__} selftest (Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()})"
    )
    pixels = _phantom()
    passed = 0
    with tempfile.TemporaryDirectory(prefix="workstation-selftest-") as folder:
        for uid, name, plugin in _SYNTAXES:
            path = Path(folder) / f"{uid}.dcm"
            try:
                _write(path, uid, plugin, pixels)
                result = scan(path)
                if result.errors or len(result.stacks) != 1:
                    raise RuntimeError(
                        "; ".join(e.message for e in result.errors) or "no image found"
                    )
                volume = load_stack(result.stacks[0])
                exact = np.array_equal(volume.array[0], pixels)
            except Exception as error:  # noqa: BLE001 - report every failure, keep going
                say(f"  {name:20s} FAILED: {type(error).__name__}: {error}")
                continue
            say(f"  {name:20s} {'OK' if exact else 'FAILED: pixels differ'}")
            passed += exact
    ok = passed == len(_SYNTAXES)
    say(
        f"{'OK' if ok else 'FAILED'}: {passed} of {len(_SYNTAXES)} compressed transfer "
        "syntaxes decode exactly"
    )
    return ok
