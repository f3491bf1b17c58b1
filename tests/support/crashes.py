"""The kill -9 harness of the crash tests: a sender that re-sends each request until it is
acknowledged (as an OTLP exporter or an application with a retry does) and notes the requests a
kill cut off, and kills steered onto those requests so that a busy machine takes more kills,
never luck."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

RETRY_FOR = 60  # seconds a request is re-sent before the sender gives up on it


class Resender(threading.Thread):
    """A sending thread whose ``run`` a test writes; ``post_until_acknowledged`` does the
    sending. ``stop`` asks the thread to finish, ``done`` says it has."""

    def __init__(self, url: Callable[[], str]) -> None:
        super().__init__(daemon=True)
        self.url = url  # read per request: the exporter's address changes with each restart
        self.stop = threading.Event()
        self.done = threading.Event()
        self.in_flight = threading.Event()  # a request is on its way or being answered
        self.cut_off = 0  # requests whose connection died before an answer: a kill mid-request
        self.gave_up = 0
        # A fresh connection per request: a pooled one to a killed process would fail the next
        # request as if it had been cut off.
        self.client = httpx.Client(timeout=5, limits=httpx.Limits(max_keepalive_connections=0))

    def post_until_acknowledged(self, path: str, acknowledged: int, **request: Any) -> bool:
        """POSTs to ``path`` until the answer is ``acknowledged``; False after ``RETRY_FOR``."""
        deadline = time.monotonic() + RETRY_FOR
        while time.monotonic() < deadline:
            self.in_flight.set()
            try:
                if self.client.post(f"{self.url()}{path}", **request).status_code == acknowledged:
                    return True
            except httpx.ConnectError:
                pass  # down: try again
            except httpx.HTTPError:
                self.cut_off += 1  # connected, then the process died under the request
            finally:
                self.in_flight.clear()
            time.sleep(0.05)
        self.gave_up += 1
        return False

    def finish(self) -> None:
        self.client.close()
        self.done.set()


class SteeredKills:
    """Iterating yields each time a kill is due, the caller killing and restarting: each comes
    up to ``into`` seconds after a request of ``sender``'s set off, and they go on until
    ``landed`` of them have cut a request off, ``most`` are spent, or the sender is done.
    ``count`` is how many were due."""

    def __init__(
        self, sender: Resender, landed: int, most: int, rng: random.Random, into: float
    ) -> None:
        self.sender, self.landed, self.most, self.rng, self.into = sender, landed, most, rng, into
        self.count = 0

    def __iter__(self) -> Iterator[None]:
        sender = self.sender
        while sender.cut_off < self.landed and self.count < self.most and not sender.done.is_set():
            sender.in_flight.wait(2)
            time.sleep(self.rng.uniform(0, self.into))
            self.count += 1
            yield None
