"""The errors users see.

Every failure a user can cause or meet is one of these classes. Each carries a
one-line message meant for a person, whether it reaches them through the CLI or
through the HTTP API, and declares once how each front end reports it: a process
exit code (the CLI prints the message and exits with it, never a traceback), and an
HTTP status with a stable API code (the JSON error body of facedb.api).

The classes form a tree, so that a caller can catch a family:

    FacedbError
    ├── InputRefused          422  the request itself cannot be served as given
    │   └── FaceRefused       422  the image holds no usable face
    ├── NotFound              404
    ├── Conflict              409  the request contradicts what is stored
    ├── Unavailable           503  something facedb needs is missing or down
    │   └── DatabaseUnavailable
    └── ConfigError           500

Families are named by what happened (InputRefused); the classes raised end in Error.

Exit codes (0 and 1 are decisions, not errors: verify exits 0 when accepted and 1
when not, so that a door script can use it):

    2   usage or invalid input (a bad name, a malformed file, a bad option value)
    3   unreadable, empty or corrupt image
    4   no face found
    5   several faces where one was expected
    6   face rejected by the quality gate (too small, blurred, turned away)
    7   unknown user
    8   duplicate name or external id
    9   face already enrolled under another name
    10  camera or video source cannot be opened
    11  model file missing, wrong sha256 or unusable
    12  database unreachable
    13  database authentication failed
    14  pgvector extension missing on the server
    15  data directory made by another PostgreSQL major version
    16  schema migration not applied (run `facedb db upgrade`)
    17  embedded server could not be started
    18  presentation attack (spoof) detected
    19  configuration error
    20  no gallery cache to verify against while the database is down
    21  a correction or purge inside a locked pay period
    30  a file under FACEDB_HOME cannot be written (disk full, quota, read-only)
"""

from __future__ import annotations

from typing import ClassVar


class FacedbError(Exception):
    """Base class: a message for a person, an exit code, an HTTP status and API code."""

    exit_code: ClassVar[int] = 2
    http_status: ClassVar[int] = 400
    api_code: ClassVar[str] = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def first_line(exc: BaseException) -> str:
    """The first line of an error's message: for a SQLAlchemy error, of the driver's
    own (``exc.orig``, without the SQL and background link SQLAlchemy appends); the
    class name when the message is empty."""
    orig = getattr(exc, "orig", None)
    source = orig if isinstance(orig, BaseException) else exc
    text = str(source).strip()
    return text.splitlines()[0] if text else type(source).__name__


# -- input refused ---------------------------------------------------------------


class InputRefused(FacedbError):
    """The request cannot be served as given: asking again the same way fails again."""

    http_status = 422
    api_code = "bad_input"


class InvalidInputError(InputRefused):
    exit_code = 2


class ImageError(InputRefused):
    exit_code = 3
    http_status = 400
    api_code = "bad_image"


class SourceError(InputRefused):
    exit_code = 10


class FaceRefused(InputRefused):
    """The image was read, but holds no face that may be used."""


class NoFaceError(FaceRefused):
    exit_code = 4
    api_code = "no_face"


class MultipleFacesError(FaceRefused):
    exit_code = 5
    api_code = "multiple_faces"


class QualityError(FaceRefused):
    exit_code = 6
    api_code = "bad_quality"


class SpoofError(FaceRefused):
    exit_code = 18
    api_code = "spoof"


# -- not found, conflict ---------------------------------------------------------


class NotFound(FacedbError):
    http_status = 404


class UnknownUserError(NotFound):
    exit_code = 7
    api_code = "unknown_user"


class Conflict(FacedbError):
    """The request contradicts what is stored (a name taken, a period locked)."""

    http_status = 409


class DuplicateNameError(Conflict):
    exit_code = 8
    api_code = "duplicate_name"


class DuplicateIdentityError(Conflict):
    exit_code = 9
    api_code = "duplicate_identity"


class PeriodLockedError(Conflict):
    exit_code = 21
    api_code = "period_locked"


# -- unavailable -----------------------------------------------------------------


class Unavailable(FacedbError):
    """Something facedb needs is missing or down; the request may succeed once it is
    back."""

    http_status = 503


class ModelError(Unavailable):
    exit_code = 11
    api_code = "models_unavailable"


class DatabaseUnavailable(Unavailable):
    api_code = "database_unavailable"


class DatabaseUnreachableError(DatabaseUnavailable):
    exit_code = 12


class DatabaseAuthError(DatabaseUnavailable):
    exit_code = 13


class ExtensionMissingError(DatabaseUnavailable):
    exit_code = 14


class DataDirVersionError(DatabaseUnavailable):
    exit_code = 15


class MigrationNotAppliedError(DatabaseUnavailable):
    exit_code = 16
    api_code = "migration_not_applied"


class EmbeddedServerError(DatabaseUnavailable):
    exit_code = 17


class NoGalleryCacheError(DatabaseUnavailable):
    exit_code = 20


class LocalStorageError(Unavailable):
    """FACEDB_HOME cannot be written: the disk is full, a quota or a read-only mount."""

    exit_code = 30
    api_code = "storage_unavailable"


# -- configuration ---------------------------------------------------------------


class ConfigError(FacedbError):
    """The server's own settings are wrong: the operator, not the caller, fixes it."""

    exit_code = 19
    http_status = 500
    api_code = "configuration_error"
