"""The hand between an intended cursor and the recorded one (agents/hand.py)."""
import math

import numpy as np
import pytest

from agents.hand import SCREEN_1080P_PX, Hand, HandModel, smoothing

DT = 1 / 60


def run(model: HandModel, path, seed: int = 0) -> np.ndarray:
    hand = Hand(model, DT, seed)
    return np.array([hand.step(p) for p in path])


def test_without_speed_term_deadband_or_lattice_it_is_a_one_pole_low_pass():
    path = np.cumsum(np.random.default_rng(0).normal(0, 3, (300, 2)), 0) + 200
    a = smoothing(2.0, DT)
    assert a == pytest.approx(1 / (1 + 1 / (2 * math.pi * 2.0 * DT)))  # Casiez et al. eq. 4
    ref = [path[0]]
    for p in path[1:]:
        ref.append(a * p + (1 - a) * ref[-1])
    got = run(HandModel(min_cutoff_hz=2.0, beta=0.0, deadband_px=0.0, lattice_px=0.0, timing_jitter=0.0), path)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)


def test_fast_moves_lag_less_than_slow_ones():
    """The cutoff rises with speed: in frames of motion, a fast sweep lags less than a slow drift."""
    model = HandModel(deadband_px=0.0, lattice_px=0.0, timing_jitter=0.0)
    lags = {}
    for speed in (0.5, 20.0):  # px per frame
        path = np.column_stack([-150 + speed * np.arange(40), np.full(40, 200.0)])  # on the screen throughout
        lags[speed] = (path[-1, 0] - run(model, path)[-1, 0]) / speed
    assert lags[20.0] < 0.5 < 2.0 < lags[0.5]


def test_prediction_makes_up_the_lag_of_a_steady_move_up_to_its_horizon_and_keeps_the_smoothing():
    """``predict_ms`` P runs the hand ahead on its own velocity: a steady move of 6 px a
    frame (a lag of about 12 ms) is trailed by nothing at P 100 and by 6 * 60 * 0.005 px
    less at P 5.  The intent's frame-to-frame zigzag is still smoothed, if less than without."""
    model = dict(deadband_px=0.0, lattice_px=0.0, timing_jitter=0.0)
    line = np.column_stack([-150 + 6.0 * np.arange(60), np.full(60, 200.0)])
    lag = {p: line[-1, 0] - run(HandModel(predict_ms=p, **model), line)[-1, 0] for p in (0.0, 5.0, 100.0)}
    assert lag[0.0] > 3.0 and lag[100.0] == pytest.approx(0.0, abs=1e-6)
    assert lag[5.0] == pytest.approx(lag[0.0] - 6.0 * 60 * 0.005, abs=1e-6)
    zigzag = line + np.column_stack([np.zeros(60), 2.0 * (-1.0) ** np.arange(60)])
    swing = {p: np.ptp(run(HandModel(predict_ms=p, **model), zigzag)[30:, 1]) for p in (0.0, 100.0)}
    assert swing[0.0] < swing[100.0] < 0.7 * 4.0 and swing[100.0] < 1.6 * swing[0.0]  # 1.63 and 2.44 of the intent's 4


def test_a_resting_hand_stands_still_and_the_cursor_sits_on_screen_pixels():
    model = HandModel()
    rng = np.random.default_rng(1)
    rest = np.array([250.0, 180.0]) + rng.normal(0, 0.3, (60, 2))  # an intent that shivers about one point
    got = run(model, rest)
    moves = np.hypot(*np.diff(got, axis=0).T)
    assert (moves == 0).mean() > 0.9  # the raw intent moves every frame
    sweep = np.column_stack([np.linspace(100, 400, 90), np.linspace(100, 300, 90)])
    on = run(model, sweep) / SCREEN_1080P_PX
    np.testing.assert_allclose(on, np.round(on), atol=1e-9)
    assert np.hypot(*(run(model, sweep)[-1] - sweep[-1])) < 10  # and it gets where it was going


def test_the_recorded_cursor_stops_at_the_screens_edge_and_comes_back_with_the_intent():
    from osu_env.rules import SCREEN_X_PX, SCREEN_Y_PX

    model = HandModel(deadband_px=0.0, lattice_px=0.0, timing_jitter=0.0, min_cutoff_hz=1e6)  # the intent as it is
    out_and_back = np.array([[256.0, 192.0], [900.0, 500.0], [-400.0, -200.0], [300.0, 200.0]])
    got = run(model, out_and_back)
    np.testing.assert_allclose(got, [[256.0, 192.0], [SCREEN_X_PX[1], SCREEN_Y_PX[1]], [SCREEN_X_PX[0], SCREEN_Y_PX[0]],
                                     [300.0, 200.0]], atol=0.05)
    full = run(HandModel(), np.column_stack([np.linspace(256, 2000, 120), np.full(120, 192.0)]))
    assert full[:, 0].max() <= SCREEN_X_PX[1] and full[-1, 0] == pytest.approx(SCREEN_X_PX[1])  # jitter, lattice and all


