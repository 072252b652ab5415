"""Which threads boto3's blocking work runs in while a coroutine runs: the check that an async hook method never
blocks the triggerer's event loop, without timing anything (a slow-callback threshold fails on a loaded machine).

Spies pass every call through to boto3/botocore unchanged; they only note the calling thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

#: boto3/botocore's blocking steps: building a session (reads config files), building a client (loads the service
#: model), and sending a request.
BLOCKING = {
    "boto3 session": ("boto3.session", "Session", "__init__"),
    "client build": ("botocore.session", "Session", "create_client"),
    "HTTP request": ("botocore.endpoint", "Endpoint", "make_request"),
}


def run_watching_threads(
    monkeypatch: pytest.MonkeyPatch, main: Callable[[], Awaitable[Any]]
) -> tuple[Any, dict[str, set[int]], int]:
    """Run ``main()`` in a fresh event loop; return its result, the thread ids each blocking step ran in, and the
    id of the loop's own thread."""
    import importlib

    seen: dict[str, set[int]] = {name: set() for name in BLOCKING}
    for name, (module, cls, method) in BLOCKING.items():
        owner = getattr(importlib.import_module(module), cls)
        original = getattr(owner, method)

        def spy(*args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            seen[_name].add(threading.get_ident())
            return _original(*args, **kwargs)

        monkeypatch.setattr(owner, method, spy)

    loop_thread = 0

    async def watched() -> Any:
        nonlocal loop_thread
        loop_thread = threading.get_ident()
        return await main()

    result = asyncio.run(watched())
    return result, seen, loop_thread


def assert_nothing_blocked_the_loop(
    seen: dict[str, set[int]], loop_thread: int, *, expect: tuple[str, ...]
) -> None:
    for name in expect:
        assert seen[name], f"no {name} was seen: the check would pass without looking"
    blocked = sorted(name for name, threads in seen.items() if loop_thread in threads)
    assert not blocked, f"ran on the event loop's thread: {', '.join(blocked)}"
