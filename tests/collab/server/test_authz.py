"""The authorization matrix: every endpoint × (own site, other site, shared with, anonymous,
expired token), on SQLite and PostgreSQL.

The world: site A owns study S (annotation X, a comment) and shared a de-identified copy S'
(annotation X') with user c of site C. ``own`` is a radiologist of A, ``other`` one of B,
``shared`` is c. Objects a user may not see answer 404 (as if absent); objects they may see
but not change answer 403 (or a per-operation ``forbidden`` inside a push).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from workstation.collab.deid import Deidentifier
from workstation.collab.protocol import WS_CLOSE_UNAUTHORIZED, Role
from workstation.collab.server import schema
from workstation.collab.server.testkit import Deployment
from workstation.core.annotations import Annotation, AnnotationKind, ImageReference

PRINCIPALS = ("own", "other", "shared", "anonymous", "expired")


def dicom_file(path: Path, study_uid: str, **attributes: Any) -> Path:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    sop = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "MRN-0042"
    ds.Modality = "OT"
    for key, value in attributes.items():
        setattr(ds, key, value)
    ds.save_as(path, enforce_file_format=True)
    return path


@dataclass
class World:
    deployment: Deployment
    tmp: Path
    study: str
    copy: str
    annotation: Annotation
    copy_annotation: dict[str, Any]
    share_id: str
    file_id: str
    users: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str | None] = field(default_factory=dict)
    deidentifier: Deidentifier | None = None

    def headers(self, principal: str) -> dict[str, str]:
        token = self.tokens[principal]
        return {"Authorization": f"Bearer {token}"} if token else {}

    def head(self, uuid: str) -> tuple[str, dict[str, Any]]:
        with self.deployment.database.read() as connection:
            row = connection.execute(
                sa.select(
                    schema.annotation_heads.c.revision, schema.annotation_heads.c.document
                ).where(schema.annotation_heads.c.uuid == uuid)
            ).one()
        return row.revision, json.loads(row.document)

    def new_share(self, *, ready: bool = False) -> str:
        """A fresh cross-site share of S by ``own`` to ``shared`` (still uploading)."""
        api = self.deployment.api(token=self.tokens["own"])
        share = api.create_share(
            study_uid=self.study, copy_study_uid=self.copy, to_user=self.users["shared"]
        )
        if ready:
            api.complete_share(share["id"])
        return str(share["id"])

    def deidentified_file(self, name: str) -> Path:
        assert self.deidentifier is not None
        source = dicom_file(self.tmp / f"raw-{name}", self.study)
        return self.deidentifier.file(source, self.tmp / name)


_worlds: dict[str, World] = {}


@pytest.fixture
def world(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> World:
    if deployment.backend in _worlds:
        return _worlds[deployment.backend]
    tmp = tmp_path_factory.mktemp(f"authz-{deployment.backend}")
    site_a, site_b, site_c = deployment.site("A"), deployment.site("B"), deployment.site("C")
    users = {
        "own": deployment.user(site_a, prefix="own"),
        "other": deployment.user(site_b, prefix="other"),
        "shared": deployment.user(site_c, prefix="shared"),
        "admin": deployment.user(site_a, role=Role.ADMIN, prefix="admin"),
    }
    tokens: dict[str, str | None] = {name: deployment.token(user) for name, user in users.items()}
    tokens["anonymous"] = None
    tokens["expired"] = deployment.token(users["own"], ttl_s=-1.0)
    study = generate_uid()
    own = deployment.api(token=tokens["own"])
    annotation = Annotation(
        AnnotationKind.POINT, ImageReference(study, f"{study}.1"), points=((1.0, 2.0, 3.0),)
    )
    [pushed] = own.push(
        "setup",
        [
            {
                "op_id": f"setup-{annotation.uuid}",
                "kind": "annotation",
                "base_revision": None,
                "annotation": annotation.to_json(),
            }
        ],
    )
    assert pushed["status"] == "applied"
    own.push(
        "setup",
        [
            {
                "op_id": f"comment-{study}",
                "kind": "comment",
                "comment": {"id": f"c-{study}", "study_uid": study, "text": "look at this"},
            }
        ],
    )
    shared_user_id = next(
        u["id"] for u in own.directory()["users"] if u["username"] == users["shared"]
    )
    deidentifier = Deidentifier(own.deid_key(), scope=f"user:{shared_user_id}")
    copy = deidentifier.uid(study)
    copy_annotation = deidentifier.annotation(annotation).to_json()
    share = own.create_share(
        study_uid=study,
        copy_study_uid=copy,
        to_user=users["shared"],
        annotations=[copy_annotation],
    )
    world = World(
        deployment,
        tmp,
        study,
        copy,
        annotation,
        copy_annotation,
        share["id"],
        "",
        users,
        tokens,
        deidentifier,
    )
    uploaded = own.upload_file(share["id"], "000001.dcm", world.deidentified_file("one.dcm"))
    own.complete_share(share["id"])
    world.file_id = uploaded["id"]
    _worlds[deployment.backend] = world
    return world


def call(world: World, principal: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(
        method,
        f"{world.deployment.url}/api/v1{path}",
        headers={**kwargs.pop("headers", {}), **world.headers(principal)},
        timeout=10,
        **kwargs,
    )


def expect(principal: str, **codes: int) -> int:
    """The expected status: 401 for anonymous/expired unless said otherwise."""
    return codes.get(principal, 401)


def push_edit(world: World, principal: str, uuid: str) -> httpx.Response:
    revision, document = world.head(uuid)
    document = dict(document, label=f"edited by {principal}", version=document["version"] + 1)
    operation = {
        "op_id": f"{principal}-{revision}",
        "kind": "annotation",
        "base_revision": revision,
        "annotation": document,
    }
    return call(
        world,
        principal,
        "POST",
        "/sync/push",
        json={"client_id": principal, "operations": [operation]},
    )


def status_of_push(response: httpx.Response) -> int | str:
    if response.status_code != 200:
        return response.status_code
    return str(response.json()["results"][0]["status"])


@pytest.mark.parametrize("principal", PRINCIPALS)
class TestMatrix:
    def test_me_and_directory(self, world: World, principal: str) -> None:
        for path in ("/me", "/directory", "/site/deid-key"):
            code = call(world, principal, "GET", path).status_code
            assert code == expect(principal, own=200, other=200, shared=200)

    def test_annotations_of_the_original_study(self, world: World, principal: str) -> None:
        response = call(world, principal, "GET", f"/studies/{world.study}/annotations")
        assert response.status_code == expect(principal, own=200, other=404, shared=404)

    def test_annotations_of_the_shared_copy(self, world: World, principal: str) -> None:
        response = call(world, principal, "GET", f"/studies/{world.copy}/annotations")
        assert response.status_code == expect(principal, own=200, other=404, shared=200)
        if response.status_code == 200:
            [copy] = response.json()["annotations"]
            assert copy["uuid"] == world.copy_annotation["uuid"]

    def test_comments(self, world: World, principal: str) -> None:
        response = call(world, principal, "GET", f"/studies/{world.study}/comments")
        assert response.status_code == expect(principal, own=200, other=404, shared=404)

    def test_pull_shows_only_what_may_be_seen(self, world: World, principal: str) -> None:
        response = call(world, principal, "GET", "/sync/changes", params={"since": 0})
        assert response.status_code == expect(principal, own=200, other=200, shared=200)
        if response.status_code != 200:
            return
        studies = {c["study_uid"] for c in response.json()["changes"]}
        if principal == "own":
            assert {world.study, world.copy} <= studies
        elif principal == "shared":
            assert world.copy in studies and world.study not in studies
        else:
            assert not studies & {world.study, world.copy}

    def test_push_to_the_original_study(self, world: World, principal: str) -> None:
        outcome = status_of_push(push_edit(world, principal, world.annotation.uuid))
        assert outcome == {"own": "applied", "other": "forbidden", "shared": "forbidden"}.get(
            principal, 401
        )

    def test_push_to_the_shared_copy(self, world: World, principal: str) -> None:
        outcome = status_of_push(push_edit(world, principal, world.copy_annotation["uuid"]))
        assert outcome == {"own": "applied", "other": "forbidden", "shared": "applied"}.get(
            principal, 401
        )

    def test_comment_on_an_annotation_of_another_site(self, world: World, principal: str) -> None:
        tag = f"{principal}-{world.deployment.backend}"
        operation = {
            "op_id": f"comment-{tag}",
            "kind": "comment",
            "comment": {
                "id": f"comment-{tag}",
                "study_uid": world.study,
                "annotation_uuid": world.annotation.uuid,
                "text": "hello",
            },
        }
        response = call(
            world,
            principal,
            "POST",
            "/sync/push",
            json={"client_id": principal, "operations": [operation]},
        )
        assert status_of_push(response) == {
            "own": "applied",
            "other": "forbidden",
            "shared": "forbidden",
        }.get(principal, 401)

    def test_create_share(self, world: World, principal: str) -> None:
        # Each user shares "S" as their site knows it; the copy S' belongs to A, so C may not
        # pass it on. A study UID names a study of the caller's own site: B sharing "S"
        # shares B's own (empty) study, never A's.
        study = world.copy if principal == "shared" else world.study
        target = world.users["shared"] if principal == "own" else world.users["own"]
        response = call(
            world,
            principal,
            "POST",
            "/shares",
            json={"study_uid": study, "copy_study_uid": generate_uid(), "to_user": target},
        )
        assert response.status_code == expect(principal, own=201, other=201, shared=403)
        if principal == "other":
            share = response.json()
            annotations = call(world, "own", "GET", f"/studies/{share['study_uid']}/annotations")
            assert annotations.status_code == 200 and annotations.json()["annotations"] == []

    def test_list_shares(self, world: World, principal: str) -> None:
        response = call(world, principal, "GET", "/shares")
        assert response.status_code == expect(principal, own=200, other=200, shared=200)
        if response.status_code == 200:
            ids = {s["id"] for s in response.json()["shares"]}
            assert (world.share_id in ids) == (principal in ("own", "shared"))
            for share in response.json()["shares"]:
                if share["role"] == "recipient":
                    assert "source_study_uid" not in share  # the original UID stays home

    def test_get_share(self, world: World, principal: str) -> None:
        response = call(world, principal, "GET", f"/shares/{world.share_id}")
        assert response.status_code == expect(principal, own=200, other=404, shared=200)

    def test_upload(self, world: World, principal: str) -> None:
        share_id = world.new_share()
        path = world.deidentified_file(f"up-{principal}.dcm")
        response = call(
            world, principal, "PUT", f"/shares/{share_id}/files/x.dcm", content=path.read_bytes()
        )
        assert response.status_code == expect(principal, own=201, other=404, shared=403)

    def test_complete(self, world: World, principal: str) -> None:
        share_id = world.new_share()
        response = call(world, principal, "POST", f"/shares/{share_id}/complete")
        assert response.status_code == expect(principal, own=200, other=404, shared=403)

    def test_download(self, world: World, principal: str) -> None:
        response = call(world, principal, "GET", f"/shares/{world.share_id}/files/{world.file_id}")
        assert response.status_code == expect(principal, own=200, other=404, shared=200)

    def test_revoke(self, world: World, principal: str) -> None:
        share_id = world.new_share(ready=True)
        response = call(world, principal, "DELETE", f"/shares/{share_id}")
        assert response.status_code == expect(principal, own=204, other=404, shared=403)
        if principal == "own":  # gone for the recipient
            assert call(world, "shared", "GET", f"/shares/{share_id}").status_code == 404

    def test_admin_endpoints(self, world: World, principal: str) -> None:
        for method, path, body in (
            ("GET", "/admin/audit", None),
            ("GET", "/admin/users", None),
            ("POST", "/admin/users", {"username": f"new-{principal}", "password": "x" * 12}),
        ):
            response = call(world, principal, method, path, json=body)
            assert response.status_code == expect(principal, own=403, other=403, shared=403)

    def test_logout(self, world: World, principal: str) -> None:
        headers = world.headers(principal)
        if principal in ("own", "other", "shared"):  # sign out a token of their own, not the
            token = world.deployment.token(world.users[principal])  # one other tests use
            headers = {"Authorization": f"Bearer {token}"}
        response = httpx.post(f"{world.deployment.url}/api/v1/auth/logout", headers=headers)
        assert response.status_code == expect(principal, own=204, other=204, shared=204)
        if response.status_code == 204:
            again = httpx.get(f"{world.deployment.url}/api/v1/me", headers=headers)
            assert again.status_code == 401

    def test_live(self, world: World, principal: str) -> None:
        url = world.deployment.url.replace("http://", "ws://") + "/api/v1/sync/live"
        with connect(url, additional_headers=world.headers(principal), proxy=None) as ws:
            if principal in ("anonymous", "expired"):
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=5)
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == WS_CLOSE_UNAUTHORIZED
            else:
                assert json.loads(ws.recv(timeout=5))["type"] == "hello"

    def test_public_endpoints(self, world: World, principal: str) -> None:
        for path in ("/api/v1/health", "/openapi.json"):
            response = httpx.get(f"{world.deployment.url}{path}", headers=world.headers(principal))
            assert response.status_code == 200


def test_admins_see_their_own_sites_audit_and_create_users_there(world: World) -> None:
    response = call(world, "admin", "GET", "/admin/audit")
    assert response.status_code == 200
    sites = {event["site_id"] for event in response.json()["events"] if event["site_id"]}
    assert len(sites) == 1
    created = call(
        world,
        "admin",
        "POST",
        "/admin/users",
        json={
            "username": f"made-by-admin-{world.deployment.backend}",
            "password": "long enough pw",
        },
    )
    assert created.status_code == 201
    me = call(world, "admin", "GET", "/me").json()
    assert created.json()["site_id"] == me["site_id"]
    duplicate = call(
        world,
        "admin",
        "POST",
        "/admin/users",
        json={"username": created.json()["username"], "password": "long enough pw"},
    )
    assert duplicate.status_code == 409