def test_timing_jitter_reads_a_moving_point_along_its_path_and_leaves_a_rest_still():
    """Each point is read between the last two held ones, at U(-J, J) of the step: on a
    straight sweep it stays on the line, its offsets along it span about +-J steps and
    vary from frame to frame (acceleration a steady sweep lacks); a hand at rest and the
    same seed's path are unchanged."""
    smooth = HandModel(deadband_px=0.0, lattice_px=0.0, timing_jitter=0.0)
    jittered = HandModel(deadband_px=0.0, lattice_px=0.0, timing_jitter=0.3)
    sweep = np.column_stack([-160 + 6.0 * np.arange(140), np.full(140, 200.0)])  # on the screen throughout
    base, got = run(smooth, sweep), run(jittered, sweep, seed=4)
    np.testing.assert_allclose(got[:, 1], 200.0, atol=1e-9)
    step = np.diff(base[:, 0])
    frac = (got[1:, 0] - base[1:, 0]) / step
    assert -0.3 <= frac.min() < -0.25 and 0.25 < frac.max() <= 0.3
    assert np.abs(np.diff(got[100:, 0], 2)).mean() > 1.0 > np.abs(np.diff(base[100:, 0], 2)).mean()
    np.testing.assert_array_equal(run(jittered, sweep, seed=4), got)
    rest = np.array([250.0, 180.0]) + np.random.default_rng(1).normal(0, 0.3, (60, 2))
    np.testing.assert_array_equal(run(HandModel(), rest, seed=4), run(HandModel(timing_jitter=0.0), rest))


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="min_cutoff_hz must be positive"):
        HandModel(min_cutoff_hz=0)
    with pytest.raises(ValueError, match="deadband_px must be >= 0"):
        HandModel(deadband_px=-1)
    with pytest.raises(ValueError, match=r"timing_jitter must be in \[0, 1\]"):
        HandModel(timing_jitter=1.5)
    with pytest.raises(ValueError, match=r"lead_ms must be in \[0, 100\]"):
        HandModel(lead_ms=-5)
    with pytest.raises(ValueError, match="predict_ms"):
        HandModel(predict_ms=150)
    with pytest.raises(ValueError, match="step must be positive"):
        Hand(HandModel(), 0.0)


class Drifter:
    """A closed-loop toy that steps its observed cursor 3 px right and 1 px down, and
    remembers every observation it was given."""

    closed_loop = True
    name = "drifter"

    def reset(self, beatmap, seed=None):
        self.seen, self.times = [], []
        return None

    def act(self, obs, t_ms):
        self.seen.append(np.array(obs))
        self.times.append(t_ms)
        cursor = obs[:2] / 2 + np.array([3.0, 1.0]) / 512  # obs units are px / 256, actions px / 512
        return np.concatenate([np.clip(cursor, -1, 1), [-1.0, -1.0]]).astype(np.float32)


def test_a_handed_agent_sees_what_it_would_have_seen_and_its_intent_goes_through_the_hand():
    """Handed shifts each observation back to the agent's own last point: the agent sees
    (to float32) the same observations as without the hand, the cursor *and* every
    object's offsets, so it plays the same; the recorded path is that play through a Hand
    of the play's seed.  Without the shift it would see the lagging cursor and diverge."""
    from agents.hand import Handed
    from agents.runner import play
    from osu_env import DEMO_MAP
    from osu_env.beatmap import load_beatmap

    bm = load_beatmap(DEMO_MAP)
    bare, handed = Drifter(), Drifter()
    xy = np.array([f[1:3] for f in play(bare, bm, seed=4).frames])
    xy_hand = np.array([f[1:3] for f in play(Handed(handed, HandModel()), bm, seed=4).frames])
    n = 400  # before the drift reaches the playfield's edge
    np.testing.assert_allclose(np.array(handed.seen[:n]), np.array(bare.seen[:n]), rtol=0, atol=1e-5)
    hand = Hand(HandModel(), 1 / 60, seed=4)
    expected = np.array([hand.step(p) for p in xy[:n]])
    assert np.median(np.hypot(*(xy_hand[:n] - expected).T)) < 1e-3
    assert np.hypot(*(xy_hand[1:n] - xy[1:n]).T).max() > 1.0  # the hand is there


@pytest.mark.parametrize("mods", ["NM", "DT"])
def test_a_lead_shows_the_agent_the_map_that_many_real_ms_ahead_for_its_own_cursor(mods):
    """With ``lead_ms`` L the agent plays as it would on a clock L real ms ahead (L x 1.5
    of map time under DT): each observation is the map's at t + L for the point it asked
    for last, so its own path is the same and every object comes L ms sooner."""
    from agents.hand import Handed
    from agents.runner import play
    from osu_env import DEMO_MAP
    from osu_env.beatmap import load_beatmap
    from osu_env.features import observe_frames
    from osu_env.rules import parse_mods

    bm = load_beatmap(DEMO_MAP, mods=parse_mods(mods))
    bare, led = Drifter(), Drifter()
    play(bare, bm, seed=4)
    play(Handed(led, HandModel(lead_ms=12.0)), bm, seed=4)
    n = 400
    seen, times = np.array(bare.seen[:n]), np.array(bare.times[:n])
    np.testing.assert_array_equal(np.array(led.times[:n]), times)
    cursor = seen[:, :2].astype(np.float64) * 256 + np.array([256.0, 192.0])
    ahead = observe_frames(bm, times + 12.0 * bm.clock_rate, cursor[:, 0], cursor[:, 1])
    np.testing.assert_allclose(np.array(led.seen[:n]), ahead, rtol=0, atol=1e-5)
    assert np.abs(np.array(led.seen[:n]) - seen).max() > 0.01  # and it is not the present's
