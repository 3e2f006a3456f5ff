"""`facedb demo`: the whole system in one command, in a home of its own."""

from __future__ import annotations

from pathlib import Path

import click

from facedb import timezones
from facedb.config import Settings
from facedb.errors import InvalidInputError
from facedb.service import FaceService
from facedb.usecases import demo as demo_plan

from .output import print_table
from .report import print_report
from .verify import describe


@click.command("demo")
@click.option(
    "--people",
    "people_dir",
    type=click.Path(file_okay=False, path_type=Path),
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
@click.option(
    "--home",
    "demo_home",
    type=click.Path(file_okay=False, path_type=Path),
    help="The demo's own home, with its own embedded database "
    "(default: FACEDB_HOME's sibling folder <name>-demo).",
)
@click.option("--clean", is_flag=True, help="Stop the demo's database and delete its home.")
def demo(
    people_dir: Path | None, count: int, strangers: int, demo_home: Path | None, clean: bool
) -> None:
    """Enrol people, verify held-out photos of them and of strangers, print the report.

    The demo runs in a home of its own, with its own embedded database, whatever
    FACEDB_HOME and FACEDB_DATABASE_URL say: the people, attendance and calibration
    of the real installation are never touched. It uses the installation's models.
    Each person's last photo is held out as the probe; the others are enrolled. Run
    it again and the people already enrolled are kept; --clean removes it all.

    \b
    Examples:
      facedb demo --people ../shared/faces/celeba
      facedb demo --clean
    """
    settings = demo_plan.demo_settings(Settings.load(), demo_home)
    if clean:
        removed = demo_plan.clean(settings.home)
        click.echo(
            f"removed the demo at {settings.home}" if removed else f"no demo at {settings.home}"
        )
        return
    if people_dir is None:
        raise InvalidInputError("--people DIR is needed (a folder of per-person folders)")
    demo_plan.claim(settings.home)
    service = FaceService(settings)
    click.get_current_context().call_on_close(service.close)
    plan = demo_plan.plan(people_dir, count, strangers)
    click.echo(f"demo home {settings.home}: enrolling {len(plan.enrol)} people from {people_dir}")
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
        f"the demo's data is in {settings.home} (try: FACEDB_HOME={settings.home} facedb "
        "report --date today); remove it with: facedb demo --clean"
    )
