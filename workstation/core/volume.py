"""The voxel container every layer passes around."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from workstation.core import geometry
from workstation.core.errors import GeometryError


class StackKind(StrEnum):
    """How the voxels of a stack are laid out (the ``kind`` of ``inspect --json``)."""

    VOLUME = "volume"  # [k, j, i]: parallel slices
    CINE = "cine"  # [t, k, j, i]: the same slices at several times (phases)
    MULTIFRAME = "multiframe"  # [frame, j, i]: frames of one plane without positions (XA, US)
    IMAGE2D = "image2d"  # [1, j, i]: a single grey-scale image (CR, DX, one slice)
    RGB = "rgb"  # [frame, j, i, 3]: colour


@dataclass(eq=False)
class Volume:
    """Voxels with their place in the patient.

    ``array`` is in numpy order ``[k, j, i]`` (``[t, k, j, i]`` for cine, ``[frame, j, i, 3]`` for
    colour), already rescaled to the modality's units (HU for CT). ``affine`` maps ``(i, j, k, 1)``
    to LPS mm. ``phase_times_ms`` gives each phase's time after the trigger for cine stacks.
    """

    array: npt.NDArray[np.generic]
    affine: npt.NDArray[np.float64]
    kind: StackKind = StackKind.VOLUME
    phase_times_ms: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        self.affine = np.asarray(self.affine, dtype=np.float64)
        if self.affine.shape != (4, 4):
            raise GeometryError(f"affine must be 4×4, got {self.affine.shape}")
        expected_ndim = {StackKind.CINE: 4, StackKind.RGB: 4}.get(self.kind, 3)
        if self.array.ndim != expected_ndim:
            raise ValueError(
                f"a {self.kind.value} volume needs a {expected_ndim}-D array, "
                f"got shape {self.array.shape}"
            )
        if self.phase_times_ms is not None and len(self.phase_times_ms) != self.n_phases:
            raise ValueError(f"{len(self.phase_times_ms)} phase times for {self.n_phases} phases")

    @property
    def spacing_ijk(self) -> tuple[float, float, float]:
        """Step along i (PixelSpacing[1]), along j (PixelSpacing[0]) and between slices, in mm."""
        return geometry.spacing_from_affine(self.affine)

    @property
    def n_phases(self) -> int:
        return int(self.array.shape[0]) if self.kind is StackKind.CINE else 1

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        """``(k, j, i)`` extent of one phase (one frame set for multi-frame/colour)."""
        if self.kind is StackKind.CINE:
            return self.array.shape[1], self.array.shape[2], self.array.shape[3]
        return self.array.shape[0], self.array.shape[1], self.array.shape[2]

    def phase(self, index: int) -> npt.NDArray[np.generic]:
        """The ``[k, j, i]`` array of one phase (a view, no copy)."""
        if self.kind is not StackKind.CINE:
            if index != 0:
                raise IndexError(f"a {self.kind.value} volume has a single phase")
            return self.array
        phase: npt.NDArray[np.generic] = self.array[index]
        return phase

    def index_to_lps(self, ijk: npt.ArrayLike) -> npt.NDArray[np.float64]:
        return geometry.index_to_lps(self.affine, np.asarray(ijk, dtype=np.float64))

    def lps_to_index(self, lps: npt.ArrayLike) -> npt.NDArray[np.float64]:
        return geometry.lps_to_index(self.affine, np.asarray(lps, dtype=np.float64))
