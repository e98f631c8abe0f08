"""Rules that depend on the .osu format version, each on a tiny map in that format."""
from __future__ import annotations

import numpy as np
import pytest

from agents.baselines import Autoplay, autoplay_replay
from agents.dataset import replay_sequence
from agents.runner import make_agent, play
from osu_env.beatmap import EARLY_VERSION_TIMING_OFFSET_MS, load_beatmap
from osu_env.judge import judge
from osu_env.replay import load_replay, save_replay

from conftest import frames

OBJECTS = ["100,100,1000,1,0,0:0:0:0:", "300,200,1600,1,0,0:0:0:0:", "200,300,2200,2,0,L|400:300,1,140"]


@pytest.mark.parametrize("version, offset", [(3, 24), (4, 24), (5, 0), (14, 0)])
def test_maps_before_v5_play_24_ms_late_and_so_do_their_replays_frames(make_map, version, offset):
    """osu! shifts both the objects of a pre-v5 map and a replay's frames on it by 24 ms
    (lazer LegacyBeatmapDecoder / LegacyScoreDecoder beatmapOffset): a press at the time
    the file names is on time."""
    bm = load_beatmap(make_map(OBJECTS[:1], od=10, version=version))
    assert bm.start_ms[0] == 1000 + offset and bm.frame_offset_ms == offset
    on_time = frames((0, 0, 0, 0), (990, 100, 100, 0), (1000, 100, 100, 1), (1040, 100, 100, 0), (1300, 100, 100, 0))
    assert judge(bm, on_time).counts == (1, 0, 0, 0)  # 24 ms late would be a 100 at OD 10 (300 window 20 ms)


def test_a_play_on_a_v4_map_opens_in_sync_and_judges_the_same(make_map, tmp_path):
    """`play` writes frames as the .osr stores them (24 ms earlier on a v4 map), so loading
    the file and judging it gives the play's own judgement, and osu! would see the same."""
    bm = load_beatmap(make_map(OBJECTS, od=9, version=4))
    for name in ("autoplay", "humanized"):
        p = play(make_agent(name), bm, seed=3)
        path = tmp_path / f"{name}.osr"
        save_replay(p.to_replay(), path)
        back = load_replay(path)
        assert judge(bm, back).counts == p.result.counts
        assert int(back.t_ms[-1]) == int(p.frames[-1][0]) - EARLY_VERSION_TIMING_OFFSET_MS
    assert judge(bm, autoplay_replay(bm)).counts == (3, 0, 0, 0)
    assert judge(bm, Autoplay().replay(bm)).counts == (3, 0, 0, 0)


def test_the_dataset_presses_on_the_step_of_the_shifted_object(make_map):
    bm = load_beatmap(make_map(OBJECTS[:1], od=9, version=4))
    rp = frames((0, 256, 192, 0), (1000, 100, 100, 1), (1050, 100, 100, 0), (1500, 100, 100, 0))
    obs, act = replay_sequence(bm, rp)
    from osu_env.env import step_times

    t = step_times(bm)
    t = t[(t >= 0 + bm.frame_offset_ms) & (t <= 1500 + bm.frame_offset_ms)]
    first_down = t[np.flatnonzero(act[:, 2])[0]]
    assert abs(first_down - 1024) <= 1000 / 120  # the press lands on the step nearest 1024
