"""How osu!'s decoders read a .osu whatever its version: each rule on a tiny map.

Nothing in ../shared/data exercises these (its maps are sorted, integral and well
formed); maps made by old editors or edited by hand do, so each test writes the case
and checks what lazer's LegacyBeatmapDecoder / ConvertHitObjectParser and danser-go
make of it (the sources are named where the rules are, in osu_env/beatmap.py).
"""
from __future__ import annotations

import numpy as np
import pytest

from agents.baselines import autoplay_replay
from osu_env.beatmap import EVENT_TICK, load_beatmap

from conftest import judge_both

UNINHERITED = "0,500,4,2,0,60,1,0"


def _with_timing(path, lines: list[str]):
    path.write_text(path.read_text().replace(UNINHERITED, "\r\n".join(lines)), newline="")
    return path


def test_hit_objects_out_of_order_are_played_in_time_order(make_map):
    """Ranked maps exist whose object lines are out of order (lazer sorts them, stably)."""
    lines = ["300,200,1600,1,0,0:0:0:0:", "100,100,1000,1,0,0:0:0:0:", "200,300,2200,2,0,L|400:300,1,140"]
    bm = load_beatmap(make_map(lines, od=8))
    assert list(bm.start_ms) == [1000, 1600, 2200] and list(bm.x) == [100, 300, 200]
    assert judge_both(bm, autoplay_replay(bm)).counts == (3, 0, 0, 0)
    same_time = load_beatmap(make_map(["300,200,1600,1,0,0:0:0:0:", "100,100,1000,1,0,0:0:0:0:", "50,50,1600,1,0,0:0:0:0:"]))
    assert list(same_time.x) == [100, 300, 50]  # equal times keep their file order


def test_timing_points_out_of_order_are_read_in_time_order(make_map):
    """A 2x inherited point listed before the uninherited one it follows still doubles
    the velocity of a slider after it (danser-go sorts timing points, stably)."""
    line = ["100,100,1000,2,0,L|380:100,1,280"]
    in_order = load_beatmap(_with_timing(make_map(line), [UNINHERITED, "500,-50,4,2,0,60,0,0"]))
    reversed_ = load_beatmap(_with_timing(make_map(line), ["500,-50,4,2,0,60,0,0", UNINHERITED]))
    assert in_order.end_ms[0] - in_order.start_ms[0] == pytest.approx(500, abs=1)  # 280 px at 2 x 140 px a beat
    assert reversed_.end_ms[0] == in_order.end_ms[0]


def test_an_inherited_point_before_every_uninherited_one_keeps_its_velocity(make_map):
    """It takes the beat length of the first uninherited point (lazer's TimingPointAt
    before the first point), its own velocity."""
    bm = load_beatmap(_with_timing(make_map(["100,100,100,2,0,L|380:100,1,280"]),
                                   ["0,-50,4,2,0,60,0,0", "200," + UNINHERITED.split(",", 1)[1]]))
    assert bm.end_ms[0] - bm.start_ms[0] == pytest.approx(500, abs=1)


def test_decimal_times_and_control_points_are_truncated(make_map):
    """osu! reads positions, control points and times as integers: "(int)Parsing.ParseDouble"."""
    bm = load_beatmap(make_map(["100.7,100.2,1000.9,2,0,L|300.6:100.9,1,200", "256,192,2000.5,12,0,3000.7"]))
    assert bm.start_ms[0] == 1000 and (bm.x[0], bm.y[0]) == (100, 100)
    path, _ = bm.slider_path_of(0)
    assert tuple(path[-1]) == pytest.approx((300, 100))
    assert (bm.start_ms[1], bm.end_ms[1]) == (2000, 3000)


@pytest.mark.parametrize("length", ["0", "-20", None])
def test_a_slider_without_a_length_takes_its_curve_length(make_map, length):
    """Length 0, negative or missing: lazer clamps it to 0 and then uses the path's own
    length (``length == 0 -> null``)."""
    line = "100,100,1000,2,0,L|300:100,1" + ("" if length is None else f",{length}")
    bm = load_beatmap(make_map([line]))
    assert bm.length_px[0] == pytest.approx(200)
    assert bm.end_ms[0] - bm.start_ms[0] == pytest.approx(200 / 140 * 500, abs=1)
    assert judge_both(bm, autoplay_replay(bm)).counts == (1, 0, 0, 0)


