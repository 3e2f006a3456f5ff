"""The errors users see.

Every failure a user can cause or meet is one of these classes. Each carries a
one-line message meant for a person and an exit code; the CLI prints the message
and exits with the code, never a traceback.

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
"""

from __future__ import annotations

from typing import ClassVar


class FacedbError(Exception):
    """Base class: a message for a person and a process exit code."""

    exit_code: ClassVar[int] = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInputError(FacedbError):
    exit_code = 2


class ImageError(FacedbError):
    exit_code = 3


class NoFaceError(FacedbError):
    exit_code = 4


class MultipleFacesError(FacedbError):
    exit_code = 5


class QualityError(FacedbError):
    exit_code = 6


class UnknownUserError(FacedbError):
    exit_code = 7


class DuplicateNameError(FacedbError):
    exit_code = 8


class DuplicateIdentityError(FacedbError):
    exit_code = 9


class SourceError(FacedbError):
    exit_code = 10


class ModelError(FacedbError):
    exit_code = 11


class DatabaseUnreachableError(FacedbError):
    exit_code = 12


class DatabaseAuthError(FacedbError):
    exit_code = 13


class ExtensionMissingError(FacedbError):
    exit_code = 14


class DataDirVersionError(FacedbError):
    exit_code = 15


class MigrationNotAppliedError(FacedbError):
    exit_code = 16


class EmbeddedServerError(FacedbError):
    exit_code = 17


class SpoofError(FacedbError):
    exit_code = 18


class ConfigError(FacedbError):
    exit_code = 19


class NoGalleryCacheError(FacedbError):
    exit_code = 20


class PeriodLockedError(FacedbError):
    exit_code = 21
