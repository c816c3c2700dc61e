"""Scene layers from scanned DICOM stacks: identity, default window and slice references."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workstation.core.scene import ImageLayer, LayerInfo
from workstation.core.study import Patient, Series, Study
from workstation.core.volume import Volume

if TYPE_CHECKING:
    from workstation.io import DicomStack


def layer_id(stack: DicomStack) -> str:
    return f"{stack.series_instance_uid}#{stack.index}"


def layer_info(patient: Patient, study: Study, series: Series, stack: DicomStack) -> LayerInfo:
    first = stack.frames[0].header
    window = None
    if first.window_center and first.window_width and first.window_width[0] > 0:
        window = (first.window_width[0], first.window_center[0])
    multi_frame = any(ref.header.number_of_frames > 1 for ref in stack.frames)
    return LayerInfo(
        patient_name=patient.patient_name,
        patient_id=patient.patient_id,
        study_instance_uid=study.study_instance_uid,
        study_date=study.study_date,
        study_description=study.study_description,
        series_instance_uid=series.series_instance_uid,
        series_description=series.series_description,
        series_number=series.series_number,
        modality=series.modality,
        frame_of_reference_uid=series.frame_of_reference_uid,
        stack_index=stack.index,
        default_window=window,
        sop_instance_uids=tuple(ref.header.sop_instance_uid for ref in stack.frames),
        frame_numbers=tuple(ref.frame + 1 if multi_frame else None for ref in stack.frames),
        photometric=first.photometric or "MONOCHROME2",
    )


def new_layer(
    patient: Patient, study: Study, series: Series, stack: DicomStack, volume: Volume
) -> ImageLayer:
    """A layer whose voxels will arrive progressively (nothing marked loaded yet)."""
    import numpy as np

    info = layer_info(patient, study, series, stack)
    layer = ImageLayer(
        id=layer_id(stack),
        volume=volume,
        info=info,
        loaded=np.zeros(len(stack.frames), dtype=bool),
        notes=tuple(w.message for w in stack.warnings),
    )
    if info.default_window is not None:
        layer.display.window, layer.display.center = info.default_window
    return layer
