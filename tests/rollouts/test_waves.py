"""Wave assignment, pure: disjoint, complete, deterministic, rounding up, counts, the rest, tag values."""

from __future__ import annotations

import pytest

from airflow_iot_jobs.rollouts.waves import assign, order, parse_waves

FLEET = {f"gw-{i:04d}": {"ring": f"ring{i % 3}"} for i in range(1000)}


def test_shares_are_cumulative_disjoint_and_cover_the_fleet():
    waves, left = assign(FLEET, parse_waves(["1%", "10%", "50%", "100%"]), "dag.firmware")
    assert [len(w) for w in waves] == [10, 90, 400, 500] and left == []
    assert sorted(d for w in waves for d in w) == sorted(FLEET)


def test_the_same_key_gives_the_same_waves_and_another_key_others():
    specs = parse_waves(["5%", "100%"])
    assert assign(FLEET, specs, "a")[0] == assign(dict(reversed(list(FLEET.items()))), specs, "a")[0]
    assert assign(FLEET, specs, "a")[0][0] != assign(FLEET, specs, "b")[0][0]
    assert order(list(FLEET)[:20], "a") != sorted(list(FLEET)[:20])  # not id order


def test_a_share_rounds_up_counts_add_up_and_none_is_the_rest():
    small = {f"d{i}": None for i in range(50)}
    waves, _ = assign(small, parse_waves(["1%", "100%"]), "k")
    assert [len(w) for w in waves] == [1, 49]
    waves, left = assign(small, parse_waves([5, 10, None]), "k")
    assert [len(w) for w in waves] == [5, 10, 35] and left == []
    waves, left = assign(small, parse_waves(["10%", "50%"]), "k")
    assert [len(w) for w in waves] == [5, 20] and len(left) == 25  # stops at half: the rest is in no wave


def test_tag_values_make_the_waves_and_other_values_are_named():
    fleet = {**FLEET, "new-1": {}, "new-2": {"ring": "ring9"}}
    waves, left = assign(fleet, parse_waves(["ring0", "ring1"], "ring"), "k", "ring")
    assert [len(w) for w in waves] == [334, 333]
    assert len(left) == 333 + 2 and {"new-1", "new-2"} <= set(left)
    waves, left = assign(fleet, parse_waves(["ring0", None], "ring"), "k", "ring")
    assert len(waves[1]) == 333 + 333 + 2 and left == []


@pytest.mark.parametrize(
    ("waves", "message"),
    [
        ("10%", "non-empty list"),
        ([], "non-empty list"),
        (["0%"], "above 0 %"),
        (["120%"], "at most 100 %"),
        (["50%", "50%"], "must rise"),
        ([0], "at least 1 device"),
        ([True], "must be a share"),
        ([None, 5], "only be the last"),
        (["ring0", "10%"], "is not a share"),
    ],
)
def test_bad_waves_name_the_rule(waves, message):
    with pytest.raises(ValueError, match=message):
        parse_waves(waves)


def test_tag_values_cannot_mix_with_shares():
    with pytest.raises(ValueError, match="cannot be mixed"):
        parse_waves(["ring0", "10%"], "ring")
