"""The first schema: sites, users, tokens, studies, the change feed, shares and audit.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("deid_key", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sites"),
        sa.UniqueConstraint("name", name="uq_sites_name"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("site_id", sa.Integer, nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_users_site_id_sites"),
    )
    op.create_index("ix_users_site_id", "users", ["site_id"])
    op.create_table(
        "tokens",
        sa.Column("token_hash", sa.String(64)),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_tokens"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_tokens_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_tokens_expires_at", "tokens", ["expires_at"])
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("site_id", sa.Integer, nullable=False),
        sa.Column("study_uid", sa.String(64), nullable=False),
        sa.Column("deidentified", sa.Boolean, nullable=False),
        sa.Column("source_study_id", sa.Integer, nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_studies"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_studies_site_id_sites"),
        sa.ForeignKeyConstraint(
            ["source_study_id"], ["studies.id"], name="fk_studies_source_study_id_studies"
        ),
        sa.UniqueConstraint("site_id", "study_uid", name="uq_studies_site_id_study_uid"),
    )
    op.create_index("ix_studies_study_uid", "studies", ["study_uid"])
    counters = op.create_table(
        "counters",
        sa.Column("name", sa.String(50)),
        sa.Column("value", _BIG, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_counters"),
    )
    op.bulk_insert(counters, [{"name": "sequence", "value": 0}])
    op.create_table(
        "changes",
        sa.Column("sequence", _BIG, autoincrement=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("study_id", sa.Integer, nullable=False),
        sa.Column("site_id", sa.Integer, nullable=False),
        sa.Column("uuid", sa.String(64), nullable=False),
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("op_id", sa.String(64), nullable=True),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("user_id", sa.Integer, nullable=True),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("sequence", name="pk_changes"),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], name="fk_changes_study_id_studies"),
        sa.UniqueConstraint("revision", name="uq_changes_revision"),
    )
    op.create_index("ix_changes_study_id", "changes", ["study_id"])
    op.create_index("ix_changes_uuid", "changes", ["uuid"])
    op.create_table(
        "annotations",
        sa.Column("uuid", sa.String(64)),
        sa.Column("study_id", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("sequence", _BIG, nullable=False),
        sa.PrimaryKeyConstraint("uuid", name="pk_annotations"),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"], name="fk_annotations_study_id_studies"
        ),
    )
    op.create_index("ix_annotations_study_id", "annotations", ["study_id"])
    op.create_table(
        "operations",
        sa.Column("op_id", sa.String(64)),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("uuid", sa.String(64), nullable=False),
        sa.Column("base_revision", sa.String(64), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("result_revision", sa.String(64), nullable=True),
        sa.Column("result_version", sa.Integer, nullable=True),
        sa.Column("sequence", _BIG, nullable=True),
        sa.Column("document", sa.Text, nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("op_id", name="pk_operations"),
    )
    op.create_table(
        "comments",
        sa.Column("id", sa.String(64)),
        sa.Column("study_id", sa.Integer, nullable=False),
        sa.Column("annotation_uuid", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("sequence", _BIG, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_comments"),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], name="fk_comments_study_id_studies"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_comments_user_id_users"),
    )
    op.create_index("ix_comments_study_id", "comments", ["study_id"])
    op.create_table(
        "shares",
        sa.Column("id", sa.String(36)),
        sa.Column("study_id", sa.Integer, nullable=False),
        sa.Column("source_study_id", sa.Integer, nullable=False),
        sa.Column("from_user_id", sa.Integer, nullable=False),
        sa.Column("from_site_id", sa.Integer, nullable=False),
        sa.Column("grantee_user_id", sa.Integer, nullable=True),
        sa.Column("grantee_site_id", sa.Integer, nullable=True),
        sa.Column("deidentified", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("total_bytes", _BIG, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_shares"),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], name="fk_shares_study_id_studies"),
        sa.ForeignKeyConstraint(
            ["source_study_id"], ["studies.id"], name="fk_shares_source_study_id_studies"
        ),
        sa.ForeignKeyConstraint(
            ["from_user_id"], ["users.id"], name="fk_shares_from_user_id_users"
        ),
        sa.ForeignKeyConstraint(
            ["from_site_id"], ["sites.id"], name="fk_shares_from_site_id_sites"
        ),
        sa.ForeignKeyConstraint(
            ["grantee_user_id"], ["users.id"], name="fk_shares_grantee_user_id_users"
        ),
        sa.ForeignKeyConstraint(
            ["grantee_site_id"], ["sites.id"], name="fk_shares_grantee_site_id_sites"
        ),
    )
    op.create_index("ix_shares_study_id", "shares", ["study_id"])
    op.create_table(
        "share_files",
        sa.Column("id", sa.String(36)),
        sa.Column("share_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("size", _BIG, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_share_files"),
        sa.ForeignKeyConstraint(
            ["share_id"],
            ["shares.id"],
            name="fk_share_files_share_id_shares",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("share_id", "name", name="uq_share_files_share_id_name"),
    )
    op.create_index("ix_share_files_share_id", "share_files", ["share_id"])
    op.create_table(
        "audit",
        sa.Column("id", _BIG, autoincrement=True),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=True),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("site_id", sa.Integer, nullable=True),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("object_type", sa.String(30), nullable=False),
        sa.Column("object_id", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("remote", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
    )
    op.create_index("ix_audit_at", "audit", ["at"])


def downgrade() -> None:
    for table in (
        "audit",
        "share_files",
        "shares",
        "comments",
        "operations",
        "annotations",
        "changes",
        "counters",
        "studies",
        "tokens",
        "users",
        "sites",
    ):
        op.drop_table(table)
