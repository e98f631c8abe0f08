"""The benchmark: its measures on known inputs, its outputs, and its calibration on real data."""
from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from agents import metrics
from agents.baselines import Autoplay, Humanized
from osu_env.beatmap import load_beatmap
from agents.cli import main
from osu_env import DEMO_MAP
from osu_env.replay import save_replay
from osu_env import rules
from osu_env.rules import Mods


def _stable_clock(n: int, scale: float = 1.0, key_every: int = 7) -> np.ndarray:
    """Frame times as stable records them: 60 Hz of real time in whole ms, plus an extra
    frame 3 ms into every ``key_every``-th interval (a key change); ``scale`` < 1 is a
    game clock slowed by a timewarp."""
    t = np.floor(np.arange(n) * (1000 / 60) * scale)
    extra = t[::key_every][:-1] + 3
    return np.sort(np.concatenate([t, extra])).astype(np.int64)


def test_recording_clock_sees_through_key_frames_and_catches_timewarp():
    assert metrics.recording_clock_ms(_stable_clock(600), 1.0) == pytest.approx(16.67, abs=0.05)
    assert metrics.recording_clock_ms(_stable_clock(600, scale=0.95), 1.0) < metrics.TIMEWARP_CLOCK_MS
    assert metrics.recording_clock_ms(_stable_clock(600, scale=0.9), 1.0) == pytest.approx(15.0, abs=0.05)
    # DT: stable still records at 60 Hz real, 25 ms of map time apart; the clock is real time
    assert metrics.recording_clock_ms(_stable_clock(600, scale=1.5), 1.5) == pytest.approx(16.67, abs=0.05)
    # circleguard's median frametime is blind to a 95% timewarp (16 ms, above its 13 ms limit)
    assert metrics.median_frametime_ms(_stable_clock(600, scale=0.95), 1.0) > 13


def test_resample_uses_real_time_and_keeps_positions():
    bm = load_beatmap(DEMO_MAP)
    t = np.arange(0, int(bm.end_ms.max()) + 100, 10)
    x, y = t * 0.01, np.full(t.shape, 100.0)
    pos = metrics.resample(t, x, y, bm)
    assert np.allclose(np.diff(pos[:, 0]), 1000 / 60 * 0.01)
    dt = metrics.resample(t, x, y, bm.with_mods(Mods.DoubleTime))
    assert np.allclose(np.diff(dt[:, 0]), 1000 / 60 * 1.5 * 0.01)  # 25 map ms per real frame


def test_window_features_of_simple_paths():
    line = np.column_stack([np.arange(200) * 3.0, np.zeros(200)])
    f = dict(zip(metrics.FEATURE_NAMES, metrics.window_features(line)[0]))
    assert len(metrics.window_features(line)) == 1 + (200 - metrics.WINDOW) // metrics.STRIDE
    assert f["straightness"] == pytest.approx(1.0) and f["turn_q90"] == 0 and f["jerk_q90"] == 0
    assert f["still"] == 0 and f["reversals"] == 0
    still = metrics.window_features(np.zeros((64, 2)))
    assert still[0, metrics.FEATURE_NAMES.index("frozen")] == 1
    rng = np.random.default_rng(0)
    shaky = line + rng.normal(0, 2.0, line.shape)
    g = dict(zip(metrics.FEATURE_NAMES, metrics.window_features(shaky)[0]))
    assert g["jerk_q50"] > 1 and g["straight_steps"] < 0.5 and g["tremor_power"] > f["tremor_power"]


def test_snaps_count_sharp_reversals_on_objects_only():
    bm = load_beatmap(DEMO_MAP)
    i = int(np.flatnonzero(bm.kind == 0)[0])  # a hit circle
    t0, cx, cy = int(bm.start_ms[i]), float(bm.x[i]), float(bm.y[i])
    t = np.array([t0 - 16, t0, t0 + 16])
    x = np.array([cx - 30, cx, cx - 29])  # in, and straight back out: angle abc near 0
    y = np.array([cy, cy, cy + 1])
    assert metrics.snaps(bm, t, x, y) == 1
    assert metrics.snaps(bm, t + 1000 * 60 * 60, x, y) == 0  # same shape, no object then
    assert metrics.snaps(bm, t, x + 200, y) == 0  # same time, away from the circle
    assert metrics.snaps(bm, t, np.array([cx - 30, cx, cx + 30]), y) == 0  # passing through


