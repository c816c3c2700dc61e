"""The sync protocol between a workstation and the collaboration server: names and limits.

Every change a workstation makes is an *operation* with an id the workstation chose
(a UUID), so that pushing it twice is harmless::

    {"op_id": "...", "kind": "annotation", "base_revision": "..." | null,
     "annotation": Annotation.to_json()}
    {"op_id": "...", "kind": "comment",
     "comment": {"id", "study_uid", "annotation_uuid", "text", "created"}}

``base_revision`` names the version the edit was made from: the *revision* of a version is
the id of the operation that made it (or the id the server gave a merged version). The
server answers each operation with one :class:`OpStatus` and, when it stored something, the
*sequence* number it gave the change. Sequence numbers come from the server alone and only
grow: they order all changes, never a client's clock. ``GET /api/v1/sync/changes?since=N``
returns the changes after ``N`` that the user may see.
"""

from __future__ import annotations

from enum import StrEnum

#: Path prefix of every endpoint of the server's API.
API_PREFIX = "/api/v1"
#: Most operations accepted in one push request.
MAX_PUSH_OPERATIONS = 1000
#: Most changes returned by one pull.
MAX_PULL_CHANGES = 2000
#: Longest comment, in characters.
MAX_COMMENT_LENGTH = 10_000
#: Longest id (annotation UUID, comment id, operation id) the server stores.
MAX_ID_LENGTH = 64
#: Close code of the live websocket when the bearer token is missing, wrong or expired.
WS_CLOSE_UNAUTHORIZED = 4401


class OpStatus(StrEnum):
    """What the server did with one pushed operation."""

    #: Stored as sent (the version was made from the server's current version).
    APPLIED = "applied"
    #: Made from an older version, but the two edits touch different fields: the server
    #: stored a merged version (returned) that carries both.
    MERGED = "merged"
    #: Made from an older version and colliding with the server's: nothing stored; the
    #: server's version is returned so that the reader can choose.
    CONFLICT = "conflict"
    #: The user may not change this annotation (another site's, share revoked).
    FORBIDDEN = "forbidden"
    #: The operation is malformed; ``reason`` says why.
    INVALID = "invalid"
    #: The version it was made from is unknown to the server (an earlier operation of the
    #: same client has not arrived yet): nothing stored, push it again after that one.
    MISSING_BASE = "missing_base"


class Role(StrEnum):
    """What a user may do: read and annotate, or also administer their site."""

    RADIOLOGIST = "radiologist"
    ADMIN = "admin"


class ConnectionState(StrEnum):
    """The workstation's link to the server, as the GUI shows it."""

    SIGNED_OUT = "signed_out"
    OFFLINE = "offline"
    CONNECTING = "connecting"
    ONLINE = "online"
    #: The server refused the token (expired or revoked): sign in again; nothing is lost.
    AUTH_EXPIRED = "auth_expired"
