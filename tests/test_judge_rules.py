"""Each osu!stable rule on a tiny inline map, with hand-made frames."""
import dataclasses
import math

import numpy as np
import pytest

from agents.baselines import autoplay_frames, autoplay_replay
from osu_env.beatmap import load_beatmap
from osu_env.judge import Judge
from osu_env.rules import K1, K2, M1, M2, Mods
from tests.conftest import frames, judge_both

LEFT = M1 | K1


def tap(t, x, y):
    """Press at t, release 30 ms later."""
    return [(t, x, y, LEFT), (t + 30, x, y, 0)]


@pytest.mark.parametrize("error,expected", [(0, 300), (49, 300), (50, 100), (-99, 100), (100, 50), (149, 50), (-150, 0)])
def test_circle_judged_by_floored_windows(make_map, error, expected):
    bm = load_beatmap(make_map(["100,100,1000,1,0,0:0:0:0:"], od=5))
    res = judge_both(bm, frames((500, 0, 0, 0), *tap(1000 + error, 100, 100), (3000, 0, 0, 0)))
    assert res.result[0] == expected


@pytest.mark.parametrize("od,mods,error,expected", [(8.3, 0, 115, 50), (8.3, 0, 116, 0), (8.2, 0, 117, 50),
                                                     (7, Mods.HardRock, 100, 50), (7, Mods.HardRock, 101, 0)])
def test_windows_come_from_the_float32_difficulty(make_map, od, mods, error, expected):
    """OD 8.3 is 8.30000019 in float32, so its 50 window is 116 ms, not 200 - 83 = 117;
    OD 7 with HR is 9.8000002, a 101 ms window, not 102 (rules.apply_mods_to_difficulty)."""
    bm = load_beatmap(make_map(["100,100,1000,1,0,0:0:0:0:"], od=od), mods=mods)
    y = 384 - 100 if mods & Mods.HardRock else 100
    res = judge_both(bm, frames((500, 0, 0, 0), *tap(1000 + error, 100, y), (3000, 0, 0, 0), mods=mods))
    assert res.result[0] == expected


@pytest.mark.parametrize("error,same_ms,expected", [(-20, False, 100), (-20, True, 300), (19, True, 300), (20, True, 100)])
def test_press_on_a_repeated_frame_time_lands_later_in_that_ms(make_map, error, same_ms, expected):
    bm = load_beatmap(make_map(["100,100,1000,1,0,0:0:0:0:"], od=10))  # 300 window: 20 ms
    t = 1000 + error
    before = (t, 100, 100, 0) if same_ms else (t - 10, 100, 100, 0)  # same time, key still up
    res = judge_both(bm, frames((500, 0, 0, 0), before, (t, 100, 100, LEFT), (t + 30, 100, 100, 0), (3000, 0, 0, 0)))
    assert res.result[0] == expected


def test_press_outside_circle_radius_does_not_hit(make_map):
    bm = load_beatmap(make_map(["100,100,1000,1,0,0:0:0:0:"]))
    res = judge_both(bm, frames((500, 0, 0, 0), *tap(1000, 100 + bm.radius + 1, 100), (3000, 0, 0, 0)))
    assert res.result[0] == 0


def test_notelock_blocks_second_circle(make_map):
    objects = ["100,100,1000,1,0,0:0:0:0:", "400,300,1100,1,0,0:0:0:0:"]
    bm = load_beatmap(make_map(objects, od=5))
    # First circle still waiting (its 50 window runs to 1150): the press on the second shakes.
    res = judge_both(bm, frames((500, 0, 0, 0), *tap(1090, 400, 300), (3000, 0, 0, 0)))
    assert res.counts == (0, 0, 0, 2)
    # Without the first circle the same press hits.
    alone = load_beatmap(make_map(objects[1:], od=5))
    assert judge_both(alone, frames((500, 0, 0, 0), *tap(1090, 400, 300), (3000, 0, 0, 0))).result[0] == 300


