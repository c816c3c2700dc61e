"""Sharing a case: across sites as a de-identified copy (images, SEG, SR and annotations with
consistently remapped UIDs), within a site as it is; upload checks and limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from workstation.collab.client import RequestRefusedError
from workstation.collab.server import schema
from workstation.collab.server.testkit import PASSWORD, Deployment
from workstation.collab.session import Collaboration
from workstation.collab.store import AnnotationStore
from workstation.core.annotations import Annotation, AnnotationKind, ImageReference
from workstation.io.scan import scan
from workstation.testing.factories import SeriesSpec, write_series

PATIENT = "Doe^Jane"
PATIENT_ID = "MRN-0042"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.4"


def _object(path: Path, sop_class: str, study: str, modality: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    ds.PatientName = PATIENT
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = "19600229"
    ds.StudyDate = "20240101"
    ds.ContentDate = "20240101"
    ds.ContentTime = "101010"
    ds.InstitutionName = "St Elsewhere"
    return ds


def study_files(folder: Path) -> tuple[str, list[Path], Any]:
    """A small CT series with identifying data and a private block, a SEG and an SR on it."""
    written = write_series(
        folder / "ct",
        SeriesSpec(
            rows=16,
            columns=16,
            n_slices=4,
            patient_name=PATIENT,
            patient_id=PATIENT_ID,
            study_description=f"CT chest {PATIENT} {PATIENT_ID}",
        ),
    )
    paths = list(written.paths)
    for path in paths:
        ds = dcmread(path)
        ds.InstitutionName = "St Elsewhere"
        ds.OtherPatientIDs = "OLD-77"
        block = ds.private_block(0x0029, "ACME 1.0", create=True)
        block.add_new(0x01, "LO", f"{PATIENT} private copy")
        ds.save_as(path)
    first = dcmread(paths[0], stop_before_pixels=True)
    study = str(first.StudyInstanceUID)
    series = str(first.SeriesInstanceUID)
    sops = list(written.sop_instance_uids)
    seg = _object(folder / "seg.dcm", SEGMENTATION, study, "SEG")
    reference = Dataset()
    reference.SeriesInstanceUID = series
    instance = Dataset()
    instance.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    instance.ReferencedSOPInstanceUID = sops[1]
    reference.ReferencedInstanceSequence = Sequence([instance])
    seg.ReferencedSeriesSequence = Sequence([reference])
    seg.FrameOfReferenceUID = str(first.FrameOfReferenceUID)
    segment = Dataset()
    segment.SegmentNumber = 1
    segment.SegmentLabel = "Liver"
    seg.SegmentSequence = Sequence([segment])
    seg.save_as(folder / "seg.dcm", enforce_file_format=True)
    sr = _object(folder / "sr.dcm", COMPREHENSIVE_SR, study, "SR")
    text = Dataset()
    text.RelationshipType = "CONTAINS"
    text.ValueType = "TEXT"
    text.TextValue = f"Findings for {PATIENT}, MRN {PATIENT_ID}: 12 mm nodule"
    image = Dataset()
    image.RelationshipType = "CONTAINS"
    image.ValueType = "IMAGE"
    image.ReferencedSOPSequence = Sequence([Dataset()])
    image.ReferencedSOPSequence[0].ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    image.ReferencedSOPSequence[0].ReferencedSOPInstanceUID = sops[2]
    sr.ContentSequence = Sequence([text, image])
    observer = Dataset()
    observer.VerifyingObserverName = "House^Gregory"
    observer.VerifyingOrganization = "St Elsewhere"
    observer.VerificationDateTime = "20240101101010"
    sr.VerifyingObserverSequence = Sequence([observer])
    sr.save_as(folder / "sr.dcm", enforce_file_format=True)
    return study, [*paths, folder / "seg.dcm", folder / "sr.dcm"], (series, sops, first)


def signed_in(deployment: Deployment, store: AnnotationStore, user: str) -> Collaboration:
    collaboration = Collaboration(store, live=False)
    collaboration.sign_in(deployment.url, user, PASSWORD)
    return collaboration


def test_a_case_shared_with_another_site_arrives_de_identified_and_consistent(
    deployment: Deployment, tmp_path: Path, store_factory: Any
) -> None:
    site_a, site_c = deployment.site("A"), deployment.site("C")
    alice, carol = deployment.user(site_a, prefix="alice"), deployment.user(site_c, prefix="carol")
    study, files, (series, sops, first) = study_files(tmp_path / "study")
    a_store, c_store = store_factory("alice"), store_factory("carol")
    measurement = Annotation(
        AnnotationKind.LENGTH,
        ImageReference(study, series, str(first.FrameOfReferenceUID), sops[1], None),
        points=((0.0, 0.0, 0.0), (5.0, 0.0, 0.0)),
        label=f"nodule of {PATIENT}",
        text=f"see prior of {PATIENT_ID} from 2023-05-04",
        author="alice",
    )
    a_store.save(measurement)
    sender, recipient = signed_in(deployment, a_store, alice), signed_in(deployment, c_store, carol)
    try:
        sender.sync_now()
        progress: list[tuple[int, int]] = []
        case = sender.share_study(
            study,
            files,
            to_user=carol,
            note="second opinion",
            progress=lambda done, total: progress.append((done, total)),
        )
        assert case.deidentified and case.status == "ready" and case.study_uid != study
        assert case.source_study_uid == study  # the sender knows which study it was
        assert progress[-1] == (len(files), len(files))
        [received] = recipient.shared_with_me()
        assert received.id == case.id and received.source_study_uid is None
        assert received.from_user == alice and received.note == "second opinion"
        downloaded = recipient.download_shared_case(case.id, tmp_path / "inbox")
        recipient.sync_now()
    finally:
        sender.close()
        recipient.close()
    assert len(downloaded) == len(files)
    copies = [dcmread(path) for path in downloaded]
    # Nothing identifying left, in any file, anywhere in its bytes.
    for path in downloaded:
        data = path.read_bytes()
        for secret in (
            b"Doe",
            b"Jane",
            b"MRN-0042",
            b"OLD-77",
            b"Elsewhere",
            b"House",
            b"19600229",
            b"20240101",
            study.encode(),
        ):
            assert secret not in data, (path.name, secret)
    for ds in copies:
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.LongitudinalTemporalInformationModified == "REMOVED"
        assert ds.StudyInstanceUID == case.study_uid
        assert not any(element.tag.is_private for element in ds.iterall())
    images = [ds for ds in copies if ds.Modality == "CT"]
    seg = next(ds for ds in copies if ds.Modality == "SEG")
    sr = next(ds for ds in copies if ds.Modality == "SR")
    image_uids = {str(ds.SOPInstanceUID) for ds in images}
    copy_series = {str(ds.SeriesInstanceUID) for ds in images}
    assert len(copy_series) == 1 and series not in copy_series
    # References inside sequences point at the copied images.
    referenced = seg.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID in copy_series
    assert referenced.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID in image_uids
    assert sr.ContentSequence[1].ReferencedSOPSequence[0].ReferencedSOPInstanceUID in image_uids
    assert sr.ContentSequence[0].TextValue.endswith("12 mm nodule")  # cleaned, meaning kept
    assert seg.SegmentSequence[0].SegmentLabel == "Liver"
    # The annotation copy arrived through the pull and points at the right copied image.
    [copy] = c_store.load(study_uid=case.study_uid)
    assert copy.uuid != measurement.uuid
    assert copy.reference.series_instance_uid in copy_series
    assert copy.reference.sop_instance_uid in image_uids
    assert copy.reference.frame_of_reference_uid == str(images[0].FrameOfReferenceUID)
    assert copy.points == measurement.points
    assert PATIENT not in copy.label and "Doe" not in copy.label and PATIENT_ID not in copy.text
    assert "2023" not in copy.text
    # The recipient's app can read the copy like any study (indexing, no pixel decoding).
    result = scan(tmp_path / "inbox")
    assert not result.errors
    [stack] = result.stacks
    assert stack.study_instance_uid == case.study_uid
    assert stack.series_instance_uid in copy_series and len(stack.frames) == 4
    # The server's audit names the share, the uploads and the downloads; never the patient.
    with deployment.database.read() as connection:
        events = connection.execute(sa.select(schema.audit)).all()
    actions = {event.action for event in events}
    assert {"share", "upload", "export"} <= actions
    dumped = json.dumps([list(map(str, event)) for event in events])
    assert "Doe" not in dumped and PATIENT_ID not in dumped


def test_sharing_the_same_study_again_keeps_the_same_copy(
    deployment: Deployment, tmp_path: Path, store_factory: Any
) -> None:
    site_a, site_c = deployment.site("A"), deployment.site("C")
    alice, carol = deployment.user(site_a), deployment.user(site_c)
    study, files, _ = study_files(tmp_path / "study")
    sender = signed_in(deployment, store_factory("a"), alice)
    try:
        first = sender.share_study(study, files[:2], to_user=carol)
        second = sender.share_study(study, files[:2], to_user=carol)
        to_site = sender.share_study(study, files[:2], to_site=site_c)
    finally:
        sender.close()
    assert first.study_uid == second.study_uid  # keyed: same recipient, same UIDs
    assert to_site.study_uid != first.study_uid  # another recipient cannot link the copies


def test_a_case_shared_within_the_site_travels_as_it_is(
    deployment: Deployment, tmp_path: Path, store_factory: Any
) -> None:
    site = deployment.site()
    alice, bob = deployment.user(site), deployment.user(site)
    study, files, _ = study_files(tmp_path / "study")
    sender, recipient = (
        signed_in(deployment, store_factory("a"), alice),
        signed_in(deployment, store_factory("b"), bob),
    )
    try:
        targets = sender.share_targets()
        assert any(t.name == bob and t.same_site for t in targets)
        assert all(t.name != alice for t in targets)
        case = sender.share_study(study, files[:3], to_user=bob)
        assert not case.deidentified and case.study_uid == study
        [received] = recipient.shared_with_me()
        paths = recipient.download_shared_case(received.id, tmp_path / "inbox")
    finally:
        sender.close()
        recipient.close()
    assert [p.read_bytes() for p in paths] == [f.read_bytes() for f in files[:3]]


def test_identified_files_are_refused_in_a_cross_site_share(
    deployment: Deployment, tmp_path: Path
) -> None:
    site_a, site_c = deployment.site("A"), deployment.site("C")
    alice, carol = deployment.user(site_a), deployment.user(site_c)
    study, files, _ = study_files(tmp_path / "study")
    api = deployment.api(alice)
    share = api.create_share(study_uid=study, copy_study_uid=generate_uid(), to_user=carol)
    with pytest.raises(RequestRefusedError) as refused:
        api.upload_file(share["id"], "raw.dcm", files[0])  # the original, not de-identified
    assert refused.value.status == 422
    assert "Patient Identity Removed" in str(refused.value)
    assert api.share(share["id"])["files"] == []
    with deployment.database.read() as connection:
        alerts = connection.execute(
            sa.select(schema.audit.c.object_id).where(schema.audit.c.action == "security_alert")
        ).scalars()
        assert any(share["id"] in str(alert) for alert in alerts)
    # A file of another study, even de-identified, does not belong in the share either.
    with pytest.raises(ValueError, match="another study"):
        collaboration = Collaboration(AnnotationStore(tmp_path / "x.sqlite"), live=False)
        try:
            collaboration.sign_in(deployment.url, alice, PASSWORD)
            collaboration.share_study("1.2.3.999", files[:1], to_user=carol)
        finally:
            collaboration.close()
            collaboration.store.close()


def test_shared_files_are_size_bounded(tmp_path: Path) -> None:
    deployment = Deployment.start(
        "sqlite",
        f"sqlite:///{tmp_path / 'small.sqlite'}",
        tmp_path / "files",
        max_file_bytes=2000,
        max_share_bytes=2500,
        max_request_bytes=4000,
    )
    try:
        site = deployment.site()
        alice, bob = deployment.user(site), deployment.user(site)
        api = deployment.api(alice)
        study = generate_uid()
        share = api.create_share(study_uid=study, to_user=bob)
        small, big = tmp_path / "small.bin", tmp_path / "big.bin"
        small.write_bytes(b"x" * 1500)
        big.write_bytes(b"x" * 2500)
        api.upload_file(share["id"], "a.bin", small)
        with pytest.raises(RequestRefusedError) as too_big:
            api.upload_file(share["id"], "b.bin", big)
        assert too_big.value.status == 413
        with pytest.raises(RequestRefusedError) as share_full:
            api.upload_file(share["id"], "c.bin", small)
        assert share_full.value.status == 413
        # A stream that lies about (or hides) its length is cut off at the limit too.
        response = httpx.put(
            f"{deployment.url}/api/v1/shares/{share['id']}/files/d.bin",
            content=iter([b"y" * 1000] * 3),
            headers={"Authorization": f"Bearer {api.token}"},
        )
        assert response.status_code == 413
        # Unsafe names never reach the disk.
        for name in ("..", ".hidden", "a%2Fb"):
            response = httpx.put(
                f"{deployment.url}/api/v1/shares/{share['id']}/files/{name}",
                content=b"z",
                headers={"Authorization": f"Bearer {api.token}"},
            )
            assert response.status_code in (404, 405, 422)
        # JSON bodies are bounded as well.
        flood = [
            {"op_id": f"o{i}", "kind": "comment", "comment": {"id": "x" * 40}} for i in range(100)
        ]
        response = httpx.post(
            f"{deployment.url}/api/v1/sync/push",
            json={"client_id": "c", "operations": flood},
            headers={"Authorization": f"Bearer {api.token}"},
        )
        assert response.status_code == 413
        stored = list((tmp_path / "files").rglob("*"))
        assert sum(p.stat().st_size for p in stored if p.is_file()) == 1500
    finally:
        deployment.stop()


def test_a_revoked_share_disappears_for_the_recipient(
    deployment: Deployment, tmp_path: Path
) -> None:
    site = deployment.site()
    alice, bob = deployment.user(site), deployment.user(site)
    api, bobs = deployment.api(alice), deployment.api(bob)
    share = api.create_share(study_uid=generate_uid(), to_user=bob)
    path = tmp_path / "f.dcm"
    path.write_bytes(b"data")
    uploaded = api.upload_file(share["id"], "f.dcm", path)
    with pytest.raises(RequestRefusedError) as not_ready:
        bobs.download_file(share["id"], uploaded["id"], tmp_path / "early.dcm")
    assert not_ready.value.status == 409
    api.complete_share(share["id"])
    bobs.download_file(share["id"], uploaded["id"], tmp_path / "got.dcm")
    assert (tmp_path / "got.dcm").read_bytes() == b"data"
    api.revoke_share(share["id"])
    assert all(s["id"] != share["id"] for s in bobs.shares("received"))
    with pytest.raises(RequestRefusedError) as gone:
        bobs.download_file(share["id"], uploaded["id"], tmp_path / "late.dcm")
    assert gone.value.status == 404
