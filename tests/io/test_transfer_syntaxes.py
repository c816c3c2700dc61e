"""Every common transfer syntax decodes; lossless ones give exactly the written values."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from workstation.core.volume import StackKind
from workstation.testing.factories import SeriesSpec, write_multiframe_xa, write_rgb, write_series

from .conftest import warning_codes

LOSSLESS = [
    ImplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    DeflatedExplicitVRLittleEndian,
    RLELossless,
    JPEGLSLossless,
    JPEG2000Lossless,
]
DCMTK_LOSSLESS = [JPEGLossless, JPEGLosslessSV1]
LOSSY = [JPEGLSNearLossless, JPEG2000]
SPEC = SeriesSpec(shuffle=True, n_slices=4)


@pytest.mark.parametrize("transfer_syntax", LOSSLESS, ids=lambda uid: uid.name)
def test_lossless_syntaxes_give_the_written_values(tmp_path, load_one, transfer_syntax) -> None:
    written = write_series(tmp_path, replace(SPEC, transfer_syntax=transfer_syntax))
    stack, volume = load_one(tmp_path)
    assert stack.transfer_syntaxes == (transfer_syntax,)
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array.astype(np.float64), written.values)
    np.testing.assert_allclose(volume.affine, written.affine, atol=1e-4)
    assert "lossy_compression" not in warning_codes(stack)


@pytest.mark.dcmtk
@pytest.mark.parametrize("transfer_syntax", DCMTK_LOSSLESS, ids=lambda uid: uid.name)
def test_jpeg_lossless_written_by_dcmtk(tmp_path, load_one, transfer_syntax) -> None:
    written = write_series(tmp_path, replace(SPEC, transfer_syntax=transfer_syntax))
    _, volume = load_one(tmp_path)
    np.testing.assert_array_equal(volume.array.astype(np.float64), written.values)


def _decoded_by(path, plugin: str) -> np.ndarray:
    """pydicom's values for one file with a given decoder plugin."""
    dataset = pydicom.dcmread(path)
    pixels = pydicom.pixels.pixel_array(dataset, decoding_plugin=plugin)
    return np.asarray(apply_modality_lut(pixels, dataset))


def _assert_lossy_jpeg(volume, written, frames, tolerance: int = 2) -> None:
    # Lossy JPEG decoders may round the inverse DCT differently (±1): compare with pydicom
    # using the same decoder the engine picks, and with the factory's values within that.
    expected = np.stack([_decoded_by(path, "pylibjpeg") for path in frames])
    np.testing.assert_array_equal(volume.array.reshape(expected.shape), expected)
    assert np.abs(volume.array.astype(np.float64) - written.values).max() <= tolerance


@pytest.mark.dcmtk
def test_jpeg_extended_12_bit(tmp_path, load_one) -> None:
    written = write_series(tmp_path, replace(SPEC, transfer_syntax=JPEGExtended12Bit))
    stack, volume = load_one(tmp_path)
    assert "lossy_compression" in warning_codes(stack)
    np.testing.assert_array_equal(volume.array.astype(np.float64), written.values)


@pytest.mark.dcmtk
def test_jpeg_baseline_8_bit(tmp_path, load_one) -> None:
    spec = replace(
        SPEC,
        transfer_syntax=JPEGBaseline8Bit,
        bits_allocated=8,
        bits_stored=8,
        rescale_intercept=0.0,
    )
    written = write_series(tmp_path, spec)
    stack, volume = load_one(tmp_path)
    assert volume.array.dtype == np.uint8
    assert "lossy_compression" in warning_codes(stack)
    _assert_lossy_jpeg(volume, written, [written.slice_paths[(0, k)] for k in range(4)])


@pytest.mark.parametrize("transfer_syntax", LOSSY, ids=lambda uid: uid.name)
def test_lossy_syntaxes_match_pydicom_and_are_flagged(tmp_path, load_one, transfer_syntax) -> None:
    written = write_series(tmp_path, replace(SPEC, transfer_syntax=transfer_syntax))
    stack, volume = load_one(tmp_path)
    assert "lossy_compression" in warning_codes(stack)
    np.testing.assert_array_equal(volume.array.astype(np.float64), written.values)


@pytest.mark.parametrize(
    ("photometric", "planar", "transfer_syntax"),
    [
        ("RGB", 0, ExplicitVRLittleEndian),
        ("RGB", 1, ExplicitVRLittleEndian),
        ("RGB", 0, RLELossless),
        ("RGB", 0, JPEGLSLossless),
        ("RGB", 0, JPEG2000Lossless),
        ("YBR_FULL", 0, ExplicitVRLittleEndian),
    ],
)
def test_multiframe_colour(tmp_path, load_one, photometric, planar, transfer_syntax) -> None:
    written = write_rgb(
        tmp_path / "rgb.dcm",
        frames=3,
        photometric=photometric,
        planar_configuration=planar,
        transfer_syntax=transfer_syntax,
    )
    stack, volume = load_one(tmp_path / "rgb.dcm")
    assert stack.kind is StackKind.RGB
    assert volume.array.shape == (3, 36, 44, 3)
    np.testing.assert_array_equal(volume.array, written.values)


@pytest.mark.dcmtk
def test_ybr_full_422_jpeg_colour(tmp_path, load_one) -> None:
    written = write_rgb(
        tmp_path / "ybr.dcm", frames=2, photometric="YBR_FULL_422", transfer_syntax=JPEGBaseline8Bit
    )
    _, volume = load_one(tmp_path / "ybr.dcm")
    assert volume.array.shape == (2, 36, 44, 3)
    # Chroma upsampling of 4:2:2 differs between decoders too.
    _assert_lossy_jpeg(volume, written, [written.path], tolerance=4)


def test_classic_multiframe_without_positions(tmp_path, load_one) -> None:
    written = write_multiframe_xa(tmp_path / "xa.dcm", frames=9)
    stack, volume = load_one(tmp_path / "xa.dcm")
    assert stack.kind is StackKind.MULTIFRAME
    np.testing.assert_array_equal(volume.array.astype(np.float64), written.values)
