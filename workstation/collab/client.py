"""The collaboration server's API from the workstation's side (httpx; no Qt, no threads).

Failures map to a few exceptions the sync thread and the GUI act on:

- :class:`ServerUnavailableError`: the server cannot be reached, timed out, or answered 5xx/429
  (retry later, with backoff: the outbox keeps everything meanwhile);
- :class:`AuthExpiredError`: the server refused the token (expired, revoked): sign in again;
- :class:`SignInError`: wrong user name or password (or too many attempts);
- :class:`RequestRefusedError`: any other 4xx (``status`` holds the code, the message the reason).
"""

from __future__ import annotations

import contextlib
import hashlib
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from workstation.collab.protocol import API_PREFIX
from workstation.core.errors import WorkstationError


class CollabError(WorkstationError):
    """Something went wrong talking to the collaboration server."""


class ServerUnavailableError(CollabError):
    """The server cannot be reached right now; try again later."""


class AuthExpiredError(CollabError):
    """The server refused the token: sign in again (nothing local is lost)."""


class SignInError(CollabError):
    """The user name or password is wrong, or sign-in is refused for a while."""


class RequestRefusedError(CollabError):
    """The server refused a request (4xx other than 401)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RemoteUser:
    id: int
    username: str
    display_name: str
    site_id: int
    site_name: str
    role: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RemoteUser:
        return cls(
            id=int(data["id"]),
            username=str(data["username"]),
            display_name=str(data.get("display_name", data["username"])),
            site_id=int(data["site_id"]),
            site_name=str(data.get("site_name", "")),
            role=str(data.get("role", "radiologist")),
        )


@dataclass(frozen=True)
class SignedIn:
    token: str
    expires_at: float
    user: RemoteUser


def tls_verify(verify: bool | str | Path | ssl.SSLContext) -> bool | ssl.SSLContext:
    """httpx's ``verify`` from True/False, a CA bundle path or a context."""
    if isinstance(verify, (str, Path)):
        return ssl.create_default_context(cafile=str(verify))
    return verify


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return detail
    return str(detail or body)[:300]


