"""Series thumbnails: the middle image of a series' first stack as small 8-bit grey pixels.

No image library is needed: the frame is box-filtered down to at most :data:`MAX_SIDE` pixels
on its long side and windowed with its own Window Center/Width (PS3.3 C.11.2.1.2.1, the
"LINEAR" function) or, without one, its value range. MONOCHROME1 is inverted for display, as
a viewer shows it; colour frames become their luma (ITU-R BT.601 weights).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from workstation.core.errors import DicomFileError
from workstation.core.volume import StackKind
from workstation.io.assemble import DicomStack, assemble
from workstation.io.header import InstanceHeader
from workstation.io.limits import DEFAULT_LIMITS, Limits
from workstation.io.pixels import load_frame
from workstation.pacs.records import Thumbnail

#: Longest side of a thumbnail, in pixels.
MAX_SIDE = 96
_LUMA = np.array([0.299, 0.587, 0.114])

Float = npt.NDArray[np.float64]


def middle_frame(stack: DicomStack) -> int:
    """Index (in ``stack.frames``) of the middle image: of the first phase for a cine."""
    count = stack.shape[1] if stack.kind is StackKind.CINE else stack.shape[0]
    return count // 2


def make_thumbnail(stack: DicomStack, limits: Limits = DEFAULT_LIMITS) -> Thumbnail:
    """The thumbnail of ``stack`` (decodes one frame).

    Raises
    ------
    DicomFileError
        When the middle frame cannot be read or decoded.
    """
    index = middle_frame(stack)
    header = stack.frames[index].header
    frame: npt.NDArray[Any] = load_frame(stack, index, limits)
    colour = stack.kind is StackKind.RGB
    grey = frame.astype(np.float64) @ _LUMA if colour else frame.astype(np.float64)
    grey = shrink(grey, MAX_SIDE)
    window = None if colour else _own_window(header)
    pixels = apply_window(grey, window)
    if header.photometric == "MONOCHROME1" and not colour:
        pixels = 255 - pixels
    height, width = pixels.shape
    return Thumbnail(width, height, np.ascontiguousarray(pixels).tobytes())


def thumbnail_of_series(
    headers: Iterable[InstanceHeader], limits: Limits = DEFAULT_LIMITS
) -> Thumbnail | None:
    """The thumbnail of the first stack the headers of one series assemble into.

    None when they form no stack or its middle image cannot be decoded: a series without a
    preview is still listed and loadable as far as its data allows.
    """
    _, stacks = assemble(headers)
    if not stacks:
        return None
    try:
        return make_thumbnail(stacks[0], limits)
    except DicomFileError:
        return None


def shrink(image: Float, max_side: int) -> Float:
    """Box-filter ``image`` so that its long side is at most ``max_side`` (never enlarged)."""
    rows, columns = image.shape
    scale = max_side / max(rows, columns)
    if scale >= 1.0:
        return image
    image = _box(image, max(1, round(rows * scale)), axis=0)
    return _box(image, max(1, round(columns * scale)), axis=1)


def _box(image: Float, n: int, axis: int) -> Float:
    """Average consecutive runs of pixels along ``axis`` into ``n`` (n ≤ the length)."""
    length = image.shape[axis]
    edges = (np.arange(n + 1) * length) // n  # strictly increasing because n <= length
    sums = np.add.reduceat(image, edges[:-1], axis=axis)
    counts = np.diff(edges).astype(np.float64)
    result: Float = sums / (counts[:, None] if axis == 0 else counts[None, :])
    return result


def _own_window(header: InstanceHeader) -> tuple[float, float] | None:
    if header.window_center and header.window_width and header.window_width[0] >= 1.0:
        return header.window_center[0], header.window_width[0]
    return None


def apply_window(image: Float, window: tuple[float, float] | None) -> npt.NDArray[np.uint8]:
    """8-bit display values: the DICOM linear window, or the image's range without one."""
    finite = np.isfinite(image)
    if not finite.all():
        fill = float(image[finite].min()) if finite.any() else 0.0
        image = np.where(finite, image, fill)
    if window is None:
        low, high = float(image.min()), float(image.max())
        if high <= low:
            return np.zeros(image.shape, dtype=np.uint8)
        scaled = (image - low) / (high - low)
    else:
        centre, width = window
        # y = ((x − (c − 0.5)) / (w − 1) + 0.5) · (y_max − y_min) + y_min, clipped.
        scaled = (image - (centre - 0.5)) / max(width - 1.0, 1e-9) + 0.5
    result: npt.NDArray[np.uint8] = np.rint(np.clip(scaled, 0.0, 1.0) * 255.0).astype(np.uint8)
    return result
