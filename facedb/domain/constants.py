"""Closed sets of codes; the database checks each column against its set."""

from __future__ import annotations

# ambiguous: two enrolled people scored within the decision margin of each other.
DECISIONS = ("accepted", "rejected", "unknown", "no_face", "spoof", "bad_quality", "ambiguous")
# Roles of HTTP API keys (facedb/access.py says what each may do).
API_KEY_ROLES = ("kiosk", "admin", "reporter", "device")
# Which stage of a 1:N search decided (store/search.py): the index's clear accept, an
# exact scan of every face's float vector, or a scan of the faces' binary codes with
# the nearest re-ranked exactly.
SEARCH_STAGES = ("index", "exact", "codes")
# What a model of the weights manifest is for.
MODEL_ROLES = ("detector", "embedder", "liveness")
# Why an attendance correction was made.
REASON_CODES = ("missed_punch", "false_accept", "wrong_person", "device_fault", "other")

# Faces a person's template keeps (enrolment keeps the most different ones).
KEEP_PER_PERSON = 5
# Faces one verification decides on (the best of a capture).
FACES_PER_DECISION = 3