def test_off_screen_counts_time_past_the_edges_of_a_16_9_screen():
    assert metrics.SCREEN_X_PX == pytest.approx((-170.67, 682.67), abs=0.01)  # 853.3 x 480 osu!px
    assert metrics.SCREEN_Y_PX == (-56.0, 424.0)
    edges = np.array([[-170.6, -56.0], [682.6, 424.0], [256.0, 192.0], [0.0, 0.0]])
    assert metrics.off_screen(edges) == 0  # on the edge is on the screen: an OS cursor stops there
    past = np.array([[256.0, 430.0], [700.0, 192.0], [256.0, 192.0], [-200.0, -60.0]])
    assert metrics.off_screen(past) == 0.75
    assert np.isnan(metrics.off_screen(np.empty((0, 2))))


def test_c2st_separates_different_players_and_not_equal_ones():
    rng = np.random.default_rng(1)
    groups = np.repeat([f"p{i}" for i in range(10)], 60)
    a = rng.normal(0, 1, (600, 5))
    same = rng.normal(0, 1, (600, 5))
    other = rng.normal(0, 1, (600, 5)) + [1.5, 0, 0, 0, 0]
    auc, (lo, hi) = metrics.c2st(a, groups, same, np.char.add(groups, "b"), seed=0)
    assert 0.4 < auc < 0.6 and lo < 0.5 < hi
    auc2, (lo2, hi2) = metrics.c2st(a, groups, other, np.char.add(groups, "b"), seed=0)
    assert auc2 > 0.8 and lo2 > 0.7
    assert metrics.c2st(a, groups, other, np.char.add(groups, "b"), seed=0) == (auc2, (lo2, hi2))  # seeded


@pytest.fixture
def tiny_library(tmp_path):
    """A player's folders made from the demo map alone: five 'human' players (the
    humanized bot under five names and seeds), an Auto replay, and a replay whose map is
    missing."""
    maps = tmp_path / "Songs"
    maps.mkdir()
    shutil.copy(DEMO_MAP, maps / "tour.osu")
    bm = load_beatmap(maps / "tour.osu")
    replays = tmp_path / "Replays"
    (replays / "human").mkdir(parents=True)
    (replays / "auto").mkdir()
    for i in range(5):
        rp = Humanized(target_ur=120 + 10 * i).replay(bm, seed=i)
        save_replay(replace(rp, player=f"player{i}"), replays / "human" / f"p{i}.osr")
    save_replay(Autoplay().replay(bm), replays / "auto" / "auto.osr")
    orphan = replace(Humanized().replay(bm, seed=9), beatmap_md5="0" * 32, player="lost")
    save_replay(orphan, replays / "human" / "orphan.osr")
    return maps, replays