class ServerApi:
    """One server, one user's token. Thread-safe (httpx pools connections per client).

    Parameters
    ----------
    base_url
        ``https://host:port`` (or ``http://`` on a trusted network / in tests).
    verify
        TLS verification: True (system CAs), a CA bundle path, an ``ssl.SSLContext``, or False.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        verify: bool | str | Path | ssl.SSLContext = True,
        timeout: float = 15.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.verify = tls_verify(verify)
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            verify=self.verify,
        )

    def close(self) -> None:
        self._client.close()

    # --- plumbing -----------------------------------------------------------------------------

    def _headers(self, auth: bool) -> dict[str, str]:
        if not auth:
            return {}
        if not self.token:
            raise AuthExpiredError("not signed in")
        return {"Authorization": f"Bearer {self.token}"}

    def _check(self, response: httpx.Response, auth: bool) -> httpx.Response:
        code = response.status_code
        if code == 401 and auth:
            raise AuthExpiredError(_detail(response))
        if code >= 500 or code in (408, 429):
            raise ServerUnavailableError(f"the server answered {code}: {_detail(response)}")
        if code >= 400:
            raise RequestRefusedError(code, _detail(response))
        return response

    def request(
        self, method: str, path: str, *, auth: bool = True, **kwargs: Any
    ) -> httpx.Response:
        headers = {**kwargs.pop("headers", {}), **self._headers(auth)}
        try:
            response = self._client.request(method, API_PREFIX + path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise ServerUnavailableError(f"cannot reach {self.base_url}: {exc}") from exc
        return self._check(response, auth)

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        value = self.request(method, path, **kwargs).json()
        if not isinstance(value, dict):
            raise ServerUnavailableError(f"unexpected answer from {path}")
        return value

    # --- sign-in ------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._json("GET", "/health", auth=False)

    def login(self, username: str, password: str) -> SignedIn:
        try:
            response = self._client.post(
                f"{API_PREFIX}/auth/login", json={"username": username, "password": password}
            )
        except httpx.TransportError as exc:
            raise ServerUnavailableError(f"cannot reach {self.base_url}: {exc}") from exc
        if response.status_code in (401, 422):
            raise SignInError("wrong user name or password")
        if response.status_code == 429:
            raise SignInError(_detail(response))
        body = self._check(response, auth=False).json()
        self.token = str(body["token"])
        return SignedIn(self.token, float(body["expires_at"]), RemoteUser.from_json(body["user"]))

    def logout(self) -> None:
        if self.token:
            with contextlib.suppress(CollabError):
                self.request("POST", "/auth/logout")
        self.token = None

    def me(self) -> RemoteUser:
        return RemoteUser.from_json(self._json("GET", "/me"))

    def directory(self) -> dict[str, Any]:
        return self._json("GET", "/directory")

    def deid_key(self) -> bytes:
        return bytes.fromhex(str(self._json("GET", "/site/deid-key")["key"]))

    # --- sync ---------------------------------------------------------------------------------

    def push(self, client_id: str, operations: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        body = self._json(
            "POST", "/sync/push", json={"client_id": client_id, "operations": list(operations)}
        )
        results = body.get("results")
        if not isinstance(results, list):
            raise ServerUnavailableError("the push answer holds no results")
        return results

    def changes(self, since: int, limit: int = 500) -> dict[str, Any]:
        return self._json("GET", "/sync/changes", params={"since": since, "limit": limit})

    def annotations(self, study_uid: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        body = self._json(
            "GET",
            f"/studies/{quote(study_uid)}/annotations",
            params={"include_deleted": "true" if include_deleted else "false"},
        )
        return list(body["annotations"])

    def comments(self, study_uid: str, annotation_uuid: str | None = None) -> list[dict[str, Any]]:
        params = {"annotation_uuid": annotation_uuid} if annotation_uuid is not None else {}
        return list(
            self._json("GET", f"/studies/{quote(study_uid)}/comments", params=params)["comments"]
        )

    def live_url(self) -> str:
        scheme = "wss" if self.base_url.startswith("https") else "ws"
        host = self.base_url.split("://", 1)[1]
        return f"{scheme}://{host}{API_PREFIX}/sync/live"

    # --- shares -------------------------------------------------------------------------------

    def create_share(self, **fields: Any) -> dict[str, Any]:
        return self._json("POST", "/shares", json=fields)

    def shares(self, direction: str = "all") -> list[dict[str, Any]]:
        return list(self._json("GET", "/shares", params={"direction": direction})["shares"])

    def share(self, share_id: str) -> dict[str, Any]:
        return self._json("GET", f"/shares/{quote(share_id)}")

    def complete_share(self, share_id: str) -> dict[str, Any]:
        return self._json("POST", f"/shares/{quote(share_id)}/complete")

    def revoke_share(self, share_id: str) -> None:
        self.request("DELETE", f"/shares/{quote(share_id)}")

    def upload_file(self, share_id: str, name: str, path: Path) -> dict[str, Any]:
        """Stream one file to a share (never read whole into memory)."""
        size = Path(path).stat().st_size
        with Path(path).open("rb") as stream:
            return self._json(
                "PUT",
                f"/shares/{quote(share_id)}/files/{quote(name)}",
                content=_chunks(stream),
                headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
                timeout=httpx.Timeout(300.0, connect=5.0),
            )

    def download_file(
        self,
        share_id: str,
        file_id: str,
        target: Path,
        *,
        expected_sha256: str | None = None,
        max_bytes: int | None = None,
    ) -> Path:
        """Stream one file of a share to ``target`` (checked against its SHA-256)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        digest = hashlib.sha256()
        size = 0
        url = f"{API_PREFIX}/shares/{quote(share_id)}/files/{quote(file_id)}"
        try:
            with self._client.stream(
                "GET", url, headers=self._headers(True), timeout=httpx.Timeout(300.0, connect=5.0)
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    self._check(response, True)
                expected = expected_sha256 or response.headers.get("x-content-sha256")
                with partial.open("wb") as out:
                    for chunk in response.iter_bytes(1 << 20):
                        size += len(chunk)
                        if max_bytes is not None and size > max_bytes:
                            message = f"{target.name} exceeds {max_bytes} bytes"
                            raise RequestRefusedError(413, message)
                        digest.update(chunk)
                        out.write(chunk)
        except httpx.TransportError as exc:
            partial.unlink(missing_ok=True)
            raise ServerUnavailableError(f"download interrupted: {exc}") from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        if expected and digest.hexdigest() != expected:
            partial.unlink(missing_ok=True)
            raise ServerUnavailableError(f"{target.name} arrived damaged (checksum differs)")
        partial.replace(target)
        return target


def _chunks(stream: Any, size: int = 1 << 20) -> Any:
    while True:
        chunk = stream.read(size)
        if not chunk:
            return
        yield chunk


#: A progress callback: (done, total).
Progress = Callable[[int, int], None]
