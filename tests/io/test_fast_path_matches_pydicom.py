"""The fast header walk and the direct pixel read give exactly what pydicom gives.

pydicom is the reference: ``dcmread`` + ``pixel_array`` + ``apply_modality_lut`` per file, sorted
along the normal. Generated series vary the pixel format, rescale, byte order and encoding.
"""

from __future__ import annotations

import os
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydicom.pixels import apply_modality_lut
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGLSLossless,
    RLELossless,
)

from workstation.io import load_stack, scan
from workstation.io.reader import read_header, read_header_with_pydicom
from workstation.io.sources import FileSource
from workstation.testing.factories import SeriesSpec, write_series

NATIVE = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    ExplicitVRBigEndian,
    DeflatedExplicitVRLittleEndian,
]
#: Lossless compressed syntaxes the factories encode with pydicom (8- and 16-bit only).
COMPRESSED = [RLELossless, JPEGLSLossless]
#: Fields that describe where or how a header was read, not what the file says.
_READER_FIELDS = {"source", "pixel", "fast", "frames"}


def _reference(paths: list[Path]) -> np.ndarray:
    datasets = [pydicom.dcmread(p) for p in paths]
    normal = np.cross(*np.reshape(np.asarray(datasets[0].ImageOrientationPatient, float), (2, 3)))
    datasets.sort(key=lambda ds: float(np.dot(np.asarray(ds.ImagePositionPatient, float), normal)))
    return np.stack([np.asarray(apply_modality_lut(ds.pixel_array, ds)) for ds in datasets])


@st.composite
def pixel_formats(draw):
    bits_allocated = draw(st.sampled_from([8, 16, 16, 32]))
    bits_stored = draw(st.integers(max(1, bits_allocated - 8), bits_allocated))
    signed = draw(st.booleans())
    slope = draw(st.sampled_from([None, 1.0, 2.0, 0.5, 1.25, -1.0]))
    intercept = draw(st.sampled_from([0.0, -1024.0, 7.5, 100.0, -32768.0]))
    return dict(
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        pixel_representation=int(signed),
        rescale_slope=slope,
        rescale_intercept=None if slope is None else intercept,
        transfer_syntax=draw(
            st.sampled_from(NATIVE + COMPRESSED if bits_allocated <= 16 else NATIVE)
        ),
        # Smallest/Largest Image Pixel Value are US or SS: 16-bit images only.
        write_smallest_largest=bits_allocated <= 16 and draw(st.booleans()),
        rows=draw(st.integers(1, 9)),
        columns=draw(st.integers(1, 9)),
        n_slices=draw(st.integers(2, 4)),
        shuffle=True,
        modality="MR",
        seed=draw(st.integers(0, 1000)),
    )


