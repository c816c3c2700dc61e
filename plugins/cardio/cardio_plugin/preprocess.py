"""What every short-axis image goes through before the network, in training and in use alike.

1. Intensities: divided by the image's 99th percentile (MR has no absolute scale; per image,
   because the coil's sensitivity changes from slice to slice), clipped to [0, 3].
2. Geometry: resampled in-plane to :data:`TARGET_SPACING_MM` (bilinear, anti-aliased), so the
   network sees hearts at one scale whatever the acquisition's pixel size. Slices are never
   mixed: thick short-axis slices with breath-hold offsets are segmented one by one.

:func:`to_native` maps the network's class scores back onto the acquisition's pixels, with the
same pixel-centre convention, so labels land where the image was.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import torch
from torch.nn import functional as F  # noqa: N812 - the usual name

#: In-plane pixel size the network works at (mm): the middle of the 1.2–2 mm of cine MR.
TARGET_SPACING_MM = 1.5
#: Image sizes given to the network are multiples of this (four 2 × 2 poolings).
MULTIPLE = 16
_CLIP = 3.0


def normalise(images: npt.NDArray[np.generic]) -> npt.NDArray[np.float32]:
    """``images`` ``[n, rows, columns]`` as float32, each divided by its 99th percentile."""
    values = np.asarray(images, dtype=np.float32)
    n = values.shape[0]
    # Every third pixel is plenty for a percentile and three times faster.
    sample = values.reshape(n, -1)[:, ::3]
    k = int(0.99 * (sample.shape[1] - 1))
    scale = np.partition(sample, k, axis=1)[:, k]
    scale = np.maximum(scale, np.maximum(sample.max(axis=1) * 1e-3, 1e-6))
    normalised: npt.NDArray[np.float32] = np.clip(
        values / scale[:, None, None].astype(np.float32), 0.0, _CLIP
    )
    return normalised


def working_shape(shape: tuple[int, int], spacing: tuple[float, float]) -> tuple[int, int]:
    """Rows and columns at :data:`TARGET_SPACING_MM` of an image ``shape`` with pixel
    ``spacing`` (row step, column step in mm): the same field of view."""
    return (
        max(1, round(shape[0] * spacing[0] / TARGET_SPACING_MM)),
        max(1, round(shape[1] * spacing[1] / TARGET_SPACING_MM)),
    )


def resample(images: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """``images`` ``[n, c, rows, columns]`` resampled to ``shape`` over the same field of view
    (pixel centres at (index + 0.5) × step, as :func:`to_native` assumes)."""
    if tuple(images.shape[-2:]) == tuple(shape):
        return images
    shrinking = shape[0] < images.shape[-2] or shape[1] < images.shape[-1]
    return F.interpolate(
        images, size=shape, mode="bilinear", align_corners=False, antialias=shrinking
    )


def resample_labels(labels: npt.NDArray[np.uint8], shape: tuple[int, int]) -> torch.Tensor:
    """Label images ``[n, rows, columns]`` on the working grid: each class's indicator resampled
    like the image, then the most likely class (partial volume decides, not the nearest)."""
    one_hot = F.one_hot(torch.from_numpy(labels.astype(np.int64)), 4).permute(0, 3, 1, 2)
    return resample(one_hot.float(), shape).argmax(dim=1).to(torch.uint8)


def crop_box(
    mask: npt.NDArray[np.bool_], margin: int, minimum: int
) -> tuple[int, int, int, int] | None:
    """A window (row, column, height, width) around the True pixels of ``mask`` (2-D), with
    ``margin`` pixels on each side, at least ``minimum`` wide, sizes multiples of
    :data:`MULTIPLE`. It may reach past the image (the caller pads). None when ``mask`` is
    empty."""
    rows, columns = np.nonzero(mask)
    if rows.size == 0:
        return None
    box = []
    for low, high in ((rows.min(), rows.max()), (columns.min(), columns.max())):
        size = max(int(high - low + 1) + 2 * margin, minimum)
        size = MULTIPLE * math.ceil(size / MULTIPLE)
        centre = (int(low) + int(high) + 1) / 2.0
        box.append((round(centre - size / 2.0), size))
    return box[0][0], box[1][0], box[0][1], box[1][1]


def cut(images: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    """The window ``box`` of ``images`` ``[n, c, rows, columns]``, zero outside the image."""
    top, left, height, width = box
    rows, columns = images.shape[-2:]
    pad = (
        max(0, -left),
        max(0, left + width - columns),
        max(0, -top),
        max(0, top + height - rows),
    )
    if any(pad):
        images = F.pad(images, pad)
        top, left = top + pad[2], left + pad[0]
    return images[..., top : top + height, left : left + width]


def to_native(
    scores: torch.Tensor,
    box: tuple[int, int, int, int],
    working: tuple[int, int],
    native: tuple[int, int],
) -> tuple[torch.Tensor, tuple[slice, slice]]:
    """Class scores of the window ``box`` of the working grid, sampled at the native pixels
    it covers (bilinear). Returns ``[n, classes, h, w]`` and the native (rows, columns) slices
    they belong to; pixels outside are background."""
    top, left, height, width = box
    spans = []
    coordinates = []
    for start, size, work, nat in (
        (top, height, working[0], native[0]),
        (left, width, working[1], native[1]),
    ):
        ratio = nat / work  # native pixels per working pixel
        first = max(0, math.ceil((start + 0.5) * ratio - 0.5))
        last = min(nat - 1, math.floor((start + size - 0.5) * ratio - 0.5))
        index = torch.arange(first, last + 1, dtype=torch.float32)
        source = (index + 0.5) / ratio - 0.5 - start  # in the window's pixels
        coordinates.append(2.0 * source / max(size - 1, 1) - 1.0)
        spans.append(slice(first, last + 1))
    y, x = torch.meshgrid(coordinates[0], coordinates[1], indexing="ij")
    grid = torch.stack([x, y], dim=-1)[None].to(scores.device)
    grid = grid.expand(scores.shape[0], -1, -1, -1)
    sampled = F.grid_sample(
        scores, grid.to(scores.dtype), mode="bilinear", padding_mode="border", align_corners=True
    )
    return sampled, (spans[0], spans[1])
