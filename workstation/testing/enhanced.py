"""Enhanced MR Image Storage: one multi-frame file holding a volume or a cine stack.

The file follows the Enhanced MR Image IOD (PS3.3 A.36.2): geometry and timing live in
functional groups (PS3.3 C.7.6.16), shared where they are common to every frame and per frame
where they differ (position, frame content, cardiac trigger delay). Frames may be stored in a
shuffled order; the dimension index values and in-stack positions let a loader restore it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import EnhancedMRImageStorage

from workstation.testing import _dicom
from workstation.testing._dicom import STUDY_DATE, STUDY_TIME, UidFactory, decimal_string
from workstation.testing.series import checked_stored, decode, rescaled, spec_identity
from workstation.testing.spec import (
    NOMINAL_RR_MS,
    SeriesSpec,
    WrittenSeries,
    series_affine,
    slice_positions,
)

_DATETIME = STUDY_DATE + STUDY_TIME
#: Tags of the dimensions: which functional group holds each index (PS3.3 C.7.6.17).
_FRAME_CONTENT = Tag("FrameContentSequence")
_STACK_ID = Tag("StackID")
_IN_STACK_POSITION = Tag("InStackPositionNumber")
_TEMPORAL_POSITION = Tag("TemporalPositionIndex")


def write_enhanced_mr(
    path: Path, spec: SeriesSpec | None = None, stored: np.ndarray | None = None
) -> WrittenSeries:
    """Write one Enhanced MR Image Storage file (PS3.3 A.36.2).

    Parameters
    ----------
    path:
        File to write.
    spec:
        Geometry, pixel format, timing, identity and transfer syntax; ``modality`` must be "MR" and
        ``photometric`` MONOCHROME2. ``shuffle`` stores the frames in a random order. Gantry tilt
        and nonuniform offsets are written as per-frame positions. Missing and duplicate slices
        and the localizer are single-frame ideas and are refused. Default: a 6-phase cine of the
        default matrix.
    stored:
        Stored values ``[k, j, i]`` or ``[t, k, j, i]`` in true order; a pattern when None.

    Returns
    -------
    WrittenSeries
        ``paths`` is ``[path]``, ``sop_instance_uids`` its one UID, ``frame_order`` the true index
        ``t · n_slices + k`` of each stored frame; ``stored``, ``values`` and ``affine`` as for
        :func:`write_series`.
    """
    spec = spec or SeriesSpec(
        modality="MR", phases=6, rescale_slope=1.0, rescale_intercept=0.0, series_number=2
    )
    if spec.modality != "MR" or spec.photometric != "MONOCHROME2":
        raise ValueError("an Enhanced MR image needs modality MR and MONOCHROME2 (PS3.3 C.8.13.1)")
    if spec.missing_slices or spec.duplicate_slices or spec.localizer:
        raise ValueError("missing/duplicate slices and localizers apply to single-frame series")
    path = Path(path)
    dtype = _dicom.stored_dtype(spec.bits_allocated, spec.signed)
    n_t = spec.phases or 1
    true_frames = checked_stored(spec, stored, dtype).reshape(
        n_t * spec.n_slices, spec.rows, spec.columns
    )
    order = list(range(len(true_frames)))
    if spec.shuffle and len(order) > 1:
        permuted = [int(n) for n in np.random.default_rng(spec.seed).permutation(len(order))]
        # A permutation that happens to be the identity would shuffle nothing: rotate instead.
        order = permuted if permuted != order else order[1:] + order[:1]

    uid = UidFactory(spec.uid_seed)
    identity = spec_identity(spec, uid)
    frame_of_reference = spec.frame_of_reference_uid or uid("frame-of-reference")
    sop_uid = uid("instance")
    ds = _dicom.new_dataset(EnhancedMRImageStorage, sop_uid, identity)
    ds.FrameOfReferenceUID = frame_of_reference
    ds.PositionReferenceIndicator = ""
    ds.PatientPosition = "HFS"
    _set_equipment_and_image(ds, cine=spec.phases is not None)
    _set_pulse_sequence(ds)
    ds.InstanceNumber = 1
    ds.NumberOfFrames = len(order)
    ds.AcquisitionContextSequence = Sequence()
    ds.SharedFunctionalGroupsSequence = Sequence([_shared_groups(spec)])
    positions = slice_positions(spec)
    times = spec.phase_times
    ds.PerFrameFunctionalGroupsSequence = Sequence(
        _frame_groups(spec, index // spec.n_slices, index % spec.n_slices, positions, times)
        for index in order
    )
    _set_dimensions(ds, uid("dimension-organization"), cine=spec.phases is not None)
    if spec.phases is not None:
        _set_cardiac_synchronization(ds)
    frames = true_frames[order]
    _dicom.set_grey_pixel_module(
        ds, frames, bits_allocated=spec.bits_allocated, bits_stored=spec.bits_stored
    )
    # Enhanced MR makes these Type 1: "00" unless the syntax itself is lossy (set by save).
    ds.LossyImageCompression = "01" if spec.lossy else "00"
    ds.BurnedInAnnotation = "NO"
    ds.PresentationLUTShape = "IDENTITY"
    _dicom.save(ds, frames if len(frames) > 1 else frames[0], path, spec.transfer_syntax)

    stored_true = true_frames
    if spec.transfer_syntax in _dicom.LOSSY_METHODS:
        decoded, _ = decode(path)
        stored_true = np.empty_like(true_frames)
        stored_true[order] = decoded.reshape(true_frames.shape)
    return WrittenSeries(
        spec=spec,
        paths=[path],
        stored=stored_true.reshape(spec.shape),
        values=rescaled(spec, stored_true).reshape(spec.shape),
        affine=series_affine(spec),
        positions=positions,
        phase_times=times,
        study_instance_uid=identity.study_instance_uid,
        series_instance_uid=identity.series_instance_uid,
        frame_of_reference_uid=frame_of_reference,
        sop_instance_uids=[sop_uid],
        slice_paths={(t, k): path for t in range(n_t) for k in range(spec.n_slices)},
        frame_order=tuple(order),
    )


def _item(**attributes: object) -> Dataset:
    item = Dataset()
    for keyword, value in attributes.items():
        setattr(item, keyword, value)
    return item


def _set_equipment_and_image(ds: Dataset, *, cine: bool) -> None:
    """Enhanced General Equipment (C.7.5.2) and Enhanced MR Image (C.8.13.1) modules."""
    ds.DeviceSerialNumber = "0001"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "CARDIAC_GATED" if cine else "VOLUME", "NONE"]
    ds.AcquisitionNumber = 1
    ds.AcquisitionDateTime = _DATETIME
    ds.AcquisitionDuration = 12.0
    ds.ContentQualification = "PRODUCT"
    ds.ResonantNucleus = "1H"
    ds.KSpaceFiltering = "NONE"
    ds.MagneticFieldStrength = 1.5
    ds.ApplicableSafetyStandardAgency = "IEC"
    # Image-level copies of the frame type description (PS3.3 C.8.13.1.1); "MIXED" would be
    # needed only when frames differ.
    ds.PixelPresentation = "MONOCHROME"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.ComplexImageComponent = "MAGNITUDE"
    ds.AcquisitionContrast = "UNKNOWN"


def _set_pulse_sequence(ds: Dataset) -> None:
    """MR Pulse Sequence module (C.8.13.4) of a 2D balanced steady-state sequence."""
    ds.PulseSequenceName = "SSFP"
    ds.MRAcquisitionType = "2D"
    ds.EchoPulseSequence = "GRADIENT"
    ds.MultiPlanarExcitation = "NO"
    ds.PhaseContrast = "NO"
    ds.TimeOfFlightContrast = "NO"
    ds.SteadyStatePulseSequence = "FREE_PRECESSION"
    ds.EchoPlanarPulseSequence = "NO"
    ds.SaturationRecovery = "NO"
    ds.SpectrallySelectedSuppression = "NONE"
    ds.OversamplingPhase = "NONE"
    ds.GeometryOfKSpaceTraversal = "RECTILINEAR"
    ds.RectilinearPhaseEncodeReordering = "LINEAR"
    ds.SegmentedKSpaceTraversal = "SINGLE"
    ds.NumberOfKSpaceTrajectories = 1


def _shared_groups(spec: SeriesSpec) -> Dataset:
    """Functional groups common to every frame (PS3.3 C.7.6.16.2, C.8.13.5)."""
    slope = 1.0 if spec.rescale_slope is None else spec.rescale_slope
    intercept = 0.0 if spec.rescale_intercept is None else spec.rescale_intercept
    return _item(
        PixelMeasuresSequence=[
            _item(
                PixelSpacing=[decimal_string(v) for v in spec.pixel_spacing],
                SliceThickness=decimal_string(spec.slice_spacing),
                SpacingBetweenSlices=decimal_string(spec.slice_spacing),
            )
        ],
        PlaneOrientationSequence=[
            _item(ImageOrientationPatient=[decimal_string(v) for v in spec.orientation])
        ],
        PixelValueTransformationSequence=[
            _item(RescaleIntercept=intercept, RescaleSlope=slope, RescaleType="US")
        ],
        MRImageFrameTypeSequence=[
            _item(
                FrameType=[
                    "ORIGINAL",
                    "PRIMARY",
                    "CARDIAC_GATED" if spec.phases else "VOLUME",
                    "NONE",
                ],
                PixelPresentation="MONOCHROME",
                VolumetricProperties="VOLUME",
                VolumeBasedCalculationTechnique="NONE",
                ComplexImageComponent="MAGNITUDE",
                AcquisitionContrast="UNKNOWN",
            )
        ],
        MRTimingAndRelatedParametersSequence=[
            _item(
                RepetitionTime=3.2,
                FlipAngle=50,
                EchoTrainLength=1,
                RFEchoTrainLength=1,
                GradientEchoTrainLength=1,
                GradientOutputType="DB_DT",
                GradientOutput=0.0,
                OperatingModeSequence=[
                    _item(OperatingModeType="STATIC FIELD", OperatingMode="IEC_NORMAL"),
                    _item(OperatingModeType="RF", OperatingMode="IEC_NORMAL"),
                    _item(OperatingModeType="GRADIENT", OperatingMode="IEC_NORMAL"),
                ],
                SpecificAbsorptionRateSequence=[
                    _item(
                        SpecificAbsorptionRateDefinition="IEC_WHOLE_BODY",
                        SpecificAbsorptionRateValue=1.0,
                    )
                ],
            )
        ],
        MRFOVGeometrySequence=[
            _item(
                InPlanePhaseEncodingDirection="ROW",
                MRAcquisitionFrequencyEncodingSteps=spec.columns,
                MRAcquisitionPhaseEncodingStepsInPlane=spec.rows,
                PercentSampling=100,
                PercentPhaseFieldOfView=100,
            )
        ],
        MREchoSequence=[_item(EffectiveEchoTime=1.6)],
        MRModifierSequence=[
            _item(
                InversionRecovery="NO",
                FlowCompensation="NONE",
                Spoiling="NONE",
                T2Preparation="NO",
                SpectrallySelectedExcitation="NONE",
                SpatialPresaturation="NONE",
                PartialFourier="NO",
                ParallelAcquisition="NO",
            )
        ],
        MRImagingModifierSequence=[
            _item(
                MagnetizationTransfer="NONE",
                BloodSignalNulling="NO",
                Tagging="NONE",
                TransmitterFrequency=63.87,
                PixelBandwidth=930.0,
            )
        ],
        MRReceiveCoilSequence=[
            _item(
                ReceiveCoilName="TORSO",
                ReceiveCoilManufacturerName="",
                ReceiveCoilType="MULTICOIL",
                QuadratureReceiveCoil="NO",
                MultiCoilDefinitionSequence=[
                    _item(MultiCoilElementName="E1", MultiCoilElementUsed="YES")
                ],
            )
        ],
        MRTransmitCoilSequence=[
            _item(TransmitCoilName="BODY", TransmitCoilManufacturerName="", TransmitCoilType="BODY")
        ],
        MRAveragesSequence=[_item(NumberOfAverages=1)],
        FrameAnatomySequence=[
            _item(
                FrameLaterality="U",
                AnatomicRegionSequence=[
                    _item(CodeValue="80891009", CodingSchemeDesignator="SCT", CodeMeaning="Heart")
                ],
            )
        ],
    )


def _frame_groups(
    spec: SeriesSpec,
    t: int,
    k: int,
    positions: np.ndarray,
    times: tuple[float, ...] | None,
) -> Dataset:
    """Per-frame groups: frame content with dimension indices, position, trigger delay."""
    content = _item(
        FrameAcquisitionNumber=1,
        FrameReferenceDateTime=_DATETIME,
        FrameAcquisitionDateTime=_DATETIME,
        FrameAcquisitionDuration=40.0,
        StackID="1",
        InStackPositionNumber=k + 1,
        DimensionIndexValues=[1, k + 1] if times is None else [1, k + 1, t + 1],
    )
    groups = _item(
        FrameContentSequence=[content],
        PlanePositionSequence=[
            _item(ImagePositionPatient=[decimal_string(v) for v in positions[k]])
        ],
    )
    if times is not None:
        content.TemporalPositionIndex = t + 1
        groups.CardiacSynchronizationSequence = [
            _item(
                NominalCardiacTriggerDelayTime=times[t],
                ActualCardiacTriggerDelayTime=times[t],
                RRIntervalTimeNominal=NOMINAL_RR_MS,
            )
        ]
    return groups


def _set_dimensions(ds: Dataset, organization_uid: str, *, cine: bool) -> None:
    """Multi-frame Dimension module (C.7.6.17): stack, position in stack, temporal position."""
    dimensions = [(_STACK_ID, "Stack"), (_IN_STACK_POSITION, "Slice")]
    if cine:
        dimensions.append((_TEMPORAL_POSITION, "Phase"))
    ds.DimensionOrganizationSequence = [_item(DimensionOrganizationUID=organization_uid)]
    ds.DimensionOrganizationType = "3D_TEMPORAL" if cine else "3D"
    ds.DimensionIndexSequence = [
        _item(
            DimensionOrganizationUID=organization_uid,
            DimensionIndexPointer=pointer,
            FunctionalGroupPointer=_FRAME_CONTENT,
            DimensionDescriptionLabel=label,
        )
        for pointer, label in dimensions
    ]


def _set_cardiac_synchronization(ds: Dataset) -> None:
    """Cardiac Synchronization module (C.7.4.1) of a retrospectively gated cine."""
    ds.CardiacSynchronizationTechnique = "RETROSPECTIVE"
    ds.CardiacSignalSource = "ECG"
    ds.CardiacRRIntervalSpecified = NOMINAL_RR_MS
    ds.CardiacBeatRejectionTechnique = "NONE"
    ds.LowRRValue = 800
    ds.HighRRValue = 1200
    ds.IntervalsAcquired = 12
    ds.IntervalsRejected = 0
