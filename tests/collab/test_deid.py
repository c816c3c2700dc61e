"""De-identification of shared cases: PS3.15 Annex E basic profile, one test per action code
(D, Z, X, K, C, U), private attributes, the profile's own attributes, keyed UIDs."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from workstation.collab.deid import (
    BASIC_PROFILE,
    DeidentificationError,
    Deidentifier,
    DeidOptions,
    action_table,
    deidentification_problems,
)
from workstation.core.annotations import Annotation, AnnotationKind, ImageReference

KEY = b"0123456789abcdef0123456789abcdef"
STUDY = "1.2.826.0.1.3680043.8.498.9001"
SERIES = "1.2.826.0.1.3680043.8.498.9001.1"
FRAME = "1.2.826.0.1.3680043.8.498.9001.99"
IDENTIFYING = ("Doe", "Jane", "MRN-0042", "19600229", "ACC123456", "Elsewhere", "House")


def identified(instance: int = 1) -> Dataset:
    """A CT image carrying identifying data of every kind the table names, and more."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    sop = f"{SERIES}.{instance}"
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.file_meta.SourceApplicationEntityTitle = "CT_ELSEWHERE"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = STUDY
    ds.SeriesInstanceUID = SERIES
    ds.FrameOfReferenceUID = FRAME
    ds.Modality = "CT"
    ds.Manufacturer = "Acme"
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "MRN-0042"
    ds.PatientBirthDate = "19600229"
    ds.PatientSex = "F"
    ds.PatientAge = "063Y"
    ds.PatientWeight = 70
    ds.PatientSize = 1.7
    ds.PatientAddress = "1 Main Street"
    ds.OtherPatientIDs = "OLD-77"
    ds.MedicalAlerts = "allergic to contrast"
    ds.AccessionNumber = "ACC123456"
    ds.StudyID = "77"
    ds.StudyDate = "20240105"
    ds.StudyTime = "101500"
    ds.SeriesDate = "20240105"
    ds.ContentDate = "20240105"
    ds.ContentTime = "101510"
    ds.AcquisitionDateTime = "20240105101505"
    ds.InstanceCreationDate = "20240105"
    ds.InstitutionName = "St Elsewhere"
    ds.InstitutionAddress = "2 Hospital Road"
    ds.ReferringPhysicianName = "House^Gregory"
    ds.OperatorsName = "Tech^Terry"
    ds.StationName = "CT01"
    ds.DeviceSerialNumber = "SN-1234"
    ds.StudyDescription = "CT thorax Doe^Jane MRN-0042"
    ds.SeriesDescription = "Axial 5mm Jane 20240105"
    ds.ProtocolName = "Thorax for Doe"
    ds.ImageComments = "call Dr House 555123456"
    ds.BurnedInAnnotation = "NO"
    ds.InstanceNumber = instance
    ds.Rows, ds.Columns = 2, 2
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation, ds.SamplesPerPixel = 0, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = np.arange(4, dtype=np.uint16).tobytes()
    referenced = Dataset()
    referenced.ReferencedSOPClassUID = CTImageStorage
    referenced.ReferencedSOPInstanceUID = f"{SERIES}.{instance + 1}"
    ds.ReferencedImageSequence = Sequence([referenced])
    observer = Dataset()
    observer.VerifyingObserverName = "House^Gregory"
    observer.VerifyingOrganization = "St Elsewhere"
    ds.VerifyingObserverSequence = Sequence([observer])
    person = Dataset()
    person.PersonName = "Doe^John"
    person.TextValue = "Brother of Doe^Jane, MRN-0042"
    ds.ContentSequence = Sequence([person])
    block = ds.private_block(0x0009, "ACME CT 1.0", create=True)
    block.add_new(0x10, "LO", "Doe^Jane private")
    ds.add_new(0x60000010, "US", 2)  # an overlay plane: may hold burned-in text
    ds.add_new(0x60003000, "OW", b"\x00\x01" * 2)
    return ds


def deidentified(options: DeidOptions | None = None, scope: str = "user:1") -> Dataset:
    ds = identified()
    Deidentifier(KEY, scope=scope, options=options).dataset(ds)
    return ds


def strings(ds: Dataset) -> str:
    return " ".join(str(element.value) for element in ds.iterall() if element.VR != "SQ")


