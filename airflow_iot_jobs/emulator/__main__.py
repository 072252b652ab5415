"""``python -m airflow_iot_jobs.emulator <backend> [options]``: serve one emulated backend on 127.0.0.1.

The first stdout line is one JSON object describing the running emulator (endpoint, connection string,
...); the process then serves until SIGINT or SIGTERM and exits 0. See :mod:`airflow_iot_jobs.emulator.cli`.
"""

from __future__ import annotations

import sys

from airflow_iot_jobs.emulator.cli import BACKENDS, build_parser, main

#: name -> starter (parsed flags -> running emulator).
STARTERS = {name: (lambda args, load=load: load().start(args)) for name, load in BACKENDS.items()}

__all__ = ["BACKENDS", "STARTERS", "build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
