"""Use cases: one module per thing a user does (enrol, verify, report, ...), over the
runtime object (settings, lazy pipeline, database, transactions). Front ends (the CLI,
the HTTP API, watch, the kiosk) call these and only parse and print."""