@settings(
    # PROPERTY_EXAMPLES=2000 for a long local run; CI keeps the suite quick.
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "80")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(fmt=pixel_formats(), extremes=st.booleans())
def test_loaded_values_equal_pydicom_for_any_format(tmp_path_factory, fmt, extremes):
    folder = tmp_path_factory.mktemp("fmt")
    spec = SeriesSpec(**fmt)
    stored = None
    if extremes:  # use the whole declared range, where overflow and sign errors show
        low = -(1 << (spec.bits_stored - 1)) if spec.pixel_representation else 0
        high = (
            (1 << (spec.bits_stored - 1)) - 1
            if spec.pixel_representation
            else (1 << spec.bits_stored) - 1
        )
        rng = np.random.default_rng(spec.seed)
        stored = rng.integers(
            low, high, size=(spec.n_slices, spec.rows, spec.columns), endpoint=True, dtype=np.int64
        )
        stored.flat[0], stored.flat[-1] = low, high
    compressed = spec.transfer_syntax in COMPRESSED
    try:
        written = write_series(folder, spec, stored)
        reference = _reference(written.paths)
    except (RuntimeError, ValueError):
        # Encoders refuse some formats (JPEG-LS below 2 bits, tiny images) and pydicom's RLE
        # encoder writes 16-bit data of 8 stored bits that pydicom itself cannot decode: the
        # reference is missing there, not the reader under test.
        assume(not compressed)
        raise
    result = scan(folder)
    assert not result.errors
    (stack,) = result.stacks
    volume = load_stack(stack)
    assert str(volume.array.dtype) == stack.dtype
    if volume.array.dtype.kind == "f":
        np.testing.assert_array_equal(volume.array, reference.astype(volume.array.dtype))
    else:
        np.testing.assert_array_equal(volume.array, reference)
        # ... and the dtype is the smallest integer type that holds the declared range.
        assert volume.array.dtype.itemsize <= max(2, spec.bits_allocated // 8) * 2


@pytest.mark.parametrize("transfer_syntax", NATIVE, ids=lambda uid: uid.name)
def test_walked_header_equals_pydicoms(tmp_path, transfer_syntax):
    spec = SeriesSpec(
        transfer_syntax=transfer_syntax,
        patient_name="Müller^Jürgen",
        specific_character_set="ISO_IR 100",
        write_smallest_largest=True,
        window_center=40.0,
        window_width=400.0,
        phases=2,
    )
    written = write_series(tmp_path, spec)
    for path in written.paths:
        fast = read_header(FileSource(path))
        reference = read_header_with_pydicom(FileSource(path), path.read_bytes())
        for field in fields(fast):
            if field.name not in _READER_FIELDS:
                assert getattr(fast, field.name) == getattr(reference, field.name), field.name
        assert fast.patient_name == "Müller^Jürgen"


def test_bits_above_bits_stored_are_cleared_or_sign_extended_as_pydicom_does(tmp_path):
    spec = SeriesSpec(n_slices=2, bits_stored=12, rows=4, columns=5)
    written = write_series(tmp_path / "u", spec)
    signed = write_series(tmp_path / "s", replace(spec, pixel_representation=1, uid_seed="s"))
    for path in written.paths + signed.paths:
        dataset = pydicom.dcmread(path)
        raw = np.frombuffer(dataset.PixelData, dtype=np.uint16).copy()
        raw |= 0xA000  # garbage (old overlay bits) above Bits Stored
        dataset.PixelData = raw.tobytes()
        dataset.save_as(path)
    for folder, paths in ((tmp_path / "u", written.paths), (tmp_path / "s", signed.paths)):
        (stack,) = scan(folder).stacks
        np.testing.assert_array_equal(load_stack(stack).array, _reference(paths))


def test_declared_extremes_that_lie_are_caught(tmp_path):
    spec = SeriesSpec(
        n_slices=3,
        bits_stored=16,
        pixel_representation=1,
        rescale_intercept=-1024.0,
        write_smallest_largest=True,
    )
    written = write_series(tmp_path, spec)
    (stack,) = scan(tmp_path).stacks
    assert stack.dtype == "int16"  # the declared extremes let int16 hold the HU exactly
    dataset = pydicom.dcmread(written.paths[0])
    dataset.LargestImagePixelValue = int(dataset.LargestImagePixelValue) // 4  # a lie
    dataset.save_as(written.paths[0])
    (stack,) = scan(tmp_path).stacks
    volume = load_stack(stack)
    np.testing.assert_array_equal(volume.array, _reference(written.paths))


def test_dtype_rules() -> None:
    from workstation.io.rescale import Rescale, StoredFormat, output_dtype

    ct12 = StoredFormat(16, 12, signed=False)
    assert output_dtype([(ct12, Rescale(1, -1024))]) == np.int16
    assert output_dtype([(StoredFormat(16, 16, False), Rescale())]) == np.uint16
    assert output_dtype([(StoredFormat(16, 16, True), Rescale(1, -1024))]) == np.int32
    hinted = StoredFormat(16, 16, True, smallest=-2000, largest=3000)
    assert output_dtype([(hinted, Rescale(1, -1024))]) == np.int16
    assert output_dtype([(hinted, Rescale(1, -1024))], use_hints=False) == np.int32
    assert output_dtype([(StoredFormat(8, 8, False), Rescale())]) == np.uint8
    assert output_dtype([(ct12, Rescale(0.5, 0))]) == np.float32
    assert output_dtype([(StoredFormat(32, 32, False), Rescale(0.25, 0))]) == np.float64