def test_a_perfect_curve_through_collinear_points_is_the_straight_path_through_them(make_map):
    """Stable special-cases collinear perfect curves to a linear path, so a middle point
    beyond the end is reached and the ball comes back (a Bezier would turn short of it)."""
    bm = load_beatmap(make_map(["100,100,1000,2,0,P|300:100|200:100,1,300"]))
    path, dist = bm.slider_path_of(0)
    assert path[:, 0].max() == pytest.approx(300) and tuple(path[-1]) == pytest.approx((200, 100))
    assert dist[-1] == pytest.approx(300)


def test_an_unknown_curve_letter_is_a_catmull_curve(make_map):
    """lazer's convertPathType: any other letter falls to the default, CATMULL."""
    points = "|200:150|300:100|400:180"
    catmull = load_beatmap(make_map([f"100,100,1000,2,0,C{points},1,300"]))
    other = load_beatmap(make_map([f"100,100,1000,2,0,X{points},1,300"]))
    assert np.array_equal(other.slider_path_of(0)[0], catmull.slider_path_of(0)[0])


def test_a_spinner_that_ends_before_it_starts_lasts_no_time(make_map):
    bm = load_beatmap(make_map(["100,100,500,1,0,0:0:0:0:", "256,192,2000,12,0,1500"]))
    assert bm.end_ms[1] == bm.start_ms[1] == 2000


def test_a_reversed_span_after_a_dropped_tick_counts_its_ticks_from_the_tail(make_map):
    """282 px at 140 px a tick: the tick at 280 px is within 10 ms of the end and dropped,
    so stable's walk starts the reversed span from zero: its tick is 140 px from the tail
    (142 px from the head), not the mirror of the first (danser-go slider.go, "no need to
    mirror a non-existing point")."""
    bm = load_beatmap(make_map(["100,100,1000,2,0,L|382:100,2,282"]))
    sl = bm.slider_events_of(0)
    kinds, times, xs = bm.ev_kind[sl], bm.ev_time[sl], bm.ev_x[sl]
    ticks = np.flatnonzero(kinds == EVENT_TICK)
    span = bm.span_ms[0]
    assert len(ticks) == 2
    assert xs[ticks[0]] == pytest.approx(240) and times[ticks[0]] == int(1000 + 140 / 282 * span)
    assert xs[ticks[1]] == pytest.approx(242) and times[ticks[1]] == int(1000 + span + 140 / 282 * span)
    assert judge_both(bm, autoplay_replay(bm)).counts == (1, 0, 0, 0)


def test_values_a_map_leaves_out_take_lazers_defaults(make_map):
    """StackLeniency 0.7 (slider alone would read 0 and stack nothing), CS/HP/OD 5 (slider
    would refuse the map), SliderMultiplier 1 (slider would read 1.4)."""
    objects = ["100,100,1000,1,0,0:0:0:0:", "100,100,1100,1,0,0:0:0:0:", "200,200,2000,2,0,L|340:200,1,100"]
    path = make_map(objects, stack_leniency=0.7)
    explicit = load_beatmap(path)
    text = path.read_text()
    for line in ("StackLeniency: 0.7", "CircleSize:4", "HPDrainRate:5", "OverallDifficulty:5", "SliderMultiplier:1.4"):
        text = text.replace(line + "\n", "")
    path.write_text(text, newline="")
    bm = load_beatmap(path)
    assert list(bm.stack_height) == list(explicit.stack_height) == [1, 0, 0]
    assert (bm.cs, bm.hp, bm.od, bm.ar) == (5, 5, 5, 9)
    assert bm.end_ms[2] - bm.start_ms[2] == pytest.approx(100 / 100 * 500, abs=1)  # 100 px at 1 x 100 px a beat
