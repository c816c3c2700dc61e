"""Passwords (argon2id) and bearer tokens.

A token is 32 random bytes (URL-safe text) handed out once at sign-in; the server keeps only
its SHA-256, with the user and an expiry time, so a copy of the database lets no one in.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Connection

from workstation.collab.protocol import Role
from workstation.collab.server import schema

#: Shortest password accepted when creating a user or changing a password.
MIN_PASSWORD_LENGTH = 10

_DEFAULT_HASHER = PasswordHasher()
# Verified against when the user name is unknown, so a wrong name costs as long as a wrong
# password (no user-name probing by timing).
_DUMMY_HASH = _DEFAULT_HASHER.hash("not a password of anybody")


@dataclass(frozen=True)
class Principal:
    """The signed-in user a request acts for."""

    user_id: int
    username: str
    display_name: str
    site_id: int
    site_name: str
    role: Role
    token_hash: str = ""
    expires_at: float = 0.0

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


class TokenState:
    VALID = "valid"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return (hasher or _DEFAULT_HASHER).hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _DEFAULT_HASHER.verify(password_hash or _DUMMY_HASH, password) and (
            password_hash is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def issue_token(connection: Connection, user_id: int, ttl_s: float) -> tuple[str, float]:
    """A new bearer token for ``user_id`` valid for ``ttl_s`` seconds: (token, expires_at)."""
    token = secrets.token_urlsafe(32)
    created = time.time()
    expires = created + ttl_s
    connection.execute(
        sa.insert(schema.tokens).values(
            token_hash=token_digest(token), user_id=user_id, created_at=created, expires_at=expires
        )
    )
    # Expired tokens are useless: drop them while we are writing anyway.
    connection.execute(sa.delete(schema.tokens).where(schema.tokens.c.expires_at < created - 86400))
    return token, expires


def revoke_token(connection: Connection, token_hash: str) -> None:
    connection.execute(sa.delete(schema.tokens).where(schema.tokens.c.token_hash == token_hash))


_PRINCIPAL_COLUMNS = (
    schema.users.c.id,
    schema.users.c.username,
    schema.users.c.display_name,
    schema.users.c.site_id,
    schema.sites.c.name,
    schema.users.c.role,
)


def principal_for_token(connection: Connection, token: str) -> tuple[str, Principal | None]:
    """(:class:`TokenState`, the principal when valid) of a bearer token."""
    digest = token_digest(token)
    row = connection.execute(
        sa.select(*_PRINCIPAL_COLUMNS, schema.tokens.c.expires_at, schema.users.c.active)
        .select_from(
            schema.tokens.join(schema.users, schema.users.c.id == schema.tokens.c.user_id).join(
                schema.sites, schema.sites.c.id == schema.users.c.site_id
            )
        )
        .where(schema.tokens.c.token_hash == digest)
    ).first()
    if row is None or not row.active:
        return TokenState.UNKNOWN, None
    if row.expires_at <= time.time():
        return TokenState.EXPIRED, None
    return TokenState.VALID, Principal(
        user_id=row.id,
        username=row.username,
        display_name=row.display_name,
        site_id=row.site_id,
        site_name=row.name,
        role=Role(row.role),
        token_hash=digest,
        expires_at=row.expires_at,
    )


def user_for_login(connection: Connection, username: str) -> tuple[Principal | None, str | None]:
    """(the active user named ``username``, their password hash), or (None, None)."""
    row = connection.execute(
        sa.select(*_PRINCIPAL_COLUMNS, schema.users.c.password_hash)
        .select_from(schema.users.join(schema.sites, schema.sites.c.id == schema.users.c.site_id))
        .where(schema.users.c.username == username, schema.users.c.active.is_(True))
    ).first()
    if row is None:
        return None, None
    return (
        Principal(
            user_id=row.id,
            username=row.username,
            display_name=row.display_name,
            site_id=row.site_id,
            site_name=row.name,
            role=Role(row.role),
        ),
        row.password_hash,
    )
