"""Where each command lives and its one line of help: name -> ("module:attribute" in
this package, help line).

Commands are imported when they run, never to list them (facedb/cli/lazy.py), so that
`facedb --help` and `facedb users list` do not pay for the vision stack or the HTTP
server. tests/test_cli_help.py checks each line against the command's own help.
"""

from __future__ import annotations

COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("init:init", "Set up this machine: models, database, time zone, first site, keys."),
    "enrol": ("enrol:enrol", "Enrol a person from a camera, a video, images, or a folder."),
    "import": ("importer:import_command", "Enrol everyone listed in a CSV file."),
    "verify": ("verify:verify", "Recognise the person at the camera and log attendance."),
    "watch": ("watch:watch_command", "Watch a camera, stream or video and log attendance."),
    "report": ("report:report", "Who came, who did not, unknown and rejected attempts."),
    "attendance": ("report:attendance_group", "The raw attendance log."),
    "users": ("users:users", "List, show, rename, remove and forget enrolled people."),
    "db": ("db:db", "The database: status, migrations, URL, psql, embedded server."),
    "backup": ("backup:backup", "Write the database, evidence and model manifest to one file."),
    "restore": ("backup:restore", "Restore a `facedb backup` file into an empty home."),
    "service": ("service:service", "systemd units for serve, watch and hooks run."),
    "demo": ("demo:demo", "Enrol sample people in a home of its own, verify, report."),
    "detect": ("detect:detect", "Find every face of every image, with quality and liveness."),
    "eval": ("eval:eval_command", "Measure verification accuracy on labelled image pairs."),
    "eval-1n": ("eval1n:eval_1n", "Measure 1:N identification the way NIST FRTE counts it."),
    "eval-sequence": (
        "eval_sequence:eval_sequence",
        "Visits in order: what learning faces gains, and a look-alike's attempts.",
    ),
    "policy": ("policy:policy_command", "The thresholds that decide, and the false accepts."),
    "calibrate": ("eval:calibrate_command", "Set the 1:1 threshold of the embedder from pairs."),
    "models": ("models:models", "The model files: where they are, checked; `models fetch`."),
    "doctor": ("doctor:doctor", "What would stop facedb on this machine, and the fix."),
    "serve": ("serve:serve", "Serve the HTTP API under /v1 and the kiosk page at /."),
    "keys": ("keys:keys", "Create, list and revoke the keys of the HTTP API."),
    "spool": ("offline:spool", "Attendance decided offline, waiting for the database."),
    "cache": ("offline:cache", "This kiosk's copy of the gallery, for database outages."),
    "sites": ("org:sites", "Sites: places where people work, with their time zone."),
    "groups": ("org:groups", "Groups: departments and teams; a person can be in many."),
    "devices": ("org:devices", "Devices: kiosks and cameras, by the name they log under."),
    "shifts": ("schedules:shifts", "Shift templates and who works them."),
    "holidays": ("schedules:holidays", "Public holidays, per site or for every site."),
    "leave": ("schedules:leave", "Leave: vacation, sick, other; whole days or part days."),
    "timesheet": ("timesheet:timesheet", "One row per person and work day, then totals."),
    "correct": ("corrections:correct", "Corrections of the attendance log, with who and why."),
    "period": ("corrections:period", "Locked pay periods: no correction inside one."),
    "hooks": ("hooks:hooks_group", "Send every decision to webhooks and an MQTT broker."),
    "review": ("review:review", "The review queue: doubtful decisions with the face seen."),
}