def test_the_table_names_real_attributes_with_known_actions() -> None:
    table = action_table(DeidOptions())
    assert len(BASIC_PROFILE) >= 250 and len(table) == len(BASIC_PROFILE)
    assert set(table.values()) <= {"D", "Z", "X", "K", "C", "U", "R"}
    assert set(BASIC_PROFILE.values()) >= {"D", "Z", "X", "U", "X/Z", "X/D", "Z/D", "X/Z/D"}


def test_action_d_replaces_with_a_dummy_value() -> None:
    ds = deidentified()
    assert ds.VerifyingObserverSequence[0].VerifyingObserverName == "ANONYMOUS"
    assert ds.ContentSequence[0].PersonName == "ANONYMOUS"
    assert ds.ContentDate == "19000101"  # Z/D on a date: a dummy keeps a Type 1 date valid
    assert ds.AcquisitionDateTime == "19000101000000"  # X/D on a date-time
    assert ds.ContentTime == "000000"


def test_action_z_replaces_with_an_empty_value() -> None:
    ds = deidentified()
    for keyword in (
        "PatientBirthDate",
        "AccessionNumber",
        "StudyID",
        "StudyDate",
        "StudyTime",
        "ReferringPhysicianName",
        "InstitutionName",
        "OperatorsName",
        "StationName",
        "DeviceSerialNumber",
    ):
        assert keyword in ds, keyword
        assert ds.data_element(keyword).value in ("", None), keyword


def test_action_x_removes_the_attribute_and_private_and_overlay_data() -> None:
    ds = deidentified()
    for keyword in (
        "PatientAddress",
        "OtherPatientIDs",
        "MedicalAlerts",
        "InstitutionAddress",
        "SeriesDate",
    ):
        assert keyword not in ds, keyword
    assert ds.InstanceCreationDate == "19000101"  # X/D on a date: the dummy
    assert "VerifyingOrganization" not in ds.VerifyingObserverSequence[0]
    assert not [e for e in ds.iterall() if e.tag.is_private]
    assert not [e for e in ds if 0x6000 <= e.tag.group <= 0x60FF]
    assert "SourceApplicationEntityTitle" not in ds.file_meta
    plain = deidentified(DeidOptions(clean_descriptors=False, clean_structured_content=False))
    assert "StudyDescription" not in plain and "SeriesDescription" not in plain
    assert "ContentSequence" not in plain  # basic profile: X without the structured option


def test_action_k_keeps_what_the_options_retain() -> None:
    ds = deidentified()
    assert ds.PatientAge == "063Y" and ds.PatientSex == "F" and ds.PatientWeight == 70
    assert ds.Modality == "CT" and ds.Manufacturer == "Acme"
    assert ds.PixelData == identified().PixelData
    bare = deidentified(DeidOptions(retain_patient_characteristics=False))
    assert "PatientAge" not in bare and "PatientWeight" not in bare  # X
    assert bare.PatientSex == ""  # Z


def test_action_c_keeps_the_meaning_without_the_identifiers() -> None:
    ds = deidentified()
    assert ds.StudyDescription == "CT thorax"
    assert ds.SeriesDescription == "Axial 5mm"
    assert ds.ProtocolName == "Thorax for"
    assert ds.ImageComments == "call Dr"
    assert ds.ContentSequence[0].TextValue == "Brother of"


def test_action_u_replaces_uids_consistently_with_a_key() -> None:
    first, second = identified(1), identified(2)
    deidentifier = Deidentifier(KEY, scope="user:1")
    deidentifier.dataset(first)
    deidentifier.dataset(second)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        assert first.data_element(keyword).value == second.data_element(keyword).value
    assert first.StudyInstanceUID == deidentifier.uid(STUDY) != STUDY
    assert first.SOPInstanceUID != second.SOPInstanceUID
    assert first.file_meta.MediaStorageSOPInstanceUID == first.SOPInstanceUID
    # A reference inside a sequence names the other image by its new UID.
    assert first.ReferencedImageSequence[0].ReferencedSOPInstanceUID == second.SOPInstanceUID
    assert first.SOPClassUID == CTImageStorage  # DICOM-defined UIDs stay
    assert first.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    for uid in (first.StudyInstanceUID, first.SOPInstanceUID):
        assert re.fullmatch(r"2\.25\.[1-9][0-9]*", uid) and len(uid) <= 64
    # Keyed: the same key and recipient give the same UIDs, anything else other ones.
    assert Deidentifier(KEY, scope="user:1").uid(STUDY) == first.StudyInstanceUID
    assert Deidentifier(KEY, scope="site:2").uid(STUDY) != first.StudyInstanceUID
    assert Deidentifier(b"another key, 16+ bytes", scope="user:1").uid(STUDY) != (
        first.StudyInstanceUID
    )


