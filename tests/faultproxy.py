"""A fault-injecting reverse proxy for S3 tests, on 127.0.0.1 in front of a moto server.

Point a client's endpoint URL at ``FaultProxy.url``: each request is forwarded to the upstream
server, and at the configured (seeded) rates the proxy instead answers ``503 SlowDown`` with an
S3 XML error body, cuts the connection part way through the response body, or delays the
response. ``deny`` answers chosen requests with ``403 AccessDenied`` (a permission revoked).
Counters say how many of each fault were injected, so a test can check that faults happened.
"""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Headers that belong to one hop, not to the request or response being forwarded.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "content-length",
}

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message><RequestId>FAULT</RequestId></Error>"
)
ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message><RequestId>FAULT</RequestId></Error>"
)


@dataclass
class Faults:
    """What to inject. Rates are per request, between 0 and 1."""

    error_rate: float = 0.0  # answer 503 SlowDown without forwarding
    drop_rate: float = 0.0  # forward, then cut the connection half way through the body
    delay_rate: float = 0.0  # forward, answering after ``delay`` seconds
    delay: float = 0.05
    seed: int = 0
    # Requests (method, path) to answer with 403 AccessDenied, whatever the rates.
    deny: Callable[[str, str], bool] = field(default=lambda _method, _path: False)


@dataclass
class Counts:
    requests: int = 0
    errors: int = 0
    drops: int = 0
    delays: int = 0
    denied: int = 0


class FaultProxy:
    """A threaded reverse proxy. Use as a context manager, or ``start()``/``stop()``."""

    def __init__(self, upstream: str, faults: Faults | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.faults = faults or Faults()
        self.counts = Counts()
        self._random = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def draw(self, method: str, path: str) -> str:
        """The fault for one request: "deny", "error", "drop", "delay" or "" (none)."""
        f = self.faults
        with self._lock:
            self.counts.requests += 1
            if f.deny(method, path):
                self.counts.denied += 1
                return "deny"
            roll = self._random.random()
            for name, rate in (("error", f.error_rate), ("drop", f.drop_rate)):
                if roll < rate:
                    return name
                roll -= rate
            if roll < f.delay_rate:
                self.counts.delays += 1
                return "delay"
        return ""

    def count(self, fault: str) -> None:
        with self._lock:
            if fault == "error":
                self.counts.errors += 1
            elif fault == "drop":
                self.counts.drops += 1

    def forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.reason, resp.getheaders(), data
        finally:
            conn.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: pytest treats stray output as noise

            def do_GET(self) -> None:
                self._proxy()

            do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

            def _proxy(self) -> None:
                body = self._read_body()
                fault = proxy.draw(self.command, self.path)
                if fault == "deny":
                    self._reply(
                        403, "Forbidden", [("Content-Type", "application/xml")], ACCESS_DENIED
                    )
                    return
                if fault == "error":
                    proxy.count(fault)
                    self._reply(503, "Slow Down", [("Content-Type", "application/xml")], SLOW_DOWN)
                    return
                headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]
                status, reason, resp_headers, data = proxy.forward(
                    self.command, self.path, headers, body
                )
                if fault == "delay":
                    time.sleep(proxy.faults.delay)
                kept = [(k, v) for k, v in resp_headers if k.lower() not in _HOP_BY_HOP]
                length = dict((k.lower(), v) for k, v in resp_headers).get("content-length")
                if fault == "drop" and self.command != "HEAD" and len(data) >= 2:
                    proxy.count(fault)
                    self._reply(status, reason, kept, data, cut=len(data) // 2)
                    return
                self._reply(status, reason, kept, data, length=length)

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    return b"".join(_chunks(self.rfile))
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _reply(
                self,
                status: int,
                reason: str,
                headers: list[tuple[str, str]],
                data: bytes,
                cut: int | None = None,
                length: str | None = None,
            ) -> None:
                self.send_response(status, reason)
                for name, value in headers:
                    self.send_header(name, value)
                if self.command == "HEAD":
                    # A HEAD answer has no body but states the object's length.
                    self.send_header("Content-Length", str(length or 0))
                    self.end_headers()
                    return
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if cut is None:
                    self.wfile.write(data)
                    return
                self.wfile.write(data[:cut])
                self.wfile.flush()
                # Reset, not a clean close: the client sees the body break off mid-read.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True

        return Handler


def _chunks(stream: object) -> Iterator[bytes]:
    readline = stream.readline  # type: ignore[attr-defined]
    read = stream.read  # type: ignore[attr-defined]
    while True:
        size = int(readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while readline().strip():
                pass  # trailers
            return
        yield read(size)
        read(2)


@contextmanager
def fault_proxy(upstream: str, faults: Faults | None = None) -> Iterator[FaultProxy]:
    with FaultProxy(upstream, faults) as proxy:
        yield proxy
