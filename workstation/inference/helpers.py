# mypy: disallow-untyped-calls=False
"""Helpers for plugin authors, used inside the worker (this module may import torch and MONAI).

Resampling keeps the LPS geometry of :class:`~workstation.core.volume.Volume` (SimpleITK works
in LPS too); label maps go back to the input grid with nearest-neighbour interpolation::

    from workstation.inference import helpers

    def run(context):
        image = context.volume                              # a still volume [k, j, i]
        model_input = helpers.resample_volume(image, (1.5, 1.5, 1.5))
        x = helpers.percentile_clip(model_input.array, 0.5, 99.5)
        x = helpers.zscore(x)
        net = load_my_network(context)                      # a torch.nn.Module
        probabilities = helpers.sliding_window(
            x, net, roi_size=(96, 96, 96), device=context.device,
            progress=lambda f: context.progress(0.1 + 0.8 * f, "inference"),
        )
        labels = probabilities.argmax(axis=0).astype("uint8")
        labels = helpers.resample_to(labels, model_input.affine, like=image)
        mask = helpers.largest_component(labels == 1)
        return ModuleOutput(
            labels=mask.astype("uint8"),
            measurements={"organ_volume": helpers.volume_ml(mask, image.affine)},
        )
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from importlib import import_module
from typing import Any

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk  # noqa: N813 - the name SimpleITK's own documentation uses

from workstation.core.volume import StackKind, Volume

FloatArray = npt.NDArray[np.float32]
_INTERPOLATORS = {
    "nearest": sitk.sitkNearestNeighbor,
    "linear": sitk.sitkLinear,
    "bspline": sitk.sitkBSpline,
    "label": sitk.sitkLabelGaussian,
}


# --- geometry --------------------------------------------------------------------------------


def to_sitk(array: npt.NDArray[Any], affine: npt.ArrayLike) -> sitk.Image:
    """A SimpleITK image of a ``[k, j, i]`` array whose ``affine`` maps (i, j, k) to LPS."""
    matrix = np.asarray(affine, dtype=np.float64)
    spacing = np.linalg.norm(matrix[:3, :3], axis=0)
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(v) for v in matrix[:3, 3]])
    image.SetDirection([float(v) for v in (matrix[:3, :3] / spacing).ravel()])
    return image


def affine_of(image: sitk.Image) -> npt.NDArray[np.float64]:
    """The (i, j, k) → LPS affine of a SimpleITK image."""
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = direction * np.asarray(image.GetSpacing(), dtype=np.float64)
    affine[:3, 3] = image.GetOrigin()
    return affine


def resample(
    array: npt.NDArray[Any],
    affine: npt.ArrayLike,
    shape: Sequence[int],
    target_affine: npt.ArrayLike,
    *,
    interpolator: str = "linear",
    default: float = 0.0,
) -> npt.NDArray[Any]:
    """``array`` (on ``affine``) sampled on the grid ``shape`` ``[k, j, i]`` / ``target_affine``.

    ``interpolator``: "nearest" (labels), "linear", "bspline" or "label" (smooth labels).
    The result keeps the input's dtype.
    """
    source = to_sitk(array, affine)
    reference = sitk.Image([int(n) for n in reversed(tuple(shape))], source.GetPixelID())
    target = np.asarray(target_affine, dtype=np.float64)
    spacing = np.linalg.norm(target[:3, :3], axis=0)
    reference.SetSpacing([float(s) for s in spacing])
    reference.SetOrigin([float(v) for v in target[:3, 3]])
    reference.SetDirection([float(v) for v in (target[:3, :3] / spacing).ravel()])
    resampled = sitk.Resample(
        source,
        reference,
        sitk.Transform(),
        _INTERPOLATORS[interpolator],
        float(default),
        source.GetPixelID(),
    )
    result: npt.NDArray[Any] = sitk.GetArrayFromImage(resampled)
    return result


def grid_for_spacing(
    shape: Sequence[int], affine: npt.ArrayLike, spacing_ijk: Sequence[float]
) -> tuple[tuple[int, int, int], npt.NDArray[np.float64]]:
    """The grid covering the same extent with voxels of ``spacing_ijk`` (same origin, axes)."""
    matrix = np.asarray(affine, dtype=np.float64)
    old = np.linalg.norm(matrix[:3, :3], axis=0)
    new = np.asarray(spacing_ijk, dtype=np.float64)
    size_ijk = [
        max(1, round(n * o / s)) for n, o, s in zip(reversed(tuple(shape)), old, new, strict=True)
    ]
    target = matrix.copy()
    target[:3, :3] = matrix[:3, :3] / old * new
    return (size_ijk[2], size_ijk[1], size_ijk[0]), target


def resample_volume(
    volume: Volume, spacing_ijk: Sequence[float], *, interpolator: str = "linear"
) -> Volume:
    """A still volume resampled to voxels of ``spacing_ijk`` mm (i, j, k), same LPS extent."""
    if volume.kind is not StackKind.VOLUME:
        raise ValueError("resample one phase at a time: Volume(volume.phase(t), volume.affine)")
    shape, target = grid_for_spacing(volume.array.shape, volume.affine, spacing_ijk)
    array = resample(volume.array, volume.affine, shape, target, interpolator=interpolator)
    return Volume(array=array, affine=target)


def resample_to(
    array: npt.NDArray[Any],
    affine: npt.ArrayLike,
    *,
    like: Volume,
    interpolator: str = "nearest",
) -> npt.NDArray[Any]:
    """``array`` (on ``affine``) back on the grid of ``like`` (labels: nearest neighbour)."""
    return resample(array, affine, like.grid_shape, like.affine, interpolator=interpolator)


# --- intensities -----------------------------------------------------------------------------


def zscore(
    array: npt.NDArray[Any], mask: npt.NDArray[np.bool_] | None = None, *, eps: float = 1e-6
) -> FloatArray:
    """(x − mean) / sd as float32, the statistics taken inside ``mask`` when given."""
    values = np.asarray(array, dtype=np.float32)
    sample = values[mask] if mask is not None else values
    mean = float(sample.mean()) if sample.size else 0.0
    sd = float(sample.std()) if sample.size else 1.0
    result: FloatArray = (values - mean) / max(sd, eps)
    return result


def percentile_clip(
    array: npt.NDArray[Any],
    low: float = 0.5,
    high: float = 99.5,
    *,
    rescale: bool = False,
) -> FloatArray:
    """Values clipped to their ``low``..``high`` percentiles (float32); with ``rescale``,
    mapped to 0..1."""
    values = np.asarray(array, dtype=np.float32)
    lo, hi = (float(v) for v in np.percentile(values, [low, high]))
    clipped: FloatArray = np.clip(values, lo, hi)
    if rescale:
        clipped = (clipped - lo) / max(hi - lo, 1e-6)
    return clipped


def window(array: npt.NDArray[Any], level: float, width: float) -> FloatArray:
    """A CT window (e.g. level 40, width 400) mapped to 0..1 as float32."""
    low = level - width / 2.0
    result: FloatArray = np.clip((np.asarray(array, dtype=np.float32) - low) / width, 0.0, 1.0)
    return result


# --- inference -------------------------------------------------------------------------------


def _window_count(shape: Sequence[int], roi: Sequence[int], overlap: float) -> int:
    total = 1
    for size, length in zip(shape, roi, strict=True):
        step = max(int(length * (1.0 - overlap)), 1)
        total *= 1 if size <= length else math.ceil((size - length) / step) + 1
    return total


def sliding_window(
    image: npt.NDArray[Any],
    predictor: Callable[[Any], Any],
    roi_size: Sequence[int],
    *,
    overlap: float = 0.25,
    batch_size: int = 1,
    device: str = "cpu",
    mode: str = "gaussian",
    progress: Callable[[float], None] | None = None,
) -> FloatArray:
    """MONAI's sliding-window inference over a ``[k, j, i]`` (or ``[c, k, j, i]``) array.

    ``predictor`` maps a torch batch ``[b, c, *roi_size]`` to ``[b, classes, *roi_size]``
    (a ``torch.nn.Module`` in eval mode, typically). Windows run on ``device``; the stitched
    output is gathered on the CPU and returned as float32 numpy ``[classes, k, j, i]``.
    ``progress`` receives the fraction of windows done.
    """
    import torch

    # By name: PyInstaller leaves MONAI out of the bundle with torch (see the inference hook).
    sliding_window_inference = import_module("monai.inferers.utils").sliding_window_inference
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 3:
        array = array[None]
    tensor = torch.from_numpy(np.ascontiguousarray(array))[None]
    total = max(_window_count(array.shape[1:], roi_size, overlap), 1)
    done = 0

    def counted(batch: Any) -> Any:
        nonlocal done
        output = predictor(batch)
        done += int(batch.shape[0])
        if progress is not None:
            progress(min(done / total, 1.0))
        return output

    with torch.inference_mode():
        output = sliding_window_inference(
            tensor,
            roi_size=tuple(int(n) for n in roi_size),
            sw_batch_size=batch_size,
            predictor=counted,
            overlap=overlap,
            mode=mode,
            sw_device=torch.device(device),
            device=torch.device("cpu"),
        )
    result: FloatArray = output[0].float().numpy()
    return result


# --- label maps ------------------------------------------------------------------------------


def largest_component(
    mask: npt.NDArray[Any], *, fully_connected: bool = False
) -> npt.NDArray[np.bool_]:
    """The largest connected part of a binary mask (6-connected, or 26 with
    ``fully_connected``); all False when the mask is empty."""
    binary = np.ascontiguousarray(np.asarray(mask, dtype=bool), dtype=np.uint8)
    if not binary.any():
        return np.zeros(binary.shape, dtype=bool)
    components = sitk.ConnectedComponent(sitk.GetImageFromArray(binary), fully_connected)
    ranked = sitk.RelabelComponent(components, sortByObjectSize=True)
    result: npt.NDArray[np.bool_] = sitk.GetArrayViewFromImage(ranked) == 1
    return result


def keep_largest_per_label(labels: npt.NDArray[np.integer]) -> npt.NDArray[np.integer]:
    """Each label value reduced to its largest connected part."""
    cleaned = np.zeros_like(labels)
    for value in np.unique(labels):
        if value != 0:
            cleaned[largest_component(labels == value)] = value
    return cleaned


def voxel_ml(affine: npt.ArrayLike) -> float:
    """Volume of one voxel in millilitres."""
    return abs(float(np.linalg.det(np.asarray(affine, dtype=np.float64)[:3, :3]))) / 1000.0


def volume_ml(labels: npt.NDArray[Any], affine: npt.ArrayLike, value: int | None = None) -> float:
    """Volume in ml of the non-zero voxels of ``labels`` (or of those equal to ``value``)."""
    selected = labels != 0 if value is None else labels == value
    return float(np.count_nonzero(selected)) * voxel_ml(affine)


def volumes_ml(labels: npt.NDArray[np.integer], affine: npt.ArrayLike) -> dict[int, float]:
    """Volume in ml of every label value present (background left out)."""
    counts = np.bincount(np.asarray(labels).ravel().astype(np.intp))
    size = voxel_ml(affine)
    return {value: float(count) * size for value, count in enumerate(counts) if value and count}
