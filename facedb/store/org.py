"""Sites, groups, memberships and devices in the database (tables in tables/org.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from facedb.domain.names import clean_name
from facedb.errors import DuplicateNameError, InvalidInputError
from facedb.store import locks
from facedb.store.tables.core import Attendance, User
from facedb.store.tables.org import (
    DEVICE_ROLES,
    GROUP_KINDS,
    Device,
    GroupMember,
    OrgGroup,
    Site,
    UserSite,
)
from facedb.store.tables.time_attendance import attendance_effective
from facedb.timezones import check_zone


@dataclass(frozen=True)
class SiteInfo:
    name: str
    timezone: str
    people: int
    devices: int


@dataclass(frozen=True)
class GroupInfo:
    name: str
    kind: str
    people: int


@dataclass(frozen=True)
class DeviceInfo:
    name: str
    site: str | None
    timezone: str  # the device's own zone, else its site's, else the default zone
    role: str  # in, out or both
    registered: bool  # False: an unknown device, role both in the default zone


@dataclass(frozen=True)
class Membership:
    name: str
    site: str | None
    groups: tuple[str, ...]


def find_site(session: Session, name: str) -> Site | None:
    return session.scalars(
        select(Site).where(func.lower(Site.name) == func.lower(clean_name(name)))
    ).first()


def get_site(session: Session, name: str) -> Site:
    site = find_site(session, name)
    if site is None:
        raise InvalidInputError(f"no site is called {clean_name(name)!r} (see facedb sites list)")
    return site


def find_group(session: Session, name: str) -> OrgGroup | None:
    return session.scalars(
        select(OrgGroup).where(func.lower(OrgGroup.name) == func.lower(clean_name(name)))
    ).first()


def get_group(session: Session, name: str) -> OrgGroup:
    group = find_group(session, name)
    if group is None:
        raise InvalidInputError(f"no group is called {clean_name(name)!r} (see facedb groups list)")
    return group


def create_site(session: Session, name: str, timezone: str) -> SiteInfo:
    cleaned = clean_name(name)
    if find_site(session, cleaned) is not None:
        raise DuplicateNameError(f"a site called {cleaned!r} exists")
    site = Site(name=cleaned, timezone=check_zone(timezone))
    session.add(site)
    session.flush()
    return SiteInfo(site.name, site.timezone, 0, 0)


def list_sites(session: Session) -> list[SiteInfo]:
    people = (
        select(func.count())
        .select_from(UserSite)
        .where(UserSite.site_id == Site.id)
        .scalar_subquery()
    )
    devices = (
        select(func.count()).select_from(Device).where(Device.site_id == Site.id).scalar_subquery()
    )
    rows = session.execute(
        select(Site.name, Site.timezone, people, devices).order_by(func.lower(Site.name))
    )
    return [SiteInfo(name, zone, int(p), int(d)) for name, zone, p, d in rows]


def create_group(session: Session, name: str, kind: str = "team") -> GroupInfo:
    cleaned = clean_name(name)
    if kind not in GROUP_KINDS:
        raise InvalidInputError(f"a group is a {' or a '.join(GROUP_KINDS)}, not {kind!r}")
    if find_group(session, cleaned) is not None:
        raise DuplicateNameError(f"a group called {cleaned!r} exists")
    group = OrgGroup(name=cleaned, kind=kind)
    session.add(group)
    session.flush()
    return GroupInfo(group.name, group.kind, 0)


def list_groups(session: Session) -> list[GroupInfo]:
    people = (
        select(func.count())
        .select_from(GroupMember)
        .where(GroupMember.group_id == OrgGroup.id)
        .scalar_subquery()
    )
    rows = session.execute(
        select(OrgGroup.name, OrgGroup.kind, people).order_by(func.lower(OrgGroup.name))
    )
    return [GroupInfo(name, kind, int(p)) for name, kind, p in rows]


def assign_site(session: Session, user_id: int, site: str | None) -> None:
    """Puts the person at this site (replacing their previous one); None: no site.
    The site's zone draws their work days: refused when a locked day would change."""
    with locks.guarded(session, "the site assignment", [user_id]):
        if site is None:
            session.execute(delete(UserSite).where(UserSite.user_id == user_id))
            return
        site_id = get_site(session, site).id
        session.execute(
            insert(UserSite)
            .values(user_id=user_id, site_id=site_id)
            .on_conflict_do_update(index_elements=[UserSite.user_id], set_={"site_id": site_id})
        )


def add_to_group(session: Session, user_id: int, group: str) -> None:
    group_id = get_group(session, group).id
    with locks.guarded(session, "joining the group", [user_id]):  # the group's shifts
        session.execute(
            insert(GroupMember).values(group_id=group_id, user_id=user_id).on_conflict_do_nothing()
        )


def remove_from_group(session: Session, user_id: int, group: str) -> bool:
    """True if the person was in the group."""
    group_id = get_group(session, group).id
    with locks.guarded(session, "leaving the group", [user_id]):
        removed = session.execute(
            delete(GroupMember)
            .where(GroupMember.group_id == group_id, GroupMember.user_id == user_id)
            .returning(GroupMember.user_id)
        ).all()
    return bool(removed)


