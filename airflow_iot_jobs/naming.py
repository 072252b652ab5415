"""Deterministic job ids: a task retry, a worker crash or a cleared task re-attaches to the job it launched."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9\-]+")
_DIGEST_CHARS = 20
DEFAULT_MAX_LENGTH = 64


def derive_job_id(context: Any, max_length: int = DEFAULT_MAX_LENGTH) -> str:
    """``<task_id prefix>-<digest of dag_id, run_id, task_id, map_index>``: readable in the portal, unique per
    task instance, identical across retries (the try number is deliberately left out). Letters, digits and
    '-' only, so it fits every backend's id rule; at most ``max_length`` characters."""
    ti = context["ti"]
    identity = json.dumps([ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1)])
    digest = hashlib.sha256(identity.encode()).hexdigest()[:_DIGEST_CHARS]
    prefix = _UNSAFE.sub("-", ti.task_id).strip("-")[: max_length - _DIGEST_CHARS - 1] or "job"
    return f"{prefix}-{digest}"
