"""Where each command lives: name -> "module:attribute" in this package.

Commands are imported when they run (or when --help lists them), so that
`facedb db status` does not pay for loading the vision stack or the HTTP server.
"""

from __future__ import annotations

COMMANDS: dict[str, str] = {
    "enrol": "enrol:enrol",
    "import": "importer:import_command",
    "verify": "verify:verify",
    "watch": "watch:watch_command",
    "report": "report:report",
    "attendance": "report:attendance_group",
    "users": "users:users",
    "db": "db:db",
    "demo": "demo:demo",
    "detect": "detect:detect",
    "eval": "eval:eval_command",
    "eval-1n": "eval1n:eval_1n",
    "eval-sequence": "eval_sequence:eval_sequence",
    "policy": "policy:policy_command",
    "calibrate": "eval:calibrate_command",
    "models": "models:models",
    "doctor": "doctor:doctor",
    "serve": "serve:serve",
    "keys": "keys:keys",
    "spool": "offline:spool",
    "cache": "offline:cache",
    "sites": "org:sites",
    "groups": "org:groups",
    "devices": "org:devices",
    "shifts": "schedules:shifts",
    "holidays": "schedules:holidays",
    "leave": "schedules:leave",
    "timesheet": "timesheet:timesheet",
    "correct": "corrections:correct",
    "period": "corrections:period",
    "hooks": "hooks:hooks_group",
    "review": "review:review",
}
