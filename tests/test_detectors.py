"""The benchmark's detectors: what each view sees, and that each can tell apart what differs."""
from __future__ import annotations

import numpy as np
import pytest

from agents import detectors, metrics
from agents.baselines import Autoplay
from agents.cli import main
from osu_env import DEMO_MAP, rules
from osu_env.beatmap import load_beatmap


def _autoplay(bm):
    return Autoplay().plan(bm, np.random.default_rng(0))


def _relaxed(t, keys):
    """The same frames with every press cut to 1 ms, as the Relax mod taps."""
    down = metrics.held(keys).any(1)
    onset = np.flatnonzero(np.diff(np.r_[0, down.astype(np.int8)]) == 1)
    tt = np.sort(np.r_[t, t[onset] + 1])
    kk = np.zeros(len(tt), keys.dtype)
    kk[np.searchsorted(tt, t[onset])] = rules.M1 | rules.K1
    return tt, kk


def test_held_time_is_exact_between_frames():
    t = np.array([0.0, 10.0, 30.0, 40.0])
    down = np.array([True, False, True, False])
    got = metrics.held_ms_before(t, down, np.array([-5.0, 5.0, 10.0, 20.0, 35.0, 100.0]))
    assert got.tolist() == [0.0, 5.0, 10.0, 10.0, 15.0, 20.0]


def test_seq_windows_show_a_one_ms_tap():
    """Keys are integrated over each 60 Hz frame: a 1 ms machine tap is a press and a
    sliver of held time, where sampling the state at the frame would miss it."""
    bm = load_beatmap(DEMO_MAP)
    t = np.arange(int(bm.start_ms[0]), int(bm.start_ms[0]) + 3000, 16).astype(np.float64)
    tap = int(bm.start_ms[0]) + 1000
    t = np.sort(np.r_[t, tap, tap + 1])
    keys = np.zeros(len(t), np.int64)
    keys[np.searchsorted(t, tap)] = rules.M1
    x, y = (t - t[0]) * 0.1, np.full(len(t), 100.0)
    grid = metrics.frame_grid(t, bm)
    w = detectors.seq_windows(t, keys, grid, metrics.resample(t, x, y, bm))
    assert w.shape[1:] == (detectors.SEQ_WINDOW, len(detectors.SEQ_CHANNELS)) and len(w) >= 2
    ch = dict(zip(detectors.SEQ_CHANNELS, np.moveaxis(w[0], 1, 0)))
    frames = np.moveaxis(np.concatenate(w), 1, 0)
    assert frames[detectors.SEQ_CHANNELS.index("presses")].max() == 1
    held = frames[detectors.SEQ_CHANNELS.index("m1_held")]
    assert held.max() == pytest.approx(1 / metrics.FRAME_MS, rel=0.01)
    assert (ch["m2_held"] == 0).all() and np.allclose(ch["dx"], ch["dx"][0])  # a steady move is a constant delta


def test_keys_view_of_autoplay_and_of_relax():
    """Autoplay presses on time to the ms, once per object; the same presses cut to 1 ms
    (Relax) show in the press lengths."""
    bm = load_beatmap(DEMO_MAP)
    t, x, y, keys = _autoplay(bm)
    f = detectors.key_windows(bm, t, keys)
    col = {n: f[:, i] for i, n in enumerate(detectors.KEY_FEATURE_NAMES)}
    assert len(f) > 10 and f.shape[1] == len(detectors.KEY_FEATURE_NAMES)
    assert np.nanmax(np.abs(col["offset_mean"])) <= 1 and np.nanmax(col["offset_std"]) <= 1
    assert np.nanmax(col["double_taps"]) == 0 and np.nanmin(col["slider_hold"]) > 0.95
    assert np.nanmedian(col["presses_per_object"]) == pytest.approx(1.0)
    rt, rk = _relaxed(t, keys)
    r = detectors.key_windows(bm, rt, rk)
    assert np.nanmax(r[:, detectors.KEY_FEATURE_NAMES.index("press_q90")]) == pytest.approx(np.log1p(1.0))
    assert np.nanmax(r[:, detectors.KEY_FEATURE_NAMES.index("slider_hold")]) < 0.2


def test_seq_detector_separates_jitter_from_smooth_motion_and_not_equal_ones():
    rng = np.random.default_rng(0)
    groups = np.repeat([f"p{i}" for i in range(8)], 80)
    n, shape = len(groups), (detectors.SEQ_WINDOW, len(detectors.SEQ_CHANNELS))

    def smooth(jitter):
        base = np.sin(np.linspace(0, 6, shape[0]))[None, :, None] * rng.normal(1, 0.3, (n, 1, shape[1]))
        return (base + rng.normal(0, jitter, (n,) + shape)).astype(np.float32)

    a = smooth(0.05)
    auc_same, _ = metrics.c2st(a, groups, smooth(0.05), np.char.add(groups, "b"), seed=0, fit=detectors.fit_seq)
    auc_diff, (lo, _) = metrics.c2st(a, groups, smooth(0.3), np.char.add(groups, "b"), seed=0, fit=detectors.fit_seq)
    assert 0.35 < auc_same < 0.65
    assert auc_diff > 0.9 and lo > 0.8


def test_unknown_detector_is_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["benchmark", "--maps", ".", "--replays", ".", "--detectors", "gbt,lstm"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lstm" in err[0] and "gbt, seq, keys" in err[0]
