"""`facedb users merge`: the same person enrolled under two names (forced past the
duplicate check) is ambiguous; merged, they are one person with every face and every
attendance row, and the held-out photo is accepted as them."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from facedb.cli.main import main
from facedb.config import Settings
from facedb.service import FaceService
from facedb.store import corrections, org
from facedb.store.tables.core import Attendance, FaceEmbedding, Lookalike, User
from facedb.store.tables.org import GroupMember, UserSite
from facedb.store.tables.time_attendance import attendance_effective
from facedb.vision.pipeline import FacePipeline

PEOPLE = ["7203", "7206", "7210"]
TWICE = "7217"
KEEP, OTHER = "Dana Keep", "dana"


def _copy(faces_dir: Path, identity: str, target: Path) -> Path:
    target.mkdir(parents=True)
    for photo in sorted((faces_dir / "celeba" / identity).glob("*.jpg"))[:4]:
        shutil.copy(photo, target / photo.name)
    return target


def _photo(faces_dir: Path, identity: str, index: int) -> str:
    return str(sorted((faces_dir / "celeba" / identity).glob("*.jpg"))[index])


def _invoke(settings: Settings, *args: str) -> tuple[int, str]:
    env = {"FACEDB_DATABASE_URL": str(settings.database_url), "FACEDB_HOME": str(settings.home)}
    result = CliRunner().invoke(main, ["users", "merge", *args], env=env)
    return result.exit_code, result.output


def test_merge_moves_faces_and_rows_and_leaves_one_person(
    database_url: str, faces_dir: Path, tmp_path: Path
) -> None:
    settings = Settings.load(
        {"database_url": database_url, "home": str(tmp_path / "home"), "cooldown": 0}
    )
    service = FaceService(settings, pipeline=FacePipeline(settings))
    people = tmp_path / "people"
    for identity in PEOPLE:
        _copy(faces_dir, identity, people / identity)
    assert [o.status for o in service.enrol_folders(people)] == ["enrolled"] * len(PEOPLE)
    service.enrol(KEEP, str(_copy(faces_dir, TWICE, tmp_path / "keep")))
    service.enrol(OTHER, str(_copy(faces_dir, TWICE, tmp_path / "other")), force=True)
    held_out = _photo(faces_dir, TWICE, 4)

    before = service.verify(held_out)
    assert before.decision == "ambiguous", before
    # Attendance: two 1:1 claims as OTHER, one as KEEP, a punch added for OTHER.
    claims = [service.verify(_photo(faces_dir, TWICE, i), name=OTHER) for i in (0, 1)]
    assert all(r.decision == "accepted" and r.name == OTHER for r in claims), claims
    assert service.verify(_photo(faces_dir, TWICE, 2), name=KEEP).decision == "accepted"
    with service.transaction() as session:
        ids = {u.name: u.id for u in session.scalars(select(User))}
        org.create_site(session, "north", "Europe/Paris")
        org.create_group(session, "lab")
        org.create_group(session, "night")
        org.assign_site(session, ids[OTHER], "north")
        org.add_to_group(session, ids[OTHER], "lab")
        org.add_to_group(session, ids[OTHER], "night")
        org.add_to_group(session, ids[KEEP], "lab")  # both in lab: no duplicate key
        added = corrections.add_punch(
            session,
            ids[OTHER],
            datetime.now(UTC),
            device=None,
            direction=None,
            reason="missed_punch",
            note=None,
            created_by="test",
        )
        faces_before = {
            name: session.scalar(
                select(func.count())
                .select_from(FaceEmbedding)
                .where(FaceEmbedding.user_id == ids[name])
            )
            for name in (KEEP, OTHER)
        }
    assert all(n is not None and n >= 3 for n in faces_before.values()), faces_before

    # Refusals: one line, the documented exit codes, nothing changed.
    code, output = _invoke(settings, KEEP, KEEP.upper())
    assert code == 2 and "one person already" in output and len(output.splitlines()) == 1
    code, output = _invoke(settings, KEEP, "Nobody")
    assert code == 7 and "Nobody" in output and len(output.splitlines()) == 1

    # A locked pay period holding OTHER's punches refuses the merge (exit 21).
    today = datetime.now(UTC).date()
    span = (today - timedelta(days=1), today + timedelta(days=1))
    with service.transaction() as session:
        corrections.lock_period(session, *span, "UTC", "test")
    code, output = _invoke(settings, KEEP, OTHER)
    assert code == 21 and "locked pay period" in output and len(output.splitlines()) == 1
    with service.transaction() as session:
        corrections.unlock_period(session, *span, "test", "merge")

    code, output = _invoke(settings, KEEP, OTHER, "--json")
    assert code == 0, output
    merged = json.loads(output)
    assert merged["keep"] == KEEP and merged["other"] == OTHER
    assert merged["attendance_rows"] == 2 and merged["claimed_rows"] == 2
    assert merged["corrections_added"] == 1 and merged["site_moved"] is True
    assert merged["groups"] == 1  # night; lab was KEEP's already
    assert "no merge record" in merged["audit"]
    # The forced enrolment recorded the two as look-alikes: a self-pair now, dropped;
    # the ambiguous event's evidence named both and names KEEP now.
    assert merged["lookalikes_dropped"] == 1 and merged["evidence_rows"] >= 1

    with Session(service.database.engine) as session:
        names = set(session.scalars(select(User.name)))
        assert OTHER not in names and KEEP in names and len(names) == len(PEOPLE) + 1
        keep_id = ids[KEEP]
        faces = session.scalar(
            select(func.count()).select_from(FaceEmbedding).where(FaceEmbedding.user_id == keep_id)
        )
        assert merged["faces"] == faces_before[OTHER]
        assert faces == faces_before[KEEP] + faces_before[OTHER]  # type: ignore[operator]
        claimed = session.scalars(
            select(Attendance).where(Attendance.event_id.in_([r.event_id for r in claims]))
        ).all()
        assert all(r.user_id == keep_id and r.claimed_user_id == keep_id for r in claimed)
        assert session.scalar(select(UserSite.user_id).where(UserSite.user_id == keep_id))
        groups = session.scalars(select(GroupMember.group_id).where(GroupMember.user_id == keep_id))
        assert len(list(groups)) == 2
        assert not session.scalars(
            select(Lookalike).where(
                or_(Lookalike.user_id == ids[OTHER], Lookalike.other_user_id == ids[OTHER])
            )
        ).all()
        # The punch added for OTHER counts for KEEP (a new reassign correction).
        owner = session.execute(
            select(attendance_effective.c.user_id).where(
                attendance_effective.c.event_id == added.event_id
            )
        ).scalar_one()
        assert owner == keep_id

    after = service.verify(held_out)
    assert after.decision == "accepted" and after.name == KEEP, after
    # KEEP now works at north (Paris): their day is Paris's (the one time rule), which
    # is not the UTC date from 23:00 UTC on.
    paris_today = datetime.now(ZoneInfo("Europe/Paris")).date()
    report = service.report(paris_today, paris_today, "UTC")
    present = {p.name: p.accepted for p in report.present}
    assert OTHER not in present and present.get(KEEP, 0) >= 4, present
    service.close()


def test_merge_help_has_an_example() -> None:
    result = CliRunner().invoke(main, ["users", "merge", "--help"])
    assert result.exit_code == 0 and "Example" in result.output and "KEEP" in result.output
