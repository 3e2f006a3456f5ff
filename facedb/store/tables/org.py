"""Sites, groups, memberships and devices: where people work and which kiosk is which.

A person belongs to at most one site (`user_sites`) and to any number of groups
(`group_members`: departments, teams). A device is a kiosk or camera, named as in
``attendance.device``, with its site, its time zone and its role: ``in``, ``out`` or
``both``. A device that is not registered keeps working: it counts as role ``both``
in the default time zone (docs/TIME_AND_ATTENDANCE.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from facedb.domain.names import NAME_MAX_LENGTH
from facedb.store.tables.base import Base, one_of

DEVICE_ROLES = ("in", "out", "both")
GROUP_KINDS = ("department", "team")


class Site(Base):
    """A place where people work; its time zone is the one of its work days."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH), nullable=False)
    timezone: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (Index("sites_name_lower_key", func.lower(name), unique=True),)


class OrgGroup(Base):
    """A department or a team."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH), nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'team'"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (
        Index("groups_name_lower_key", func.lower(name), unique=True),
        CheckConstraint(one_of("kind", GROUP_KINDS), name="groups_kind_check"),
    )


class UserSite(Base):
    """The one site of a person (no row: no site)."""

    __tablename__ = "user_sites"

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    site_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("sites.id", ondelete="CASCADE"), nullable=False
    )

    __table_args__ = (Index("user_sites_site_id_idx", "site_id"),)


class GroupMember(Base):
    __tablename__ = "group_members"

    group_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("group_members_user_id_idx", "user_id"),)


class Device(Base):
    """A registered kiosk or camera; ``name`` is the ``attendance.device`` it logs as."""

    __tablename__ = "devices"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    site_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("sites.id", ondelete="SET NULL")
    )
    # NULL: the site's zone, else the default zone.
    timezone: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'both'"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint(one_of("role", DEVICE_ROLES), name="devices_role_check"),
        Index("devices_site_id_idx", "site_id"),
    )
