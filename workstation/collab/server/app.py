"""The collaboration server's HTTP and websocket API (FastAPI); OpenAPI at ``/openapi.json``.

Every endpoint but ``/health``, ``/auth/login`` and the OpenAPI pages needs
``Authorization: Bearer <token>``; a missing, unknown or expired token gets 401 (the
workstation then shows "sign in again"). Objects the user may not see answer 404, as if they
did not exist; objects they may see but not change answer 403.

=======================================  =====================================================
``GET  /api/v1/health``                  liveness (no sign-in)
``POST /api/v1/auth/login``              user name + password → bearer token (expiring)
``POST /api/v1/auth/logout``             revoke the token
``GET  /api/v1/me``                      the signed-in user and site
``GET  /api/v1/directory``               sites and users one can share with
``GET  /api/v1/site/deid-key``           the site's key for keyed UID replacement
``POST /api/v1/sync/push``               operations → one answer each (idempotent by op id)
``GET  /api/v1/sync/changes``            changes after ``since`` the user may see
``WS   /api/v1/sync/live``               ``{"type": "changes", "sequence": N}`` as they happen
``GET  /api/v1/studies/{uid}/annotations``  current annotations of a visible study
``GET  /api/v1/studies/{uid}/comments``  comments of a visible study (``annotation_uuid=``)
``POST /api/v1/shares``                  share a study with a user or a site
``GET  /api/v1/shares``                  shares received / sent (``direction=``)
``GET  /api/v1/shares/{id}``             one share with its files
``PUT  /api/v1/shares/{id}/files/{name}``  upload one file (streamed, size-bounded)
``POST /api/v1/shares/{id}/complete``    the upload is complete: recipients may download
``DELETE /api/v1/shares/{id}``           revoke a share
``GET  /api/v1/shares/{id}/files/{fid}``   download one file (streamed)
``GET  /api/v1/admin/audit``             the audit trail of the admin's site
``GET|POST /api/v1/admin/users``         the admin's site's users / create one
=======================================  =====================================================
"""

# No ``from __future__ import annotations``: FastAPI reads the dependency aliases defined
# inside create_app from the evaluated annotations.
import asyncio
import contextlib
import time
import uuid as uuid_module
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from fastapi import Depends, FastAPI, HTTPException, Query, Request, WebSocket, status
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from workstation import __version__
from workstation.collab.protocol import (
    API_PREFIX,
    MAX_PULL_CHANGES,
    MAX_PUSH_OPERATIONS,
    WS_CLOSE_UNAUTHORIZED,
    Role,
)
from workstation.collab.server import admin, audit, feed, notify, schema, shares
from workstation.collab.server.auth import (
    Principal,
    TokenState,
    issue_token,
    principal_for_token,
    revoke_token,
    user_for_login,
    verify_password,
)
from workstation.collab.server.database import Database
from workstation.collab.server.storage import FileStore, TooLargeError, check_name

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass
class ServerConfig:
    """How a server process runs; the command line fills it (``workstation server``)."""

    database_url: str
    storage_dir: Path
    #: Lifetime of a bearer token.
    token_ttl_s: float = 12 * 3600.0
    #: Largest file of a shared case, and largest case.
    max_file_bytes: int = 2 << 30
    max_share_bytes: int = 50 << 30
    #: Largest JSON request body (pushes, shares with annotation copies).
    max_request_bytes: int = 32 << 20
    #: Failed sign-ins of one user name tolerated per 5 minutes before answering 429.
    max_login_failures: int = 10
    #: Hasher for passwords set through the API (None: argon2id defaults).
    password_hasher: PasswordHasher | None = None
    #: Run the database migrations when the app is made.
    migrate: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1024)


class PushRequest(BaseModel):
    client_id: str = Field(min_length=1, max_length=64)
    operations: list[dict[str, Any]] = Field(max_length=MAX_PUSH_OPERATIONS)


class ShareRequest(BaseModel):
    study_uid: str = Field(min_length=1, max_length=64)
    #: The de-identified copy's Study Instance UID (required across sites).
    copy_study_uid: str | None = Field(default=None, max_length=64)
    to_user: str | None = Field(default=None, max_length=100)
    to_site: str | None = Field(default=None, max_length=200)
    note: str = Field(default="", max_length=2000)
    #: De-identified copies of the study's annotations (``Annotation.to_json``).
    annotations: list[dict[str, Any]] = Field(default_factory=list, max_length=20000)


