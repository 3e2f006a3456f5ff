"""`facedb hooks`: webhooks, MQTT deliveries, their status and replay, the worker."""

from __future__ import annotations

import signal
import sys
from datetime import UTC, datetime
from types import FrameType

import click

from facedb.events import hooks
from facedb.events.hooks import Sink, SinkStatus

from .context import open_service
from .output import err_console, json_option, print_json, print_table


@click.group("hooks")
def hooks_group() -> None:
    """Send every decision to webhooks (signed HTTP POSTs) and an MQTT broker.

    Events are written to an outbox with their attendance row, in one
    transaction, and delivered by a worker (inside `facedb serve`, or `facedb
    hooks run`): at least once, retried with exponential backoff, dead-lettered
    after FACEDB_HOOKS_MAX_ATTEMPTS. Receivers deduplicate by the event id.

    \b
    Examples:
      facedb hooks add https://door.local/facedb --events accepted
      facedb hooks test 1
      facedb hooks status
      facedb hooks run
    """


def _sink_fields(sink: Sink) -> dict[str, object]:
    return {
        "id": sink.id,
        "kind": sink.kind,
        "target": sink.target,
        "events": list(sink.events) if sink.events is not None else None,
        "signed": sink.secret is not None,
        "active": sink.active,
        "allow_private": sink.allow_private,
        "created_at": sink.created_at,
    }


@hooks_group.command("add")
@click.argument("url")
@click.option(
    "--events",
    help="Decisions to send, comma-separated (accepted,unknown,spoof,...), or all [default: all].",
)
@click.option(
    "--secret",
    envvar="FACEDB_HOOK_SECRET",
    help="HMAC-SHA256 key of the signature (16+ chars) [default: a new random one, shown once].",
)
@click.option(
    "--allow-private",
    is_flag=True,
    help="Allow a private address (10/8, 172.16/12, 192.168/16, fc00::/7...): a door "
    "controller on the LAN. Link-local and cloud metadata addresses are always refused.",
)
@json_option
def add(
    url: str, events: str | None, secret: str | None, allow_private: bool, as_json: bool
) -> None:
    """Send the events written from now on to URL (http:// or https://).

    Refused: link-local, cloud metadata, unspecified, multicast, IPv4-mapped and
    numeric hosts (2852039166); private addresses unless --allow-private. Loopback
    (127.0.0.1, ::1) is allowed. Every delivery checks the address again.

    \b
    Examples:
      facedb hooks add https://payroll.example.com/hooks/facedb
      facedb hooks add http://127.0.0.1:9000/door --events accepted --secret "$KEY"
      facedb hooks add http://192.168.1.40/open --events accepted --allow-private
    """
    service = open_service()
    wanted = None if events is None or events.strip().lower() == "all" else events.split(",")
    sink = hooks.add_webhook(service, url, wanted, secret, allow_private=allow_private)
    fields = {**_sink_fields(sink), "secret": sink.secret}
    if as_json:
        print_json(fields)
        return
    click.echo(f"webhook {sink.id}: {sink.target} ({', '.join(sink.events or ['all events'])})")
    if secret is None:
        click.echo(f"signing secret (shown once): {sink.secret}")


@hooks_group.command("list")
@json_option
def list_command(as_json: bool) -> None:
    """The webhooks and the MQTT sink (secrets are never shown).

    \b
    Example:
      facedb hooks list --json
    """
    sinks = hooks.sinks(open_service())
    if as_json:
        print_json([_sink_fields(s) for s in sinks])
        return
    print_table(
        ["id", "kind", "target", "events", "signed", "since"],
        [
            (
                s.id,
                s.kind,
                s.target,
                ",".join(s.events) if s.events else "all",
                "yes" if s.secret else "no",
                s.created_at,
            )
            for s in sinks
        ],
    )