def test_annotations_are_remapped_like_their_images() -> None:
    deidentifier = Deidentifier(KEY, scope="user:1")
    image = identified(3)
    deidentifier.learn(image)
    annotation = Annotation(
        AnnotationKind.POINT,
        ImageReference(STUDY, SERIES, FRAME, f"{SERIES}.3", None),
        points=((1.0, 2.0, 3.0),),
        label="Doe^Jane nodule",
        text="MRN-0042 since 2023-05-04",
    )
    copy_ = deidentifier.annotation(annotation)
    deidentifier.dataset(image)
    assert copy_.reference.study_instance_uid == image.StudyInstanceUID
    assert copy_.reference.series_instance_uid == image.SeriesInstanceUID
    assert copy_.reference.frame_of_reference_uid == image.FrameOfReferenceUID
    assert copy_.reference.sop_instance_uid == image.SOPInstanceUID
    assert copy_.uuid != annotation.uuid and copy_.uuid == deidentifier.annotation(annotation).uuid
    assert copy_.label == "nodule" and copy_.text == "since"
    assert copy_.points == annotation.points and copy_.version == 1


def test_the_profile_is_recorded_and_no_identifier_is_left() -> None:
    ds = deidentified()
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    codes = {
        (item.CodeValue, item.CodingSchemeDesignator)
        for item in ds.DeidentificationMethodCodeSequence
    }
    assert codes == {("113100", "DCM"), ("113105", "DCM"), ("113104", "DCM"), ("113108", "DCM")}
    assert ds.PatientName == "ANONYMOUS" and ds.PatientID.startswith("ANON-")
    text = strings(ds) + str(ds.file_meta)
    for secret in IDENTIFYING:
        assert secret not in text, secret
    assert deidentification_problems(ds) == []
    problems = deidentification_problems(identified())
    assert any("Patient Identity Removed" in p for p in problems)
    assert any("private" in p for p in problems)
    # Every attribute the table removes is gone, every emptied one is empty.
    table = action_table(DeidOptions())
    for tag, action in table.items():
        if tag in ds and action == "X":
            pytest.fail(f"{keyword_for_tag(tag)} should be removed")
        if tag in ds and action == "Z" and ds[tag].VR != "SQ":
            keyword = keyword_for_tag(tag)
            if keyword in ("PatientName", "PatientID"):  # Z allows a dummy: the pseudonyms
                continue
            assert ds[tag].value in ("", None), keyword


def test_burned_in_text_is_refused() -> None:
    ds = identified()
    ds.BurnedInAnnotation = "YES"
    with pytest.raises(DeidentificationError, match="burned-in"):
        Deidentifier(KEY).dataset(ds)


def test_a_file_round_trips_and_keeps_its_pixels(tmp_path: Path) -> None:
    source = tmp_path / "in.dcm"
    identified().save_as(source, enforce_file_format=True)
    target = Deidentifier(KEY).file(source, tmp_path / "out" / "copy.dcm")
    ds = dcmread(target)
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.pixel_array.tolist() == [[0, 1], [2, 3]]
    for secret in IDENTIFYING:
        assert secret.encode() not in target.read_bytes()
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not dicom")
    with pytest.raises(DeidentificationError, match="not readable"):
        Deidentifier(KEY).file(bad, tmp_path / "bad-out.dcm")


def test_dicognito_alone_does_not_meet_the_basic_profile() -> None:
    """Why the table is implemented here: dicognito keeps private attributes and writes no
    De-identification Method Code Sequence (it shifts dates and invents names instead)."""
    from dicognito.anonymizer import Anonymizer

    ds = copy.deepcopy(identified())
    Anonymizer(seed="x").anonymize(ds)
    problems = deidentification_problems(ds)
    assert any("private" in p for p in problems)
    assert any("0012,0064" in p for p in problems)
    assert ds.PatientBirthDate != "" and "LongitudinalTemporalInformationModified" not in ds
