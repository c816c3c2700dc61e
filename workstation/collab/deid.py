"""De-identification of shared cases: DICOM PS3.15 Annex E, Basic Application Confidentiality
Profile, with the Clean Descriptors, Clean Structured Content and Retain Patient
Characteristics options.

Why not dicognito (installed, and good at what it does): it replaces names and IDs with
plausible fake values and *shifts* dates, keeps private attributes, sets Patient Identity
Removed only when Burned In Annotation is NO, and writes no De-identification Method Code
Sequence nor Longitudinal Temporal Information Modified. That is a different profile from
Annex E's basic one (which removes or empties dates, removes private attributes and records
the profile and options in (0012,0064)), so the table is implemented here, from PS3.15
Table E.1-1.

Action codes (PS3.15 E.1.1): **D** replace with a dummy value of the VR; **Z** replace with
a zero-length (empty) value; **X** remove; **K** keep; **C** clean (keep the meaning, remove
identifying text: here the patient's and staff's names, IDs, accession numbers, birth dates,
dates and long digit runs found anywhere in the study); **U** replace a UID with another,
consistently. Compound codes of the table are resolved as: X/Z → Z, Z/D → D for dates and
times (a dummy date keeps Type 1 dates valid) else Z, X/D → D for dates and times else X,
X/Z/D → Z, X/Z/U* → keep the sequence and replace every UID inside it.

Beyond the table, to leave nothing behind: every UID not defined by DICOM (not under
``1.2.840.10008.``, not a class or transfer syntax UID) is replaced; every person name
(PN) not in the table is emptied; every date, time and date-time not in the table gets the
dummy value; every other text value has the study's identifiers scrubbed out; private
attributes and overlay/curve groups (60xx, 50xx: overlays may hold burned-in text) are
removed. Images that declare Burned In Annotation = YES are refused (the Clean Pixel Data
option is not implemented).

Replacement UIDs are keyed: ``2.25.<128-bit integer from HMAC-SHA256(key, UID)>``, so the
same study shared twice with the same recipient keeps its UIDs (and its annotations, whose
UIDs are mapped the same way, still point at the right images), while anyone without the key
cannot recompute them from the originals.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid as uuid_module
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import BaseTag

from workstation.core.annotations import Annotation, ImageReference, SegmentReference, now
from workstation.core.errors import WorkstationError


class DeidentificationError(WorkstationError):
    """A file cannot be de-identified safely (burned-in text, unreadable)."""


#: PS3.15 Table E.1-1, Basic Profile column, by pydicom keyword.
BASIC_PROFILE: dict[str, str] = {
    # Patient
    "PatientName": "Z",
    "PatientID": "Z",
    "IssuerOfPatientID": "X",
    "IssuerOfPatientIDQualifiersSequence": "X",
    "PatientBirthDate": "Z",
    "PatientBirthTime": "X",
    "PatientBirthDateInAlternativeCalendar": "X",
    "PatientDeathDateInAlternativeCalendar": "X",
    "PatientAlternativeCalendar": "X",
    "PatientSex": "Z",
    "PatientAge": "X",
    "PatientSize": "X",
    "PatientWeight": "X",
    "PatientAddress": "X",
    "PatientBirthName": "X",
    "PatientMotherBirthName": "X",
    "OtherPatientIDs": "X",
    "OtherPatientIDsSequence": "X",
    "OtherPatientNames": "X",
    "MilitaryRank": "X",
    "BranchOfService": "X",
    "MedicalRecordLocator": "X",
    "MedicalAlerts": "X",
    "Allergies": "X",
    "CountryOfResidence": "X",
    "RegionOfResidence": "X",
    "PatientTelephoneNumbers": "X",
    "PatientTelecomInformation": "X",
    "EthnicGroup": "X",
    "Occupation": "X",
    "SmokingStatus": "X",
    "AdditionalPatientHistory": "X",
    "PregnancyStatus": "X",
    "LastMenstrualDate": "X",
    "PatientReligiousPreference": "X",
    "PatientSexNeutered": "X/Z",
    "PatientComments": "X",
    "ResponsiblePerson": "X",
    "ResponsibleOrganization": "X",
    "PatientInsurancePlanCodeSequence": "X",
    "InsurancePlanIdentification": "X",
    "PatientPrimaryLanguageCodeSequence": "X",
    "PatientPrimaryLanguageModifierCodeSequence": "X",
    "PatientState": "X",
    "PatientTransportArrangements": "X",
    "PatientInstitutionResidence": "X",
    "SpecialNeeds": "X",
    "CurrentPatientLocation": "X",
    "ReferencedPatientSequence": "X",
    "ReferencedPatientAliasSequence": "X",
    "ReferencedPatientPhotoSequence": "X",
    "AdmissionID": "X",
    "IssuerOfAdmissionID": "X",
    "AdmittingDate": "X",
    "AdmittingTime": "X",
    "AdmittingDiagnosesDescription": "X",
    "AdmittingDiagnosesCodeSequence": "X",
    "DischargeDiagnosisDescription": "X",
    "ServiceEpisodeID": "X",
    "IssuerOfServiceEpisodeID": "X",
    "ServiceEpisodeDescription": "X",
    "VisitComments": "X",
    "ScheduledPatientInstitutionResidence": "X",
    "ConfidentialityConstraintOnPatientDataDescription": "X",
    # Study, request and procedure steps
    "StudyDate": "Z",
    "StudyTime": "Z",
    "AccessionNumber": "Z",
    "StudyID": "Z",
    "StudyDescription": "X",
    "StudyComments": "X",
    "StudyIDIssuer": "X",
    "ReasonForStudy": "X",
    "ReferringPhysicianName": "Z",
    "ReferringPhysicianAddress": "X",
    "ReferringPhysicianTelephoneNumbers": "X",
    "ReferringPhysicianIdentificationSequence": "X",
    "ConsultingPhysicianName": "X",
    "PhysiciansOfRecord": "X",
    "PhysiciansOfRecordIdentificationSequence": "X",
    "NameOfPhysiciansReadingStudy": "X",
    "PhysiciansReadingStudyIdentificationSequence": "X",
    "RequestingPhysician": "X",
    "RequestingService": "X",
    "RequestedProcedureDescription": "X/Z",
    "RequestedProcedureID": "X",
    "RequestedProcedureLocation": "X",
    "RequestedProcedureComments": "X",
    "ReasonForTheRequestedProcedure": "X",
    "RequestedContrastAgent": "X",
    "RequestAttributesSequence": "X",
    "ImagingServiceRequestComments": "X",
    "PlacerOrderNumberImagingServiceRequest": "Z",
    "FillerOrderNumberImagingServiceRequest": "Z",
    "PlacerOrderNumberImagingServiceRequestRetired": "X",
    "FillerOrderNumberImagingServiceRequestRetired": "X",
    "OrderEnteredBy": "X",
    "OrderEntererLocation": "X",
    "OrderCallbackPhoneNumber": "X",
    "ScheduledStudyLocation": "X",
    "ScheduledStudyLocationAETitle": "X",
    "ReferencedStudySequence": "X/Z",
    "ReferencedPerformedProcedureStepSequence": "X/Z/D",
    "PerformedProcedureStepStartDate": "X",
    "PerformedProcedureStepStartTime": "X",
    "PerformedProcedureStepEndDate": "X",
    "PerformedProcedureStepEndTime": "X",
    "PerformedProcedureStepID": "X",
    "PerformedProcedureStepDescription": "X",
    "CommentsOnThePerformedProcedureStep": "X",
    "PerformedStationAETitle": "X",
    "PerformedStationName": "X",
    "PerformedLocation": "X",
    "PerformedStationNameCodeSequence": "X",
    "PerformedStationGeographicLocationCodeSequence": "X",
    "ScheduledProcedureStepStartDate": "X",
    "ScheduledProcedureStepStartTime": "X",
    "ScheduledProcedureStepEndDate": "X",
    "ScheduledProcedureStepEndTime": "X",
    "ScheduledProcedureStepDescription": "X",
    "ScheduledProcedureStepLocation": "X",
    "ScheduledProcedureStepID": "X",
    "ScheduledStationAETitle": "X",
    "ScheduledStationName": "X",
    "ScheduledStationNameCodeSequence": "X",
    "ScheduledStationGeographicLocationCodeSequence": "X",
    "ScheduledPerformingPhysicianName": "X",
    "ScheduledPerformingPhysicianIdentificationSequence": "X",
    "ScheduledHumanPerformersSequence": "X",
    "ActualHumanPerformersSequence": "X",
    "HumanPerformerName": "X",
    "HumanPerformerOrganization": "X",
    "PreMedication": "X",
    "InterpretationAuthor": "X",
    "InterpretationRecorder": "X",
    "InterpretationTranscriber": "X",
    "InterpretationText": "X",
    "InterpretationDiagnosisDescription": "X",
    "InterpretationApproverSequence": "X",
    "InterpretationIDIssuer": "X",
    "PhysicianApprovingInterpretation": "X",
    "Impressions": "X",
    "ResultsComments": "X",
    "ResultsIDIssuer": "X",
    "ResultsDistributionListSequence": "X",
    "DistributionName": "X",
    "DistributionAddress": "X",
    "IntendedRecipientsOfResultsIdentificationSequence": "X",
    "NamesOfIntendedRecipientsOfResults": "X",
    # Series, equipment, staff
    "SeriesDate": "X",
    "SeriesTime": "X",
    "SeriesDescription": "X",
    "ProtocolName": "X/D",
    "OperatorsName": "X/Z/D",
    "OperatorIdentificationSequence": "X/D",
    "PerformingPhysicianName": "X",
    "PerformingPhysicianIdentificationSequence": "X",
    "InstitutionName": "X/Z/D",
    "InstitutionAddress": "X",
    "InstitutionCodeSequence": "X/Z/D",
    "InstitutionalDepartmentName": "X",
    "InstitutionalDepartmentTypeCodeSequence": "X",
    "StationName": "X/Z/D",
    "DeviceSerialNumber": "X/Z/D",
    "DetectorID": "X/D",
    "GantryID": "X",
    "GeneratorID": "X",
    "CassetteID": "X",
    "PlateID": "X",
    "ModifyingDeviceID": "X",
    "ModifyingDeviceManufacturer": "X",
    "ModifiedImageDescription": "X",
    "DateOfLastCalibration": "X",
    "TimeOfLastCalibration": "X",
    "PersonAddress": "X",
    "PersonTelephoneNumbers": "X",
    "PersonIdentificationCodeSequence": "D",
    "PersonName": "D",
    "ContentCreatorName": "Z",
    "ContentCreatorIdentificationCodeSequence": "X",
    "ReviewerName": "X/Z",
    "TimezoneOffsetFromUTC": "X",
    # Instance and acquisition
    "InstanceCreationDate": "X/D",
    "InstanceCreationTime": "X/Z/D",
    "AcquisitionDate": "X/Z",
    "AcquisitionTime": "X/Z",
    "AcquisitionDateTime": "X/D",
    "ContentDate": "Z/D",
    "ContentTime": "Z/D",
    "DateOfSecondaryCapture": "X",
    "TimeOfSecondaryCapture": "X",
    "FrameAcquisitionDateTime": "X/D",
    "FrameReferenceDateTime": "X/D",
    "StartAcquisitionDateTime": "X/D",
    "EndAcquisitionDateTime": "X/D",
    "RadiopharmaceuticalStartTime": "X",
    "RadiopharmaceuticalStopTime": "X",
    "RadiopharmaceuticalStartDateTime": "X",
    "RadiopharmaceuticalStopDateTime": "X",
    "ContrastBolusAgent": "Z/D",
    "AcquisitionComments": "X",
    "AcquisitionDeviceProcessingDescription": "X/D",
    "AcquisitionProtocolDescription": "X",
    "AcquisitionContextSequence": "X",
    "ImageComments": "X",
    "FrameComments": "X",
    "DerivationDescription": "X",
    "ImagePresentationComments": "X",
    "IconImageSequence": "X",
    "IdentifyingComments": "X",
    "ContributionDescription": "X",
    "CurveDate": "X",
    "CurveTime": "X",
    "OverlayDate": "X",
    "OverlayTime": "X",
    "TextComments": "X",
    "TextString": "X",
    "Arbitrary": "X",
    "TopicTitle": "X",
    "TopicSubject": "X",
    "TopicAuthor": "X",
    "TopicKeywords": "X",
    "GraphicAnnotationSequence": "D",
    # Structured reports
    "ContentSequence": "X",
    "TextValue": "X",
    "DateTime": "D",
    "Date": "D",
    "Time": "D",
    "ObservationDateTime": "X/D",
    "VerifyingObserverName": "D",
    "VerifyingObserverSequence": "D",
    "VerifyingObserverIdentificationCodeSequence": "Z",
    "VerifyingOrganization": "X",
    "AuthorObserverSequence": "X",
    "ParticipantSequence": "X",
    "CustodialOrganizationSequence": "X",
    # Security and provenance
    "DigitalSignaturesSequence": "X",
    "DigitalSignatureUID": "X",
    "ReferencedDigitalSignatureSequence": "X",
    "ReferencedSOPInstanceMACSequence": "X",
    "MAC": "X",
    "ModifiedAttributesSequence": "X",
    "OriginalAttributesSequence": "X",
    "DataSetTrailingPadding": "X",
    # References that keep their structure, with every UID inside replaced
    "ReferencedImageSequence": "X/Z/U*",
    "SourceImageSequence": "X/Z/U*",
    # UIDs
    "StudyInstanceUID": "U",
    "SeriesInstanceUID": "U",
    "SOPInstanceUID": "U",
    "MediaStorageSOPInstanceUID": "U",
    "ReferencedSOPInstanceUID": "U",
    "ReferencedSOPInstanceUIDInFile": "U",
    "FrameOfReferenceUID": "U",
    "ReferencedFrameOfReferenceUID": "U",
    "RelatedFrameOfReferenceUID": "U",
    "SynchronizationFrameOfReferenceUID": "U",
    "SourceFrameOfReferenceUID": "U",
    "InstanceCreatorUID": "U",
    "ConcatenationUID": "U",
    "DimensionOrganizationUID": "U",
    "IrradiationEventUID": "U",
    "DeviceUID": "U",
    "UID": "U",
    "ObservationUID": "U",
    "StorageMediaFileSetUID": "U",
    "TransactionUID": "U",
    "FiducialUID": "U",
    "DoseReferenceUID": "U",
    "LargePaletteColorLookupTableUID": "U",
    "TemplateExtensionOrganizationUID": "U",
    "TemplateExtensionCreatorUID": "U",
    "CreatorVersionUID": "U",
    "ContextGroupExtensionCreatorUID": "U",
    "TrackingUID": "U",
    "TargetUID": "U",
    "SpecimenUID": "U",
    "AcquisitionUID": "U",
    "ReferencedGeneralPurposeScheduledProcedureStepTransactionUID": "U",
    "RequestedSOPInstanceUID": "U",
}

#: Clean Descriptors Option (PS3.15 E.3.5): descriptions kept, identifying text removed.
CLEAN_DESCRIPTORS = (
    "StudyDescription",
    "SeriesDescription",
    "ProtocolName",
    "ImageComments",
    "FrameComments",
    "AcquisitionComments",
    "DerivationDescription",
    "PerformedProcedureStepDescription",
    "RequestedProcedureDescription",
    "ScheduledProcedureStepDescription",
    "ContrastBolusAgent",
    "AdditionalPatientHistory",
)
#: Clean Structured Content Option (E.3.6): SR content kept (measurements survive), cleaned.
CLEAN_STRUCTURED_CONTENT = ("ContentSequence", "TextValue")
#: Retain Patient Characteristics Option (E.3.7).
RETAIN_PATIENT_CHARACTERISTICS = (
    "PatientAge",
    "PatientSex",
    "PatientSize",
    "PatientWeight",
    "EthnicGroup",
    "PatientSexNeutered",
    "SmokingStatus",
    "PregnancyStatus",
)

#: De-identification Method Code Sequence entries (CID 7050), scheme DCM.
CODE_BASIC = ("113100", "Basic Application Confidentiality Profile")
CODE_CLEAN_DESCRIPTORS = ("113105", "Clean Descriptors Option")
CODE_CLEAN_STRUCTURED_CONTENT = ("113104", "Clean Structured Content Option")
CODE_RETAIN_PATIENT_CHARACTERISTICS = ("113108", "Retain Patient Characteristics Option")

_DATE_VRS = {"DA", "DT", "TM"}
_TEXT_VRS = {"LO", "SH", "ST", "LT", "UT", "UC"}
_DUMMY = {
    "PN": "ANONYMOUS",
    "LO": "ANONYMIZED",
    "SH": "ANONYMIZED",
    "LT": "ANONYMIZED",
    "ST": "ANONYMIZED",
    "UT": "ANONYMIZED",
    "UC": "ANONYMIZED",
    "CS": "ANONYMIZED",
    "AE": "ANONYMOUS",
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "AS": "000Y",
    "DS": "0",
    "IS": "0",
}
_STRING_VRS = {
    "AE",
    "AS",
    "CS",
    "DA",
    "DS",
    "DT",
    "IS",
    "LO",
    "LT",
    "PN",
    "SH",
    "ST",
    "TM",
    "UC",
    "UI",
    "UR",
    "UT",
}
#: Attributes removed from the file meta information (the station that wrote the file).
_META_REMOVED = (
    "SourceApplicationEntityTitle",
    "SendingApplicationEntityTitle",
    "ReceivingApplicationEntityTitle",
    "PrivateInformation",
    "PrivateInformationCreatorUID",
)
_KEEP_UIDS = {"TransferSyntaxUID", "ImplementationClassUID", "CodingSchemeUID", "MappingResource"}

_DATE_PATTERNS = (
    re.compile(r"\b\d{4}[-./]\d{1,2}[-./]\d{1,2}\b"),
    re.compile(r"\b\d{1,2}[-./]\d{1,2}[-./]\d{2,4}\b"),
    re.compile(r"\d{6,}"),
)


def _resolve(code: str, vr: str) -> str:
    """One of D, Z, X, K, C, U, R (keep the sequence, process its items) for a table code."""
    if code in ("D", "Z", "X", "K", "C", "U"):
        return code
    if code == "X/Z":
        return "Z"
    if code == "Z/D":
        return "D" if vr in _DATE_VRS else "Z"
    if code == "X/D":
        return "D" if vr in _DATE_VRS else "X"
    if code == "X/Z/D":
        return "Z"
    if code == "X/Z/U*":
        return "R"
    raise ValueError(f"unknown Annex E action {code!r}")


@dataclass(frozen=True)
class DeidOptions:
    """Which Annex E options to apply on top of the basic profile (all recorded in 0012,0064)."""

    clean_descriptors: bool = True
    clean_structured_content: bool = True
    retain_patient_characteristics: bool = True
    #: Patient's Name of the copy (Z allows a dummy value; a name keeps viewers' lists tidy).
    patient_name: str = "ANONYMOUS"


def _tag(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(f"{keyword} is not a DICOM keyword pydicom knows")
    return int(tag)


def action_table(options: DeidOptions) -> dict[int, str]:
    """Tag → resolved action for ``options``."""
    table: dict[int, str] = {}
    for keyword, code in BASIC_PROFILE.items():
        tag = _tag(keyword)
        vr = dictionary_VR(tag)
        # The person sequence of a verified SR keeps its items: their attributes are in the
        # table themselves (name D, organization X, identification code sequence Z).
        if keyword == "VerifyingObserverSequence":
            table[tag] = "R"
            continue
        if vr == "SQ" and code == "D":
            table[tag] = "Z"
            continue
        table[tag] = _resolve(code, vr)
    if options.clean_descriptors:
        for keyword in CLEAN_DESCRIPTORS:
            table[_tag(keyword)] = "C"
    if options.clean_structured_content:
        table[_tag("ContentSequence")] = "R"
        table[_tag("TextValue")] = "C"
    if options.retain_patient_characteristics:
        for keyword in RETAIN_PATIENT_CHARACTERISTICS:
            table[_tag(keyword)] = "K"
    return table


def _is_dicom_uid(value: str) -> bool:
    return value.startswith("1.2.840.10008.")


class Deidentifier:
    """De-identifies the files and annotations of one shared study, consistently.

    Parameters
    ----------
    key
        The secret for keyed UID replacement (the sharing site's key).
    scope
        Distinguishes recipients: the same key and scope give the same UIDs.
    options
        The Annex E options applied.
    """

    def __init__(self, key: bytes, *, scope: str = "", options: DeidOptions | None = None) -> None:
        if len(key) < 16:
            raise ValueError("the de-identification key must hold at least 16 bytes")
        self._key = hmac.new(key, b"scope\x00" + scope.encode("utf-8"), hashlib.sha256).digest()
        self.options = options or DeidOptions()
        self._actions = action_table(self.options)
        self._identifiers: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    # --- keyed replacement --------------------------------------------------------------------

    def _digest(self, purpose: bytes, value: str) -> bytes:
        message = purpose + b"\x00" + value.encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def uid(self, original: str) -> str:
        """The replacement of a UID (PS3.5 B.2: ``2.25.`` + a UUID's integer)."""
        original = original.strip().rstrip("\x00")
        if not original:
            return original
        digest = bytearray(self._digest(b"uid", original)[:16])
        digest[6] = (digest[6] & 0x0F) | 0x80  # UUID version 8 (custom), RFC 9562
        digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
        return f"2.25.{int.from_bytes(digest, 'big')}"

    def annotation_uuid(self, original: str) -> str:
        return str(uuid_module.UUID(bytes=self._digest(b"annotation", original)[:16], version=4))

    def patient_id(self, original: str) -> str:
        """A keyed pseudonym, so that a recipient's library groups one patient's studies."""
        return "ANON-" + self._digest(b"patient", original or "").hex()[:16].upper()

    # --- identifiers --------------------------------------------------------------------------

    def learn(self, dataset: Dataset) -> None:
        """Collect the identifying values of ``dataset`` that cleaned text must not contain."""
        values: list[str] = []
        for keyword in (
            "PatientName",
            "OtherPatientNames",
            "PatientBirthName",
            "PatientMotherBirthName",
            "ReferringPhysicianName",
            "PerformingPhysicianName",
            "OperatorsName",
            "NameOfPhysiciansReadingStudy",
            "PhysiciansOfRecord",
        ):
            for value in _values(dataset.get(keyword)):
                values.extend(part for part in re.split(r"[\^=,\s]+", str(value)) if part)
        for keyword in (
            "PatientID",
            "OtherPatientIDs",
            "AccessionNumber",
            "InstitutionName",
            "PatientAddress",
            "MedicalRecordLocator",
        ):
            values.extend(str(v) for v in _values(dataset.get(keyword)))
        birth = str(dataset.get("PatientBirthDate", "") or "")
        if len(birth) == 8 and birth.isdigit():
            y, m, d = birth[:4], birth[4:6], birth[6:]
            values += [birth, f"{y}-{m}-{d}", f"{d}.{m}.{y}", f"{d}/{m}/{y}", f"{m}/{d}/{y}"]
        for value in values:
            stripped = value.strip()
            if len(stripped) >= 2:
                self._identifiers.add(stripped)
        self._pattern = None

    def learn_files(self, paths: Iterable[Path]) -> None:
        for path in paths:
            try:
                dataset = dcmread(path, stop_before_pixels=True)
            except Exception as exc:
                name = Path(path).name
                raise DeidentificationError(f"{name}: not readable DICOM ({exc})") from exc
            self.learn(dataset)

    def clean_text(self, text: str) -> str:
        """``text`` without the learnt identifiers, dates and long digit runs (action C)."""
        if not text:
            return text
        if self._pattern is None and self._identifiers:
            words = sorted(self._identifiers, key=len, reverse=True)
            self._pattern = re.compile(
                "|".join(rf"(?<!\w){re.escape(word)}(?!\w)" for word in words), re.IGNORECASE
            )
        cleaned = self._pattern.sub(" ", text) if self._pattern is not None else text
        for pattern in _DATE_PATTERNS:
            cleaned = pattern.sub(" ", cleaned)
        return re.sub(r"\s{2,}", " ", cleaned).strip(" ,;:-_^")

    def _scrub(self, text: str) -> str:
        """Clean text the table does not name, when it holds a learnt identifier."""
        if not text or not self._identifiers or not self._contains_identifier(text):
            return text
        return self.clean_text(text)

    def _contains_identifier(self, text: str) -> bool:
        lowered = text.lower()
        return any(word.lower() in lowered for word in self._identifiers)

    # --- datasets -----------------------------------------------------------------------------

    def dataset(self, dataset: Dataset) -> Dataset:
        """De-identify ``dataset`` in place (and return it).

        Raises
        ------
        DeidentificationError
            When the image declares burned-in annotation (BurnedInAnnotation = YES).
        """
        if str(dataset.get("BurnedInAnnotation", "")).upper() == "YES":
            raise DeidentificationError(
                "the image has burned-in annotation (0028,0301 = YES): the Clean Pixel Data "
                "option is needed and not implemented"
            )
        self.learn(dataset)
        original_patient_id = str(dataset.get("PatientID", "") or "")
        self._process(dataset)
        meta = getattr(dataset, "file_meta", None)
        if meta is not None:
            for keyword in _META_REMOVED:
                if keyword in meta:
                    delattr(meta, keyword)
            if "MediaStorageSOPInstanceUID" in meta:
                meta.MediaStorageSOPInstanceUID = self.uid(str(meta.MediaStorageSOPInstanceUID))
        dataset.PatientName = self.options.patient_name
        dataset.PatientID = self.patient_id(original_patient_id)
        dataset.PatientIdentityRemoved = "YES"
        dataset.DeidentificationMethod = "DICOM PS3.15 E.1 Basic Profile, see (0012,0064)"
        dataset.DeidentificationMethodCodeSequence = DicomSequence(
            [_code(code, meaning) for code, meaning in self._codes()]
        )
        dataset.LongitudinalTemporalInformationModified = "REMOVED"
        return dataset

    def _codes(self) -> list[tuple[str, str]]:
        codes = [CODE_BASIC]
        if self.options.clean_descriptors:
            codes.append(CODE_CLEAN_DESCRIPTORS)
        if self.options.clean_structured_content:
            codes.append(CODE_CLEAN_STRUCTURED_CONTENT)
        if self.options.retain_patient_characteristics:
            codes.append(CODE_RETAIN_PATIENT_CHARACTERISTICS)
        return codes

    def _process(self, dataset: Dataset) -> None:
        for key in list(dataset.keys()):
            tag = BaseTag(key)
            if tag.is_private:
                del dataset[tag]
                continue
            group = tag.group
            if 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:
                del dataset[tag]  # curves and overlays (overlays may carry burned-in text)
                continue
            if group == 0x0002:
                continue  # file meta in a dataset: handled separately
            element = dataset[tag]
            vr = str(element.VR)
            action = self._actions.get(int(tag)) or self._default(tag, vr, element.value)
            self._apply(dataset, tag, vr, action)

    def _default(self, tag: BaseTag, vr: str, value: Any) -> str:
        if vr == "SQ":
            return "R"
        if vr == "UI":
            keyword = keyword_for_tag(tag)
            if keyword.endswith("ClassUID") or keyword in _KEEP_UIDS:
                return "K"
            return "U"
        if vr == "PN":
            return "Z"
        if vr in _DATE_VRS:
            return "D"
        if vr in _TEXT_VRS:
            return "S"
        return "K"

    def _apply(self, dataset: Dataset, tag: BaseTag, vr: str, action: str) -> None:
        element = dataset[tag]
        if action == "X":
            del dataset[tag]
        elif action == "Z":
            element.value = DicomSequence() if vr == "SQ" else ("" if vr in _STRING_VRS else None)
        elif action == "D":
            if vr == "UI":
                self._apply(dataset, tag, vr, "U")
            elif vr == "SQ":
                element.value = DicomSequence()
            else:
                element.value = _DUMMY.get(vr, "" if vr in _STRING_VRS else None)
        elif action == "U":
            element.value = _map_values(element.value, self._replace_uid)
        elif action in ("R", "K", "C") and vr == "SQ":
            for item in element.value:
                self._process(item)
        elif action == "C":
            element.value = _map_values(element.value, self.clean_text)
        elif action == "S":
            element.value = _map_values(element.value, self._scrub)

    def _replace_uid(self, value: str) -> str:
        return value if _is_dicom_uid(value) else self.uid(value)

    def file(self, source: Path, target: Path) -> Path:
        """Write a de-identified copy of the DICOM file ``source`` to ``target``."""
        try:
            dataset = dcmread(source)
        except Exception as exc:
            raise DeidentificationError(f"{Path(source).name}: not readable DICOM ({exc})") from exc
        self.dataset(dataset)
        target.parent.mkdir(parents=True, exist_ok=True)
        dataset.save_as(target, enforce_file_format=True)
        return target

    # --- annotations --------------------------------------------------------------------------

    def annotation(self, annotation: Annotation) -> Annotation:
        """The copy of an annotation that points at the de-identified images.

        UIDs are mapped as the files' are; the UUID is keyed too (a second share updates the
        same copy); label and note are cleaned; times become the time of sharing (the
        original times would date the study); the copy starts a history of its own.
        """
        reference = annotation.reference
        mapped = ImageReference(
            study_instance_uid=self.uid(reference.study_instance_uid),
            series_instance_uid=self.uid(reference.series_instance_uid),
            frame_of_reference_uid=self.uid(reference.frame_of_reference_uid),
            sop_instance_uid=self.uid(reference.sop_instance_uid),
            frame_number=reference.frame_number,
        )
        segment = annotation.segment
        stamp = now()
        return replace(
            annotation,
            uuid=self.annotation_uuid(annotation.uuid),
            reference=mapped,
            segment=(
                SegmentReference(self.uid(segment.segmentation_uid), segment.segment_number)
                if segment is not None
                else None
            ),
            label=self.clean_text(annotation.label),
            text=self.clean_text(annotation.text),
            created=stamp,
            updated=stamp,
            version=1,
        )


def _values(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return list(value)
    return [value]


def _map_values(value: Any, function: Any) -> Any:
    if value is None:
        return value
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [function(str(v)) for v in value]
    return function(str(value))


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


def deidentification_problems(dataset: Dataset) -> list[str]:
    """Why ``dataset`` is not a de-identified copy (empty when it is one).

    The server checks every file of a cross-site share with this before storing it.
    """
    problems: list[str] = []
    if str(dataset.get("PatientIdentityRemoved", "")).upper() != "YES":
        problems.append("Patient Identity Removed (0012,0062) is not YES")
    if not dataset.get("DeidentificationMethodCodeSequence"):
        problems.append("no De-identification Method Code Sequence (0012,0064)")
    private = _first_private(dataset)
    if private is not None:
        problems.append(f"private attribute {private} present")
    table = action_table(DeidOptions())
    for tag, action in table.items():
        if action == "X" and BaseTag(tag).group != 0x0002 and tag in dataset:
            problems.append(f"{keyword_for_tag(tag)} must be removed")
    return problems


def _first_private(dataset: Dataset) -> str | None:
    for element in dataset:
        if element.tag.is_private:
            return str(element.tag)
        if element.VR == "SQ":
            for item in element.value or ():
                found = _first_private(item)
                if found is not None:
                    return found
    return None
