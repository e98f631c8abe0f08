"""The judge against osu!'s own recorded verdicts on real replays (../shared/data)."""
import pytest

from osu_env.corpus import judge_manifest, summarize

# Measured on ../shared/data: 115/120 human replays match osu!'s (300, 100, 50, miss)
# exactly and the summed per-class error is 0.037%: the bars (95% exact, at most
# 0.5% per-class error) are what this test asserts.
EXACT_MATCH_FLOOR = 0.95
PER_CLASS_ERROR_CEILING = 0.005
MAX_COMBO_FLOOR = 0.95  # measured: 116/120 replays reach exactly osu!'s max combo


@pytest.fixture(scope="module")
def human_rows(shared_data):
    return judge_manifest(shared_data)


def test_judge_agrees_with_osu_on_human_replays(human_rows):
    rows = human_rows
    s = summarize(rows)
    assert s["judged"] == s["replays"], [r.error for r in rows if r.error]
    assert s["exact_rate"] >= EXACT_MATCH_FLOOR, s
    assert s["per_class_error_rate"] <= PER_CLASS_ERROR_CEILING, s
    assert s["max_combo_exact"] / s["replays"] >= MAX_COMBO_FLOOR, s


def test_cut_down_corner_case_maps_match_exactly(human_rows):
    """yuitora's 1-24 object test maps exercise notelock, stacks and slider corner cases."""
    rows = [r for r in human_rows if r.player == "yuitora"]
    assert len(rows) >= 40
    assert [r.replay for r in rows if not r.exact] == []


@pytest.mark.parametrize("mods_name", ["HardRock", "DoubleTime", "HalfTime", "Easy"])
def test_mods_in_real_replays_are_judged_exactly(human_rows, mods_name):
    from osu_env.rules import Mods

    bit = Mods[mods_name]
    rows = [r for r in human_rows if r.mods & bit]
    if not rows:
        pytest.skip(f"no human replay with {mods_name} in the data")
    exact = sum(r.exact for r in rows) / len(rows)
    assert exact >= 0.6, [(r.replay, r.game, r.ours) for r in rows if not r.exact]


def test_lazer_replays_are_judged_by_lazer_rules(human_rows):
    """osu!lazer exports (a full play and a failed one) match only under lazer's rules:
    sliders counted by their heads, no notelock, judging stopped at the fail."""
    rows = [r for r in human_rows if "renatus" in r.replay]
    if not rows:
        pytest.skip("no osu!lazer replay in the data")
    assert [(r.replay, r.game, r.ours) for r in rows if not r.exact] == []


def test_the_client_date_of_frame_only_object_ends_is_where_the_data_puts_it(human_rows, shared_data):
    """rules.NEW_OBJECT_END_HANDLING_VERSION: the notelock-heavy 2019-09-06 play matches
    osu! only with ends judged every ms, the 2020-03-25 play only with ends on frames."""
    from osu_env import rules
    from osu_env.judge import ClientRules
    from osu_env.replay import load_replay

    pins = {"technical.osr": True, "replay__uyitroa-osr2mp4-core__2d5762e8.osr": False}
    rows = {r.replay.rsplit("/", 1)[-1]: r for r in human_rows}
    if not all(name in rows for name in pins):
        pytest.skip("the two replays that date the change are not in the data")
    assert 20190906 < rules.NEW_OBJECT_END_HANDLING_VERSION <= 20191030  # and osu-stable-issues#195's 2019-10-30 report
    for name, old_ends in pins.items():
        version = load_replay(shared_data / rows[name].replay).game_version
        assert ClientRules.of(version).old_ends is old_ends, (name, version)
        assert rows[name].exact, (name, rows[name].game, rows[name].ours)