def test_benchmark_writes_its_outputs_reports_missing_maps_and_is_deterministic_on_any_workers(tiny_library, tmp_path, capsys):
    maps, replays = tiny_library
    outs = []
    for run, jobs in (("a", "1"), ("b", "2")):  # in this process, and on two workers: the same results
        out = tmp_path / run
        assert main(["benchmark", "--maps", str(maps), "--replays", str(replays), "--agents", "human,autoplay",
                     "--out", str(out), "--seed", "3", "--jobs", jobs]) == 0
        outs.append(out)
    printed = capsys.readouterr().out
    assert "calibration" in printed and "orphan.osr" in printed and "no map with md5" in printed
    res = json.loads((outs[0] / "results.json").read_text())
    assert (outs[0] / "results.json").read_text() == (outs[1] / "results.json").read_text()
    for key in ("human_vs_robotic_auc", "human_vs_human_auc"):
        assert key in res["calibration"]
    assert set(res["players"]) == {"human", "autoplay", "auto"}
    for p in res["players"].values():
        for key in ("accuracy", "c2st_auc", "c2st_auc_ci", "spinners_cleared", "unstable_rate"):
            assert key in p
        assert set(p["detectors"]) == {"gbt", "seq", "keys"}
        known = [v["auc"] for v in p["detectors"].values() if v["auc"] is not None]
        assert p["c2st_auc"] == (max(known) if known else None)  # the headline is the hardest detector
    assert res["players"]["autoplay"]["accuracy"] == 100.0 and res["players"]["autoplay"]["unstable_rate"] == 0
    assert res["players"]["human"]["plays"] == 5
    assert [s["path"].endswith("orphan.osr") for s in res["skipped"]] == [True]
    md = (outs[0] / "results.md").read_text()
    assert "| autoplay | 1 |" in md and "orphan.osr" in md
    png = (outs[0] / "tradeoff.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_benchmark_refuses_a_folder_without_humans(tmp_path, capsys):
    maps = tmp_path / "maps"
    maps.mkdir()
    shutil.copy(DEMO_MAP, maps / "tour.osu")
    (tmp_path / "replays").mkdir()
    assert main(["benchmark", "--maps", str(maps), "--replays", str(tmp_path / "replays"), "--out", str(tmp_path / "o")]) == 2
    assert "no human replays" in capsys.readouterr().err


def test_calibration_on_real_data(shared_data, tmp_path, capsys):
    """The acceptance numbers, under every detector: humans and machine-aimed play
    separate (motion detectors; Autopilot's keys are a person's), humans and humans do
    not, Relax's machine taps are caught by the keys view, timewarps by their clock and
    no human by it."""
    assert main(["benchmark", "--maps", str(shared_data / "maps"), "--replays", str(shared_data / "replays"),
                 "--agents", "human", "--out", str(tmp_path), "--seed", "0", "--jobs", "2"]) == 0
    printed = capsys.readouterr().out
    c = json.loads((tmp_path / "results.json").read_text())["calibration"]
    assert c["detectors"] == ["gbt", "seq", "keys"]
    assert c["human_vs_robotic_ok"] and c["human_vs_robotic_auc"] >= 0.95
    for d in ("gbt", "seq", "keys"):
        assert c["human_vs_robotic_detectors"][d]["auc"] >= 0.95, d
        assert 0.4 <= c["human_vs_human_detectors"][d]["auc"] <= 0.6, d
        for source in ("autopilot", "autoplay", "flower") if d != "keys" else ("autoplay", "flower"):
            assert c["robotic_sources"][source]["detectors"][d]["auc"] > 0.95, (source, d)
    assert c["human_vs_human_ok"] and 0.4 <= c["human_vs_human_auc"] <= 0.6
    assert c["human_aimed"]["relax"]["detectors"]["keys"]["auc"] >= 0.9
    tw = c["human_aimed"]["timewarp"]
    assert tw["timewarp_flagged"] == tw["plays"] == 4 and c["humans_flagged_timewarp"] == 0
    assert c["human_aimed"]["stolen"]["auc"] < 0.7  # copies of human play look human to every detector
    assert "human vs machine-aimed" in printed and "NOT MET" not in printed
    human = json.loads((tmp_path / "results.json").read_text())["players"]["human"]
    assert human["off_screen"] < 0.001  # people keep to the screen (a few plays cross at its edges)


def test_key_stats_of_autoplay_and_of_a_double_tapper():
    """Autoplay presses once per object, alternates in streams and holds every slider;
    tapping each circle twice inside its window shows up as double taps."""
    bm = load_beatmap(DEMO_MAP)
    t, x, y, keys = Autoplay().plan(bm, np.random.default_rng(0))
    k = metrics.key_stats(bm, t, keys)
    assert k.double_taps == 0 and k.circles == int((bm.kind == 0).sum())
    assert k.stream_pairs > 0 and k.alternations == k.stream_pairs
    assert k.slider_held_ms / k.slider_ms > 0.99
    assert len(k.press_ms) == bm.n_objects and (k.press_ms > 0).all()
    # a second, short tap of the other key 10 ms after every circle's press
    extra_t, extra_k = [], []
    for i in np.flatnonzero(bm.kind == 0):
        held = int(keys[np.searchsorted(t, bm.start_ms[i] + 10, side="right") - 1])
        extra_t += [bm.start_ms[i] + 10, bm.start_ms[i] + 20]
        extra_k += [held | rules.M2 | rules.K2, held & ~(rules.M2 | rules.K2)]
    order = np.argsort(np.r_[t, extra_t], kind="stable")
    tt = np.r_[t, extra_t][order]
    kk = np.r_[keys, extra_k][order]
    doubled = metrics.key_stats(bm, tt, kk)
    assert doubled.double_taps >= 0.9 * k.circles
