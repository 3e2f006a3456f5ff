"""Helpers of the event delivery tests (test_hooks, test_mqtt, test_hooks_actions)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from facedb.events.worker import DeliveryWorker


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for a server the test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def until(condition: Callable[[], bool], worker: DeliveryWorker, seconds: float = 20) -> None:
    """Runs the worker's rounds until ``condition`` holds; fails after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        if worker.run_once().attempted == 0:
            time.sleep(0.05)
