"""The sequential key decoder: its events, its windows, its training, and its plays in the env."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agents import keys as K, metrics
from agents.baselines import Autoplay
from agents.cli import main
from agents.runner import make_agent, play
from osu_env import DEMO_MAP
from osu_env.beatmap import load_beatmap
from osu_env.errors import AgentError
from osu_env.judge import judge
from osu_env.replay import load_replay

from conftest import frames


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


@pytest.fixture
def anywhere(monkeypatch):
    """Free draws may fall inside objects' hit windows: :func:`_forced` decoders then press
    at exactly their delays, which is what the tests of windows and holds need (a trained
    decoder's free components are kept off the windows: :func:`agents.keys.on_object`)."""
    monkeypatch.setattr(K, "object_windows_ms", lambda params, step: np.empty((0, 2)))


def test_events_are_ordered_positive_and_stop_at_each_window_end(anywhere):
    bm = load_beatmap(DEMO_MAP)
    path = _path(bm)
    ev = K.decode(_forced(150.0, 40.0), bm, path, 600.0, seed=1)
    assert len(ev) > 20
    assert (np.diff(ev[:, 0]) > 0).all() and (ev[:, 2] > 0).all()
    starts = np.arange(float(bm.start_ms[0]) - 600.0, float(bm.end_ms.max()), 600.0)
    per_window = np.bincount(np.searchsorted(starts, ev[:, 0], side="right") - 1)
    assert per_window.max() <= 4  # 150 ms apart: a 600 ms window holds at most 4, then its end stops it
    # every delay passes the window end, but for the one press the spinner must have (from 12.5 to 15.5 s)
    (press, _, hold), = K.decode(_forced(5000.0, 40.0), bm, path, 600.0)
    assert 12500.0 - K.SPINNER_LEAD_MS <= press <= 12500.0 + K.SPINNER_LATE_MS and press + hold >= 15500.0


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
    # windows of 37 ms end between many an early press and its object's start: the next
    # window's first step still knows the object was pressed for
    ev = K.decode(m, bm, _path(bm), 37.0, seed=3)
    per_object = presses_per_object(bm, ev[:, 0])
    assert per_object[circles].mean() > 0.8 and per_object.max() == 1


def test_training_steps_carry_the_objects_pressed_for_across_windows():
    """Each teacher-forced step marks the upcoming objects already pressed for, by presses
    of earlier windows too (as decoding does): a press 10 ms early for the second object,
    and a window ending between it and the object's start."""
    bm = load_beatmap(DEMO_MAP)
    path, first, second = _path(bm), float(bm.start_ms[0]), float(bm.start_ms[1])
    W = second - 5.0 - first  # windows from first - W: the third starts 5 ms before the second object
    ex = K.window_examples(bm, path, np.array([[second - 10.0, 0, 30.0]]), W, 2)
    slots = K._Observer(bm, path).slots([first, second - 10.0, second - 5.0])
    taken = [e["steps"][:, K.STEP_TAKEN:K.STEP_TAKEN + K.K_OBJECTS] for e in ex[1:3]]
    assert len(ex[1]["key"]) == 1 and not taken[0][0].any()  # the press is the second window's; none before it
    assert taken[0][1].tolist() == (slots[1] == 1).tolist()  # after it, the second object is taken ...
    assert taken[1][0].tolist() == (slots[2] == 1).tolist() and taken[1][0].sum() == 1  # ... and still, a window on

def test_a_hold_crossing_a_window_is_carried_not_cut(anywhere):
    bm = load_beatmap(DEMO_MAP)
    path = _path(bm)
    ev = K.decode(_forced(500.0, 1100.0), bm, path, 600.0, seed=2)  # a press a window, each key free again by its next
    spinner = (ev[:, 0] >= 12500.0 - K.SPINNER_LEAD_MS) & (ev[:, 0] < 15500.0)  # held through the spinner instead
    assert len(ev) > 4 and np.allclose(ev[~spinner, 2], 1100.0, rtol=0.15)  # longer than a window, kept whole
    for k in (0, 1):  # a key is never pressed again while it is held
        mine = ev[ev[:, 1] == k]
        assert (mine[1:, 0] >= mine[:-1, 0] + mine[:-1, 2] - 1e-6).all()
    t, x, y, keys = K.key_frames(*path, ev)
    first = ev[0]
    held = (keys[(t >= first[0]) & (t < first[0] + first[2] - 1)] & K.KEY_BITS[int(first[1])]) > 0
    assert held.all()  # down from press to release, across the window boundary


def test_a_press_drawn_while_both_keys_are_held_lets_the_first_due_up(anywhere):
    """Holds of 1 s and a press every 100 ms: from the third press on both keys are down,
    and each press lets up the key due first 1 ms before it instead of being dropped, so
    every press is made and is a new key-down edge in the frames."""
    bm = load_beatmap(DEMO_MAP)
    path = _path(bm)
    ev = K.decode(_forced(100.0, 1000.0), bm, path, 600.0, seed=4)
    spinner = (ev[:, 0] >= 12500.0 - K.SPINNER_LEAD_MS) & (ev[:, 0] < 15500.0)
    span = float(bm.end_ms.max() - bm.start_ms[0]) - 3000.0  # the play, less the spinner
    assert (~spinner).sum() > 0.8 * span / 100.0  # about one press per 100 ms, none dropped
    cut = ev[~spinner & (ev[:, 0] < 12000.0), 2]
    assert np.median(cut) < 250.0  # let up for the press after next (~200 ms), not held 1 s
    for k in (0, 1):
        mine = ev[ev[:, 1] == k]
        assert (mine[1:, 0] >= mine[:-1, 0] + mine[:-1, 2] + 0.5).all()  # up before it goes down again
    t, _, _, keys = K.key_frames(*path, ev)
    for k in (0, 1):
        down = (keys & K.KEY_BITS[k]) > 0
        assert (down[1:] & ~down[:-1]).sum() + down[0] == (ev[:, 1] == k).sum()  # one edge per press


def test_release_for_press_cuts_only_when_both_keys_are_down_and_no_spinner_runs():
    bm = load_beatmap(DEMO_MAP)  # a spinner from 12500 to 15500
    def release_for_press(events, tau):
        return K._release_for_press(bm, events, tau, K._state_before(events, tau)[0])

    ev = np.array([[100.0, 0, 500.0], [150.0, 1, 500.0]])
    cut = release_for_press(ev, 300.0)
    assert cut[0, 2] == 199.0 and cut[1, 2] == 500.0  # key 0 was due up first: up at 299
    assert release_for_press(ev, 700.0) is ev  # key 0 already up
    just_down = np.array([[150.0, 1, 500.0], [299.5, 0, 100.0]])  # key 0 is due up first, but went down 0.5 ms ago
    assert release_for_press(just_down, 300.0) is just_down
    spinning = ev + [12400.0, 0, 3500.0]
    assert release_for_press(spinning, 13000.0) is spinning  # both held through the spinner: kept


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
    # a decoder of the earlier step layout (no objects pressed for) is told apart by name
    ck["model"]["gru.weight_ih_l0"] = ck["model"]["gru.weight_ih_l0"][:, :-K.K_OBJECTS]
    K.save_checkpoint(tmp_path / "old.pt", ck)
    with pytest.raises(AgentError, match="old.pt: a keys checkpoint made before .*train it again"):
        K.load_decoder(tmp_path / "old.pt")


def test_the_learning_rate_falls_along_a_half_cosine_unless_held():
    args = K.KeysArgs(data="d", out="o", steps=100, lr=1e-3)
    assert [K.learning_rate(s, args) for s in (0, 50, 100)] == pytest.approx([1e-3, 5e-4, 0.0])
    assert K.learning_rate(70, K.KeysArgs(data="d", out="o", lr_schedule="constant")) == 1e-3


def test_decoded_keys_play_in_the_env_and_the_judge_reads_the_replay_back(demo_dataset, tmp_path):
    out = tmp_path / "keys"
    K.train_keys(K.KeysArgs(data=str(demo_dataset / "ds"), out=str(out), steps=40, batch=16, hidden=32, history=3,
                            progress=False))
    bm = load_beatmap(DEMO_MAP)
    agent = make_agent("autoplay+keys", keys_checkpoint=out)
    p = play(agent, bm, seed=0)
    assert sum(p.result.counts) == bm.n_objects and agent.name == "autoplay+keys"
    assert agent.temperature == K.KEYS_TEMPERATURE  # the API plays as the command does by default
    assert make_agent("autoplay+keys", keys_checkpoint=out, keys_temperature=1.0).temperature == 1.0
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


def test_spinners_get_a_press_held_through_them_whatever_the_model_draws(make_map, anywhere):
    """A decoder that only taps (40 ms) would let go of a spinner at once, and one whose
    delays pass every window's end would never press it.  Decoding keeps the model's
    draws but conditions them: the next press comes by 100 ms into the spinner, and a
    press for it is held past its end."""
    bm = load_beatmap(make_map(["100,100,1000,1,0,0:0:0:0:", "300,200,1400,1,0,0:0:0:0:", "256,192,2000,12,0,4000,0:0:0:0:",
                                "100,300,4500,1,0,0:0:0:0:"]))
    assert K.spinner_hold_floor(bm, 2500.0) == 1500.0  # running
    assert K.spinner_hold_floor(bm, 1800.0) == 2200.0  # next, 200 ms ahead
    assert K.spinner_hold_floor(bm, 1300.0) == 0.0  # the circle at 1400 comes first
    assert K.spinner_press_by(bm, 1500.0, np.array([-1e9, 1600.0])) == 2100.0
    assert K.spinner_press_by(bm, 1500.0, np.array([-1e9, 4100.0])) == math.inf  # a key is held through it
    path = _path(bm)
    for seed, delay in ((0, 300.0), (1, 300.0), (2, 5000.0), (3, 5000.0)):
        ev = K.decode(_forced(delay, 40.0), bm, path, 600.0, seed=seed)
        covering = ev[(ev[:, 0] <= 2100.0) & (ev[:, 0] + ev[:, 2] >= 4000.0)]
        assert len(covering) == 1, ev
        assert (ev[ev[:, 0] + ev[:, 2] < 2000.0, 2] < 50).all()  # the presses before keep the model's taps
        t, x, y, keys = K.key_frames(*path, ev)
        r = judge(bm, frames(*zip(t.tolist(), x.tolist(), y.tolist(), keys.tolist())))
        assert r.spinner_half_turns[2, 0] > 0  # the autoplay path spins while the key is down


def test_a_sliders_press_is_held_to_its_end_whatever_the_model_draws(make_map, anywhere):
    """A decoder that only taps (40 ms) lets go of a slider at once and loses its last
    tick; decoding draws the slider's hold given that it lasts to the slider's end
    (``slider_hold_floor``), and leaves the circles' taps as they were."""
    bm = load_beatmap(make_map(["100,100,1000,1,0,0:0:0:0:", "200,200,1500,2,0,L|400:200,1,280", "100,300,3000,1,0,0:0:0:0:"]))
    end = float(bm.end_ms[1])
    done = np.zeros(bm.n_objects, bool)

    def for_(t):  # the object a press at t is for, or -1, as decode finds it
        (j,), (inside,) = metrics.press_objects(bm, np.array([t]))
        return int(j) if inside else -1

    assert K.slider_hold_floor(bm, 1480.0, for_(1480.0), done) == end - 1480.0
    assert K.slider_hold_floor(bm, 980.0, for_(980.0), done) == 0.0  # the circle's press
    assert K.slider_hold_floor(bm, 1480.0, for_(1480.0), np.array([False, True, False])) == 0.0  # a second press on it
    path = _path(bm)
    for seed in range(3):
        ev = K.decode(_forced(480.0, 40.0), bm, path, 600.0, seed=seed)
        j, inside = metrics.press_objects(bm, ev[:, 0])
        on_slider = inside & (j == 1)
        assert on_slider.sum() == 1, ev
        assert ev[on_slider, 0] + ev[on_slider, 2] >= end and (ev[~on_slider, 2] < 50).all()
        free = K.decode(_forced(480.0, 40.0), bm, path, 600.0, seed=seed, slider_holds=False)
        assert (free[:, 2] < 50).all()  # the old draw: a tap
        t, x, y, keys = K.key_frames(*path, ev)
        r = judge(bm, frames(*zip(t.tolist(), x.tolist(), y.tolist(), keys.tolist())))
        assert r.result[1] == 300 and r.slider_parts[1, 0] == r.slider_parts[1, 1]


def test_bounded_draws_stay_inside_and_keep_the_model_where_it_can():
    m = _forced(40.0, 40.0)
    params = m._mixture(m.hold_head[-1](torch.zeros(1, 1, m.hold_head[-1].in_features)),
                        (torch.zeros(1, 1, K.K_OBJECTS), torch.zeros(1, 1, K.K_OBJECTS, dtype=torch.bool)))
    gen = torch.Generator().manual_seed(0)
    free = [K._mixture_sample(params, gen, 1.0) for _ in range(200)]
    assert 30 < np.median(free) < 55
    assert all(K._mixture_sample(params, gen, 1.0, lo=500.0) >= 500.0 for _ in range(50))
    assert all(K._mixture_sample(params, gen, 1.0, hi=39.0) <= 39.0 for _ in range(50))


def test_a_press_inside_an_objects_window_is_explained_by_its_anchors_alone():
    """on_object: inside the 50 window of an upcoming object not yet pressed for; there
    the training loss counts the anchored components only, so the free ones cannot learn
    a stream's beat as a delay from the last press."""
    bm = load_beatmap(DEMO_MAP)
    obs = K._Observer(bm, _path(bm))
    t0 = float(bm.start_ms[0]) - 300.0  # the first object is 300 ms ahead
    step = torch.from_numpy(K._step_input(obs(t0)[0], (2, 0.0, 0.0), True, t0, t0, 600.0,
                                          K._keys_after(np.empty((0, 3)), t0), np.zeros(K.K_OBJECTS)).astype(np.float32)).view(1, 1, -1)
    w50 = float(bm.hit_window_50)
    d = torch.tensor([[300.0, 300.0 + w50 - 1.0, 300.0 - w50 - 20.0, 5.0]])
    m = _forced(300.0, 40.0)  # free components at 300 ms, anchors all but ruled out
    steps = step.expand(1, 4, -1)
    out, _ = m.run(torch.zeros(1, m.context[0].in_features), steps)
    params = m.delay(out, steps)
    on = K.on_object(params, steps, d)
    assert on.tolist() == [[True, True, False, False]]
    out1, _ = m.run(torch.zeros(1, m.context[0].in_features), step)
    windows = K.object_windows_ms(m.delay(out1, step), step)
    assert windows[0, 0] == pytest.approx(300.0 - w50, abs=1e-3) and windows[0, 1] == pytest.approx(300.0 + w50, abs=1e-3)
    plain, restricted = K._mixture_nll(params, d), K._mixture_nll(params, d, on)
    assert (restricted[on] > plain[on] + 5).all()  # the free components' density no longer counts there
    assert torch.equal(restricted[~on], plain[~on])


def test_free_draws_keep_off_the_windows_and_leave_them_to_the_anchors():
    m = _forced(100.0, 40.0)
    with torch.no_grad():
        m.delay_head.bias.view(-1, 3)[2:, 0] = -3.0  # the anchored components: rare, but there
    ahead = torch.ones(1, 1, 2 * K.K_OBJECTS, dtype=torch.bool)
    anchor = torch.full((1, 1, 2 * K.K_OBJECTS), 400.0)
    params = m._mixture(m.delay_head(torch.zeros(1, 1, m.delay_head.in_features)), (anchor, ahead))
    gen = torch.Generator().manual_seed(0)
    assert np.median([K._mixture_sample(params, gen, 1.0) for _ in range(50)]) == pytest.approx(100.0, rel=0.05)
    assert np.median([K._mixture_sample(params, gen, 1.0, avoid=np.array([[300.0, 500.0]])) for _ in range(50)]) == \
        pytest.approx(100.0, rel=0.05)  # windows it does not reach change nothing
    moved = [K._mixture_sample(params, gen, 1.0, avoid=np.array([[50.0, 150.0]])) for _ in range(50)]
    assert all(not 50.0 <= d <= 150.0 for d in moved)  # drawn again, or by the anchors
    assert np.median(moved) > 300.0  # the free component has no mass outside: the anchors at 400 ms press
