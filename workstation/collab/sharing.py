"""Sharing a case and receiving one: the work behind the share dialog.

The caller (the app layer, which knows the local library) hands over the study's files —
its images and its AI results as DICOM SEG/SR — as paths; this module never opens the
library itself. Across sites every file is de-identified here, on the sharing workstation
(:mod:`workstation.collab.deid`), with the sharing site's key and a scope naming the
recipient, and the study's annotations are copied with the same UID mapping; identifying
data never leaves the site. Within a site the files travel as they are.

Receiving: :func:`download_case` streams a share's files into a folder and returns their
paths for the app to import into its library; the copy's annotations arrive through the
normal pull (they belong to the shared study).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workstation.collab.client import (
    CollabError,
    Progress,
    RemoteUser,
    RequestRefusedError,
    ServerApi,
)
from workstation.collab.store import AnnotationStore


@dataclass(frozen=True)
class ShareTarget:
    """A site or a user a case can be shared with."""

    kind: str  # "site" | "user"
    name: str  # site name or user name
    display_name: str
    site_name: str
    same_site: bool


@dataclass(frozen=True)
class SharedFile:
    id: str
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class SharedCase:
    """A share as the share list shows it."""

    id: str
    study_uid: str
    from_user: str
    from_site: str
    to_user: str | None
    to_site: str | None
    deidentified: bool
    status: str
    note: str
    created_at: float
    files: tuple[SharedFile, ...]
    #: ``sender`` or ``recipient``
    role: str
    #: The original study (only for the sending site).
    source_study_uid: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SharedCase:
        return cls(
            id=str(data["id"]),
            study_uid=str(data["study_uid"]),
            from_user=str(data.get("from_user", "")),
            from_site=str(data.get("from_site", "")),
            to_user=data.get("to_user"),
            to_site=data.get("to_site"),
            deidentified=bool(data.get("deidentified")),
            status=str(data.get("status", "")),
            note=str(data.get("note", "")),
            created_at=float(data.get("created_at", 0.0)),
            files=tuple(
                SharedFile(str(f["id"]), str(f["name"]), int(f["size"]), str(f["sha256"]))
                for f in data.get("files", ())
            ),
            role=str(data.get("role", "recipient")),
            source_study_uid=data.get("source_study_uid"),
        )


def share_targets(api: ServerApi, me: RemoteUser) -> list[ShareTarget]:
    """Other sites, and users other than ``me``, in a stable order (own site first)."""
    directory = api.directory()
    targets = [
        ShareTarget("site", str(site["name"]), str(site["name"]), str(site["name"]), False)
        for site in directory.get("sites", ())
        if int(site["id"]) != me.site_id
    ]
    users = [
        ShareTarget(
            "user",
            str(user["username"]),
            str(user.get("display_name") or user["username"]),
            str(user.get("site_name", "")),
            int(user["site_id"]) == me.site_id,
        )
        for user in directory.get("users", ())
        if int(user["id"]) != me.id
    ]
    users.sort(key=lambda t: (not t.same_site, t.site_name, t.display_name))
    return users + targets


def _recipient_site(api: ServerApi, to_user: str | None, to_site: str | None) -> tuple[int, str]:
    """(the recipient's site id, a scope naming the recipient for keyed UIDs)."""
    directory = api.directory()
    if to_user:
        for user in directory.get("users", ()):
            if user["username"] == to_user:
                return int(user["site_id"]), f"user:{int(user['id'])}"
        raise RequestRefusedError(404, f"no user named {to_user!r}")
    for site in directory.get("sites", ()):
        if site["name"] == to_site:
            return int(site["id"]), f"site:{int(site['id'])}"
    raise RequestRefusedError(404, f"no site named {to_site!r}")


def _study_of(path: Path) -> str:
    from pydicom import dcmread

    return str(
        dcmread(path, stop_before_pixels=True, specific_tags=["StudyInstanceUID"]).get(
            "StudyInstanceUID", ""
        )
    )


def share_case(
    api: ServerApi,
    store: AnnotationStore,
    me: RemoteUser,
    study_uid: str,
    files: Sequence[Path],
    *,
    to_user: str | None = None,
    to_site: str | None = None,
    note: str = "",
    workdir: Path | None = None,
    progress: Progress | None = None,
) -> SharedCase:
    """Share ``study_uid`` (its ``files`` and annotations) with one user or one site.

    Raises ``ValueError`` when a file belongs to another study,
    :class:`~workstation.collab.deid.DeidentificationError` when one cannot be de-identified,
    and the :mod:`workstation.collab.client` errors for the server.
    """
    if bool(to_user) == bool(to_site):
        raise ValueError("share with exactly one user or one site")
    files = [Path(p) for p in files]
    for path in files:
        if _study_of(path) != study_uid:
            raise ValueError(f"{path.name} belongs to another study than the one shared")
    site_id, scope = _recipient_site(api, to_user, to_site)
    cross_site = site_id != me.site_id
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="share-")))
        uploads: list[tuple[str, Path]]
        if cross_site:
            from workstation.collab.deid import Deidentifier

            deidentifier = Deidentifier(api.deid_key(), scope=scope)
            deidentifier.learn_files(files)
            uploads = []
            for index, path in enumerate(files):
                target = workdir / f"{index:06d}.dcm"
                deidentifier.file(path, target)
                uploads.append((target.name, target))
            copies = [
                deidentifier.annotation(annotation).to_json()
                for annotation in store.load(study_uid=study_uid, include_deleted=False)
            ]
            request: dict[str, Any] = {
                "study_uid": study_uid,
                "copy_study_uid": deidentifier.uid(study_uid),
                "annotations": copies,
            }
        else:
            uploads = [(f"{index:06d}{_suffix(path)}", path) for index, path in enumerate(files)]
            request = {"study_uid": study_uid}
        request.update(to_user=to_user, to_site=to_site, note=note)
        share = api.create_share(**request)
        try:
            for index, (name, path) in enumerate(uploads):
                api.upload_file(share["id"], name, path)
                if progress is not None:
                    progress(index + 1, len(uploads))
            share = api.complete_share(share["id"])
        except BaseException:
            with contextlib.suppress(CollabError):
                api.revoke_share(share["id"])  # no half-shared case stays behind
            raise
    return SharedCase.from_json(share)


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    return suffix if suffix in (".dcm", ".dicom") else ".dcm"


def shared_cases(api: ServerApi, direction: str = "received") -> list[SharedCase]:
    return [SharedCase.from_json(item) for item in api.shares(direction)]


def download_case(
    api: ServerApi, share_id: str, destination: Path, *, progress: Progress | None = None
) -> list[Path]:
    """Download every file of a share into ``destination``; their paths (to import)."""
    case = SharedCase.from_json(api.share(share_id))
    if case.status != "ready" and case.role != "sender":
        raise RequestRefusedError(409, "the case is still being uploaded")
    destination = Path(destination)
    paths: list[Path] = []
    for index, shared in enumerate(case.files):
        target = destination / Path(shared.name).name
        api.download_file(case.id, shared.id, target, expected_sha256=shared.sha256)
        paths.append(target)
        if progress is not None:
            progress(index + 1, len(case.files))
    return paths
