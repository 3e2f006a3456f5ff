"""`facedb sites`, `facedb groups`, `facedb devices`: where people work, which kiosk is which."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from facedb.config import Settings
from facedb.errors import InvalidInputError

from .output import json_option, print_json, print_table

if TYPE_CHECKING:
    from facedb.timeattendance import Membership, TimeAttendance

tz_option = click.option(
    "--tz", help="Default time zone (people with no site, unregistered devices); default: TZ."
)


def time_attendance(tz: str | None = None) -> TimeAttendance:
    """The use cases for this command, closed when it ends (no models are loaded)."""
    from facedb.timeattendance import TimeAttendance

    service = TimeAttendance(Settings.load(), tz)
    click.get_current_context().call_on_close(service.close)
    return service


def _print_members(rows: Sequence[Membership], as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    print_table(("name", "site", "groups"), ((m.name, m.site, ", ".join(m.groups)) for m in rows))


@click.group("sites")
def sites() -> None:
    """Sites: a place where people work, with the time zone of its work days.

    \b
    Examples:
      facedb sites add Paris --tz Europe/Paris
      facedb sites assign Paris Alice Bob
      facedb sites list --json
    """


@sites.command("add")
@click.argument("name")
@click.option("--tz", "zone", help="The site's IANA time zone (default: TZ), e.g. Europe/Paris.")
@json_option
def add_site(name: str, zone: str | None, as_json: bool) -> None:
    """Adds a site, with the time zone of its work days.

    \b
    Example:
      facedb sites add Paris --tz Europe/Paris
    """
    site = time_attendance().add_site(name, zone)
    if as_json:
        print_json(site)
    else:
        click.echo(f"site {site.name} ({site.timezone}) added")


@sites.command("list")
@json_option
def list_sites(as_json: bool) -> None:
    """Every site, its time zone, people and devices."""
    rows = time_attendance().sites()
    if as_json:
        print_json(rows)
        return
    print_table(
        ("site", "time zone", "people", "devices"),
        ((s.name, s.timezone, s.people, s.devices) for s in rows),
    )


@sites.command("assign")
@click.argument("site")
@click.argument("people", nargs=-1, required=True)
@json_option
def assign_site(site: str, people: tuple[str, ...], as_json: bool) -> None:
    """Puts people at a site (a person has one site: this replaces their previous one).

    \b
    Example:
      facedb sites assign Paris Alice Bob
    """
    _print_members(time_attendance().assign_site(people, site), as_json)


@sites.command("unassign")
@click.argument("people", nargs=-1, required=True)
@json_option
def unassign_site(people: tuple[str, ...], as_json: bool) -> None:
    """Takes people off their site.

    \b
    Example:
      facedb sites unassign Alice
    """
    _print_members(time_attendance().assign_site(people, None), as_json)


@click.group("groups")
def groups() -> None:
    """Groups: departments and teams; a person can be in many.

    \b
    Examples:
      facedb groups add Kitchen --kind department
      facedb groups assign Kitchen Alice Bob
      facedb groups show Alice
    """


@groups.command("add")
@click.argument("name")
@click.option(
    "--kind", type=click.Choice(["department", "team"]), default="team", show_default=True
)
@json_option
def add_group(name: str, kind: str, as_json: bool) -> None:
    """Adds a group: a department or a team.

    \b
    Example:
      facedb groups add "Night crew" --kind team
    """
    group = time_attendance().add_group(name, kind)
    if as_json:
        print_json(group)
    else:
        click.echo(f"{group.kind} {group.name} added")


@groups.command("list")
@json_option
def list_groups(as_json: bool) -> None:
    """Every group, its kind and its number of people."""
    rows = time_attendance().groups()
    if as_json:
        print_json(rows)
        return
    print_table(("group", "kind", "people"), ((g.name, g.kind, g.people) for g in rows))


@groups.command("assign")
@click.argument("group")
@click.argument("people", nargs=-1, required=True)
@json_option
def assign_group(group: str, people: tuple[str, ...], as_json: bool) -> None:
    """Adds people to a group (already in it: nothing changes).

    \b
    Example:
      facedb groups assign Kitchen Alice Bob
    """
    _print_members(time_attendance().join_group(group, people, leave=False), as_json)


@groups.command("unassign")
@click.argument("group")
@click.argument("people", nargs=-1, required=True)
@json_option
def unassign_group(group: str, people: tuple[str, ...], as_json: bool) -> None:
    """Takes people out of a group.

    \b
    Example:
      facedb groups unassign Kitchen Bob
    """
    _print_members(time_attendance().join_group(group, people, leave=True), as_json)


@groups.command("show")
@click.argument("person")
@json_option
def show_person(person: str, as_json: bool) -> None:
    """A person's site and groups.

    \b
    Example:
      facedb groups show Alice --json
    """
    _print_members([time_attendance().membership(person)], as_json)


@click.group("devices")
def devices() -> None:
    """Devices: kiosks and cameras, by the name they log under (FACEDB_DEVICE_NAME).

    A device's role says what a punch on it means: `in` (arrivals), `out`
    (departures) or `both`. An unregistered device counts as `both`, in the default
    time zone.

    \b
    Examples:
      facedb devices add door-in --site Paris --role in
      facedb devices list
    """


@devices.command("add")
@click.argument("name")
@click.option("--site", help="The site the device is at.")
@click.option("--tz", "zone", help="The device's own time zone (default: its site's).")
@click.option("--role", type=click.Choice(["in", "out", "both"]), default="both", show_default=True)
@json_option
def add_device(name: str, site: str | None, zone: str | None, role: str, as_json: bool) -> None:
    """Registers a device, or changes one (site, zone and role are all replaced).

    \b
    Example:
      facedb devices add door-out --site Paris --role out
    """
    device = time_attendance().set_device(name, site, zone, role)
    if as_json:
        print_json(device)
    else:
        click.echo(
            f"device {device.name}: role {device.role}, {device.site or 'no site'}, "
            f"{device.timezone}"
        )


@devices.command("list")
@tz_option
@json_option
def list_devices(tz: str | None, as_json: bool) -> None:
    """Registered devices, and the unregistered ones seen in the attendance log."""
    rows = time_attendance(tz).devices()
    if as_json:
        print_json(rows)
        return
    print_table(
        ("device", "role", "site", "time zone", "registered"),
        ((d.name, d.role, d.site, d.timezone, d.registered) for d in rows),
    )


@devices.command("remove")
@click.argument("name")
def remove_device(name: str) -> None:
    """Unregisters a device (its punches count as role both again).

    \b
    Example:
      facedb devices remove old-kiosk
    """
    if not time_attendance().remove_device(name):
        raise InvalidInputError(f"no device is registered as {name!r}")
    click.echo(f"device {name} unregistered")
