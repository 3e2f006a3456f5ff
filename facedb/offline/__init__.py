"""The kiosk's offline subsystem: a gallery cache to decide from, a spool of the events decided while the database is unreachable, their sync, and which database a local copy belongs to."""