@hooks_group.command("remove")
@click.argument("webhook")
def remove(webhook: str) -> None:
    """Delete a webhook (by id or URL) and its deliveries, sent or not.

    \b
    Example:
      facedb hooks remove 2
    """
    sink = hooks.remove_webhook(open_service(), webhook)
    click.echo(f"removed webhook {sink.id}: {sink.target}")


@hooks_group.command("test")
@click.argument("webhook")
@json_option
def test(webhook: str, as_json: bool) -> None:
    """POST a signed test event (type "test") to a webhook now; exit 1 if it fails.

    \b
    Example:
      facedb hooks test 1
    """
    outcome = hooks.test_webhook(open_service(), webhook)
    if as_json:
        print_json({"ok": outcome.ok, "detail": outcome.detail})
    else:
        click.echo(("delivered: " if outcome.ok else "failed: ") + outcome.detail)
    sys.exit(0 if outcome.ok else 1)


def _status_fields(status: SinkStatus) -> dict[str, object]:
    return {
        **_sink_fields(status.sink),
        "pending": status.pending,
        "delivered": status.delivered,
        "dead": status.dead,
        "oldest_pending": status.oldest_pending,
        "last_error": status.last_error,
    }


@hooks_group.command("status")
@json_option
def status(as_json: bool) -> None:
    """Deliveries per sink: pending, delivered, dead (dead-lettered), last error.

    \b
    Example:
      facedb hooks status
    """
    states = hooks.status(open_service())
    if as_json:
        print_json([_status_fields(s) for s in states])
        return
    now = datetime.now(UTC)
    print_table(
        ["id", "target", "pending", "delivered", "dead", "oldest pending", "last error"],
        [
            (
                s.sink.id,
                s.sink.target,
                s.pending,
                s.delivered,
                s.dead,
                f"{(now - s.oldest_pending).total_seconds():.0f} s ago" if s.oldest_pending else "",
                s.last_error or "",
            )
            for s in states
        ],
    )


@hooks_group.command("replay")
@click.argument("webhook", required=False)
@click.option("--event", "event_id", help="Send this event again (delivered or dead).")
@json_option
def replay(webhook: str | None, event_id: str | None, as_json: bool) -> None:
    """Retry dead deliveries (of every sink, of one webhook, or "mqtt") now.

    \b
    Examples:
      facedb hooks replay                   # every dead delivery
      facedb hooks replay 1 --event 0b6c...  # that event to webhook 1, again
    """
    count = hooks.replay(open_service(), webhook, event_id)
    if as_json:
        print_json({"due_again": count})
        return
    click.echo(f"{count} deliver{'y' if count == 1 else 'ies'} due again")


@hooks_group.command("run")
@click.option(
    "--poll", default=1.0, show_default=True, type=click.FloatRange(0.05, 60), help="Seconds."
)
@click.option("--once", is_flag=True, help="Deliver what is due, then stop.")
def run(poll: float, once: bool) -> None:
    """Run the delivery worker until Ctrl-C (`facedb serve` runs one already).

    Webhooks always; MQTT when FACEDB_MQTT_URL is set. Several workers may share
    one database: each due delivery goes to one of them. Each failed delivery and
    each sink that starts failing or delivers again is logged, one line on stderr
    (JSON with FACEDB_LOG_FORMAT=json). Ctrl-C or SIGTERM stops it, exit status 0.

    \b
    Examples:
      facedb hooks run
      FACEDB_MQTT_URL=mqtt://127.0.0.1:1883 facedb hooks run
    """
    service = open_service()
    worker = hooks.worker(service, poll=poll)
    err_console().print(f"delivering events ({'until done' if once else 'Ctrl-C stops'})")

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # SIGTERM (a service manager stopping it) ends it as Ctrl-C does: exit status 0; a
    # delivery cut short is sent again when its lease ends.
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        worker.run(until_idle=once)
    except KeyboardInterrupt:
        err_console().print("stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)
        worker.stop(timeout=5)
