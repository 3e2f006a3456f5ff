"""The HTTP API and the browser kiosk of `facedb serve` (FastAPI).

Build the application with :func:`facedb.api.app.create_app`; nothing runs at import.
"""
