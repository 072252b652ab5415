"""``make bench``: performance figures of airflow-iot-jobs measured against the bundled IoT Hub emulator.

Run ``python -m benchmarks`` (all figures) or ``python -m benchmarks --only 2,3``. Every figure runs in its own
subprocess (``python -m benchmarks.figN_…``) so memory and imports of one never leak into another; each prints
one JSON line of result rows that the runner collects into one table and ``benchmarks/results.json``.
See BENCHMARKS.md for what each figure means.
"""
