"""The compiled vector env against its readable reference: OsuEnv (Play, the Python judge and
score) and features.observe, compared exactly, step by step, on real maps."""
from __future__ import annotations

import numpy as np
import pytest

from osu_env import fast_env
from osu_env.beatmap import SLIDER, SPINNER, load_beatmap
from osu_env.env import ACTION_HALF_RANGE_PX, OsuEnv, OsuVectorEnv
from osu_env.features import GLOBAL_FEATURES, ObjectTable, observe


@pytest.fixture(scope="module")
def real_maps(shared_data):
    """The three shortest real maps that have sliders and spinners, and one of them with HR."""
    maps = [load_beatmap(p) for p in sorted((shared_data / "maps").glob("*.osu"))]
    maps = [bm for bm in maps if (bm.kind == SLIDER).any() and (bm.kind == SPINNER).any() and bm.n_objects >= 50]
    maps.sort(key=lambda bm: bm.duration_ms)
    return maps[:3] + [maps[0].with_mods(16)]


def test_compiled_observe_equals_features_observe(real_maps):
    table = ObjectTable.build(real_maps)
    rng = np.random.default_rng(0)
    q = 20_000
    map_id = rng.integers(0, len(real_maps), q)
    # times spread over each map and concentrated inside its sliders, cursors anywhere (some off the field)
    t = np.empty(q)
    for m, bm in enumerate(real_maps):
        rows = np.flatnonzero(map_id == m)
        sl = np.flatnonzero(bm.kind == SLIDER)
        pick = rng.choice(sl, rows.size)
        inside = bm.start_ms[pick] + rng.uniform(-5, 1.05, rows.size) * (bm.end_ms[pick] - bm.start_ms[pick])
        anywhere = rng.uniform(-3000, bm.duration_ms + 3000, rows.size)
        t[rows] = np.where(rng.random(rows.size) < 0.6, np.round(inside), anywhere)
    x, y = rng.uniform(-600, 1100, q), rng.uniform(-600, 1000, q)
    for k in (1, 4, 8):
        ref = observe(table, map_id, t, x, y, k)
        fast = fast_env.observe(table, map_id, t, x, y, k)
        assert ref.dtype == fast.dtype and ref.shape == fast.shape
        assert np.array_equal(ref, fast), np.argwhere(ref != fast)[:5]
        running = fast[:, GLOBAL_FEATURES + 12] == 1
        assert running.mean() > 0.3  # the slider ball branch ran often


def _aiming_actions(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Towards the next object's aim point (head, ball or spinner centre), with noise, circling
    now and then, keys pressed and released at random: hits, misses, ticks and spins."""
    n = obs.shape[0]
    cursor = obs[:, :2].astype(np.float64) * 256
    target = cursor + obs[:, GLOBAL_FEATURES + 5: GLOBAL_FEATURES + 7] * 256 + rng.normal(0, 30, (n, 2))
    spin = rng.random(n) < 0.3
    angle = rng.uniform(0, 2 * np.pi, n)
    target[spin] = np.stack([np.cos(angle), np.sin(angle)], 1)[spin] * 60
    a = np.empty((n, 4))
    a[:, :2] = target / ACTION_HALF_RANGE_PX
    a[:, 2:] = np.where(rng.random((n, 2)) < 0.5, 1.0, -1.0)
    return a


def test_vector_env_equals_single_envs_exactly_on_real_maps(real_maps):
    """Rewards, counts, combo, score and times exactly; observations to 1e-6: the vector
    env's table joins the maps' slider paths on one distance axis (features.PATH_GAP_PX),
    which moves a ball position by up to ~1e-10 px against a one-map table."""
    n = 4
    venv = OsuVectorEnv(real_maps, num_envs=n)
    obs, info = venv.reset(seed=3)
    singles = [OsuEnv(real_maps[m]) for m in venv._plays.env[:, fast_env.E_MAP]]
    for e, env in enumerate(singles):
        o, inf = env.reset()
        np.testing.assert_allclose(obs[e], o, rtol=0, atol=1e-6)
    rng = np.random.default_rng(0)
    episodes = np.zeros(n, int)
    counted = np.zeros(4, int)
    keys = ("t_ms", "n300", "n100", "n50", "nmiss", "combo", "max_combo", "score", "accuracy")
    while episodes.min() < 1:
        a = _aiming_actions(obs, rng)
        obs, rew, term, trunc, info = venv.step(a)
        for e, env in enumerate(singles):
            o, r, d, _, inf = env.step(a[e])
            assert rew[e] == r and term[e] == d
            if d:
                final = info["final_info"][e]
                assert {k: final[k] for k in keys} == {k: inf[k] for k in keys}
                np.testing.assert_allclose(info["final_observation"][e], o, rtol=0, atol=1e-6)
                counted += [inf["n300"], inf["n100"], inf["n50"], inf["nmiss"]]
                episodes[e] += 1
                singles[e] = env = OsuEnv(real_maps[venv._plays.env[e, fast_env.E_MAP]])
                o, inf = env.reset()
            assert {k: info[k][e] for k in keys} == {k: inf[k] for k in keys}, e
            np.testing.assert_allclose(obs[e], o, rtol=0, atol=1e-6, err_msg=str(e))
    assert (counted > 0).all(), counted  # 300s, 100s, 50s and misses all happened
    assert not trunc.any()
