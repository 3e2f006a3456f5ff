"""Issue 29 item 21: where a webhook may be sent. `hooks add` refuses link-local,
metadata, unspecified, IPv4-mapped and numeric hosts, and private ranges unless
--allow-private; the delivery worker checks the address it connects to again. Only
loopback is ever connected to: the other addresses are refused before any packet."""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from delivery_helpers import until
from test_hooks import SECRET, Receiver, _event

from facedb.cli.main import main
from facedb.config import Settings
from facedb.errors import InvalidInputError
from facedb.events import addresses, hooks
from facedb.service import FaceService
from facedb.store import attendance, outbox


@pytest.fixture
def service(settings: Settings) -> Iterator[FaceService]:
    fast = settings.replace(hooks_backoff=0.05, hooks_timeout=2.0, hooks_max_attempts=2)
    svc = FaceService(fast)
    yield svc
    svc.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Names the test resolves itself (what a DNS server would answer), others as usual."""
    answers: dict[str, str] = {}
    real = socket.getaddrinfo

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            family = socket.AF_INET6 if ":" in answers[host] else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (answers[host], int(port)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return answers


REFUSED = [
    ("http://169.254.169.254/latest/meta-data", "cloud metadata address"),
    ("http://[fd00:ec2::254]/", "cloud metadata address"),
    ("http://169.254.10.1/", "link-local address"),
    ("http://[fe80::1]/", "link-local address"),
    ("http://0.0.0.0:8080/", "unspecified address"),
    ("http://[::]/", "unspecified address"),
    ("http://[::ffff:169.254.169.254]/", "IPv4-mapped address"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped address"),
    ("http://2852039166/", "written as a number"),
    ("http://0xa9fea9fe/", "written as a number"),
    ("http://0177.0.0.1/", "octal or hex"),
    ("http://127.1/", "short, octal or hex"),
    ("http://224.0.0.1/", "multicast address"),
    ("http://255.255.255.255/", "reserved address"),
]
PRIVATE = [
    "http://10.0.0.5/open",
    "http://172.16.3.4/",
    "http://192.168.1.40/",
    "http://[fd12::1]/",
]


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_hooks_add_refuses_what_no_webhook_may_reach(
    service: FaceService, url: str, why: str
) -> None:
    for allow_private in (False, True):
        with pytest.raises(InvalidInputError, match=why):
            hooks.add_webhook(service, url, None, SECRET, allow_private=allow_private)
    assert hooks.sinks(service) == []


@pytest.mark.parametrize("url", PRIVATE)
def test_private_addresses_need_allow_private(service: FaceService, url: str) -> None:
    with pytest.raises(InvalidInputError, match=r"private address .*--allow-private"):
        hooks.add_webhook(service, url, None, SECRET)
    sink = hooks.add_webhook(service, url, None, SECRET, allow_private=True)
    assert sink.allow_private


def test_loopback_stays_usable(service: FaceService) -> None:
    for url in ("http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/hook"):
        assert not hooks.add_webhook(service, url, None, SECRET).allow_private


def test_a_name_resolving_to_a_refused_address_is_refused(
    service: FaceService, dns: dict[str, str]
) -> None:
    dns["metadata.test"] = "169.254.169.254"
    dns["door.lan"] = "192.168.1.40"
    with pytest.raises(InvalidInputError, match=r"resolves to 169\.254\.169\.254 is a cloud"):
        hooks.add_webhook(service, "http://metadata.test/x", None, SECRET)
    with pytest.raises(InvalidInputError, match="--allow-private"):
        hooks.add_webhook(service, "http://door.lan/open", None, SECRET)
    assert hooks.add_webhook(service, "http://door.lan/open", None, SECRET, allow_private=True)


def test_the_worker_checks_the_address_it_connects_to(
    service: FaceService, receiver: Receiver, dns: dict[str, str]
) -> None:
    port = receiver.server.server_address[1]
    dns["receiver.test"] = "127.0.0.1"  # when the webhook is added
    sink = hooks.add_webhook(service, f"http://receiver.test:{port}/hook", None, SECRET)
    dns["receiver.test"] = "169.254.169.254"  # then the name is pointed elsewhere
    with service.transaction() as session:
        attendance.log_event(session, _event())
    worker = hooks.worker(service)
    until(lambda: _status(service, sink.id).dead == 1, worker)
    assert receiver.received == []  # never connected
    last_error = _status(service, sink.id).last_error or ""
    assert "refused: receiver.test resolves to 169.254.169.254 is a cloud metadata" in last_error
    dns["receiver.test"] = "127.0.0.1"
    with service.transaction() as session:
        attendance.log_event(session, _event())
    until(lambda: _status(service, sink.id).delivered == 1, worker)
    worker.stop()
    assert len(receiver.received) == 1


def test_a_stored_private_target_is_refused_at_send_time(service: FaceService) -> None:
    # A row written past `hooks add` (by hand, or by a version before the check): the
    # worker refuses it without connecting.
    with service.transaction() as session:
        sink = outbox.add_sink(session, "webhook", "http://10.0.0.5:9/hook", None, SECRET)
        assert sink is not None
        attendance.log_event(session, _event())
    worker = hooks.worker(service)
    until(lambda: _status(service, sink.id).dead == 1, worker, seconds=10)
    worker.stop()
    assert "refused: 10.0.0.5 is a private address" in (_status(service, sink.id).last_error or "")


def test_the_rules_of_refusal() -> None:
    private = ipaddress.ip_address("10.1.2.3")
    assert addresses.refusal(private, allow_private=True) is None
    assert addresses.refusal(private, allow_private=False) is not None
    for public in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"):
        assert addresses.refusal(ipaddress.ip_address(public), allow_private=False) is None
    for loopback in ("127.0.0.1", "127.9.9.9", "::1"):
        assert addresses.refusal(ipaddress.ip_address(loopback), allow_private=False) is None
    nat64_metadata = ipaddress.ip_address("64:ff9b::a9fe:a9fe")
    assert "metadata" in (addresses.refusal(nat64_metadata, allow_private=True) or "")


def test_the_cli_option_and_one_line_refusals(service: FaceService) -> None:
    runner = CliRunner()
    refused = runner.invoke(main, ["hooks", "add", "http://169.254.169.254/"])
    assert refused.exit_code == 2
    assert len(refused.stderr.strip().splitlines()) == 1 and "metadata" in refused.stderr
    assert runner.invoke(main, ["hooks", "add", "http://192.168.1.40/"]).exit_code == 2
    added = runner.invoke(
        main, ["hooks", "add", "http://192.168.1.40/", "--allow-private", "--json"]
    )
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["allow_private"] is True


def _status(service: FaceService, sink_id: int) -> hooks.SinkStatus:
    return next(s for s in hooks.status(service) if s.sink.id == sink_id)
