"""Every transfer syntax the factories claim: pydicom decodes the values the factory returns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom import uid
from pydicom.pixels.processing import apply_modality_lut

from workstation.testing.factories import (
    SUPPORTED_TRANSFER_SYNTAXES,
    SeriesSpec,
    default_stored,
    write_series,
)

DCMTK = {uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit, uid.JPEGLossless, uid.JPEGLosslessSV1}
LOSSY = {uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit, uid.JPEGLSNearLossless, uid.JPEG2000}


def spec_for(transfer_syntax: str, **changes: object) -> SeriesSpec:
    """A small series in a pixel format the syntax can hold (baseline JPEG is 8-bit only)."""
    fields: dict[str, object] = {"transfer_syntax": transfer_syntax, "n_slices": 3}
    if transfer_syntax == uid.JPEGBaseline8Bit:
        fields.update(bits_allocated=8, bits_stored=8, rescale_intercept=-128.0)
    fields.update(changes)
    return SeriesSpec(**fields)  # type: ignore[arg-type]


def syntax_param(transfer_syntax: str) -> pytest.param:  # type: ignore[valid-type]
    marks = [pytest.mark.dcmtk] if transfer_syntax in DCMTK else []
    return pytest.param(transfer_syntax, marks=marks, id=uid.UID(transfer_syntax).keyword)


def test_the_list_is_complete() -> None:
    assert set(SUPPORTED_TRANSFER_SYNTAXES) == {
        uid.ImplicitVRLittleEndian,
        uid.ExplicitVRLittleEndian,
        uid.ExplicitVRBigEndian,
        uid.DeflatedExplicitVRLittleEndian,
        uid.RLELossless,
        uid.JPEGLSLossless,
        uid.JPEGLSNearLossless,
        uid.JPEG2000Lossless,
        uid.JPEG2000,
        uid.JPEGBaseline8Bit,
        uid.JPEGExtended12Bit,
        uid.JPEGLossless,
        uid.JPEGLosslessSV1,
    }


@pytest.mark.parametrize(
    "transfer_syntax", [syntax_param(ts) for ts in SUPPORTED_TRANSFER_SYNTAXES]
)
def test_values_round_trip(tmp_path: Path, transfer_syntax: str) -> None:
    spec = spec_for(transfer_syntax)
    written = write_series(tmp_path, spec)
    source = default_stored(spec.shape, spec.bits_stored, spec.signed, written.stored.dtype)
    for k in range(spec.n_slices):
        ds = pydicom.dcmread(written.slice_paths[(0, k)])
        assert ds.file_meta.TransferSyntaxUID == transfer_syntax
        decoded = ds.pixel_array
        np.testing.assert_array_equal(decoded, written.stored[k])
        np.testing.assert_array_equal(apply_modality_lut(decoded, ds), written.values[k])
        if transfer_syntax in LOSSY:
            assert ds.LossyImageCompression == "01"
        else:
            assert "LossyImageCompression" not in ds
    if transfer_syntax in LOSSY:
        # Lossy, but close: JPEG-LS near-lossless within its NEAR of 2, the others within 2 %.
        error = np.abs(written.stored.astype(np.int64) - source)
        assert error.max() > 0
        if transfer_syntax == uid.JPEGLSNearLossless:
            assert error.max() <= 2
        assert error.mean() < 0.02 * int(source.max())
    else:
        np.testing.assert_array_equal(written.stored, source)


@pytest.mark.parametrize(
    "transfer_syntax",
    [
        syntax_param(ts)
        for ts in (
            uid.ExplicitVRBigEndian,
            uid.ImplicitVRLittleEndian,
            uid.DeflatedExplicitVRLittleEndian,
            uid.RLELossless,
            uid.JPEGLSLossless,
            uid.JPEG2000Lossless,
            uid.JPEGLossless,
            uid.JPEGLosslessSV1,
        )
    ],
)
def test_signed_16_bit_lossless(tmp_path: Path, transfer_syntax: str) -> None:
    rng = np.random.default_rng(1)
    stored = rng.integers(-32768, 32767, size=(3, 32, 40), endpoint=True).astype(np.int16)
    spec = spec_for(transfer_syntax, bits_stored=16, pixel_representation=1, rescale_intercept=0.0)
    written = write_series(tmp_path, spec, stored)
    for k in range(3):
        decoded = pydicom.dcmread(written.slice_paths[(0, k)]).pixel_array
        np.testing.assert_array_equal(decoded, stored[k])


def test_big_endian_pixel_bytes_are_swapped(tmp_path: Path) -> None:
    written = write_series(tmp_path, spec_for(uid.ExplicitVRBigEndian))
    ds = pydicom.dcmread(written.slice_paths[(0, 0)])
    assert ds.PixelData == written.stored[0].astype(">u2").tobytes()
    assert ds.PixelData != written.stored[0].astype("<u2").tobytes()


def test_deflated_file_is_compressed(tmp_path: Path) -> None:
    plain = write_series(tmp_path / "plain", spec_for(uid.ExplicitVRLittleEndian))
    deflated = write_series(tmp_path / "deflated", spec_for(uid.DeflatedExplicitVRLittleEndian))
    assert deflated.paths[0].stat().st_size < plain.paths[0].stat().st_size


@pytest.mark.dcmtk
def test_jpeg_keeps_uids_and_rescale(tmp_path: Path) -> None:
    written = write_series(tmp_path, spec_for(uid.JPEGExtended12Bit))
    ds = pydicom.dcmread(written.slice_paths[(0, 1)])
    assert ds.SOPInstanceUID == written.sop_instance_uids[1]
    assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (1.0, -1024.0)
    assert ds.BitsStored == 12


def test_cine_in_a_compressed_syntax(tmp_path: Path) -> None:
    spec = spec_for(uid.JPEG2000Lossless, modality="MR", phases=2)
    written = write_series(tmp_path, spec)
    for (t, k), path in written.slice_paths.items():
        np.testing.assert_array_equal(pydicom.dcmread(path).pixel_array, written.stored[t, k])


def test_unencodable_formats_are_refused() -> None:
    with pytest.raises(ValueError, match="12 bits"):
        SeriesSpec(transfer_syntax=uid.JPEGExtended12Bit, bits_stored=16)
    with pytest.raises(ValueError, match="8 or 16"):
        SeriesSpec(transfer_syntax=uid.RLELossless, bits_allocated=32, bits_stored=20)


def test_missing_dcmtk_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("workstation.testing._dicom.shutil.which", lambda _name: None)
    with pytest.raises(RuntimeError, match="dcmcjpeg"):
        write_series(tmp_path, spec_for(uid.JPEGLosslessSV1))
