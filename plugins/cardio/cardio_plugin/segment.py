"""Segmenting a whole cine short-axis stack: find the heart, then every image around it.

1. Every image ``[t, k]`` is normalised and resampled to the working pixel size
   (:mod:`cardio_plugin.preprocess`).
2. *Where is the heart?* The network runs on the whole field of view of the first phase's
   slices; the largest connected region it calls heart, over all those slices, with a margin
   for motion, gives one window for the whole cine. Cine fields of view are two to three times
   wider than the heart, so this saves most of the work.
3. The network runs on that window of every image, in batches (no overlapping tiles: a fully
   convolutional network sees the whole window at once).
4. Class scores go back to the acquisition's pixels (bilinear) and each pixel takes the most
   likely class; per phase, each structure keeps its largest 3-D connected part (26-connected,
   since breath-hold offsets shift neighbouring slices).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from cardio_plugin import N_CLASSES
from cardio_plugin.preprocess import (
    MULTIPLE,
    crop_box,
    cut,
    normalise,
    resample,
    to_native,
    working_shape,
)

#: Margin around the heart found in the first phase (working pixels of 1.5 mm: 21 mm).
MARGIN = 14
#: Smallest window (working pixels).
MINIMUM_WINDOW = 96
BATCH = 32

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Segmentation:
    labels: npt.NDArray[np.uint8]  # [t, k, j, i] on the input grid
    window: tuple[int, int, int, int] | None  # on the working grid; None: the whole field
    working_shape: tuple[int, int]
    found_heart: bool


def _forward(network: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    device = next(network.parameters()).device
    batch = batch.to(device).contiguous(memory_format=torch.channels_last)
    scores: torch.Tensor = network(batch)
    return scores


def _padded(images: torch.Tensor) -> torch.Tensor:
    rows, columns = images.shape[-2:]
    return cut(
        images,
        (0, 0, MULTIPLE * -(-rows // MULTIPLE), MULTIPLE * -(-columns // MULTIPLE)),
    )


def locate_heart(
    network: torch.nn.Module, images: torch.Tensor, minimum_pixels: int = 40
) -> tuple[int, int, int, int] | None:
    """The window around the heart in ``images`` ``[n, 1, rows, columns]`` (working grid)."""
    from workstation.inference import helpers

    rows, columns = images.shape[-2:]
    found = np.zeros((rows, columns), dtype=bool)
    for start in range(0, images.shape[0], 8):
        scores = _forward(network, _padded(images[start : start + 8]))
        heart = (scores.argmax(dim=1) > 0)[:, :rows, :columns].cpu().numpy()
        found |= heart.any(axis=0)
    if int(found.sum()) < minimum_pixels:
        return None
    return crop_box(helpers.largest_component(found), MARGIN, MINIMUM_WINDOW)


def segment_cine(
    array: npt.NDArray[np.generic],
    spacing_rows_columns: tuple[float, float],
    network: torch.nn.Module,
    *,
    progress: Progress | None = None,
    postprocess: bool = True,
) -> Segmentation:
    """Label maps ``[t, k, j, i]`` of the cine ``array`` whose pixels measure
    ``spacing_rows_columns`` mm (PixelSpacing: between rows, between columns).

    ``network`` is in eval mode (see :func:`cardio_plugin.network.for_inference`) on the
    device it should run on; resampling and the label maps stay on the CPU.
    """

    def report(fraction: float, text: str) -> None:
        if progress is not None:
            progress(fraction, text)

    n_phases, n_slices, rows, columns = array.shape
    images = normalise(np.asarray(array).reshape(n_phases * n_slices, rows, columns))
    working = working_shape((rows, columns), spacing_rows_columns)
    report(0.05, "resampling")
    with torch.inference_mode():
        tensor = resample(torch.from_numpy(images)[:, None], working)
        del images
        report(0.1, "locating the heart")
        window = locate_heart(network, tensor[:n_slices])
        if window is None:
            window = (0, 0, working[0], working[1])
            found = False
        else:
            found = True
        window = _multiple(window)
        labels = np.zeros((n_phases * n_slices, rows, columns), dtype=np.uint8)
        total = tensor.shape[0]
        for start in range(0, total, BATCH):
            batch = cut(tensor[start : start + BATCH], window)
            scores = _forward(network, batch)
            native, (row_span, column_span) = to_native(scores, window, working, (rows, columns))
            labels[start : start + BATCH, row_span, column_span] = (
                native.argmax(dim=1).to(torch.uint8).cpu().numpy()
            )
            report(0.15 + 0.75 * min(start + BATCH, total) / total, "segmenting")
    labels = labels.reshape(n_phases, n_slices, rows, columns)
    if postprocess:
        report(0.92, "cleaning up")
        labels = keep_largest_parts(labels)
    return Segmentation(labels, window if found else None, working, found)


def _multiple(window: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    top, left, height, width = window
    return (
        top,
        left,
        MULTIPLE * -(-height // MULTIPLE),
        MULTIPLE * -(-width // MULTIPLE),
    )


def keep_largest_parts(labels: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Per phase, each structure reduced to its largest 26-connected part (stray specks that
    the network calls ventricle elsewhere in the window are dropped)."""
    from workstation.inference import helpers

    cleaned = np.zeros_like(labels)
    for t in range(labels.shape[0]):
        for value in range(1, N_CLASSES):
            mask = labels[t] == value
            if mask.any():
                cleaned[t][helpers.largest_component(mask, fully_connected=True)] = value
    return cleaned
