"""`facedb keys`: API keys of the HTTP server (`facedb serve`)."""

from __future__ import annotations

import click

from facedb import access
from facedb.domain.constants import API_KEY_ROLES

from .context import open_service
from .output import json_option, print_json, print_table


@click.group("keys")
def keys() -> None:
    """Create, list and revoke the keys of the HTTP API.

    Roles: kiosk (verify, identify), reporter (attendance, reports), admin
    (everything). Only a key's sha256 is stored: the key is shown once.
    """


@keys.command("create")
@click.option("--name", required=True, help="What the key is for, e.g. front-door.")
@click.option(
    "--role", required=True, type=click.Choice(API_KEY_ROLES), help="What the key may do."
)
@json_option
def create(name: str, role: str, as_json: bool) -> None:
    """Create a key and print it, once.

    \b
    Roles: kiosk (verify and identify with images), device (verify with an
    embedding it computed itself), reporter (attendance and reports), admin.

    \b
    Examples:
      facedb keys create --name front-door --role kiosk
      facedb keys create --name gate-2 --role device
    """
    new = access.create_key(open_service(), name, role)
    if as_json:
        print_json({"name": new.key.name, "role": new.key.role, "key": new.token})
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
        ("name", "role", "created", "revoked"),
        (
            (k.name, k.role, k.created_at.astimezone(), k.revoked_at and k.revoked_at.astimezone())
            for k in rows
        ),
    )


@keys.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke the live key called NAME: it stops working at once."""
    key = access.revoke_key(open_service(), name)
    click.echo(f"revoked {key.role} key {key.name!r}")
