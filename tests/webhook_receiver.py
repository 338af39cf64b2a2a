"""A real HTTP receiver of webhooks on loopback: records every request, answers as told."""

from __future__ import annotations

import contextlib
import hmac
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One request the receiver got."""

    at: float
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """``answers`` are popped per request (then ``default``); ``delay`` stalls each answer."""

    answers: list[int] = field(default_factory=list)
    default: int = 200
    delay: float = 0.0
    location: str | None = None  # sent with 3xx answers
    got: list[Received] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """The first ``count`` requests, waiting up to ``timeout`` seconds for them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.got) >= count:
                    return list(self.got)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.got)} requests after {timeout} s, wanted {count}")


@contextmanager
def receiver(**options: Any) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 at a free port (``url`` is its /hook URL), for the block."""
    state = Receiver(**options)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                state.got.append(Received(time.time(), self.path, dict(self.headers), body))
                code = state.answers.pop(0) if state.answers else state.default
            time.sleep(state.delay)
            self.send_response(code)
            if state.location and 300 <= code < 400:
                self.send_header("Location", state.location)
            self.send_header("Content-Length", "2")
            self.end_headers()
            with contextlib.suppress(OSError):  # the sender gave up waiting (timeouts)
                self.wfile.write(b"ok")

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def verified(received: Received, secret: str, tolerance: float = 300) -> bool:
    """The receiver's own check (as the README shows): some v1 is HMAC-SHA256 of "t.body"."""
    header = received.headers["Report-Exports-Signature"]
    items = [part.split("=", 1) for part in header.split(",")]
    stamp = next(v for k, v in items if k == "t")
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + received.body, "sha256")
    fresh = abs(time.time() - int(stamp)) <= tolerance
    return fresh and any(
        hmac.compare_digest(expected.hexdigest(), v) for k, v in items if k == "v1"
    )


def signatures(received: Received) -> list[str]:
    """The v1 values of a request's signature header."""
    header = received.headers["Report-Exports-Signature"]
    return [part[3:] for part in header.split(",") if part.startswith("v1=")]