def test_objects_within_2b_tolerance_do_not_lock(make_map):
    bm = load_beatmap(make_map(["100,100,1000,1,0,0:0:0:0:", "400,300,1002,1,0,0:0:0:0:"], od=5))
    res = judge_both(bm, frames((500, 0, 0, 0), *tap(1000, 400, 300), *tap(1040, 100, 100), (3000, 0, 0, 0)))
    assert res.counts == (2, 0, 0, 0)


def test_stacking_offsets_circles_up_left(make_map):
    same = ["200,200,1000,1,0,0:0:0:0:", "200,200,1200,1,0,0:0:0:0:", "200,200,1400,1,0,0:0:0:0:"]
    bm = load_beatmap(make_map(same))
    assert bm.stack_height.tolist() == [2, 1, 0]
    step = bm.radius / 10
    assert bm.x.tolist() == pytest.approx([200 - 2 * step, 200 - step, 200])
    assert bm.y.tolist() == pytest.approx([200 - 2 * step, 200 - step, 200])
    # Far apart in time (beyond preempt x stack leniency) they do not stack.
    far = load_beatmap(make_map(["200,200,1000,1,0,0:0:0:0:", "200,200,5000,1,0,0:0:0:0:"]))
    assert far.stack_height.tolist() == [0, 0]


def _slider_play(bm, release_at):
    """Press the head on time and follow the ball, releasing at ``release_at``."""
    t = np.arange(900, 2200, 10)
    rows = []
    for tf in t:
        x, y = bm.ball_position(0, float(max(tf, 1000)))
        rows.append((tf, x, y, LEFT if 1000 <= tf < release_at else 0))
    return frames(*rows)


def test_slider_end_missed_gives_100(make_map):
    bm = load_beatmap(make_map(["100,200,1000,2,0,L|380:200,1,280"]))  # 2 beats: tick at 1500, last tick at 1964
    assert bm.ev_time.tolist() == [1500, 1964]
    assert judge_both(bm, _slider_play(bm, release_at=2100)).result[0] == 300
    res = judge_both(bm, _slider_play(bm, release_at=1700))  # head + tick, last tick missed: 2 of 3
    assert res.result[0] == 100
    assert res.slider_parts[0].tolist() == [2, 3]
    assert res.max_combo == 2  # a missed last tick withholds combo but does not break it


def test_short_slider_with_its_head_never_hit_breaks_combo_at_its_end(make_map):
    """A slider shorter than its head's 50 window ends before the head can time out: its
    head counts as missed then, which breaks combo (69tool, nobore, realkaede and logic
    reach osu!'s max combo only with this)."""
    objects = ["300,300,500,1,0,0:0:0:0:", "100,200,1000,2,0,L|135:200,1,35", "300,300,1500,1,0,0:0:0:0:"]
    bm = load_beatmap(make_map(objects, od=0))  # 50 window 200 ms > the slider's 125 ms
    rows = [(400, 300, 300, 0), *tap(500, 300, 300), (950, 450, 350, LEFT)]  # key down away from the head
    rows += [(tf, *bm.ball_position(1, float(tf)), LEFT) for tf in range(1000, 1140, 10)]
    rows += [(1200, 300, 300, 0), *tap(1500, 300, 300), (2500, 0, 0, 0)]
    res = judge_both(bm, frames(*rows))
    assert res.result.tolist() == [300, 100, 300]  # the slider: last tick only, 1 of 2 parts
    assert res.max_combo == 2  # circle + last tick, then the missed head resets it


def test_slider_follow_circle_is_2_4_radius_once_tracking(make_map):
    bm = load_beatmap(make_map(["100,200,1000,2,0,L|380:200,1,280"]))
    offset = bm.radius * 2.0  # inside 2.4r, outside r
    rows = [(900, 100, 200, 0), (1000, 100, 200, LEFT)]
    for tf in range(1010, 2100, 10):
        x, y = bm.ball_position(0, float(tf))
        rows.append((tf, x, y + offset, LEFT))
    rows.append((2200, 0, 0, 0))
    assert judge_both(bm, frames(*rows)).result[0] == 300