def membership(session: Session, user_id: int) -> Membership:
    name = session.execute(select(User.name).where(User.id == user_id)).scalar_one()
    site = session.execute(
        select(Site.name)
        .join(UserSite, UserSite.site_id == Site.id)
        .where(UserSite.user_id == user_id)
    ).scalar_one_or_none()
    groups = session.scalars(
        select(OrgGroup.name)
        .join(GroupMember, GroupMember.group_id == OrgGroup.id)
        .where(GroupMember.user_id == user_id)
        .order_by(func.lower(OrgGroup.name))
    ).all()
    return Membership(name, site, tuple(groups))


def person_zone(session: Session, user_id: int, default_zone: str) -> str:
    """The time zone of the person's work days: their site's, else default_zone."""
    zone = session.scalar(
        select(Site.timezone)
        .join(UserSite, UserSite.site_id == Site.id)
        .where(UserSite.user_id == user_id)
    )
    return zone or default_zone


def user_ids_in_scope(session: Session, site: str | None, group: str | None) -> list[int] | None:
    """The ids of the people in this site and/or group (both given: in both), sorted;
    None when neither is given (no scope: everyone). An unknown site or group is an
    InvalidInputError, not an empty scope, so that a typo never searches nobody."""
    if site is None and group is None:
        return None
    query = select(User.id).order_by(User.id)
    if site is not None:
        site_id = get_site(session, site).id
        query = query.join(UserSite, UserSite.user_id == User.id).where(UserSite.site_id == site_id)
    if group is not None:
        group_id = get_group(session, group).id
        query = query.join(GroupMember, GroupMember.user_id == User.id).where(
            GroupMember.group_id == group_id
        )
    return list(session.scalars(query))


def memberships(session: Session) -> dict[str, dict[str, list[int]]]:
    """Who belongs where, for a copy of the gallery: {"sites": {name: [user ids]},
    "groups": {name: [user ids]}}, every site and group named (empty ones too)."""
    sites: dict[str, list[int]] = {n: [] for n in session.scalars(select(Site.name))}
    for name, user_id in session.execute(
        select(Site.name, UserSite.user_id).join(UserSite, UserSite.site_id == Site.id)
    ):
        sites[name].append(int(user_id))
    groups: dict[str, list[int]] = {n: [] for n in session.scalars(select(OrgGroup.name))}
    for name, user_id in session.execute(
        select(OrgGroup.name, GroupMember.user_id).join(
            GroupMember, GroupMember.group_id == OrgGroup.id
        )
    ):
        groups[name].append(int(user_id))
    return {"sites": sites, "groups": groups}


def register_device(
    session: Session,
    name: str,
    *,
    site: str | None = None,
    timezone: str | None = None,
    role: str = "both",
    default_zone: str = "UTC",
) -> DeviceInfo:
    """Registers the device, or updates it when it exists (all three values replaced)."""
    cleaned = clean_name(name)
    if role not in DEVICE_ROLES:
        raise InvalidInputError(f"a device role is in, out or both, not {role!r}")
    values = {
        "site_id": get_site(session, site).id if site is not None else None,
        "timezone": check_zone(timezone) if timezone is not None else None,
        "role": role,
    }
    with locks.guarded(session, "the device's role", _punched_at(session, cleaned)):
        session.execute(
            insert(Device)
            .values(name=cleaned, **values)
            .on_conflict_do_update(index_elements=[Device.name], set_=values)
        )
    return device_info(session, cleaned, default_zone=default_zone)


def device_info(session: Session, name: str, *, default_zone: str) -> DeviceInfo:
    """The device as the timesheet sees it; an unknown one is role both in default_zone."""
    row = session.execute(
        select(Device.name, Site.name, Device.timezone, Site.timezone, Device.role)
        .outerjoin(Site, Site.id == Device.site_id)
        .where(Device.name == name)
    ).first()
    if row is None:
        return DeviceInfo(name, None, default_zone, "both", registered=False)
    device, site, own_zone, site_zone, role = row
    return DeviceInfo(device, site, own_zone or site_zone or default_zone, role, registered=True)


def list_devices(
    session: Session, *, default_zone: str, include_seen: bool = False
) -> list[DeviceInfo]:
    """Registered devices; with include_seen, also the unregistered ones named in the
    attendance log (role both in default_zone), sorted by name."""
    rows = session.execute(
        select(Device.name, Site.name, Device.timezone, Site.timezone, Device.role)
        .outerjoin(Site, Site.id == Device.site_id)
        .order_by(Device.name)
    )
    devices = [
        DeviceInfo(name, site, own or site_zone or default_zone, role, registered=True)
        for name, site, own, site_zone, role in rows
    ]
    if include_seen:
        seen = session.scalars(
            select(Attendance.device)
            .where(Attendance.device.is_not(None), Attendance.device.not_in(select(Device.name)))
            .distinct()
        )
        devices += [DeviceInfo(n, None, default_zone, "both", registered=False) for n in seen if n]
    return sorted(devices, key=lambda d: d.name)


def remove_device(session: Session, name: str) -> bool:
    """True if a device of this name (as register_device stores it) was registered."""
    cleaned = clean_name(name)
    with locks.guarded(session, "removing the device", _punched_at(session, cleaned)):
        removed = session.execute(
            delete(Device).where(Device.name == cleaned).returning(Device.name)
        ).all()
    return bool(removed)


def _punched_at(session: Session, device: str) -> list[int]:
    """The people whose punches at this device count (its role is their direction)."""
    return [
        user_id
        for user_id in session.scalars(
            select(attendance_effective.c.user_id)
            .where(attendance_effective.c.device == device)
            .distinct()
        )
        if user_id is not None
    ]
