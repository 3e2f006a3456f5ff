"""`facedb demo`: the whole system in one command, on the configured database."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from facedb import timezones
from facedb.usecases import demo as demo_plan

from .context import open_service
from .output import print_table
from .report import print_report
from .verify import describe


@click.command("demo")
@click.option(
    "--people",
    "people_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="A folder with one subfolder of photos per person (named after them).",
)
@click.option(
    "--count", default=10, show_default=True, type=click.IntRange(1, 1000), help="People to enrol."
)
@click.option(
    "--strangers",
    default=2,
    show_default=True,
    type=click.IntRange(0, 100),
    help="People to leave out and verify as strangers.",
)
def demo(people_dir: Path, count: int, strangers: int) -> None:
    """Enrol people, verify held-out photos of them and of strangers, print the report.

    Each person's last photo is held out as the probe; the others are enrolled.
    Run it again and the people already enrolled are kept.

    Example: facedb demo --people ../shared/faces/celeba
    """
    service = open_service(cooldown=0)
    plan = demo_plan.plan(people_dir, count, strangers)
    click.echo(f"enrolling {len(plan.enrol)} people from {people_dir} ...")
    outcomes, probes = demo_plan.run(service, plan)
    print_table(
        ("name", "result", "faces stored", "reason"),
        ((o.name, o.status, o.embeddings, o.reason) for o in outcomes),
        title="enrolment",
    )
    print_table(
        ("probe", "who it is", "decision", "correct"),
        (
            (
                p.photo.name,
                p.true_name if p.enrolled else f"{p.true_name} (stranger)",
                describe(p.result),
                "yes" if p.correct else "NO",
            )
            for p in probes
        ),
        title="verification of held-out photos",
    )
    right = sum(p.correct for p in probes)
    click.echo(f"{right} of {len(probes)} decisions correct")
    zone = timezones.local_zone()
    today = timezones.parse_day("today", zone)
    print_report(service.report(today, today, zone))
    click.echo(
        f"database: {service.database.masked_url()}  (try: facedb report --date {date.today()})"
    )