def test_next_slider_tracks_only_after_the_previous_leaves(make_map):
    """Stable tracks one slider per frame, and a slider judged at t stays in the list for
    the rest of that ms: the overlapping slider's tick at t is missed even on the extra
    frame stable writes at t (as the game scored the Keyboard Latency Test autopilot plays)."""
    first, second = "100,200,1000,2,0,L|380:200,1,280", "230,200,1500,2,0,L|510:200,1,280"
    bm = load_beatmap(make_map([first, second]))
    assert bm.ev_time.tolist() == [1500, 1964, 2000, 2464]  # second's tick falls on first's end
    rows = [(900, 100, 200, 0)]
    for tf in [*range(1000, 2001, 10), 2000, *range(2010, 2600, 10)]:
        x, y = bm.ball_position(0 if tf < 2000 else 1, float(tf))
        keys = LEFT | (M2 | K2 if tf >= 1500 else 0)
        rows.append((tf, x - (5 if tf < 2000 else 0), y, keys))  # between the two balls
    res = judge_both(bm, frames(*rows, (2700, 0, 0, 0)))
    assert res.result.tolist() == [300, 100]
    assert res.slider_parts[1].tolist() == [2, 3]


def test_slider_with_a_circle_inside_leaves_unjudged_at_its_midpoint(make_map):
    """Stable drops such a slider half-way (Keyboard Latency Test): its points up to the
    midpoint count, the rest do not, and it adds nothing to the 300/100/50/miss counts."""
    slider, circle = "100,200,1000,2,0,L|380:200,1,280", "300,300,1200,1,0,0:0:0:0:"
    rows = [(900, 100, 200, 0)]
    bm = load_beatmap(make_map([slider, circle]))
    for tf in range(1000, 2100, 10):
        x, y = bm.ball_position(0, float(tf))
        rows.append((tf, x, y, LEFT | (M2 | K2 if 1200 <= tf < 1230 else 0)))
        if tf == 1190:
            rows.append((1200, 300, 300, LEFT | M2 | K2))  # tap the circle inside the slider
    res = judge_both(bm, frames(*rows, (2200, 0, 0, 0)))
    assert res.result.tolist() == [-1, 300]
    assert res.counts == (1, 0, 0, 0)
    assert res.slider_parts[0].tolist() == [2, 3]  # head and the tick at the midpoint; no tail
    assert res.max_combo == 3
    # The same slider with the circle after it is judged whole.
    later = load_beatmap(make_map([slider, "300,300,2500,1,0,0:0:0:0:"]))
    assert judge_both(later, _slider_play(later, release_at=2100)).result[0] == 300


def test_press_over_a_hit_slider_head_is_taken_by_the_slider(make_map):
    """A circle lying under a slider's head while the slider runs cannot be hit there:
    the press goes to the slider, which is not yet judged (stable; ppy/osu#24762)."""
    slider, circle = "100,200,1000,2,0,L|380:200,1,280", "110,200,1300,1,0,0:0:0:0:"  # 10 px off: no stack
    bm = load_beatmap(make_map([slider, circle]))
    assert bm.stack_height.tolist() == [0, 0]
    (hx, cx), (hy, cy) = bm.x.tolist(), bm.y.tolist()
    rows = [(900, hx, hy, 0), (1000, hx, hy, LEFT), (1030, hx, hy, 0),
            (1300, cx, cy, M2 | K2), (1330, cx, cy, 0), (2500, 0, 0, 0)]
    assert judge_both(bm, frames(*rows)).result[1] == 0
    alone = load_beatmap(make_map([circle]))
    assert judge_both(alone, frames(*rows[3:])).result[0] == 300


def _spin_play(bm, stop_at):
    """Circle the centre at ~0.06 rad/ms while holding, standing still after ``stop_at``."""
    rows, angle = [], 0.0
    for tf in np.arange(900, 4600, 1000 / 60):
        tf = int(round(tf))
        if tf < stop_at:
            angle = (tf - 1000) * 0.06
        rows.append((tf, 256 + 60 * math.cos(angle), 192 + 60 * math.sin(angle), LEFT if 1000 <= tf <= 4000 else 0))
    return frames(*rows)


