"""NIfTI-1 export: one ``.nii.gz`` per stack, RAS affine, and a JSON sidecar.

NIfTI's world is RAS (x to the left of the patient is negative), DICOM's is LPS: the affine is
converted here, at the file boundary, and nowhere else. Arrays are written x, y, z(, t) — the
transpose of the engine's numpy order — without copying the voxels.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core import geometry
from workstation.core.volume import StackKind, Volume

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_RGB = np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")])


def safe_stem(series_number: int | None, description: str, series_uid: str, stack: int) -> str:
    """A file name stem that carries no patient identifier and cannot leave its folder.

    Descriptions come from the file and may hold anything (``../``, slashes, control
    characters): only letters, digits, dot, dash and underscore survive.
    """
    text = _UNSAFE.sub("_", description).strip("._-")[:48] or "series"
    digest = hashlib.sha1(series_uid.encode(), usedforsecurity=False).hexdigest()[:8]
    number = f"S{series_number:04d}_" if series_number is not None and series_number >= 0 else ""
    return f"{number}{text}_{digest}_{stack}"


def _xyz_array(volume: Volume) -> np.ndarray[Any, Any]:
    array = volume.array
    if volume.kind is StackKind.RGB:
        rgb = np.ascontiguousarray(array[..., :3].astype(np.uint8, copy=False)).view(_RGB)
        return rgb[..., 0].transpose(2, 1, 0)
    return array.transpose(tuple(reversed(range(array.ndim))))


def write_nifti(volume: Volume, path: Path) -> None:
    """Write ``volume`` to ``path`` (``.nii.gz``) with its RAS affine in qform and sform."""
    import nibabel as nib

    affine_ras = geometry.lps_to_ras(volume.affine)
    data = _xyz_array(volume)
    image = nib.Nifti1Image(data, affine_ras)
    header = image.header
    header.set_qform(affine_ras, code=1)  # scanner coordinates
    header.set_sform(affine_ras, code=1)
    if volume.kind is StackKind.CINE and volume.phase_times_ms and len(volume.phase_times_ms) > 1:
        interval = float(np.median(np.diff(volume.phase_times_ms)))
        zooms = header.get_zooms()
        header.set_zooms((*zooms[:3], max(interval, 0.0)))
        header.set_xyzt_units("mm", "msec")
    else:
        header.set_xyzt_units("mm")
    nib.save(image, str(path))


def write_sidecar(path: Path, entry: dict[str, Any], volume: Volume) -> None:
    sidecar = dict(entry)
    sidecar["affine_ras"] = geometry.lps_to_ras(volume.affine).tolist()
    sidecar["phase_times_ms"] = list(volume.phase_times_ms) if volume.phase_times_ms else None
    sidecar["nifti_axes"] = "x,y,z,t" if volume.kind is StackKind.CINE else "x,y,z"
    path.write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