class CreateUserRequest(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1024)
    display_name: str = Field(default="", max_length=200)
    role: Role = Role.RADIOLOGIST


class _BodyLimit:
    """Refuse request bodies over a size (413), counting what arrives, not what is claimed.

    Portable across FastAPI versions (no reliance on a framework body limit). Uploads of
    shared files are bounded by their own, larger limits.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "/files/" in scope.get("path", ""):
            await self.app(scope, receive, send)
            return
        too_large = JSONResponse({"detail": "request body too large"}, status_code=413)
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await too_large(scope, receive, send)
                return
        received = 0
        exceeded = False
        started = False

        async def limited() -> Message:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    exceeded = True
                    return {"type": "http.disconnect"}  # the app stops reading
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the app's answer to a truncated body is not sent
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, guarded)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await too_large(scope, receive, send)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def _remote(request: Request | WebSocket) -> str:
    return request.client.host if request.client else ""


def create_app(config: ServerConfig, database: Database | None = None) -> FastAPI:
    """The ASGI application (migrates the database first unless ``config.migrate`` is off)."""
    db = database or Database(config.database_url)
    if config.migrate:
        db.migrate()
    files = FileStore(config.storage_dir)
    hub = notify.Hub()
    notifier = notify.Notifier(hub, postgresql=db.is_postgresql)
    bearer = HTTPBearer(auto_error=False, description="the token from /api/v1/auth/login")

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        hub.bind(asyncio.get_running_loop())
        db.start_checkpoints()
        listener = None
        if db.is_postgresql:
            listener = notify.PostgresListener(db.libpq_conninfo(), hub)
            listener.start()
            await run_in_threadpool(listener.listening.wait, 10.0)
        try:
            yield
        finally:
            if listener is not None:
                await run_in_threadpool(listener.stop)
            db.dispose()

    app = FastAPI(
        title="Workstation collaboration server",
        version=__version__,
        description="Annotations, comments and shared cases between radiology workstations.",
        lifespan=lifespan,
    )
    app.state.database = db
    app.state.hub = hub
    app.state.config = config

    def principal_of(token: str) -> Principal:
        with db.read() as connection:
            state, principal = principal_for_token(connection, token)
        if state == TokenState.EXPIRED:
            raise _unauthorized("token expired: sign in again")
        if principal is None:
            raise _unauthorized("unknown token: sign in again")
        return principal

    def current(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise _unauthorized("sign in first")
        return principal_of(credentials.credentials)

    User = Annotated[Principal, Depends(current)]  # noqa: N806 - a type alias

    def admin_only(user: User) -> Principal:
        if not user.is_admin:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "administrators only")
        return user

    Admin = Annotated[Principal, Depends(admin_only)]  # noqa: N806 - a type alias

    # --- sign-in ------------------------------------------------------------------------------

    @app.get(f"{API_PREFIX}/health", tags=["service"])
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "database": db.dialect}

    @app.post(f"{API_PREFIX}/auth/login", tags=["auth"])
    def login(body: LoginRequest, request: Request) -> dict[str, Any]:
        remote = _remote(request)
        with db.read() as connection:
            principal, password_hash = user_for_login(connection, body.username)
            failures = connection.execute(
                sa.select(sa.func.count())
                .select_from(schema.audit)
                .where(
                    schema.audit.c.action == "login",
                    schema.audit.c.outcome == "failure",
                    schema.audit.c.username == body.username[:100],
                    schema.audit.c.at > time.time() - 300,
                )
            ).scalar_one()
        if failures >= config.max_login_failures:
            with db.write() as connection:
                audit.record(
                    connection,
                    "security_alert",
                    username=body.username,
                    outcome="denied",
                    object_type="user",
                    object_id=body.username,
                    detail={"reason": "too many failed sign-ins"},
                    remote=remote,
                )
            raise HTTPException(429, "too many failed sign-ins: wait a few minutes")
        if principal is None or not verify_password(password_hash, body.password):
            with db.write() as connection:
                audit.record(
                    connection,
                    "login",
                    username=body.username,
                    outcome="failure",
                    object_type="user",
                    object_id=body.username,
                    remote=remote,
                )
            raise _unauthorized("wrong user name or password")
        with db.write() as connection:
            token, expires = issue_token(connection, principal.user_id, config.token_ttl_s)
            audit.record(
                connection,
                "login",
                principal=principal,
                object_type="user",
                object_id=str(principal.user_id),
                remote=remote,
            )
        return {"token": token, "expires_at": expires, "user": _user_json(principal)}

    @app.post(f"{API_PREFIX}/auth/logout", tags=["auth"], status_code=204)
    def logout(user: User, request: Request) -> Response:
        with db.write() as connection:
            revoke_token(connection, user.token_hash)
            audit.record(
                connection,
                "logout",
                principal=user,
                object_type="user",
                object_id=str(user.user_id),
                remote=_remote(request),
            )
        return Response(status_code=204)

    @app.get(f"{API_PREFIX}/me", tags=["auth"])
    def me(user: User) -> dict[str, Any]:
        return _user_json(user) | {"expires_at": user.expires_at}

    @app.get(f"{API_PREFIX}/directory", tags=["sharing"])
    def directory(user: User) -> dict[str, Any]:
        with db.read() as connection:
            sites = admin.list_sites(connection)
            users = [u for u in admin.list_users(connection) if u.active]
        return {
            "sites": [{"id": s.id, "name": s.name} for s in sites],
            "users": [
                {
                    "id": u.id,
                    "username": u.username,
                    "display_name": u.display_name,
                    "site_id": u.site_id,
                    "site_name": u.site_name,
                }
                for u in users
            ],
        }

    @app.get(f"{API_PREFIX}/site/deid-key", tags=["sharing"])
    def deid_key(user: User) -> dict[str, str]:
        with db.read() as connection:
            key = connection.execute(
                sa.select(schema.sites.c.deid_key).where(schema.sites.c.id == user.site_id)
            ).scalar_one()
        return {"key": key}

    # --- sync ---------------------------------------------------------------------------------

    @app.post(f"{API_PREFIX}/sync/push", tags=["sync"])
    def push(body: PushRequest, user: User) -> dict[str, Any]:
        with db.write() as connection:
            pusher = feed.Pusher(connection, user, body.client_id)
            results = pusher.run(body.operations)
            touched = pusher.touched
            event = notify.changes_event(touched.sequence, touched.studies)
            if touched.studies:
                notifier.in_transaction(connection, event)
        if touched.studies:
            notifier.after_commit(event)
        return {"results": results}

    @app.get(f"{API_PREFIX}/sync/changes", tags=["sync"])
    def changes(
        user: User,
        request: Request,
        since: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PULL_CHANGES)] = 500,
    ) -> dict[str, Any]:
        with db.read() as connection:
            items, cursor, more = feed.pull(connection, user, since, limit)
        studies = sorted({c["study_uid"] for c in items if c["kind"] == "annotation"})
        if studies:
            with db.write() as connection:
                audit.record(
                    connection,
                    "read_annotations",
                    principal=user,
                    object_type="study",
                    object_id=studies[0] if len(studies) == 1 else f"{len(studies)} studies",
                    detail={"studies": studies[:50], "changes": len(items), "via": "pull"},
                    remote=_remote(request),
                )
        return {"changes": items, "next": cursor, "more": more}

    @app.websocket(f"{API_PREFIX}/sync/live")
    async def live(websocket: WebSocket) -> None:
        header = websocket.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        principal: Principal | None = None
        if scheme.lower() == "bearer" and token.strip():
            with contextlib.suppress(HTTPException):
                principal = await run_in_threadpool(principal_of, token.strip())
        await websocket.accept()
        if principal is None:
            await websocket.close(code=WS_CLOSE_UNAUTHORIZED, reason="sign in again")
            return
        await _serve_live(websocket, principal)

    async def _serve_live(websocket: WebSocket, principal: Principal) -> None:
        def visible() -> tuple[set[int], int]:
            with db.read() as connection:
                return (
                    feed.shared_study_ids(connection, principal),
                    feed.head_sequence(connection),
                )

        shared, head = await run_in_threadpool(visible)
        connection = notify.LiveConnection(principal.user_id, principal.site_id, shared)
        hub.register(connection)
        receiver = asyncio.ensure_future(_drain(websocket))
        try:
            await websocket.send_json({"type": "hello", "sequence": head})
            while True:
                remaining = principal.expires_at - time.time()
                if remaining <= 0:
                    await websocket.close(code=WS_CLOSE_UNAUTHORIZED, reason="token expired")
                    return
                waiter = asyncio.ensure_future(connection.wake.wait())
                done, _ = await asyncio.wait(
                    {waiter, receiver},
                    timeout=min(remaining, 30.0),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if receiver in done:
                    waiter.cancel()
                    return  # the client went away
                if waiter not in done:
                    waiter.cancel()
                    continue
                connection.wake.clear()
                if connection.shares_changed:
                    connection.shares_changed = False
                    refreshed, _ = await run_in_threadpool(visible)
                    connection.shared = refreshed
                    await websocket.send_json({"type": "shares"})
                await websocket.send_json({"type": "changes", "sequence": connection.sequence})
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            hub.unregister(connection)
            receiver.cancel()

    # --- studies ------------------------------------------------------------------------------

    def _visible_study(connection: sa.Connection, user: Principal, study_uid: str) -> int:
        study_id = feed.Studies(connection, user).find(study_uid)
        if study_id is None:
            raise HTTPException(404, "no such study")
        return study_id

    @app.get(f"{API_PREFIX}/studies/{{study_uid}}/annotations", tags=["studies"])
    def study_annotations(
        study_uid: str, user: User, request: Request, include_deleted: bool = False
    ) -> dict[str, Any]:
        with db.read() as connection:
            study_id = _visible_study(connection, user, study_uid)
            query = sa.select(schema.annotation_heads.c.document).where(
                schema.annotation_heads.c.study_id == study_id
            )
            if not include_deleted:
                query = query.where(schema.annotation_heads.c.deleted.is_(False))
            documents = [
                feed_json(text)
                for text in connection.execute(
                    query.order_by(schema.annotation_heads.c.sequence)
                ).scalars()
            ]
        with db.write() as connection:
            audit.record(
                connection,
                "read_annotations",
                principal=user,
                object_type="study",
                object_id=study_uid,
                detail={"count": len(documents)},
                remote=_remote(request),
            )
        return {"study_uid": study_uid, "annotations": documents}

    @app.get(f"{API_PREFIX}/studies/{{study_uid}}/comments", tags=["studies"])
    def study_comments(
        study_uid: str, user: User, request: Request, annotation_uuid: str | None = None
    ) -> dict[str, Any]:
        with db.read() as connection:
            study_id = _visible_study(connection, user, study_uid)
            query = (
                sa.select(
                    schema.comments.c.id,
                    schema.comments.c.annotation_uuid,
                    schema.comments.c.text,
                    schema.comments.c.created_at,
                    schema.comments.c.sequence,
                    schema.users.c.username,
                )
                .select_from(
                    schema.comments.join(
                        schema.users, schema.users.c.id == schema.comments.c.user_id
                    )
                )
                .where(schema.comments.c.study_id == study_id)
                .order_by(schema.comments.c.sequence)
            )
            if annotation_uuid is not None:
                query = query.where(schema.comments.c.annotation_uuid == annotation_uuid)
            rows = connection.execute(query).all()
        with db.write() as connection:
            audit.record(
                connection,
                "read_comments",
                principal=user,
                object_type="study",
                object_id=study_uid,
                detail={"count": len(rows)},
                remote=_remote(request),
            )
        return {
            "study_uid": study_uid,
            "comments": [
                {
                    "id": row.id,
                    "study_uid": study_uid,
                    "annotation_uuid": row.annotation_uuid,
                    "text": row.text,
                    "author": row.username,
                    "created": feed.iso(row.created_at),
                    "sequence": row.sequence,
                }
                for row in rows
            ],
        }

    # --- shares -------------------------------------------------------------------------------

    def _share_failed(error: shares.ShareError) -> HTTPException:
        return HTTPException(error.status, str(error))

    @app.post(f"{API_PREFIX}/shares", tags=["sharing"], status_code=201)
    def create_share(body: ShareRequest, user: User, request: Request) -> dict[str, Any]:
        try:
            with db.write() as connection:
                created = shares.create_share(
                    connection,
                    user,
                    study_uid=body.study_uid,
                    copy_study_uid=body.copy_study_uid,
                    to_user=body.to_user,
                    to_site=body.to_site,
                    note=body.note,
                    annotations=body.annotations,
                )
                audit.record(
                    connection,
                    "share",
                    principal=user,
                    object_type="share",
                    object_id=created.share["id"],
                    detail={
                        "study_uid": body.study_uid,
                        "to_user": body.to_user,
                        "to_site": body.to_site,
                        "deidentified": created.share["deidentified"],
                        "annotations": len(body.annotations),
                    },
                    remote=_remote(request),
                )
                touched = created.touched
                event = notify.shares_event(
                    touched.sequence, created.grantee_users, created.grantee_sites, touched.studies
                )
                notifier.in_transaction(connection, event)
        except shares.ShareError as error:
            raise _share_failed(error) from error
        notifier.after_commit(event)
        return created.share

    @app.get(f"{API_PREFIX}/shares", tags=["sharing"])
    def list_shares(
        user: User,
        direction: Annotated[str, Query(pattern="^(received|sent|all)$")] = "all",
    ) -> dict[str, Any]:
        with db.read() as connection:
            return {"shares": shares.list_shares(connection, user, direction)}

    @app.get(f"{API_PREFIX}/shares/{{share_id}}", tags=["sharing"])
    def get_share(share_id: str, user: User) -> dict[str, Any]:
        with db.read() as connection:
            described = shares.share_json(connection, share_id, user)
        if described is None:
            raise HTTPException(404, "no such share")
        return described

    @app.put(f"{API_PREFIX}/shares/{{share_id}}/files/{{name}}", tags=["sharing"], status_code=201)
    async def upload(share_id: str, name: str, user: User, request: Request) -> dict[str, Any]:
        try:
            name = check_name(name)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc

        def check() -> Any:
            with db.read() as connection:
                return shares.sender_share(connection, share_id, user)

        try:
            row = await run_in_threadpool(check)
        except shares.ShareError as error:
            raise _share_failed(error) from error
        if row.status != "uploading":
            raise HTTPException(409, "the share takes no more files")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > config.max_file_bytes:
            raise HTTPException(413, f"a file may hold at most {config.max_file_bytes} bytes")
        file_id = str(uuid_module.uuid4())
        try:
            size, digest = await files.receive(
                row.id, file_id, request.stream(), config.max_file_bytes
            )
        except TooLargeError as exc:
            raise HTTPException(413, str(exc)) from exc
        path = files.path(row.id, file_id)
        if row.deidentified:
            copy_uid = await run_in_threadpool(_study_uid, row.study_id)
            problems = await run_in_threadpool(_check_deidentified, path, copy_uid)
            if problems:
                files.remove(row.id, file_id)
                await run_in_threadpool(
                    _audit_refusal, user, row.id, name, problems, _remote(request)
                )
                raise HTTPException(422, "not a de-identified copy: " + "; ".join(problems[:5]))

        def record() -> dict[str, Any]:
            with db.write() as connection:
                stored = shares.add_file(
                    connection,
                    row.id,
                    file_id=file_id,
                    name=name,
                    size=size,
                    sha256=digest,
                    max_share_bytes=config.max_share_bytes,
                )
                audit.record(
                    connection,
                    "upload",
                    principal=user,
                    object_type="share_file",
                    object_id=f"{row.id}/{file_id}",
                    detail={"size": size},
                    remote=_remote(request),
                )
                return stored

        try:
            return await run_in_threadpool(record)
        except shares.ShareError as error:
            files.remove(row.id, file_id)
            raise _share_failed(error) from error

    def _study_uid(study_id: int) -> str:
        with db.read() as connection:
            return shares.study_uid_of(connection, study_id)

    def _audit_refusal(
        user: Principal, share_id: str, name: str, problems: list[str], remote: str
    ) -> None:
        with db.write() as connection:
            audit.record(
                connection,
                "security_alert",
                principal=user,
                outcome="denied",
                object_type="share_file",
                object_id=f"{share_id}/{name}",
                detail={
                    "reason": "identifying data in a cross-site share",
                    "problems": problems[:10],
                },
                remote=remote,
            )

    @app.post(f"{API_PREFIX}/shares/{{share_id}}/complete", tags=["sharing"])
    def complete_share(share_id: str, user: User) -> dict[str, Any]:
        try:
            with db.write() as connection:
                row = shares.sender_share(connection, share_id, user)
                if row.status == "revoked":
                    raise shares.ShareError(409, "the share was revoked")
                connection.execute(
                    sa.update(schema.shares)
                    .where(schema.shares.c.id == row.id)
                    .values(status="ready")
                )
                described = shares.share_json(connection, row.id, user)
                event = notify.shares_event(
                    0,
                    [row.grantee_user_id] if row.grantee_user_id else [],
                    [row.grantee_site_id] if row.grantee_site_id else [],
                    [],
                )
                notifier.in_transaction(connection, event)
        except shares.ShareError as error:
            raise _share_failed(error) from error
        notifier.after_commit(event)
        assert described is not None
        return described

    @app.delete(f"{API_PREFIX}/shares/{{share_id}}", tags=["sharing"], status_code=204)
    def revoke_share(share_id: str, user: User, request: Request) -> Response:
        with db.write() as connection:
            row = connection.execute(
                sa.select(schema.shares).where(schema.shares.c.id == share_id)
            ).first()
            role = shares.access(row, user)
            if row is None or role is None:
                raise HTTPException(404, "no such share")
            if role != "sender" or (row.from_user_id != user.user_id and not user.is_admin):
                raise HTTPException(403, "only the user who shared the case or an admin")
            connection.execute(
                sa.update(schema.shares)
                .where(schema.shares.c.id == row.id)
                .values(status="revoked")
            )
            audit.record(
                connection,
                "share_revoke",
                principal=user,
                object_type="share",
                object_id=row.id,
                remote=_remote(request),
            )
        files.remove_share(row.id)
        return Response(status_code=204)

    @app.get(f"{API_PREFIX}/shares/{{share_id}}/files/{{file_id}}", tags=["sharing"])
    def download(share_id: str, file_id: str, user: User, request: Request) -> FileResponse:
        try:
            with db.read() as connection:
                row, file_row = shares.shared_file(connection, share_id, file_id, user)
        except shares.ShareError as error:
            raise _share_failed(error) from error
        path = files.path(row.id, file_row.id)
        if not path.is_file():
            raise HTTPException(410, "the file is no longer stored")
        with db.write() as connection:
            audit.record(
                connection,
                "export",
                principal=user,
                object_type="share_file",
                object_id=f"{row.id}/{file_row.id}",
                detail={"size": int(file_row.size)},
                remote=_remote(request),
            )
        return FileResponse(
            path,
            media_type="application/dicom" if row.deidentified else "application/octet-stream",
            filename=file_row.name,
            headers={"X-Content-SHA256": file_row.sha256},
        )

    # --- administration -----------------------------------------------------------------------

    @app.get(f"{API_PREFIX}/admin/audit", tags=["admin"])
    def audit_trail(
        user: Admin, limit: Annotated[int, Query(ge=1, le=5000)] = 500
    ) -> dict[str, Any]:
        with db.read() as connection:
            return {"events": audit.events(connection, site_id=user.site_id, limit=limit)}

    @app.get(f"{API_PREFIX}/admin/users", tags=["admin"])
    def site_users(user: Admin) -> dict[str, Any]:
        with db.read() as connection:
            return {
                "users": [u.to_json() for u in admin.list_users(connection, site_id=user.site_id)]
            }

    @app.post(f"{API_PREFIX}/admin/users", tags=["admin"], status_code=201)
    def create_user(body: CreateUserRequest, user: Admin) -> dict[str, Any]:
        try:
            with db.write() as connection:
                created = admin.create_user(
                    connection,
                    body.username,
                    body.password,
                    site=user.site_id,
                    role=body.role,
                    display_name=body.display_name,
                    actor=user.username,
                    actor_principal=user,
                    hasher=config.password_hasher,
                )
        except admin.AdminError as error:
            raise HTTPException(409 if "exists" in str(error) else 422, str(error)) from error
        return created.to_json()

    return _with_limits(app, config)


def _with_limits(app: FastAPI, config: ServerConfig) -> FastAPI:
    app.add_middleware(_BodyLimit, limit=config.max_request_bytes)
    return app


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message.get("type") == "websocket.disconnect":
                return


def feed_json(text: str) -> dict[str, Any]:
    import json

    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def _check_deidentified(path: Path, copy_study_uid: str) -> list[str]:
    from pydicom import dcmread

    from workstation.collab.deid import deidentification_problems

    try:
        dataset = dcmread(path, stop_before_pixels=True)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds on bad files
        return [f"not readable DICOM ({type(exc).__name__})"]
    problems = deidentification_problems(dataset)
    if str(dataset.get("StudyInstanceUID", "")) != copy_study_uid:
        problems.append("the file belongs to another study than the shared copy")
    return problems


def _user_json(principal: Principal) -> dict[str, Any]:
    return {
        "id": principal.user_id,
        "username": principal.username,
        "display_name": principal.display_name,
        "site_id": principal.site_id,
        "site_name": principal.site_name,
        "role": principal.role.value,
    }
