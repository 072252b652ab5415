"""Deterministic job ids: a task retry, a worker crash or a cleared task re-attaches to the job it launched."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from airflow_iot_jobs.validation import MAX_JOB_ID_LENGTH

_UNSAFE = re.compile(r"[^A-Za-z0-9\-]+")
_DIGEST_CHARS = 20


def derive_job_id(context: Any) -> str:
    """``<task_id prefix>-<digest of dag_id, run_id, task_id, map_index>``: readable in the portal, unique per
    task instance, identical across retries (the try number is deliberately left out)."""
    ti = context["ti"]
    identity = json.dumps([ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1)])
    digest = hashlib.sha256(identity.encode()).hexdigest()[:_DIGEST_CHARS]
    prefix = _UNSAFE.sub("-", ti.task_id).strip("-")[: MAX_JOB_ID_LENGTH - _DIGEST_CHARS - 1] or "job"
    return f"{prefix}-{digest}"
