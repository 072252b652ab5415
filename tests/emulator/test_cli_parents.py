"""The parent CLI parser: the shared flags mean the same on every backend, and a backend is one registry entry."""

from __future__ import annotations

import argparse

import pytest

from airflow_iot_jobs.emulator import cli

SHARED = [
    "--port",
    "--devices",
    "--seed",
    "--offline-rate",
    "--failure-rate",
    "--speed",
    "--fault-rate",
    "--fault-kinds",
    "--fault-delay",
    "--fault-max-consecutive",
    "--fault-match",
]
ARGS = ["--devices", "5", "--seed", "3", "--speed", "4", "--fault-rate", "0.5", "--fault-kinds", "all"]


def _flags(parser: argparse.ArgumentParser, backend: str) -> set[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {flag for action in sub.choices[backend]._actions for flag in action.option_strings}


def test_a_new_backend_gets_the_shared_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[dict[str, object]] = []

    def toy() -> cli.Backend:
        return cli.Backend(
            help="a toy",
            parents=lambda shared: [shared.listen, shared.fleet, shared.faults],
            start=lambda args: started.append(cli.shared_options(args)),
        )

    monkeypatch.setitem(cli.BACKENDS, "toy", toy)
    parser = cli.build_parser()
    assert set(SHARED) <= _flags(parser, "toy")
    assert set(SHARED) <= _flags(parser, "iothub")
    assert "--hub-name" in _flags(parser, "iothub") and "--hub-name" not in _flags(parser, "toy")

    toy_args, hub_args = parser.parse_args(["toy", *ARGS]), parser.parse_args(["iothub", *ARGS])
    cli.start(toy_args)
    assert started == [cli.shared_options(hub_args)]
    assert started[0]["fault_kinds"] == "500,503,429,reset,reset-after,slow"
    assert started[0]["fault_max_consecutive"] is None  # 0 on the command line: no cap


@pytest.mark.parametrize("bad", [["--offline-rate", "2"], ["--speed", "0"], ["--fault-match", "("]])
def test_shared_flags_are_validated_once_for_all(bad: list[str]) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["iothub", *bad])
