"""Live attendance: watch a camera, stream or video, track faces, identify each track
once and log attendance (`facedb watch`).

- tracker.py   IoU tracker for face boxes (pure numpy)
- identity.py  per-track samples, template and decision (pure numpy)
- reader.py    newest-frame reader thread for live sources, with reconnection
- loop.py      the loop: detect, track, embed, identify in SQL, log, draw
- draw.py, sinks.py  annotated frames, the output video and the window
"""
