"""The `facedb` command: parsing and printing only; the work is in facedb.service."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from facedb import __version__
from facedb.errors import FacedbError

from .commands import COMMANDS
from .lazy import LazyGroup
from .suggest import SuggestingGroup


class FacedbGroup(SuggestingGroup, LazyGroup):
    """Loads each command on first use (LazyGroup), answers a mistyped command with
    the closest names (SuggestingGroup), and turns facedb errors into one line on
    stderr and their exit code."""

    lazy_commands = COMMANDS

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FacedbError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=FacedbGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="facedb")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug) to stderr.")
def main(verbose: int) -> None:
    """Face verification and attendance on PostgreSQL + pgvector.

    \b
    Examples:
      facedb enrol --name Alice --source 0       enrol from the first camera
      facedb verify                              who is at the camera? logs attendance
      facedb report --date today                 who came today, who is absent

    Settings come from FACEDB_* environment variables (see README); with no
    FACEDB_DATABASE_URL an embedded PostgreSQL is started under FACEDB_HOME.
    """
    if not verbose:
        _quiet_libraries()
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # SQLAlchemy logs every statement at INFO: only with -vv.
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING if verbose < 2 else logging.INFO)
    _structured_logs()


def _quiet_libraries() -> None:
    """OpenCV and FFmpeg write their own warnings to stderr ("[ WARN:0@1.5] global
    cap.cpp..."): silenced unless --verbose. Read when cv2 is first imported, which
    the commands do after this."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    os.environ.setdefault("OPENCV_VIDEOIO_DEBUG", "0")
    cv2 = sys.modules.get("cv2")
    logging_module = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging_module is not None:  # imported already: set it directly
        logging_module.setLogLevel(logging_module.LOG_LEVEL_SILENT)


def _structured_logs() -> None:
    """FACEDB_LOG_FORMAT=json: one JSON object a line on stderr (facedb/events/jsonlog.py)."""
    from facedb.config import Settings

    try:
        log_format = Settings.load().log_format
    except FacedbError:
        return  # the command itself reports the configuration error
    if log_format == "json":
        from facedb.events.jsonlog import JsonFormatter

        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
