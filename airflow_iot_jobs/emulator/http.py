"""Tiny shared HTTP plumbing on the standard library: requests, responses, a route table, a threaded server.

Backends give :class:`EmulatorHTTPServer` one callable ``app(Request) -> Response``; the server only
moves bytes, records ``(method, path, status)`` in its request log and never lets an exception escape.

A :class:`FaultInjector` makes the server misbehave like a real service on a bad day, deterministically for a
seed: 500 / 503 / 429 answers, connections dropped before or after the request is applied, slow answers.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
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

# -- fault injection -------------------------------------------------------------------------------------

#: Every kind of fault: an error answer (``500`` server error, ``503`` unavailable, ``429`` throttled, half of
#: them with ``Retry-After: 1``); ``reset``: the connection is dropped without an answer and the request is NOT
#: applied; ``reset-after``: the request IS applied, then the connection is dropped without an answer (what makes
#: a blind retry of a create call dangerous); ``slow``: the right answer, after a delay.
FAULT_KINDS = ("500", "503", "429", "reset", "reset-after", "slow")
DEFAULT_FAULT_KINDS = ("500", "503", "429", "reset", "slow")
RESET_STATUS = 0  # what the request log records for a dropped connection

#: Builds an error answer in the backend's own envelope: ``(status, error code, message, headers)``.
ErrorFactory = Callable[[int, str, str, Mapping[str, str]], Response]

_FAULT_ERRORS = {
    "500": (500, "ServerError", "Injected fault: an unexpected error occurred"),
    "503": (503, "ServiceUnavailable", "Injected fault: the service is temporarily unavailable"),
    "429": (429, "ThrottlingException", "Injected fault: too many requests"),
}


def parse_fault_kinds(kinds: str | Iterable[str]) -> tuple[str, ...]:
    """``"500,503,reset"`` or an iterable of kinds (``"all"`` = every kind), validated, duplicates removed."""
    items = kinds.split(",") if isinstance(kinds, str) else list(kinds)
    chosen: list[str] = []
    for item in (str(k).strip() for k in items):
        if not item:
            continue
        for kind in FAULT_KINDS if item == "all" else (item,):
            if kind not in FAULT_KINDS:
                raise ValueError(
                    f"unknown fault kind {kind!r}; choose from {', '.join(FAULT_KINDS)} or 'all'"
                )
            if kind not in chosen:
                chosen.append(kind)
    if not chosen:
        raise ValueError("fault kinds must name at least one kind")
    return tuple(chosen)


def default_error_response(status: int, code: str, message: str, headers: Mapping[str, str]) -> Response:
    return Response.json({"code": code, "message": message}, status=status, headers=headers)


class InjectedFault(NamedTuple):
    method: str
    path: str
    kind: str
    at: float  # time.monotonic() when the fault was decided


@dataclass(frozen=True)
class Fault:
    kind: str
    retry_after: int | None = None  # seconds, for 429 answers that carry Retry-After


class FaultInjector:
    """Decides, per request and before the app runs, whether the request fails and how.

    ``rate`` is the share of eligible requests that fail, each with a kind drawn from ``kinds``. Draws come from
    a ``random.Random`` seeded from ``seed`` (never from the time), so a client that sends the same requests in
    the same order meets the same faults. Eligible: requests for which ``applies_to`` (set by the backend, e.g.
    "the request is authenticated") is true and whose ``"METHOD /path"`` matches the regex ``match`` (searched;
    default: every request). ``script(...)`` queues faults for the next eligible requests, whatever the rate
    (``None`` in a script lets that request through). ``max_consecutive`` caps how many drawn faults come in a
    row (a bounded burst; an outage is a different test). Every injected fault is appended to ``log`` as an
    :class:`InjectedFault`.
    """

    def __init__(
        self,
        rate: float = 0.0,
        kinds: str | Iterable[str] = DEFAULT_FAULT_KINDS,
        seed: int = 0,
        *,
        delay: float = 1.0,
        match: str | None = None,
        max_consecutive: int | None = None,
        error_response: ErrorFactory | None = None,
        applies_to: Callable[[Request], bool] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(f"emulator-faults:{seed}")
        self._throttled = 0
        self._streak = 0  # faults drawn in a row (scripted ones excepted)
        self._script: deque[str | None] = deque()
        self.error_response: ErrorFactory = error_response or default_error_response
        self.applies_to = applies_to
        self.log: list[InjectedFault] = []
        self.rate = 0.0
        self.kinds: tuple[str, ...] = DEFAULT_FAULT_KINDS
        self.delay = 1.0
        self.match: re.Pattern[str] | None = None
        self.max_consecutive: int | None = None
        self.configure(rate=rate, kinds=kinds, delay=delay, match=match, max_consecutive=max_consecutive)

    def configure(
        self,
        *,
        rate: float | None = None,
        kinds: str | Iterable[str] | None = None,
        delay: float | None = None,
        match: str | None = None,
        max_consecutive: int | None = None,
    ) -> FaultInjector:
        """Change the settings while the server runs (``match=""`` removes the filter, ``max_consecutive=0``
        the cap)."""
        with self._lock:
            if rate is not None:
                if isinstance(rate, bool) or not 0.0 <= float(rate) <= 1.0:
                    raise ValueError(f"fault rate must be within [0, 1], got {rate!r}")
                self.rate = float(rate)
            if kinds is not None:
                self.kinds = parse_fault_kinds(kinds)
            if delay is not None:
                if not float(delay) >= 0:
                    raise ValueError(f"fault delay must be >= 0 seconds, got {delay!r}")
                self.delay = float(delay)
            if match is not None:
                self.match = re.compile(match) if match else None
            if max_consecutive is not None:
                if isinstance(max_consecutive, bool) or int(max_consecutive) < 0:
                    raise ValueError(f"max_consecutive must be >= 0, got {max_consecutive!r}")
                self.max_consecutive = int(max_consecutive) or None
        return self

    def script(self, *kinds: str | None) -> FaultInjector:
        """Inject exactly these faults, in order, into the next eligible requests (then back to ``rate``);
        ``None`` lets one request through untouched."""
        checked = [None if kind is None else parse_fault_kinds([kind])[0] for kind in kinds]
        with self._lock:
            self._script.extend(checked)
        return self

    @property
    def enabled(self) -> bool:
        return self.rate > 0 or bool(self._script)

    def counts(self) -> dict[str, int]:
        """Injected faults so far, by kind."""
        counted: dict[str, int] = {}
        for fault in list(self.log):
            counted[fault.kind] = counted.get(fault.kind, 0) + 1
        return counted

    def decide(self, request: Request) -> Fault | None:
        if not self.enabled:
            return None
        target = f"{request.method} {request.path}"
        if self.match is not None and not self.match.search(target):
            return None
        if self.applies_to is not None and not self.applies_to(request):
            return None
        with self._lock:
            if self._script:
                kind = self._script.popleft()
                if kind is None:
                    return None
            else:
                if self.rate <= 0:
                    return None
                draw, pick = self._random.random(), self._random.randrange(len(self.kinds))
                capped = self.max_consecutive is not None and self._streak >= self.max_consecutive
                if draw >= self.rate or capped:
                    self._streak = 0
                    return None
                self._streak += 1
                kind = self.kinds[pick]
            retry_after = None
            if kind == "429":
                retry_after = 1 if self._throttled % 2 == 0 else None  # every other 429 carries Retry-After
                self._throttled += 1
            self.log.append(InjectedFault(request.method, request.path, kind, time.monotonic()))
        return Fault(kind, retry_after)

    def error(self, fault: Fault) -> Response:
        status, code, message = _FAULT_ERRORS[fault.kind]
        headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
        return self.error_response(status, code, message, headers)


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
                server.record(self.command, split.path or "/", response.status)
            else:
                request = Request(
                    method=self.command,
                    path=split.path or "/",
                    query=dict(parse_qsl(split.query, keep_blank_values=True)),
                    headers=self.headers,
                    body=body,
                )
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
                    response = server.faults.error(fault)
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
            response = Response.json({"Message": "internal emulator error"}, status=500)
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
