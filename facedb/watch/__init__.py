"""Live attendance: watch a camera, stream or video, track faces, decide each track
as verify decides (facedb/decision.py) and log attendance (`facedb watch`).

- tracker.py   IoU tracker for face boxes (pure numpy)
- identity.py  per-track samples, template, liveness, hand-over and when to log (pure)
- deciding.py  the decisions through the Matcher: database, or gallery cache + spool
- reader.py    newest-frame reader thread for live sources, with reconnection
- loop.py      the loop: detect, track, embed, decide, draw
- draw.py, sinks.py  annotated frames, the output video and the window
"""
