"""The server's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Alembic migrations (``migrations/versions``) create and evolve them; a test compares the
migrated database with these definitions. Times are seconds since the epoch (UTC) as
doubles: portable, and compared without time-zone surprises.

- ``sites``, ``users``, ``tokens``: who may sign in, where they work, their bearer tokens
  (only a SHA-256 of each token is stored).
- ``studies``: one row per (site, Study Instance UID): the unit of access. A de-identified
  copy made for a share is a study of its own (its UIDs are remapped).
- ``counters``: the one global change sequence; its row is locked by every writer of
  ``changes``, so sequence numbers become visible in order.
- ``changes``: the change feed (annotation versions, comments), ordered by ``sequence``.
- ``annotations``: the current version of each annotation.
- ``operations``: every operation ever pushed, by its client-made id: pushing it again
  returns the stored answer (idempotence), and a later edit can name it as its base.
- ``comments``, ``shares``, ``share_files``, ``audit``.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

#: 64-bit on PostgreSQL; SQLite's INTEGER is 64-bit already (and must be for row ids).
BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

sites = sa.Table(
    "sites",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    #: Secret for keyed UID replacement in de-identified copies (hex); given to the site's users.
    sa.Column("deid_key", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(100), nullable=False, unique=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id"), nullable=False, index=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False, index=True),
)

studies = sa.Table(
    "studies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id"), nullable=False),
    sa.Column("study_uid", sa.String(64), nullable=False, index=True),
    sa.Column("deidentified", sa.Boolean, nullable=False),
    sa.Column("source_study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.UniqueConstraint("site_id", "study_uid"),
)

counters = sa.Table(
    "counters",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("value", BigInt, nullable=False),
)

changes = sa.Table(
    "changes",
    metadata,
    sa.Column("sequence", BigInt, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=False, index=True),
    #: The owning site of the study (copied here so that a pull filters without a join).
    sa.Column("site_id", sa.Integer, nullable=False),
    sa.Column("uuid", sa.String(64), nullable=False, index=True),
    sa.Column("revision", sa.String(64), nullable=False, unique=True),
    sa.Column("op_id", sa.String(64), nullable=True),
    sa.Column("client_id", sa.String(64), nullable=True),
    sa.Column("user_id", sa.Integer, nullable=True),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
)

annotation_heads = sa.Table(
    "annotations",
    metadata,
    sa.Column("uuid", sa.String(64), primary_key=True),
    sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("revision", sa.String(64), nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("sequence", BigInt, nullable=False),
)

operations = sa.Table(
    "operations",
    metadata,
    sa.Column("op_id", sa.String(64), primary_key=True),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("uuid", sa.String(64), nullable=False),
    sa.Column("base_revision", sa.String(64), nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("result_revision", sa.String(64), nullable=True),
    sa.Column("result_version", sa.Integer, nullable=True),
    sa.Column("sequence", BigInt, nullable=True),
    #: The pushed content when it is not stored as a change of its own (merged, conflict).
    sa.Column("document", sa.Text, nullable=True),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
)

comments = sa.Table(
    "comments",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=False, index=True),
    sa.Column("annotation_uuid", sa.String(64), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("sequence", BigInt, nullable=False),
)

shares = sa.Table(
    "shares",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    #: The study the recipients see: the original (same site) or its de-identified copy.
    sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=False, index=True),
    sa.Column("source_study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=False),
    sa.Column("from_user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("from_site_id", sa.Integer, sa.ForeignKey("sites.id"), nullable=False),
    sa.Column("grantee_user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
    sa.Column("grantee_site_id", sa.Integer, sa.ForeignKey("sites.id"), nullable=True),
    sa.Column("deidentified", sa.Boolean, nullable=False),
    #: ``uploading`` (files arriving), ``ready``, ``revoked``.
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("total_bytes", BigInt, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
)

share_files = sa.Table(
    "share_files",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "share_id",
        sa.String(36),
        sa.ForeignKey("shares.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("size", BigInt, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.UniqueConstraint("share_id", "name"),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Double, nullable=False, index=True),
    sa.Column("user_id", sa.Integer, nullable=True),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("site_id", sa.Integer, nullable=True),
    #: login, logout, read_annotations, share, share_revoke, upload, export, admin_*, ...
    sa.Column("action", sa.String(50), nullable=False),
    #: success | failure | denied
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("object_type", sa.String(30), nullable=False),
    sa.Column("object_id", sa.String(200), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("remote", sa.String(100), nullable=False),
)

#: Name of the change sequence row in ``counters``.
SEQUENCE = "sequence"
