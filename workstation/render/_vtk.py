"""VTK plumbing shared by the 2D adapters: factory registration and numpy ↔ VTK helpers.

VTK is imported module by module (DESIGN.md: never ``import vtk``). Importing the OpenGL2,
FreeType and interaction-style modules registers the object factories that make
``vtkRenderWindow()``, text actors and interactor styles concrete.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import vtkmodules.vtkInteractionStyle
import vtkmodules.vtkRenderingFreeType
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (render window and mapper factories)
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkImageData, vtkPolyData
from vtkmodules.vtkCommonMath import vtkMatrix4x4

FloatArray = npt.NDArray[np.float64]

#: Overlay colours (RGB 0..1) of the dark reading-room look.
TEXT_COLOUR = (0.86, 0.86, 0.84)
ACCENT_COLOUR = (1.0, 0.72, 0.16)
ANNOTATION_COLOUR = (0.38, 0.9, 0.52)
WARNING_COLOUR = (1.0, 0.62, 0.25)


def matrix4x4(matrix: npt.ArrayLike) -> Any:
    """A ``vtkMatrix4x4`` holding the 4×4 ``matrix``."""
    values = np.asarray(matrix, dtype=np.float64)
    result = vtkMatrix4x4()
    for row in range(4):
        for column in range(4):
            result.SetElement(row, column, float(values[row, column]))
    return result


def to_vtk_array(array: npt.NDArray[np.generic], *, deep: bool) -> Any:
    """A VTK data array of ``array`` (shared memory unless ``deep``)."""
    return numpy_to_vtk(array, deep=deep)  # type: ignore[no-untyped-call]


def to_numpy(vtk_array: Any) -> npt.NDArray[np.generic]:
    """A numpy view of a VTK data array."""
    result: npt.NDArray[np.generic] = vtk_to_numpy(vtk_array)  # type: ignore[no-untyped-call]
    return result


def image_data_from(array: npt.NDArray[np.generic]) -> Any:
    """A ``vtkImageData`` sharing the memory of a C-contiguous 2D/3D (or RGB) array.

    The numpy array is ``[z, y, x]`` (``[y, x]``) with an optional trailing colour axis; the
    image has origin 0 and spacing 1, i.e. it is in index space. The caller keeps ``array``
    alive (VTK does not own it).
    """
    if not array.flags.c_contiguous:
        raise ValueError("image_data_from needs a C-contiguous array")
    components = 1
    spatial = array
    if array.ndim in (3, 4) and array.shape[-1] in (3, 4) and array.dtype == np.uint8:
        components = int(array.shape[-1])
        spatial = array[..., 0]
    shape = spatial.shape
    dims = (shape[-1], shape[-2], shape[-3] if len(shape) == 3 else 1)
    image = vtkImageData()
    image.SetDimensions(*dims)
    image.SetOrigin(0.0, 0.0, 0.0)
    image.SetSpacing(1.0, 1.0, 1.0)
    scalars = to_vtk_array(array.reshape(-1, components), deep=False)
    image.GetPointData().SetScalars(scalars)
    return image


def polydata(points: npt.ArrayLike, lines: list[list[int]], verts: list[int] | None = None) -> Any:
    """Poly data with ``points`` (N×3) connected by the given poly-lines and vertices."""
    result = vtkPolyData()
    fill_polydata(result, points, lines, verts)
    return result


def fill_polydata(
    target: Any, points: npt.ArrayLike, lines: list[list[int]], verts: list[int] | None = None
) -> None:
    """Replace the geometry of an existing ``vtkPolyData``."""
    coordinates = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    vtk_points = vtkPoints()
    vtk_points.SetNumberOfPoints(len(coordinates))
    for index, (x, y, z) in enumerate(coordinates):
        vtk_points.SetPoint(index, float(x), float(y), float(z))
    cells = vtkCellArray()
    for line in lines:
        if len(line) >= 2:
            cells.InsertNextCell(len(line))
            for point_id in line:
                cells.InsertCellPoint(int(point_id))
    vertex_cells = vtkCellArray()
    for point_id in verts or []:
        vertex_cells.InsertNextCell(1)
        vertex_cells.InsertCellPoint(int(point_id))
    target.SetPoints(vtk_points)
    target.SetLines(cells)
    target.SetVerts(vertex_cells)
    target.Modified()
