"""The window/level a series opens with, and the range that mouse window/level is scaled to."""

from __future__ import annotations

import weakref

import numpy as np

from workstation.core.presets import CT_PRESETS, window_from_range
from workstation.core.scene import ImageLayer
from workstation.core.volume import StackKind

#: At most this many voxels are sampled to estimate a value range (a 400 × 512² CT has 100 M).
_SAMPLE = 2_000_000


def sample_range(layer: ImageLayer, low_percentile: float = 0.5) -> tuple[float, float]:
    """Robust (low, high) percentiles of the loaded voxels from an even sub-sample.

    Percentiles rather than the extremes: one hot pixel in an MR must not make the whole
    image grey.
    """
    array = layer.volume.array
    if layer.volume.kind is StackKind.RGB:
        return 0.0, 255.0
    flat = array.reshape(layer.slice_count, -1)
    if layer.loaded.size == len(flat) and not layer.loaded.all():
        if not layer.loaded.any():
            return 0.0, 1.0
        flat = flat[layer.loaded]
    step = max(1, flat.size // _SAMPLE)
    sample = flat.reshape(-1)[::step].astype(np.float64)
    low, high = np.percentile(sample, [low_percentile, 100.0 - low_percentile])
    if high <= low:
        low, high = float(sample.min()), float(sample.max())
    return float(low), float(high)


def initial_window(layer: ImageLayer) -> tuple[float, float]:
    """(width, centre) a series opens with.

    The series' own WindowWidth/WindowCenter (``LayerInfo.default_window``, stored as
    ``(width, centre)``) first; CT without one gets the soft-tissue preset; colour images the
    full 8-bit range; anything else a window over the robust range of its values.
    """
    info = layer.info
    if info.default_window is not None and info.default_window[0] > 0:
        width, centre = info.default_window
        return float(width), float(centre)
    if layer.volume.kind is StackKind.RGB:
        return 256.0, 127.5
    if info.modality == "CT":
        soft_tissue = CT_PRESETS[0]
        return soft_tissue.width, soft_tissue.center
    low, high = sample_range(layer)
    return window_from_range(low, high)


_DRAG_SCALES: weakref.WeakKeyDictionary[ImageLayer, tuple[int, int, float]] = (
    weakref.WeakKeyDictionary()
)


def drag_scale(layer: ImageLayer) -> float:
    """Window change per pixel of mouse drag: the value range over ~1000 pixels.

    Cornerstone (OHIF) scales its window/level drag to the data range the same way, so a
    drag across the screen covers the values whatever the modality. Remembered per layer
    until more slices arrive or the array is replaced.
    """
    key = (id(layer.volume.array), int(layer.loaded.sum()))
    cached = _DRAG_SCALES.get(layer)
    if cached is not None and cached[:2] == key:
        return cached[2]
    low, high = sample_range(layer, low_percentile=0.0)
    scale = max((high - low) / 1024.0, 1e-3)
    _DRAG_SCALES[layer] = (*key, scale)
    return scale