def test_spinner_one_rotation_short_is_not_a_300(make_map):
    bm = load_beatmap(make_map(["256,192,1000,12,0,4000,0:0:0:0:"], od=5))
    req = 15  # 3 s x 5 half-turns/s at OD 5
    full = judge_both(bm, _spin_play(bm, stop_at=5000))
    assert full.result[0] == 300 and full.spinners_cleared == (1, 1)
    # Find when to stop so the count lands exactly two half-turns (one rotation) below 300's need.
    results = {}
    for stop in range(1500, 4000, 20):
        r = judge_both(bm, _spin_play(bm, stop_at=stop))
        results.setdefault(int(r.spinner_half_turns[0, 0]), r.result[0])
    assert results[req + 1] == 300
    assert results[req - 1] == 100  # one rotation short of a 300
    assert results[req - 2] == 50


def test_spinner_rpm_is_capped(make_map):
    bm = load_beatmap(make_map(["256,192,1000,12,0,4000,0:0:0:0:"], od=5))
    rows, t = [], 900
    while t < 4100:  # a cursor flicking round at 0.2 rad/ms: four times the cap
        a = (t - 1000) * 0.2
        rows.append((t, 256 + 60 * math.cos(a), 192 + 60 * math.sin(a), LEFT))
        t += 10
    spun = judge_both(bm, frames(*rows)).spinner_half_turns[0, 0]
    assert spun <= 3000 * 0.05 / math.pi + 1  # 477 RPM for 3 s


def test_hard_rock_flips_objects_and_scales_difficulty(make_map):
    path = make_map(["100,100,1000,1,0,0:0:0:0:", "100,200,2000,2,0,L|300:100,1,140"], cs=4, od=5)
    nm, hr = load_beatmap(path), load_beatmap(path, mods=Mods.HardRock)
    assert hr.y[0] == pytest.approx(384 - nm.y[0])
    assert hr.path_xy[-1, 1] == pytest.approx(384 - nm.path_xy[-1, 1])
    assert hr.od == 7 and hr.cs == pytest.approx(5.2) and hr.radius < nm.radius
    # Autoplay on the HR map plays it perfectly; the unflipped play misses under HR.
    assert judge_both(hr, autoplay_replay(hr)).counts == (2, 0, 0, 0)
    assert judge_both(hr, autoplay_replay(nm)).counts != (2, 0, 0, 0)


def test_double_time_keeps_windows_in_map_time(make_map):
    path = make_map(["100,100,1000,1,0,0:0:0:0:"], od=5)
    dt = load_beatmap(path, mods=Mods.DoubleTime)
    assert dt.clock_rate == 1.5 and dt.hit_windows == (50, 100, 150)
    # A press 45 map-ms late (30 ms of real time) is still a 300 under DT.
    assert judge_both(dt, frames((500, 0, 0, 0), *tap(1045, 100, 100), (3000, 0, 0, 0))).result[0] == 300


def test_relax_plays_are_refused_clearly(make_map):
    from osu_env.errors import ReplayError

    bm = load_beatmap(make_map(["100,100,1000,1,0,0:0:0:0:"]), mods=Mods.Relax)
    with pytest.raises(ReplayError, match="Relax"):
        Judge(bm)


def test_streaming_judge_matches_whole_replay(make_map):
    bm = load_beatmap(make_map(["100,100,1000,1,0,0:0:0:0:", "200,200,1500,2,0,L|300:200,2,100", "256,192,3000,12,0,5000,0:0:0:0:"]))
    t, x, y, k = autoplay_frames(bm)
    j = Judge(bm)
    events = []
    for f in range(len(t)):
        events += j.step(t[f], x[f], y[f], k[f])
    streamed = j.finish()
    whole = judge_both(bm, autoplay_replay(bm))
    assert streamed.counts == whole.counts == (3, 0, 0, 0)
    assert [e for e in events if e[2] == "hit"] == [e for e in whole.events if e[2] == "hit"]


