"""The sequential key decoder: its events, its windows, its training, and its plays in the env."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agents import keys as K
from agents.baselines import Autoplay
from agents.cli import main
from agents.runner import make_agent, play
from osu_env import DEMO_MAP
from osu_env.beatmap import load_beatmap
from osu_env.judge import judge
from osu_env.replay import load_replay


def _path(bm):
    t, x, y, _ = Autoplay().plan(bm, np.random.default_rng(0))
    return t.astype(np.float64), x, y


def _forced(delay_ms: float, hold_ms: float, seed: int = 0) -> K.KeyDecoder:
    """An untrained decoder whose delay and hold are drawn (narrowly) at the given ms
    from its free components, whatever it sees."""
    torch.manual_seed(seed)
    m = K.KeyDecoder(hidden=16, mixtures=2, history=3)
    with torch.no_grad():
        for head, ms in ((m.delay_head, delay_ms), (m.hold_head[-1], hold_ms)):
            head.weight.zero_()
            b = head.bias.view(-1, 3)
            b[:, 0], b[:, 1], b[:, 2] = 0.0, math.log(ms) / K.LOG_MS_SCALE, -6.0
            b[2:, 0] = -30.0  # the anchored components: never
    return m.eval()


def test_events_are_ordered_positive_and_stop_at_each_window_end():
    bm = load_beatmap(DEMO_MAP)
    path = _path(bm)
    ev = K.decode(_forced(150.0, 40.0), bm, path, 600.0, seed=1)
    assert len(ev) > 20
    assert (np.diff(ev[:, 0]) > 0).all() and (ev[:, 2] > 0).all()
    starts = np.arange(float(bm.start_ms[0]) - 600.0, float(bm.end_ms.max()), 600.0)
    per_window = np.bincount(np.searchsorted(starts, ev[:, 0], side="right") - 1)
    assert per_window.max() <= 4  # 150 ms apart: a 600 ms window holds at most 4, then its end stops it
    assert not len(K.decode(_forced(5000.0, 40.0), bm, path, 600.0))  # every delay passes the window end


def test_no_second_press_is_anchored_at_the_object_just_pressed_for():
    """A decoder that presses only at object starts (within ~1 ms): a press a little
    early leaves that object's start ahead, and only the mask keeps the next press off it."""
    from agents.metrics import presses_per_object

    m = _forced(150.0, 40.0)
    with torch.no_grad():
        b = m.delay_head.bias.view(-1, 3)
        b[:, 0] = -30.0
        b[2:2 + K.K_OBJECTS, 0] = -5.0 * torch.arange(K.K_OBJECTS)  # the starts' anchors only, the nearest first
        b[2:, 1], b[2:, 2] = 0.0, -3.0
    bm = load_beatmap(DEMO_MAP)
    ev = K.decode(m, bm, _path(bm), 600.0, seed=3)
    per_object = presses_per_object(bm, ev[:, 0])
    circles = bm.kind == 0
    assert per_object[circles].mean() > 0.9  # it presses for the circles ...
    assert per_object.max() == 1  # ... once each


def test_a_hold_crossing_a_window_is_carried_not_cut():
    bm = load_beatmap(DEMO_MAP)
    path = _path(bm)
    ev = K.decode(_forced(200.0, 1500.0), bm, path, 600.0, seed=2)
    assert len(ev) > 4 and np.allclose(ev[:, 2], 1500.0, rtol=0.15)  # longer than a window, kept whole
    for k in (0, 1):  # a key is never pressed again while it is held
        mine = ev[ev[:, 1] == k]
        assert (mine[1:, 0] >= mine[:-1, 0] + mine[:-1, 2] - 1e-6).all()
    t, x, y, keys = K.key_frames(*path, ev)
    first = ev[0]
    held = (keys[(t >= first[0]) & (t < first[0] + first[2] - 1)] & K.KEY_BITS[int(first[1])]) > 0
    assert held.all()  # down from press to release, across the window boundary


def test_training_moves_the_losses_checkpoints_and_resumes(demo_dataset, tmp_path):
    out = tmp_path / "keys"
    args = dict(data=str(demo_dataset / "ds"), out=str(out), steps=30, batch=16, hidden=32, history=3,
                checkpoint_every=15, progress=False)
    train = K.training_windows(demo_dataset / "ds", 600.0, 3, progress=False)
    assert len(train) > 50 and all(np.isfinite(w["ctx"]).all() for w in train)
    torch.manual_seed(0)
    untrained = K.KeyDecoder(hidden=32, history=3)
    batch = K._collate(train[:64], "cpu")
    with torch.no_grad():
        before = {k: float(v) for k, v in K.losses(untrained, batch).items()}
    after = K.train_keys(K.KeysArgs(**args))
    assert after["delay"] < before["delay"] and after["hold"] < before["hold"]
    ck = torch.load(out / "last.pt", weights_only=True)
    assert ck["step"] == 30 and ck["kind"] == "keys"
    with pytest.raises(Exception, match="--resume"):
        K.train_keys(K.KeysArgs(**args))
    more = K.train_keys(K.KeysArgs(**(args | {"steps": 45, "resume": True})))
    assert torch.load(out / "last.pt", weights_only=True)["step"] == 45 and np.isfinite(list(more.values())).all()


def test_decoded_keys_play_in_the_env_and_the_judge_reads_the_replay_back(demo_dataset, tmp_path):
    out = tmp_path / "keys"
    K.train_keys(K.KeysArgs(data=str(demo_dataset / "ds"), out=str(out), steps=40, batch=16, hidden=32, history=3,
                            progress=False))
    bm = load_beatmap(DEMO_MAP)
    agent = make_agent("autoplay+keys", keys_checkpoint=out)
    p = play(agent, bm, seed=0)
    assert sum(p.result.counts) == bm.n_objects and agent.name == "autoplay+keys"
    osr = tmp_path / "k.osr"
    assert main(["play", "--agent", "humanized+keys", "--keys-checkpoint", str(out), "--out", str(osr)]) == 0
    back = judge(bm, load_replay(osr))
    assert sum(back.counts) == bm.n_objects


def test_keys_agent_needs_its_checkpoint(tmp_path, capsys):
    assert main(["play", "--agent", "autoplay+keys", "--out", str(tmp_path / "a.osr")]) == 2
    assert "--keys-checkpoint" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["play", "--agent", "autoplay+keys", "--keys-checkpoint", str(bad), "--out", str(tmp_path / "a.osr")]) == 2
    assert "not a keys checkpoint" in capsys.readouterr().err
