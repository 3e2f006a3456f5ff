"""`facedb db ...`: the database server, its schema and a psql shell."""

from __future__ import annotations

import os
from dataclasses import asdict

import click

from facedb.usecases import admin

from .output import json_option, print_json, print_table


@click.group()
def db() -> None:
    """The database: status, migrations, URL, psql, embedded server."""


@db.command()
@json_option
def status(as_json: bool) -> None:
    """Server kind, PostgreSQL and pgvector versions, schema revision, row counts.

    Example: facedb db status --json
    """
    report = admin.status()
    info = report.info
    if as_json:
        print_json(
            {
                **asdict(info),
                "up_to_date": info.up_to_date,
                "elapsed_ms": round(report.elapsed_ms, 1),
            }
        )
        return
    rows = [
        ("server", info.server),
        ("url", info.url),
        ("data dir", info.data_dir or "-"),
        ("PostgreSQL", info.postgres_version),
        ("pgvector", info.pgvector_version or "not installed in this database"),
        ("schema", f"{info.revision or 'none'} (head {info.head_revision})"),
        ("users", info.users),
        ("embeddings", info.embeddings),
        ("attendance rows", info.attendance),
    ]
    print_table(("", "value"), rows, title="facedb database")
    if not info.up_to_date:
        click.echo("the schema is not at the head revision: run `facedb db upgrade`", err=True)


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    click.echo(f"schema at {admin.upgrade(revision)}")


@db.command()
@click.argument("revision")
@click.confirmation_option(prompt="Downgrading drops tables and their rows. Continue?")
def downgrade(revision: str) -> None:
    """Revert migrations down to REVISION ("base" removes every facedb table)."""
    click.echo(f"schema at {admin.downgrade(revision) or 'base'}")


@db.command()
@click.option("--show-password", is_flag=True, help="Print the password instead of ***.")
def url(show_password: bool) -> None:
    """Print a libpq URL for psql and other tools.

    Example: psql "$(facedb db url --show-password)" -c 'select * from attendance_daily'
    """
    click.echo(admin.url(show_password))


@db.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
def psql(psql_args: tuple[str, ...]) -> None:
    """Open psql (the bundled one) on the database; extra arguments go to psql.

    Example: facedb db psql -c 'select name from users'
    """
    argv = admin.psql_argv(psql_args)
    os.execv(argv[0], argv)


@db.command("grant-reporter")
@click.argument("role")
@click.option(
    "--password",
    envvar="FACEDB_REPORTER_PASSWORD",
    help="Let the role log in with this password (or FACEDB_REPORTER_PASSWORD); "
    "without it the role cannot log in until an administrator sets one.",
)
@click.option("--ask-password", is_flag=True, help="Prompt for the password (not echoed).")
def grant_reporter(role: str, password: str | None, ask_password: bool) -> None:
    """Create (or update) a database role that can read the attendance log, the
    attendance_daily view and users (id, name, external_id, active), and nothing
    else: not face_embeddings. The password is never printed or logged.

    \b
    Example:
      facedb db grant-reporter facedb_reporter --ask-password
      psql "postgresql://facedb_reporter@host/facedb" -c 'select * from attendance_daily'
    """
    if ask_password:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    created = admin.grant_reporter(role, password)
    login = "can log in with its password" if password else "cannot log in (no password)"
    click.echo(f"{'created' if created else 'updated'} role {role}: reporter rights; {login}")


@db.command()
def start() -> None:
    """Start the embedded server (it also starts by itself on first use)."""
    click.echo(f"embedded PostgreSQL running: {admin.start_embedded()}")


@db.command()
def stop() -> None:
    """Stop the embedded server."""
    stopped = admin.stop_embedded()
    click.echo("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
