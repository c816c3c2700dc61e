"""Training images: from the generator, in memory (no DICOM round trip), or from a site's own
annotated images as NIfTI pairs (:func:`nifti_samples`).

Each case gives its end-diastolic and end-systolic phases and two other phases, every slice.
The images go through exactly the preprocessing of the module (:mod:`cardio_plugin.preprocess`):
normalised, resampled to the working pixel size; the labels are resampled the same way. Of each
image a square window of :data:`WINDOW` working pixels is kept: mostly around the heart (with a
random offset), sometimes anywhere in the field of view, so that the network also learns what
is *not* a heart (it sees the whole field once, to find the heart).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from cardio_plugin.preprocess import cut, normalise, resample, resample_labels, working_shape
from cardio_plugin.synth.anatomy import draw_case
from cardio_plugin.synth.render import render

#: Side of the windows kept per image (working pixels); training crops are cut from them.
WINDOW = 160
#: Share of windows placed anywhere in the field of view rather than on the heart.
ANYWHERE = 0.15


@dataclass(frozen=True)
class Samples:
    images: npt.NDArray[np.float16]  # [n, WINDOW, WINDOW]
    labels: npt.NDArray[np.uint8]  # [n, WINDOW, WINDOW]
    seeds: npt.NDArray[np.int64]  # the case of each image


def case_samples(seed: int, extra_phases: int = 2) -> Samples:
    """The training windows of case ``seed`` (deterministic)."""
    case = draw_case(seed)
    acq = case.acquisition
    rng = np.random.default_rng([seed, 0x7A11])
    volumes = case.analytic_volumes()["lv_ml"]
    ed, es = int(np.argmax(volumes)), int(np.argmin(volumes))
    others = [t for t in range(acq.n_phases) if t not in (ed, es)]
    phases = (ed, es, *(int(t) for t in rng.choice(others, extra_phases, replace=False)))
    rendered = render(case, phases)
    n = len(phases) * acq.n_slices
    images = normalise(rendered.stored.reshape(n, acq.rows, acq.columns))
    working = working_shape((acq.rows, acq.columns), (acq.pixel_spacing, acq.pixel_spacing))
    tensor = resample(torch.from_numpy(images)[:, None], working)
    labels = resample_labels(rendered.labels.reshape(n, acq.rows, acq.columns), working)
    return _windows(tensor, labels, rng, seed)


def _windows(
    tensor: torch.Tensor, labels: torch.Tensor, rng: np.random.Generator, seed: int
) -> Samples:
    """Windows of :data:`WINDOW` working pixels of images ``[n, 1, r, c]`` and labels
    ``[n, r, c]``: mostly around the labelled heart, sometimes anywhere."""
    n = tensor.shape[0]
    working = tensor.shape[-2:]
    heart = np.argwhere(labels.numpy().any(axis=0))
    centre = heart.mean(axis=0) if heart.size else np.array(working, dtype=float) / 2
    out_images = np.zeros((n, WINDOW, WINDOW), dtype=np.float16)
    out_labels = np.zeros((n, WINDOW, WINDOW), dtype=np.uint8)
    for index in range(n):
        if rng.random() < ANYWHERE:
            at = rng.uniform(0, 1, 2) * np.array(working)
        else:
            at = centre + rng.uniform(-20, 20, 2)
        box = (int(at[0]) - WINDOW // 2, int(at[1]) - WINDOW // 2, WINDOW, WINDOW)
        out_images[index] = cut(tensor[index : index + 1], box)[0, 0].numpy()
        out_labels[index] = cut(labels[index : index + 1, None], box)[0, 0].numpy()
    return Samples(out_images, out_labels, np.full(n, seed, dtype=np.int64))


def nifti_samples(
    image_path: Path, label_path: Path, label_order: tuple[int, int, int], seed: int = 0
) -> Samples:
    """Training windows of a site's annotated short-axis volume (NIfTI image and label map of
    one phase, slices along the third axis; a 4-D image is read phase by phase).

    ``label_order`` gives the file's values of (LV blood pool, LV myocardium, RV blood pool):
    ``(1, 2, 3)`` for this module's convention, ``(3, 2, 1)`` for the ACDC challenge's files.
    Other values count as background. In-plane orientation does not matter (training rotates
    and mirrors every image); the pixel size comes from the header.
    """
    import nibabel as nib

    image = nib.load(str(image_path))
    label = nib.load(str(label_path))
    values = np.asarray(image.dataobj, dtype=np.float32)
    marks = np.asarray(label.dataobj)
    if values.shape[:3] != marks.shape[:3]:
        raise ValueError(f"{image_path} {values.shape} and {label_path} {marks.shape} differ")
    zooms = image.header.get_zooms()
    spacing = (float(zooms[1]), float(zooms[0]))  # rows run along y, columns along x
    ours = np.zeros(marks.shape, dtype=np.uint8)
    for value, theirs in enumerate(label_order, start=1):
        ours[marks == theirs] = value
    if values.ndim == 3:
        values, ours = values[..., None], ours[..., None]
    # [x, y, z, t] → images [t·z, y, x]
    images = np.moveaxis(values, (3, 2, 1, 0), (0, 1, 2, 3)).reshape(-1, *values.shape[1::-1])
    masks = np.moveaxis(ours, (3, 2, 1, 0), (0, 1, 2, 3)).reshape(-1, *ours.shape[1::-1])
    working = working_shape(images.shape[1:], spacing)
    tensor = resample(torch.from_numpy(normalise(images))[:, None], working)
    return _windows(
        tensor, resample_labels(masks, working), np.random.default_rng([seed, 0x7A12]), seed
    )


def concatenate(parts: list[Samples]) -> Samples:
    return Samples(
        np.concatenate([p.images for p in parts]),
        np.concatenate([p.labels for p in parts]),
        np.concatenate([p.seeds for p in parts]),
    )


def augment(
    images: torch.Tensor, labels: torch.Tensor, size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random rotation (any angle), mirror, ±15 % scale and shift, then intensity changes
    (gamma, contrast, noise); crops of ``size`` from windows ``[b, WINDOW, WINDOW]``."""
    b = images.shape[0]

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(shape or (b,), generator=generator)

    angle = uniform(0.0, 2 * np.pi)
    scale = uniform(0.85, 1.15) * size / WINDOW
    mirror = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0)
    shift = uniform(-0.25, 0.25, b, 2)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack(
        [
            torch.stack([cos * mirror, -sin, shift[:, 0]], dim=1),
            torch.stack([sin * mirror, cos, shift[:, 1]], dim=1),
        ],
        dim=1,
    )
    grid = torch.nn.functional.affine_grid(theta, [b, 1, size, size], align_corners=False)
    x = torch.nn.functional.grid_sample(
        images[:, None].float(), grid, mode="bilinear", align_corners=False
    )
    y = torch.nn.functional.grid_sample(
        labels[:, None].float(), grid, mode="nearest", align_corners=False
    )[:, 0].long()
    gamma = uniform(0.7, 1.5)[:, None, None, None]
    x = (x.clamp(min=0) / 3.0) ** gamma * 3.0
    x = x * uniform(0.8, 1.2)[:, None, None, None]
    x = x + torch.randn(x.shape, generator=generator) * uniform(0.0, 0.05)[:, None, None, None]
    return x, y
