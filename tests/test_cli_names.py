"""Names and commands as people type them: a unique start or first name finds the
person in views, a name that is nobody's suggests the closest, changes to people need
the exact name, and command typos (and the US spelling `enroll`) are understood."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from facedb.cli.main import main
from facedb.config import Settings
from facedb.service import FaceService
from facedb.store.gallery import create_user


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_people_are_found_as_typed(settings: Settings) -> None:
    service = FaceService(settings)
    with service.transaction() as s:
        for name in ("Alice Martin", "Alicia Keys", "Bob Stone", "Bob Marley"):
            create_user(s, name, None, {})
    service.close()

    for typed, name in (("alice", "Alice Martin"), ("ALICIA", "Alicia Keys"),
                        ("Bob Sto", "Bob Stone"), ("Alice Martin", "Alice Martin")):  # fmt: skip
        shown = run("users", "show", typed, "--json")
        assert shown.exit_code == 0, (typed, shown.output)
        assert json.loads(shown.stdout)["name"] == name
    assert run("attendance", "list", "--user", "Alice").exit_code == 0

    ambiguous = run("users", "show", "Ali")
    assert ambiguous.exit_code == 7
    assert "'Alice Martin'" in ambiguous.output and "'Alicia Keys'" in ambiguous.output
    # A first name two people share is no one's.
    assert run("users", "show", "Bob").exit_code == 7

    typo = run("users", "show", "Alcie Martin")
    assert typo.exit_code == 7 and "did you mean 'Alice Martin'" in typo.output
    surname = run("timesheet", "--person", "Stone")
    assert surname.exit_code == 7 and "'Bob Stone'" in surname.output
    assert "Traceback" not in surname.output

    # Removing someone takes their exact name (any case), never a guess.
    refused = run("users", "remove", "alice", "--yes")
    assert refused.exit_code == 7 and "did you mean 'Alice Martin'" in refused.output
    assert run("users", "remove", "alice martin", "--yes").exit_code == 0


def test_command_typos_are_answered() -> None:
    assert run("enroll", "--help").exit_code == 0
    assert "Enrol a person" in run("enroll", "--help").output
    typo = run("verfy")
    assert typo.exit_code == 2 and "Did you mean 'verify'?" in typo.output
    assert "Did you mean 'timesheet'?" in run("timesheets").output
    assert "Did you mean" not in run("zzzz").output


def test_empty_states_say_why_and_what_next(settings: Settings) -> None:
    people = run("users", "list")
    assert people.exit_code == 0 and "nobody is enrolled yet" in people.output
    assert "facedb enrol --name" in people.output
    report = run("report", "--date", "today")
    assert report.exit_code == 0 and "facedb enrol" in report.output
    sheet = run("timesheet", "--from", "2026-12-07")
    assert sheet.exit_code == 0 and "facedb shifts add" in sheet.output
    events = run("attendance", "list")
    assert events.exit_code == 0 and "facedb verify" in events.output


def test_verify_with_nobody_enrolled_says_so(settings: Settings, faces_dir: Path) -> None:
    photo = sorted((faces_dir / "celeba" / "7263").glob("*.jpg"))[0]
    result = run("verify", "--source", str(photo))
    assert result.exit_code == 1, result.output
    assert "nobody is enrolled yet" in result.output and "facedb enrol" in result.output
