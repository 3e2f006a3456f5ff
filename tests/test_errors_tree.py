"""The error tree of facedb.errors: each class declares its exit code, HTTP status
and API code once, families catch their members, and one message serves the CLI
and the HTTP API alike."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from facedb import access, errors
from facedb.api.app import create_app
from facedb.cli.main import main
from facedb.config import Settings
from facedb.store.engine import make_engine

# What each error answers: (exit code, HTTP status, API code). Scripts and HTTP
# clients depend on these; a change here is a breaking change.
SPEC: dict[type[errors.FacedbError], tuple[int, int, str]] = {
    errors.InvalidInputError: (2, 422, "bad_input"),
    errors.ImageError: (3, 400, "bad_image"),
    errors.NoFaceError: (4, 422, "no_face"),
    errors.MultipleFacesError: (5, 422, "multiple_faces"),
    errors.QualityError: (6, 422, "bad_quality"),
    errors.UnknownUserError: (7, 404, "unknown_user"),
    errors.DuplicateNameError: (8, 409, "duplicate_name"),
    errors.DuplicateIdentityError: (9, 409, "duplicate_identity"),
    errors.SourceError: (10, 422, "bad_input"),
    errors.ModelError: (11, 503, "models_unavailable"),
    errors.DatabaseUnreachableError: (12, 503, "database_unavailable"),
    errors.DatabaseAuthError: (13, 503, "database_unavailable"),
    errors.ExtensionMissingError: (14, 503, "database_unavailable"),
    errors.DataDirVersionError: (15, 503, "database_unavailable"),
    errors.MigrationNotAppliedError: (16, 503, "migration_not_applied"),
    errors.EmbeddedServerError: (17, 503, "database_unavailable"),
    errors.SpoofError: (18, 422, "spoof"),
    errors.ConfigError: (19, 500, "configuration_error"),
    errors.NoGalleryCacheError: (20, 503, "database_unavailable"),
    errors.PeriodLockedError: (21, 409, "period_locked"),
    errors.LocalStorageError: (30, 503, "storage_unavailable"),
}


def _subclasses(cls: type[errors.FacedbError]) -> list[type[errors.FacedbError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _tree() -> list[type[errors.FacedbError]]:
    return [c for c in _subclasses(errors.FacedbError) if c.__module__ == errors.__name__]


def _concrete() -> list[type[errors.FacedbError]]:
    """The classes raised: those that declare their own exit code."""
    return [c for c in _tree() if "exit_code" in vars(c)]


def _documented_exit_codes() -> dict[int, str]:
    table = re.findall(r"^ {4}(\d+) {2,}(\S.*)$", errors.__doc__ or "", re.MULTILINE)
    return {int(code): meaning for code, meaning in table}


def test_every_error_declares_a_distinct_documented_exit_code_and_an_http_answer() -> None:
    concrete = _concrete()
    codes = [c.exit_code for c in concrete]
    assert len(codes) == len(set(codes)), codes
    assert sorted(codes) == sorted(_documented_exit_codes())
    for cls in concrete:
        assert 400 <= cls.http_status <= 599, cls
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", cls.api_code), cls
    assert {c: (c.exit_code, c.http_status, c.api_code) for c in concrete} == SPEC
    # A refinement elsewhere (a manifest's list of problems) answers as its parent.
    for cls in _subclasses(errors.FacedbError):
        if cls.__module__ != errors.__name__:
            assert not {"exit_code", "http_status", "api_code"} & set(vars(cls)), cls


def test_families_are_not_raised_and_catch_their_members() -> None:
    families = [c for c in _tree() if "exit_code" not in vars(c)]
    assert families, "the tree has intermediate bases"
    for family in families:
        assert family.__subclasses__(), f"{family.__name__} is a family with no member"
    expected = {
        errors.InputRefused: {
            errors.InvalidInputError,
            errors.ImageError,
            errors.SourceError,
            errors.NoFaceError,
            errors.MultipleFacesError,
            errors.QualityError,
            errors.SpoofError,
        },
        errors.FaceRefused: {
            errors.NoFaceError,
            errors.MultipleFacesError,
            errors.QualityError,
            errors.SpoofError,
        },
        errors.NotFound: {errors.UnknownUserError},
        errors.Conflict: {
            errors.DuplicateNameError,
            errors.DuplicateIdentityError,
            errors.PeriodLockedError,
        },
        errors.Unavailable: {
            errors.ModelError,
            errors.LocalStorageError,
            *(c for c in SPEC if c.api_code in ("database_unavailable", "migration_not_applied")),
        },
    }
    for family, members in expected.items():
        assert {c for c in _concrete() if issubclass(c, family)} == members, family
    with pytest.raises(errors.Unavailable, match="the server went away"):
        raise errors.NoGalleryCacheError("the server went away")


def test_first_line_is_the_drivers_own_message(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn, pytest.raises(DBAPIError) as caught:
            conn.execute(text("SELECT 1 / 0"))
    finally:
        engine.dispose()
    assert "[SQL:" in str(caught.value)
    assert errors.first_line(caught.value) == "division by zero"
    assert errors.first_line(ValueError("  one\ntwo  ")) == "one"
    assert errors.first_line(ValueError("")) == "ValueError"


def test_an_unknown_user_is_404_over_http_and_exit_7_with_the_same_message(
    settings: Settings,
) -> None:
    app = create_app(settings)
    with TestClient(app) as client:
        token = access.create_key(app.state.facedb.service, "admin-key", "admin").token
        response = client.delete(
            "/v1/users/Nobody%20Known", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert error["code"] == "unknown_user"
    result = CliRunner().invoke(main, ["users", "remove", "Nobody Known", "--yes"])
    assert result.exit_code == 7, result.output
    assert result.stderr.strip() == f"error: {error['message']}"
