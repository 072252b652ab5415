"""Tiny shared HTTP plumbing on the standard library: requests, responses, a route table, a threaded server.

Backends give :class:`EmulatorHTTPServer` one callable ``app(Request) -> Response``; the server only
moves bytes, records ``(method, path, status)`` in its request log and never lets an exception escape.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

LOOPBACK = "127.0.0.1"


class BadJSON(ValueError):
    """The request body is not valid JSON."""


@dataclass
class Request:
    method: str
    path: str  # raw (still percent-encoded) path, no query string
    query: dict[str, str]  # first value of each query parameter
    headers: Mapping[str, str]  # case-insensitive (an email.message.Message)
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)  # route groups, percent-decoded
    context: dict[str, Any] = field(
        default_factory=dict
    )  # per-request values set by the app (e.g. principal)

    def header(self, name: str, default: str | None = None) -> str | None:
        value = self.headers.get(name)
        return default if value is None else value

    def json(self) -> Any:
        """The body as JSON; ``None`` for an empty body."""
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadJSON(f"request body is not valid JSON: {exc}") from None


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        merged = {"Content-Type": "application/json; charset=utf-8"}
        merged.update(headers or {})
        return cls(status, body, merged)


Handler = Callable[[Request], Response]


class NoRoute(LookupError):
    def __init__(self, allowed: list[str]) -> None:
        super().__init__("no route")
        self.allowed = allowed  # methods registered for the path; empty when the path is unknown


class Router:
    """An ordered route table: the first ``(method, regex)`` that fully matches the raw path wins."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(pattern), handler))

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        allowed: list[str] = []
        for route_method, regex, handler in self._routes:
            match = regex.fullmatch(path)
            if match is None:
                continue
            if route_method == method.upper():
                return handler, {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
            allowed.append(route_method)
        raise NoRoute(allowed)

    def patterns(self) -> list[tuple[str, str]]:
        return [(m, r.pattern) for m, r, _ in self._routes]


def _make_handler_class(server: EmulatorHTTPServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body are separate writes: with Nagle on, keep-alive clients stall ~40 ms a request.
        disable_nagle_algorithm = True

        def version_string(self) -> str:
            return "airflow-iot-jobs-emulator"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

        def _read_body(self) -> bytes:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length > 0 else b""

        def _serve(self) -> None:
            split = urlsplit(self.path)
            try:
                body = self._read_body()
            except ValueError:  # garbled Content-Length or chunk size: answer, then drop the connection
                self.close_connection = True
                response = Response.json({"Message": "Malformed HTTP request body framing"}, status=400)
                server.request_log.append((self.command, split.path or "/", response.status))
            else:
                request = Request(
                    method=self.command,
                    path=split.path or "/",
                    query=dict(parse_qsl(split.query, keep_blank_values=True)),
                    headers=self.headers,
                    body=body,
                )
                response = server.dispatch(request)
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    return _Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-request are routine; anything else is already answered 500 by dispatch().
        pass


class EmulatorHTTPServer:
    """Serves ``app`` on 127.0.0.1 from a background thread. ``port=0`` picks a free port."""

    def __init__(self, app: Handler, port: int = 0) -> None:
        self.app = app
        self.requested_port = port
        self.request_log: list[tuple[str, str, int]] = []
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server is not running")
        return self._httpd.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def dispatch(self, request: Request) -> Response:
        try:
            response = self.app(request)
        except Exception:  # the app should have answered; never leak a traceback to the client
            response = Response.json({"Message": "internal emulator error"}, status=500)
        self.request_log.append((request.method, request.path, response.status))
        return response

    def start(self) -> EmulatorHTTPServer:
        if self._httpd is not None:
            return self
        self._httpd = _Server((LOOPBACK, self.requested_port), _make_handler_class(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"emulator-http-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
