"""What linked 2D views share beyond the scene: the cursor's frame of reference, MPR rotation.

The scene's cursor is a bare LPS point. Views showing series of the same frame of reference
(same patient position) follow it to the slice through it; a view of another frame of reference
must not, so whoever sets the cursor records the frame it belongs to here. Rotating the
crosshair in one view of an MPR tilts the planes of the other views about the cursor: the
rotation travels as an event to every view of the scene (each decides whether it applies).
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from psygnal import Signal

from workstation.core import geometry
from workstation.core.scene import Scene

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Rotation:
    """A rotation of the MPR planes by ``angle_deg`` about ``axis`` through ``center`` (LPS)."""

    center: tuple[float, float, float]
    axis: tuple[float, float, float]
    angle_deg: float
    frame_of_reference_uid: str = ""

    def matrix(self) -> FloatArray:
        """3×3 rotation matrix (right-hand rule about ``axis``)."""
        x, y, z = geometry.unit_vector(self.axis)
        angle = math.radians(self.angle_deg)
        c, s = math.cos(angle), math.sin(angle)
        t = 1.0 - c
        return np.array(
            [
                [t * x * x + c, t * x * y - s * z, t * x * z + s * y],
                [t * x * y + s * z, t * y * y + c, t * y * z - s * x],
                [t * x * z - s * y, t * y * z + s * x, t * z * z + c],
            ]
        )

    def apply(self, point: npt.ArrayLike) -> FloatArray:
        centre = np.asarray(self.center, dtype=np.float64)
        rotated: FloatArray = centre + self.matrix() @ (np.asarray(point, np.float64) - centre)
        return rotated


class ViewLink:
    """Per-scene state shared by its 2D views (see the module docstring)."""

    #: A crosshair rotation to apply (a :class:`Rotation`).
    rotated = Signal(object)
    #: Back to orthogonal planes for the given frame of reference UID.
    reset = Signal(str)

    def __init__(self) -> None:
        #: Frame of reference UID of the cursor ("" when unknown: every view may follow it).
        self.cursor_frame = ""
        #: Whether the cursor has been placed at all (views open at it only then).
        self.cursor_seen = False

    def set_cursor(self, scene: Scene, lps: npt.ArrayLike, frame_of_reference_uid: str) -> None:
        """Move the scene's cursor, recording the frame of reference it belongs to."""
        self.cursor_frame = frame_of_reference_uid
        self.cursor_seen = True
        scene.set_cursor(np.asarray(lps, dtype=np.float64))

    def rotate(self, rotation: Rotation) -> None:
        self.rotated.emit(rotation)

    def reset_rotation(self, frame_of_reference_uid: str) -> None:
        self.reset.emit(frame_of_reference_uid)


_LINKS: weakref.WeakKeyDictionary[Scene, ViewLink] = weakref.WeakKeyDictionary()


def link_of(scene: Scene) -> ViewLink:
    """The :class:`ViewLink` of ``scene`` (created on first use)."""
    link = _LINKS.get(scene)
    if link is None:
        link = _LINKS[scene] = ViewLink()
    return link


def same_frame(a: str, b: str) -> bool:
    """Whether positions in frames ``a`` and ``b`` can be compared (unknown frames: assumed)."""
    return not a or not b or a == b
