"""The list of command groups, one module each."""

from __future__ import annotations

import click

from .db import db
from .demo import demo
from .detect import detect
from .enrol import enrol
from .eval import calibrate_command, eval_command
from .importer import import_command
from .keys import keys
from .models import models
from .offline import cache, spool
from .report import attendance_group, report
from .serve import serve
from .users import users
from .verify import verify
from .watch import watch_command

ALL: list[click.Command] = [
    enrol,
    import_command,
    verify,
    watch_command,
    report,
    attendance_group,
    users,
    db,
    demo,
    detect,
    eval_command,
    calibrate_command,
    models,
    serve,
    keys,
    spool,
    cache,
]
