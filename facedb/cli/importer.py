"""`facedb import`: enrol the people of a CSV manifest (an HR export) in bulk."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from facedb.config import Settings
from facedb.importing.importer import REJECTED, ImportOptions, ImportReport, RowOutcome, run_import
from facedb.importing.manifest import Manifest, read_manifest

from .context import open_service
from .options import aligned_option
from .output import count_progress, json_option, print_json, print_table


@click.command("import")
@click.argument(
    "manifest_path",
    metavar="MANIFEST.csv",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder that photo paths are relative to (default: the manifest's folder).",
)
@click.option("--dry-run", is_flag=True, help="Check the manifest and stop: nothing is imported.")
@click.option(
    "--update",
    is_flag=True,
    help="Replace the faces (and update name, external id, metadata) of people enrolled already.",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Reject the invalid rows and import the others (default: import nothing).",
)
@click.option(
    "--largest",
    is_flag=True,
    help="When a photo has several faces, take the main one (largest, nearest the centre).",
)
@click.option("--force", is_flag=True, help="Enrol even if a face matches another person.")
@aligned_option
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the rejected rows (default: MANIFEST.rejects.csv beside it).",
)
@json_option
def import_command(
    manifest_path: Path,
    root: Path | None,
    dry_run: bool,
    update: bool,
    skip_invalid: bool,
    largest: bool,
    force: bool,
    aligned: bool,
    rejects_path: Path | None,
    as_json: bool,
) -> None:
    """Enrol everyone listed in a CSV file: a header with at least `name` and
    `photo`, optionally `external_id` (employee number); other columns are kept as
    the person's metadata. `photo` holds one or more paths separated by `;`,
    relative to --root.

    The whole file is checked first: with any problem (missing column, empty or
    duplicate name or id, missing photo, not UTF-8) every problem is listed with
    its line and nothing is imported (exit 2), unless --skip-invalid. People
    already enrolled (by external_id, else name) are skipped, or with --update
    re-embedded; running the same file again is harmless. Each person is written
    in their own transaction. Rows that could not be imported (no face, several
    faces, quality, a face enrolled as someone else, unreadable photos) are
    written with a `reason` column to a rejects file to fix and import again.

    Tight crops (a headshot cut to the face) are found by looking again at the
    photo on a larger canvas; --aligned skips detection for crops aligned to the
    ArcFace template.

    Exit code: 0 all imported or already enrolled, 1 some rows rejected, 2 the
    manifest has problems.

    \b
    Example manifest:
      name,external_id,photo,department
      Alice Martin,E001,photos/alice.jpg;photos/alice-2.png,Sales
      Bob Stone,E002,photos/bob.jpg,Support
    \b
    Examples:
      facedb import staff.csv --dry-run
      facedb import staff.csv --root /mnt/hr/photos
      facedb import staff.csv --update --json
    """
    manifest = read_manifest(manifest_path, root, max_rows=Settings.load().import_max_rows)
    problems = manifest.problems
    refused = bool(manifest.file_problems) or (bool(problems) and not skip_invalid)
    if dry_run or refused:
        _print_check(manifest, as_json, refused, dry_run)
        if refused:
            click.echo(
                f"error: {len(problems)} problem(s) in {manifest_path}: nothing was imported",
                err=True,
            )
            sys.exit(2)
        return
    service = open_service()
    options = ImportOptions(
        update=update,
        force=force,
        largest=largest,
        skip_invalid=skip_invalid,
        aligned=aligned,
        rejects=rejects_path,
    )
    with count_progress("importing", quiet=as_json) as progress:
        task = progress.add_task("rows", total=len(manifest.rows), item="")

        def on_row(outcome: RowOutcome) -> None:
            progress.update(task, advance=1, item=outcome.name)

        report = run_import(service, manifest, options, on_row)
    if as_json:
        print_json(report)
    else:
        _print_report(report)
    sys.exit(1 if report.counts[REJECTED] else 0)


def _print_check(manifest: Manifest, as_json: bool, refused: bool, dry_run: bool) -> None:
    problems = manifest.problems
    if as_json:
        print_json(
            {
                "manifest": manifest.path,
                "root": manifest.root,
                "valid": not problems,
                "rows": len(manifest.rows),
                "valid_rows": len(manifest.valid_rows),
                "photos": manifest.photo_count,
                "problems": [{"line": p.line, "message": p.message} for p in problems],
            }
        )
        return
    if problems:
        print_table(
            ("line", "problem"),
            ((p.line, p.message) for p in problems),
            title=f"problems in {manifest.path}",
        )
    if dry_run and not refused:
        invalid = len(manifest.rows) - len(manifest.valid_rows)
        rejected = f", {invalid} invalid row(s) would be rejected" if invalid else ""
        click.echo(
            f"{manifest.path}: {len(manifest.valid_rows)} person(s) with "
            f"{manifest.photo_count} photo(s) to import{rejected} (dry run: nothing imported)"
        )


def _print_report(report: ImportReport) -> None:
    print_table(
        ("result", "rows"),
        ((key, count) for key, count in report.counts.items() if count or ":" not in key),
        title=f"import of {report.manifest} ({report.seconds:.0f} s)",
    )
    rejected = [o for o in report.outcomes if o.status == REJECTED]
    if rejected:
        print_table(
            ("line", "name", "reason", "detail"),
            ((o.line, o.name, o.reason, o.detail) for o in rejected),
            title="rejected",
        )
        click.echo(f"rejected rows written to {report.rejects_file}: fix them and import it")
