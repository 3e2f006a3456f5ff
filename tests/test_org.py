"""Sites, groups, memberships and devices on a real PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from facedb.domain.attendance import AttendanceEvent
from facedb.errors import DuplicateNameError, InvalidInputError
from facedb.store import org
from facedb.store.attendance import log_event
from facedb.store.engine import make_engine
from facedb.store.gallery import create_user


@pytest.fixture
def session(database_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(database_url)
    with Session(engine) as s, s.begin():
        yield s
    engine.dispose()


def test_sites_groups_and_scope(session: Session) -> None:
    alice, bob, carol = (create_user(session, n, None, {}).id for n in ("Alice", "Bob", "Carol"))
    org.create_site(session, "Paris", "Europe/Paris")
    org.create_site(session, "Lyon", "Europe/Paris")
    org.create_group(session, "Kitchen", "department")
    org.create_group(session, "Night crew")
    org.assign_site(session, alice, "Paris")
    org.assign_site(session, bob, "paris")
    org.assign_site(session, carol, "Lyon")
    org.assign_site(session, bob, "Lyon")  # one site per person: moved, not added
    org.add_to_group(session, alice, "Kitchen")
    org.add_to_group(session, carol, "kitchen")
    org.add_to_group(session, carol, "Night crew")
    org.add_to_group(session, carol, "Night crew")  # twice is once

    assert org.user_ids_in_scope(session, None, None) is None
    assert org.user_ids_in_scope(session, "Paris", None) == [alice]
    assert org.user_ids_in_scope(session, "LYON", None) == sorted([bob, carol])
    assert org.user_ids_in_scope(session, None, "Kitchen") == sorted([alice, carol])
    assert org.user_ids_in_scope(session, "Lyon", "Kitchen") == [carol]
    assert org.user_ids_in_scope(session, "Paris", "Night crew") == []
    with pytest.raises(InvalidInputError, match="no site is called 'Pariss'"):
        org.user_ids_in_scope(session, "Pariss", None)
    with pytest.raises(InvalidInputError, match="no group is called"):
        org.user_ids_in_scope(session, None, "Bakery")

    sites = {s.name: s for s in org.list_sites(session)}
    assert sites["Lyon"].people == 2 and sites["Paris"].people == 1
    groups = {g.name: g for g in org.list_groups(session)}
    assert groups["Kitchen"].kind == "department" and groups["Kitchen"].people == 2
    assert groups["Night crew"].kind == "team" and groups["Night crew"].people == 1
    assert org.membership(session, carol) == org.Membership(
        "Carol", "Lyon", ("Kitchen", "Night crew")
    )
    assert org.remove_from_group(session, carol, "Kitchen")
    assert not org.remove_from_group(session, carol, "Kitchen")
    org.assign_site(session, carol, None)
    assert org.membership(session, carol).site is None


def test_names_and_zones_are_checked(session: Session) -> None:
    org.create_site(session, "Paris", "Europe/Paris")
    with pytest.raises(DuplicateNameError):
        org.create_site(session, "PARIS", "UTC")
    with pytest.raises(InvalidInputError, match="unknown time zone"):
        org.create_site(session, "Mars", "Mars/Olympus")
    with pytest.raises(InvalidInputError, match="control character"):
        org.create_group(session, "bad\x00name")
    with pytest.raises(InvalidInputError, match="department or a team"):
        org.create_group(session, "Ops", "guild")
    with pytest.raises(InvalidInputError, match="in, out or both"):
        org.register_device(session, "door", role="sideways")


def test_devices_known_and_unknown(session: Session) -> None:
    org.create_site(session, "Paris", "Europe/Paris")
    entry = org.register_device(session, "door-in", site="Paris", role="in")
    assert entry == org.DeviceInfo("door-in", "Paris", "Europe/Paris", "in", registered=True)
    moved = org.register_device(session, "door-in", timezone="Asia/Tokyo", role="out")
    assert moved == org.DeviceInfo("door-in", None, "Asia/Tokyo", "out", registered=True)
    unknown = org.device_info(session, "laptop", default_zone="America/New_York")
    assert unknown == org.DeviceInfo("laptop", None, "America/New_York", "both", registered=False)
    assert [d.name for d in org.list_devices(session, default_zone="UTC")] == ["door-in"]
    assert org.remove_device(session, "door-in")
    assert not org.remove_device(session, "door-in")


def test_devices_seen_but_not_registered_are_listed(session: Session) -> None:
    user_id = create_user(session, "Dana", None, {}).id
    for device in ("lobby", "lobby", "back-door"):
        log_event(
            session,
            AttendanceEvent(
                uuid.uuid4(),
                datetime(2026, 11, 2, 9, tzinfo=UTC),
                "identify",
                "accepted",
                user_id,
                None,
                0.6,
                0.3,
                None,
                device,
                "m",
            ),
        )
    org.register_device(session, "lobby", role="in")
    listed = org.list_devices(session, default_zone="UTC", include_seen=True)
    assert [(d.name, d.role, d.registered) for d in listed] == [
        ("back-door", "both", False),
        ("lobby", "in", True),
    ]
