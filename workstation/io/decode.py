"""Decoding through pydicom: compressed, colour, palette, bit-packed, float and LUT objects.

Decoder plugins are chosen, not left to chance: pydicom would try every installed plugin in
turn, and GDCM terminates the whole process (an uncaught C++ exception) on some corrupt
streams that the other decoders reject cleanly. GDCM is therefore used only for a syntax no
other installed plugin decodes.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy.typing as npt

from workstation.core.errors import DicomFileError, ErrorCode
from workstation.io import codestream, syntax
from workstation.io.frames import FrameRef, stored_format
from workstation.io.header import InstanceHeader
from workstation.io.limits import Limits
from workstation.io.reader import inflate_dataset, parse_inflated, parse_with_pydicom
from workstation.io.rescale import HintViolated, check_hints, rescale_into, uses_hints

#: Plugins by codec, most robust first.
_PREFERRED = {
    "jpeg": ("pylibjpeg", "pillow"),
    "jpeg-ls": ("pyjpegls", "pylibjpeg"),
    "j2k": ("pylibjpeg", "pillow"),
    "rle": ("pylibjpeg", "pydicom"),
}
_LAST_RESORT = "gdcm"


def decoding_plugins(transfer_syntax: str) -> list[str]:
    """The pydicom decoding plugins to try, in order ("" lets pydicom read native data)."""
    ts = syntax.lookup(transfer_syntax)
    if ts is None or not ts.encapsulated:
        return [""]
    from pydicom.pixels.decoders.base import get_decoder
    from pydicom.uid import UID

    available = set(get_decoder(UID(transfer_syntax)).available_plugins)
    plugins = [name for name in _PREFERRED.get(ts.codec, ()) if name in available]
    if not plugins and _LAST_RESORT in available:
        plugins = [_LAST_RESORT]
    if not plugins:
        raise DicomFileError(
            ErrorCode.UNSUPPORTED_TRANSFER_SYNTAX,
            f"no decoder for {ts.name} is installed (pylibjpeg and pyjpegls plugins)",
        )
    return plugins


def decode_object(
    header: InstanceHeader,
    members: list[tuple[int, FrameRef]],
    slots: npt.NDArray[Any],
    use_hints: bool,
    limits: Limits,
) -> None:
    """Decode the frames of one object into their slots."""
    dataset = _dataset(header, limits)
    ts = syntax.lookup(header.transfer_syntax)
    if ts is not None and ts.encapsulated:
        _check_codestreams(dataset, header, ts.codec)
    failures = []
    for plugin in decoding_plugins(header.transfer_syntax):
        try:
            _decode_frames(dataset, header, members, slots, plugin=plugin, use_hints=use_hints)
            return
        except HintViolated:
            raise
        except Exception as exc:  # noqa: BLE001 - decoders raise anything; try the next one
            failures.append(f"{plugin or 'pydicom'}: {exc}")
        except BaseException as exc:
            # Rust decoders (pylibjpeg-rle) report bad input as a pyo3 PanicException, which
            # derives from BaseException; anything else (KeyboardInterrupt...) goes on up.
            if not is_decoder_panic(exc):
                raise
            failures.append(f"{plugin}: decoder panic: {exc}")
    raise DicomFileError(ErrorCode.CORRUPT, "pixel data cannot be decoded: " + "; ".join(failures))


def is_decoder_panic(exc: BaseException) -> bool:
    """A pyo3 ``PanicException``: a Rust decoder refusing its input, not a user's interrupt."""
    return type(exc).__name__ == "PanicException"


def _decode_frames(
    dataset: Any,
    header: InstanceHeader,
    members: list[tuple[int, FrameRef]],
    slots: npt.NDArray[Any],
    *,
    plugin: str,
    use_hints: bool,
) -> None:
    from pydicom.pixels.processing import apply_color_lut, apply_modality_lut
    from pydicom.pixels.utils import iter_pixels

    stored = stored_format(header)
    verify = use_hints and uses_hints(stored)
    indices = [ref.frame for _, ref in members]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frames = iter_pixels(dataset, indices=indices, decoding_plugin=plugin)
        for (slot, ref), values in zip(members, frames, strict=True):
            target = slots[slot]
            if header.photometric == "PALETTE COLOR":
                target[...] = apply_color_lut(values, dataset)
            elif header.is_colour or values.dtype.kind == "f":
                target[...] = values
            elif header.has_modality_lut:
                target[...] = apply_modality_lut(values, dataset)
            else:
                if verify:
                    check_hints(values, stored)
                rescale_into(values, target, ref.rescale)


def _dataset(header: InstanceHeader, limits: Limits) -> Any:
    with header.source.reader() as reader:
        data = reader.read_all()
    ts = syntax.lookup(header.transfer_syntax)
    if ts is not None and ts.deflated:
        return parse_inflated(inflate_dataset(data, limits))
    return parse_with_pydicom(data, force=data[128:132] != b"DICM")


def _check_codestreams(dataset: Any, header: InstanceHeader, codec: str) -> None:
    from pydicom.encaps import generate_frames

    frames = generate_frames(dataset.PixelData, number_of_frames=header.number_of_frames)
    for data in frames:
        codestream.check_frame(codec, data, header.rows, header.columns)