def test_judge_ball_stays_within_a_ms_of_travel_of_the_arc_length_ball():
    """The judge's ball runs stable's whole-ms timed chords; it may lag or lead the
    smooth arc-length ball by at most one ms of travel, and agrees at the ends."""
    from osu_env import DEMO_MAP

    bm = load_beatmap(DEMO_MAP)
    j = Judge(bm)
    for i in np.flatnonzero(bm.kind == 1):
        s = bm.slider_index[i]
        px_per_ms = bm.length_px[s] / bm.span_ms[s]
        for t in np.linspace(bm.start_ms[i] - 10, bm.end_ms[i] + 10, 97):
            gap = math.dist(j._ball(int(i), float(t)), bm.ball_position(int(i), float(t)))
            assert gap <= px_per_ms * 1.0 + 1e-6
        assert j._ball(int(i), bm.start_ms[i]) == pytest.approx(bm.ball_position(int(i), bm.start_ms[i]))
        assert j._ball(int(i), bm.end_ms[i] + 5) == pytest.approx(bm.ball_position(int(i), bm.end_ms[i] + 5), abs=1e-3)


def test_slider_timing_walks_float32_segment_lengths(make_map):
    # Blue Zenith's 45 px line: 44.999996 px in float32, so three 125 ms spans end at
    # 374.99997 ms, floored to 374, and the last tick comes at 374 - 36.  osu! scored a
    # frame 1 ms before the exact-arithmetic last tick (replay-0_658127 in ../shared/data).
    bm = load_beatmap(make_map(["352,225,1000,2,0,L|396:237,3,45"], sv=1.8))
    assert int(bm.end_ms[0]) == 1374
    assert bm.ev_time.tolist()[-1] == 1374 - 36


def _lazer(replay):
    """The same frames as exported by osu!lazer."""
    return dataclasses.replace(replay, game_version=30000016)


def test_lazer_replays_count_a_slider_by_its_head(make_map):
    bm = load_beatmap(make_map(["100,200,1000,2,0,L|380:200,1,280"]))
    play = _slider_play(bm, release_at=1700)  # head and tick hit, last tick missed
    assert judge_both(bm, play).result[0] == 100
    assert judge_both(bm, _lazer(play)).result[0] == 300


def test_lazer_has_no_notelock_a_later_hit_misses_the_earlier_circle(make_map):
    objects = ["100,100,1000,1,0,0:0:0:0:", "400,300,1100,1,0,0:0:0:0:"]
    bm = load_beatmap(make_map(objects, od=5))
    play = frames((500, 0, 0, 0), *tap(1090, 400, 300), (3000, 0, 0, 0))
    assert judge_both(bm, play).counts == (0, 0, 0, 2)  # stable: notelocked
    assert judge_both(bm, _lazer(play)).result.tolist() == [0, 300]
    # A press before the earlier circle's start is still refused.
    early = frames((500, 0, 0, 0), *tap(990, 400, 300), (3000, 0, 0, 0))
    assert judge_both(bm, _lazer(early)).counts == (0, 0, 0, 2)


def test_failed_lazer_play_stops_judging_where_the_song_slows_down(make_map):
    objects = ["100,100,1000,1,0,0:0:0:0:", "200,100,2000,1,0,0:0:0:0:", "300,100,3100,1,0,0:0:0:0:", "400,100,5000,1,0,0:0:0:0:"]
    bm = load_beatmap(make_map(objects, od=5))
    rows = [(t, 0, 0, 0) for t in range(500, 3001, 17)]
    rows[[r[0] for r in rows].index(993)] = (993, 100, 100, LEFT)
    rows[[r[0] for r in rows].index(2013)] = (2013, 200, 100, LEFT)
    t = rows[-1][0]
    for dt in [d for d in range(16, -1, -1) for _ in range(3)]:  # lazer's fail animation
        t += dt
        rows.append((t, 0, 0, 0))
    assert t > 3100 + bm.hit_window_50  # the frames run past the third circle's 50 window
    assert judge_both(bm, frames(*rows)).counts == (2, 0, 0, 1)  # stable: it timed out
    lazer = judge_both(bm, _lazer(frames(*rows)))
    assert lazer.counts == (2, 0, 0, 0)
    assert lazer.result.tolist() == [300, 300, -1, -1]
