"""Tiny shared HTTP plumbing on the standard library: requests, responses, a route table, a threaded server.

Backends give :class:`EmulatorHTTPServer` one callable ``app(Request) -> Response`` (often a
:class:`~airflow_iot_jobs.emulator.dispatch.Dispatcher`); the server only moves bytes, records
``(method, path, status)`` in its request log, acts on the decisions of a
:class:`~airflow_iot_jobs.emulator.faults.FaultInjector` and never lets an exception escape. The error bodies it
writes itself (bad framing, an app that raised) come from the app's error factory (see :func:`error_factory`).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    from airflow_iot_jobs.emulator.faults import FaultInjector

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

RESET_STATUS = 0  # what the request log records for a dropped connection

#: Builds an error answer in the backend's own envelope: ``(status, error code, message, headers)``.
ErrorFactory = Callable[[int, str, str, Mapping[str, str]], Response]


def default_error_response(status: int, code: str, message: str, headers: Mapping[str, str]) -> Response:
    """The neutral envelope, for apps that bring none: ``{"code": ..., "message": ...}``."""
    return Response.json({"code": code, "message": message}, status=status, headers=headers)


def error_factory(app: Handler, request: Request) -> ErrorFactory:
    """How ``app`` writes an error for ``request``: its ``error_factory_for(request)`` (a dispatcher asks the app
    that would answer), else its ``error_response``, else the neutral envelope."""
    for_request = getattr(app, "error_factory_for", None)
    if callable(for_request):
        return for_request(request)
    factory = getattr(app, "error_response", None)
    return factory if callable(factory) else default_error_response


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

    def dispatch(
        self,
        request: Request,
        *,
        method_not_allowed: Callable[[str, list[str]], Exception],
        route_not_found: Callable[[str], Exception],
    ) -> Response:
        """Call the handler of ``request``'s route; an unknown route or method raises the backend's own error."""
        try:
            handler, params = self.resolve(request.method, request.path)
        except NoRoute as exc:
            if exc.allowed:
                raise method_not_allowed(request.method, exc.allowed) from None
            raise route_not_found(request.path) from None
        request.params = params
        return handler(request)


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
            request = Request(
                method=self.command,
                path=split.path or "/",
                query=dict(parse_qsl(split.query, keep_blank_values=True)),
                headers=self.headers,
            )
            try:
                request.body = self._read_body()
            except ValueError:  # garbled Content-Length or chunk size: answer, then drop the connection
                self.close_connection = True
                factory = error_factory(server.app, request)
                response = factory(400, "BadRequest", "Malformed HTTP request body framing", {})
                server.record(request.method, request.path, response.status)
            else:
                fault = server.faults.decide(request) if server.faults is not None else None
                if fault is None:
                    response = server.dispatch(request)
                elif fault.kind == "slow":
                    time.sleep(server.faults.delay)
                    response = server.dispatch(request)
                elif fault.kind in ("reset", "reset-after"):
                    if fault.kind == "reset-after":
                        server.dispatch(request, record=False)  # applied; the answer is lost
                    server.record(request.method, request.path, RESET_STATUS)
                    self._drop_connection()
                    return
                else:
                    response = server.faults.error(fault, error_factory(server.app, request))
                    server.record(request.method, request.path, response.status)
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        def _drop_connection(self) -> None:
            """Hang up without answering: linger 0 makes close() send a TCP reset."""
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

        do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    return _Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The listen backlog: with the default 5, a burst of 200 new connections takes 16 s of SYN retries.
    request_queue_size = 512

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-request are routine; anything else is already answered 500 by dispatch().
        pass


class EmulatorHTTPServer:
    """Serves ``app`` on 127.0.0.1 from a background thread. ``port=0`` picks a free port."""

    def __init__(self, app: Handler, port: int = 0, faults: FaultInjector | None = None) -> None:
        self.app = app
        self.requested_port = port
        self.faults = faults
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

    def dispatch(self, request: Request, *, record: bool = True) -> Response:
        try:
            response = self.app(request)
        except Exception:  # the app should have answered; never leak a traceback to the client
            factory = error_factory(self.app, request)
            response = factory(500, "ServerError", "internal emulator error", {})
        if record:
            self.record(request.method, request.path, response.status)
        return response

    def record(self, method: str, path: str, status: int) -> None:
        """One request-log entry; status 0 = the connection was dropped without an answer."""
        self.request_log.append((method, path, status))

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
