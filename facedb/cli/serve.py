"""`facedb serve`: the HTTP API and the browser kiosk (FastAPI, run by uvicorn)."""

from __future__ import annotations

import ipaddress
import logging
import sys
from pathlib import Path

import click

from facedb.api.logs import uvicorn_log_config
from facedb.events import jsonlog
from facedb.usecases.models import check_serving_models

log = logging.getLogger(__name__)

# The exit code of `facedb serve` when its address is taken or cannot be used
# (README, "Exit codes"): before anything is announced.
EXIT_PORT_TAKEN = 22


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Processes; each loads the models once.",
)
@click.option(
    "--ssl-certfile",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="TLS certificate (PEM): browsers give a page the camera only over HTTPS or on localhost.",
)
@click.option(
    "--ssl-keyfile",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="TLS private key (PEM) of --ssl-certfile.",
)
def serve(
    host: str,
    port: int,
    workers: int,
    ssl_certfile: Path | None,
    ssl_keyfile: Path | None,
) -> None:
    """Serve the HTTP API under /v1 and the kiosk page at /.

    Every request needs an API key (`facedb keys create`), except /v1/health.
    The OpenAPI schema is at /openapi.json, interactive docs at /docs. The port is
    checked first: when it is taken, serve exits with code 22 before announcing
    anything.

    \b
    Examples:
      facedb keys create --name front-door --role kiosk
      facedb serve --port 8000
      # then open http://127.0.0.1:8000/?key=<the kiosk key>
    """
    import uvicorn

    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise click.UsageError("give --ssl-certfile and --ssl-keyfile together")
    _check_address(host, port)
    settings = check_serving_models()  # a missing or wrong model file stops here, clearly
    if ssl_certfile is None and not _is_loopback(host):
        log.warning(
            "serving plain HTTP on %s: browsers open the kiosk's camera only over HTTPS "
            "(--ssl-certfile/--ssl-keyfile, or a TLS reverse proxy)",
            host,
        )
    scheme = "https" if ssl_certfile else "http"
    click.echo(f"facedb serving on {scheme}://{host}:{port}/ (API docs at /docs)", err=True)
    uvicorn.run(
        "facedb.api.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
        log_level="info",
        log_config=jsonlog.configure(uvicorn_log_config(), settings.log_format),
        proxy_headers=False,
        # uvicorn's supervisor restarts a worker that does not answer its ping within
        # this many seconds (5 by default); a worker loading its models, or a busy
        # 2-core machine, can take longer, and the restart loses its requests.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
    )


WORKER_HEALTHCHECK_S = 60


def _check_address(host: str, port: int) -> None:
    """Exits with EXIT_PORT_TAKEN, one line on stderr, when ``host:port`` cannot be
    listened on (another server has it, or the address is not this machine's)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            # As uvicorn does: a port in TIME_WAIT is free, one listened on is not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        click.echo(
            f"error: cannot listen on {host}:{port}: {reason} (another server on that port? "
            "choose one with --port)",
            err=True,
        )
        sys.exit(EXIT_PORT_TAKEN)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
