"""`facedb keys`: API keys of the HTTP server (`facedb serve`)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import click

from facedb import access
from facedb.domain.constants import API_KEY_ROLES

from .context import open_service
from .output import json_option, print_json, print_table


@click.group("keys")
def keys() -> None:
    """Create, list and revoke the keys of the HTTP API.

    Roles: kiosk (verify, identify), reporter (attendance, reports), admin
    (everything). Only a key's sha256 is stored: the key is shown once. A key may
    expire (--expires); `keys list` shows when each was last used (to the minute).
    """


@keys.command("create")
@click.option("--name", required=True, help="What the key is for, e.g. front-door.")
@click.option(
    "--role", required=True, type=click.Choice(API_KEY_ROLES), help="What the key may do."
)
@click.option(
    "--expires",
    metavar="WHEN",
    help="When the key stops working: Nd (days from now), a date (the end of that "
    "day, local time) or an ISO date and time. Default: never.",
)
@json_option
def create(name: str, role: str, expires: str | None, as_json: bool) -> None:
    """Create a key and print it, once.

    \b
    Roles: kiosk (verify and identify with images), device (verify with an
    embedding it computed itself), reporter (attendance and reports), admin.

    \b
    Examples:
      facedb keys create --name front-door --role kiosk
      facedb keys create --name gate-2 --role device
      facedb keys create --name auditor --role reporter --expires 30d
      facedb keys create --name temp-desk --role admin --expires 2026-12-31
    """
    expires_at = parse_expiry(expires) if expires is not None else None
    new = access.create_key(open_service(), name, role, expires_at=expires_at)
    if as_json:
        print_json(
            {
                "name": new.key.name,
                "role": new.key.role,
                "key": new.token,
                "expires_at": new.key.expires_at,
            }
        )
        return
    click.echo(f"created {new.key.role} key {new.key.name!r}; it is shown only now:", err=True)
    click.echo(new.token)


@keys.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Show revoked keys too.")
@json_option
def list_keys(include_revoked: bool, as_json: bool) -> None:
    """The keys (never their tokens), newest last within a name."""
    rows = access.list_keys(open_service(), include_revoked=include_revoked)
    if as_json:
        print_json(rows)
        return
    print_table(
        ("name", "role", "created", "expires", "last used", "revoked"),
        (
            (
                k.name,
                k.role,
                k.created_at.astimezone(),
                k.expires_at and k.expires_at.astimezone(),
                k.last_used_at and k.last_used_at.astimezone(),
                k.revoked_at and k.revoked_at.astimezone(),
            )
            for k in rows
        ),
    )


def parse_expiry(text: str) -> datetime:
    """``30d``, ``2026-12-31`` (the end of that day, local time) or an ISO date and time
    (local time when it has no zone), as an aware datetime."""
    value = text.strip()
    days = re.fullmatch(r"(\d{1,5})d", value)
    if days:
        return datetime.now(UTC) + timedelta(days=int(days.group(1)))
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = date.fromisoformat(value) + timedelta(days=1)
            return datetime.combine(day, time()).astimezone()
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not Nd, a date (YYYY-MM-DD) or an ISO date and time",
            param_hint="--expires",
        ) from None
    return moment if moment.tzinfo is not None else moment.astimezone()


@keys.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke the live key called NAME: it stops working at once."""
    key = access.revoke_key(open_service(), name)
    click.echo(f"revoked {key.role} key {key.name!r}")
