"""One server, several apps over one shared state: pick the app that answers each request.

Selectors: a path prefix (``/api`` for IoT Central), a Host header (``<hub>.azure-devices.net``), or any
predicate on the request, e.g. :func:`sigv4_service` (AWS's control plane ``iot`` and jobs-data plane
``iot-jobs-data`` share paths and differ only by the SigV4 credential scope in ``Authorization``). The first
route whose selector matches wins; a request no route matches gets the fallback app, else a neutral 404.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from airflow_iot_jobs.emulator.http import (
    ErrorFactory,
    Handler,
    Request,
    Response,
    default_error_response,
    error_factory,
)

Selector = Callable[[Request], bool]

_CREDENTIAL_SCOPE = re.compile(
    r"Credential=[^/,\s]+/\d{8}/(?P<region>[^/,\s]+)/(?P<service>[^/,\s]+)/aws4_request"
)


def path_prefix(prefix: str) -> Selector:
    """``/api`` selects ``/api`` and ``/api/...``, not ``/apix``."""
    bare = prefix.rstrip("/")
    return lambda request: request.path == bare or request.path.startswith(bare + "/")


def host(name: str) -> Selector:
    """The Host header names ``name`` (any port, case-insensitive)."""
    wanted = name.lower()
    return lambda request: (request.header("Host") or "").rsplit(":", 1)[0].lower() == wanted


def sigv4_service(request: Request) -> str | None:
    """The service of a SigV4 ``Authorization`` header's credential scope (``iot``, ``iot-jobs-data``)."""
    match = _CREDENTIAL_SCOPE.search(request.header("Authorization") or "")
    return None if match is None else match.group("service")


def signed_for(service: str) -> Selector:
    return lambda request: sigv4_service(request) == service


@dataclass(frozen=True)
class Route:
    selector: Selector
    app: Handler


def _not_found(request: Request) -> Response:
    return default_error_response(404, "NotFound", f"No emulated service answers {request.path}", {})


class Dispatcher:
    """An app made of apps: ``__call__`` hands each request to the first app whose selector matches."""

    def __init__(self, fallback: Handler | None = None) -> None:
        self.routes: list[Route] = []
        self.fallback = fallback

    def add(self, selector: Selector, app: Handler) -> Dispatcher:
        self.routes.append(Route(selector, app))
        return self

    def select(self, request: Request) -> Handler | None:
        for route in self.routes:
            if route.selector(request):
                return route.app
        return self.fallback

    def __call__(self, request: Request) -> Response:
        app = self.select(request)
        return _not_found(request) if app is None else app(request)

    def error_factory_for(self, request: Request) -> ErrorFactory:
        """The error envelope of the app that answers ``request`` (for faults and server-level errors)."""
        app = self.select(request)
        return default_error_response if app is None else error_factory(app, request)


def single(app: Handler) -> Dispatcher:
    """A dispatcher that sends every request to ``app``."""
    return Dispatcher(fallback=app)
