"""Sites and users: what ``workstation server create-site`` / ``create-user`` / ... do.

Every function takes an open write connection and records an audit event naming the actor
(``cli`` for the command line, else the admin's user name).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.engine import Connection

from workstation.collab.protocol import Role
from workstation.collab.server import audit, schema
from workstation.collab.server.auth import Principal, hash_password, issue_token
from workstation.core.errors import WorkstationError


class AdminError(WorkstationError):
    """An administrative request cannot be done (duplicate name, unknown site, ...)."""


@dataclass(frozen=True)
class SiteInfo:
    id: int
    name: str


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    display_name: str
    site_id: int
    site_name: str
    role: str
    active: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "site_id": self.site_id,
            "site_name": self.site_name,
            "role": self.role,
            "active": self.active,
        }


def _check_name(kind: str, name: str, longest: int) -> str:
    name = name.strip()
    if not name or len(name) > longest or any(ch in name for ch in "\r\n\t"):
        raise AdminError(f"a {kind} needs a name of 1..{longest} characters on one line")
    return name


def create_site(connection: Connection, name: str, *, actor: str = "cli") -> SiteInfo:
    name = _check_name("site", name, 200)
    if connection.execute(sa.select(schema.sites.c.id).where(schema.sites.c.name == name)).first():
        raise AdminError(f"a site named {name!r} exists already")
    result = connection.execute(
        sa.insert(schema.sites).values(
            name=name, deid_key=secrets.token_hex(32), created_at=time.time()
        )
    )
    (site_id,) = result.inserted_primary_key or (0,)
    audit.record(
        connection,
        "admin_create_site",
        username=actor,
        object_type="site",
        object_id=str(site_id),
    )
    return SiteInfo(int(site_id), name)


def site_by_name(connection: Connection, name: str) -> SiteInfo:
    row = connection.execute(
        sa.select(schema.sites.c.id, schema.sites.c.name).where(schema.sites.c.name == name)
    ).first()
    if row is None:
        raise AdminError(f"no site named {name!r}")
    return SiteInfo(row.id, row.name)


def create_user(
    connection: Connection,
    username: str,
    password: str,
    *,
    site: str | int,
    role: Role | str = Role.RADIOLOGIST,
    display_name: str = "",
    actor: str = "cli",
    actor_principal: Principal | None = None,
    hasher: PasswordHasher | None = None,
) -> UserInfo:
    """Create a user of ``site`` (its name or id); ``AdminError`` for a taken name."""
    username = _check_name("user", username, 100)
    try:
        role = Role(role)
    except ValueError as exc:
        raise AdminError(f"unknown role {role!r}: use radiologist or admin") from exc
    if isinstance(site, int):
        row = connection.execute(
            sa.select(schema.sites.c.id, schema.sites.c.name).where(schema.sites.c.id == site)
        ).first()
        if row is None:
            raise AdminError(f"no site with id {site}")
        site_info = SiteInfo(row.id, row.name)
    else:
        site_info = site_by_name(connection, site)
    taken = connection.execute(
        sa.select(schema.users.c.id).where(schema.users.c.username == username)
    ).first()
    if taken:
        raise AdminError(f"a user named {username!r} exists already")
    try:
        password_hash = hash_password(password, hasher)
    except ValueError as exc:
        raise AdminError(str(exc)) from exc
    result = connection.execute(
        sa.insert(schema.users).values(
            username=username,
            display_name=display_name.strip() or username,
            site_id=site_info.id,
            role=role.value,
            password_hash=password_hash,
            active=True,
            created_at=time.time(),
        )
    )
    (user_id,) = result.inserted_primary_key or (0,)
    audit.record(
        connection,
        "admin_create_user",
        principal=actor_principal,
        username=actor,
        object_type="user",
        object_id=str(user_id),
        detail={"site_id": site_info.id, "role": role.value},
    )
    return UserInfo(
        int(user_id),
        username,
        display_name.strip() or username,
        site_info.id,
        site_info.name,
        role.value,
        True,
    )


def _user_id(connection: Connection, username: str) -> int:
    row = connection.execute(
        sa.select(schema.users.c.id).where(schema.users.c.username == username)
    ).first()
    if row is None:
        raise AdminError(f"no user named {username!r}")
    return int(row.id)


def set_password(
    connection: Connection,
    username: str,
    password: str,
    *,
    actor: str = "cli",
    hasher: PasswordHasher | None = None,
) -> None:
    """Change a password and sign the user out everywhere."""
    user_id = _user_id(connection, username)
    try:
        password_hash = hash_password(password, hasher)
    except ValueError as exc:
        raise AdminError(str(exc)) from exc
    connection.execute(
        sa.update(schema.users)
        .where(schema.users.c.id == user_id)
        .values(password_hash=password_hash)
    )
    connection.execute(sa.delete(schema.tokens).where(schema.tokens.c.user_id == user_id))
    audit.record(
        connection, "admin_set_password", username=actor, object_type="user", object_id=str(user_id)
    )


def set_active(connection: Connection, username: str, active: bool, *, actor: str = "cli") -> None:
    """Enable or disable a user (disabling signs them out everywhere)."""
    user_id = _user_id(connection, username)
    connection.execute(
        sa.update(schema.users).where(schema.users.c.id == user_id).values(active=active)
    )
    if not active:
        connection.execute(sa.delete(schema.tokens).where(schema.tokens.c.user_id == user_id))
    audit.record(
        connection,
        "admin_enable_user" if active else "admin_disable_user",
        username=actor,
        object_type="user",
        object_id=str(user_id),
    )


def list_sites(connection: Connection) -> list[SiteInfo]:
    rows = connection.execute(
        sa.select(schema.sites.c.id, schema.sites.c.name).order_by(schema.sites.c.name)
    )
    return [SiteInfo(row.id, row.name) for row in rows]


def list_users(connection: Connection, *, site_id: int | None = None) -> list[UserInfo]:
    query = (
        sa.select(
            schema.users.c.id,
            schema.users.c.username,
            schema.users.c.display_name,
            schema.users.c.site_id,
            schema.sites.c.name,
            schema.users.c.role,
            schema.users.c.active,
        )
        .select_from(schema.users.join(schema.sites, schema.sites.c.id == schema.users.c.site_id))
        .order_by(schema.users.c.username)
    )
    if site_id is not None:
        query = query.where(schema.users.c.site_id == site_id)
    return [
        UserInfo(
            row.id, row.username, row.display_name, row.site_id, row.name, row.role, row.active
        )
        for row in connection.execute(query)
    ]


def token_for(connection: Connection, username: str, ttl_s: float) -> str:
    """A bearer token for ``username`` without a password (tests, service accounts)."""
    token, _ = issue_token(connection, _user_id(connection, username), ttl_s)
    return token
