"""Every DICOM file that pydicom and nibabel ship in their wheels loads or yields a named error.

Where pydicom itself decodes a file, the engine must give the same values (after the modality
rescale); where it does not, the engine must say why with one of the error codes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import nibabel
import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut

from workstation.core.errors import ErrorCode
from workstation.core.volume import StackKind
from workstation.io import load_tolerant, scan

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
NIBABEL_ROOT = Path(nibabel.__file__).parent


def _corpus() -> list[Path]:
    files = [p for p in sorted(PYDICOM_FILES.rglob("*")) if p.is_file()]
    files += sorted(NIBABEL_ROOT.rglob("*.dcm"))
    return files


CORPUS = _corpus()


def test_the_corpus_is_there() -> None:
    # The wheels ship these files; if they stop doing so this test must say it, not pass empty.
    assert len(CORPUS) > 80
    assert any(p.suffix == ".dcm" for p in CORPUS if NIBABEL_ROOT in p.parents)


def _reference(path: Path) -> np.ndarray | None:
    """pydicom's own values for a single-frame grey image, or None when it cannot decode."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            dataset = pydicom.dcmread(path, force=True)
            pixels = dataset.pixel_array
        except Exception:  # noqa: BLE001 - pydicom failing is a fact the test records
            return None
        if dataset.get("SamplesPerPixel", 1) != 1 or dataset.get("NumberOfFrames", 1) not in (
            1,
            "1",
            None,
        ):
            return None
        if "PerFrameFunctionalGroupsSequence" in dataset:
            return None
        return np.asarray(apply_modality_lut(pixels, dataset))


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_file_loads_or_reports_a_named_error(path: Path) -> None:
    result = scan(path)
    codes = {error.code for error in result.errors}
    assert codes <= set(ErrorCode)
    if not result.stacks:
        # Nothing to show: a non-image object, or a named error.
        assert result.non_image >= 1 or result.errors, path
        return
    for stack in result.stacks:
        volume, loaded, errors = load_tolerant(stack)
        assert all(error.code in set(ErrorCode) for error in errors)
        if volume is None:
            assert errors, "a stack that does not load must say why"
            continue
        assert volume.array.shape == loaded.shape
        assert str(volume.array.dtype) == loaded.dtype
    reference = _reference(path)
    if reference is not None and len(result.stacks) == 1:
        volume, _, _ = load_tolerant(result.stacks[0])
        assert volume is not None, f"pydicom decodes {path.name} but the engine does not"
        if volume.kind in (StackKind.IMAGE2D, StackKind.VOLUME) and volume.array.shape[0] == 1:
            expected = reference
            if volume.array.dtype.kind == "f":  # fractional rescale: float32 of pydicom's float64
                expected = reference.astype(volume.array.dtype)
            np.testing.assert_array_equal(volume.array[0], expected)
