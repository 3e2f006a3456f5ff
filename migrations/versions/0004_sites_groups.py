"""Sites, groups (departments, teams), memberships and devices (time and attendance).

Nothing existing changes meaning: a device that is not registered (every kiosk
before this revision) counts as role 'both' in the default time zone, and a person
with no site or group is in no scope but still in every unscoped report.

Revision ID: 0004_sites_groups
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_sites_groups"
down_revision = "0003"
branch_labels = None
depends_on = None


def _now() -> sa.Column[sa.DateTime]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("timezone", sa.Text(), nullable=False),
        _now(),
    )
    op.create_index("sites_name_lower_key", "sites", [sa.text("lower(name)")], unique=True)

    op.create_table(
        "groups",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False, server_default=sa.text("'team'")),
        _now(),
        sa.CheckConstraint("kind IN ('department', 'team')", name="groups_kind_check"),
    )
    op.create_index("groups_name_lower_key", "groups", [sa.text("lower(name)")], unique=True)

    op.create_table(
        "user_sites",
        sa.Column(
            "user_id",
            sa.BigInteger(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "site_id", sa.BigInteger(), sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False
        ),
    )
    op.create_index("user_sites_site_id_idx", "user_sites", ["site_id"])

    op.create_table(
        "group_members",
        sa.Column(
            "group_id",
            sa.BigInteger(),
            sa.ForeignKey("groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "user_id",
            sa.BigInteger(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_index("group_members_user_id_idx", "group_members", ["user_id"])

    op.create_table(
        "devices",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column(
            "site_id", sa.BigInteger(), sa.ForeignKey("sites.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("timezone", sa.Text(), nullable=True),
        sa.Column("role", sa.Text(), nullable=False, server_default=sa.text("'both'")),
        _now(),
        sa.CheckConstraint("role IN ('in', 'out', 'both')", name="devices_role_check"),
    )
    op.create_index("devices_site_id_idx", "devices", ["site_id"])


def downgrade() -> None:
    op.drop_table("devices")
    op.drop_table("group_members")
    op.drop_table("user_sites")
    op.drop_table("groups")
    op.drop_table("sites")
