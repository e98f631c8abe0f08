"""The vector env's inner loop, compiled: every play's clock, judge, score and next
observation in one numba call per step (:func:`step`).

:class:`osu_env.env.OsuVectorEnv` steps all its plays through it (and :func:`observe` for
the first observation of a play); :class:`OsuEnv` uses the compiled observation alone.  The readable path is :class:`osu_env.env.Play` (the
reference judge, the Python score) with :func:`osu_env.features.observe`; this module
follows them, and tests hold the two equal (``tests/test_fast_env.py``: observations,
rewards, counts, combo and score, step by step).

Every frame is judged (the Python :class:`Play` skips idle ones, which gives the same
verdicts; ``judge.frames_that_matter``): at about 70 ns a frame the skip test would
cost more than it saves.  The vector env always judges as a current stable client, so
the pre-2019 per-ms object ends never arise here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from . import fast_judge as fj
from . import rules
from .beatmap import CIRCLE, SLIDER, Beatmap
from .features import GLOBAL_FEATURES, MAP_TIME_GAP_MS, OBJECT_FEATURES, OBS_LIMIT, PATH_GAP_PX, POS_SCALE_PX, \
    TIME_CLIP_S, ObjectTable

# reward weights, in this order (env.DEFAULT_REWARD's keys)
REWARD_KEYS = ("300", "100", "50", "miss", "head", "head_miss", "tick", "tick_miss", "spin")
# per-play integer state (besides the judge's): map, frame index, counts, score, previous frame time, over
E_MAP, E_I, E_N300, E_N100, E_N50, E_NMISS, E_SCORE, E_PREV_T, E_DONE = range(9)


@dataclass(frozen=True)
class MapPack:
    """Several maps' judge tables and clocks end to end, for one compiled call."""

    oi: np.ndarray
    of: np.ndarray
    ev_time: np.ndarray
    ev_tail: np.ndarray
    ball_t1: np.ndarray
    ball_t2: np.ndarray
    ball_ab: np.ndarray
    params: np.ndarray  # (m, P) each map's fast_judge params
    offsets: np.ndarray  # (m, 8) int64: objects, events, ball chords, frame times (start, count each)
    times: np.ndarray  # every map's frame times, end to end
    score: np.ndarray  # (m, 3): difficulty multiplier, mod multiplier, last object end (complete at >= end - 1)
    max_objects: int
    max_step_events: int  # the most events one step can make on any of the maps (see Plays.ev)


def pack(maps: list[Beatmap], clocks: list[np.ndarray], score_mults: list[tuple[int, float]]) -> MapPack:
    """``maps`` with their frame times and ScoreV1 multipliers (``Play.score_mult``)."""
    tabs = [fj.tables(bm) for bm in maps]
    offsets = np.zeros((len(maps), 8), np.int64)
    counts = np.array([(t.oi.shape[0], t.ev_time.shape[0], t.ball_t1.shape[0], c.shape[0]) for t, c in zip(tabs, clocks)],
                      np.int64).reshape(-1, 4)
    offsets[:, 1::2] = counts
    offsets[1:, 0::2] = np.cumsum(counts, axis=0)[:-1]
    cat = np.concatenate
    score = np.array([(d, m, int(bm.end_ms.max()) if bm.n_objects else -(2**40)) for bm, (d, m) in zip(maps, score_mults)],
                     np.float64)
    return MapPack(cat([t.oi for t in tabs]), cat([t.of for t in tabs]), cat([t.ev_time for t in tabs]),
                   cat([t.ev_tail for t in tabs]), cat([t.ball_t1 for t in tabs]), cat([t.ball_t2 for t in tabs]),
                   cat([t.ball_ab for t in tabs]), np.stack([t.params for t in tabs]), offsets,
                   cat(clocks).astype(np.int64), score.reshape(-1, 3), int(counts[:, 0].max(initial=0)),
                   max((bm.n_objects + int((bm.kind != CIRCLE).sum()) + 1 for bm in maps), default=1))


@dataclass
class Plays:
    """The state of ``num_envs`` plays: the judge's columns per play (sized to the largest
    map), the env's own counters, the cursor and the clock."""

    si: np.ndarray  # (e, max_objects, 14)
    sf: np.ndarray  # (e, max_objects, 7)
    g: np.ndarray  # (e, 16)
    # (e, capacity, 4): one step's events.  Over a whole play an object has at most one
    # verdict and a slider one head event; a frame scores at most one tick (one slider is
    # tracked) and one count per spinner.  So n + (sliders + spinners) + 1 bounds a step.
    ev: np.ndarray
    env: np.ndarray  # (e, 9) the E_* columns
    xy: np.ndarray  # (e, 2) cursor px
    t_next: np.ndarray  # (e,) Play.t_ms: the next frame's time, or the last one's once over

    @staticmethod
    def new(p: MapPack, num_envs: int) -> "Plays":
        n = max(p.max_objects, 1)
        return Plays(np.zeros((num_envs, n, 14), np.int64), np.zeros((num_envs, n, 7)), np.zeros((num_envs, 16), np.int64),
                     np.zeros((num_envs, p.max_step_events, 4), np.int64), np.zeros((num_envs, 9), np.int64),
                     np.zeros((num_envs, 2)), np.zeros(num_envs, np.int64))

    def start(self, e: int, map_id: int, p: MapPack) -> None:
        """Play ``e`` begins map ``map_id``: as ``Play.__init__``."""
        fj.reset_state(self.si[e], self.sf[e], self.g[e])
        self.env[e] = 0
        self.env[e, E_MAP] = map_id
        self.xy[e] = rules.SPINNER_CENTRE
        self.t_next[e] = p.times[p.offsets[map_id, 6]]


def step(p: MapPack, s: Plays, x: np.ndarray, y: np.ndarray, keys: np.ndarray, weights: np.ndarray,
         rewards: np.ndarray, table: tuple, k: int, obs: np.ndarray) -> None:
    """Every play advances one frame with the cursor at (x, y) and ``keys`` held
    (``Play.advance``); ``rewards`` receives each play's reward and ``obs`` its next
    observation (``table``: :func:`table_arrays`), the last one where the play is over."""
    _step_all(p.oi, p.of, p.ev_time, p.ev_tail, p.ball_t1, p.ball_t2, p.ball_ab, p.params, p.offsets, p.times, p.score,
              s.si, s.sf, s.g, s.ev, s.env, s.xy, s.t_next, x, y, keys, weights, rewards, table, k, obs)


@numba.njit(cache=True, _nrt=False)
def _step_all(oi, of, ev_time, ev_tail, ball_t1, ball_t2, ball_ab, params, offsets, times, score,
              si, sf, g, ev, env, xy, t_next, x, y, keys, w, rewards, tab, k, obs):
    for e in range(env.shape[0]):
        m = env[e, E_MAP]
        o0, on, e0, en, b0, bn, t0 = offsets[m, 0], offsets[m, 1], offsets[m, 2], offsets[m, 3], offsets[m, 4], \
            offsets[m, 5], offsets[m, 6]
        oi_m, of_m = oi[o0:o0 + on], of[o0:o0 + on]
        evt, evk = ev_time[e0:e0 + en], ev_tail[e0:e0 + en]
        bt1, bt2, bab = ball_t1[b0:b0 + bn], ball_t2[b0:b0 + bn], ball_ab[b0:b0 + bn]
        p = params[m]
        si_e, sf_e, g_e, ev_e = si[e, :on], sf[e, :on], g[e], ev[e]
        i = env[e, E_I]
        t = times[t0 + i]
        prev = env[e, E_PREV_T]
        combo_before = g_e[fj.G_COMBO]
        g_e[fj.G_N_EVENTS] = 0
        g_e[fj.G_LAST_FRAME_T] = prev
        fj._step(oi_m, of_m, evt, evk, bt1, bt2, bab, p, si_e, sf_e, g_e, ev_e, t, x[e], y[e], keys[e],
                 fj.NO_POST_UNTIL, i > 0 and t == prev)
        env[e, E_PREV_T] = t
        xy[e, 0], xy[e, 1] = x[e], y[e]
        i += 1
        env[e, E_I] = i
        if i < offsets[m, 7]:
            t_next[e] = times[t0 + i]
        else:
            env[e, E_DONE] = 1
            complete = on == 0 or t >= np.int64(score[m, 2]) - 1
            fj._finish(oi_m, of_m, evt, p, si_e, sf_e, g_e, ev_e, complete)
        rewards[e] = _score(ev_e, min(g_e[fj.G_N_EVENTS], ev_e.shape[0]), combo_before, env[e], score[m, 0], score[m, 1], w)
        _observe_row(tab, m, np.float64(t_next[e]), xy[e, 0], xy[e, 1], k, obs[e])


@numba.njit(cache=True, _nrt=False, inline="always")
def _score(ev, n_events, combo, env_e, diff_mult, mod_mult, w):
    """``Play._score``: the reward of one step's events, and its counts and ScoreV1."""
    r = 0.0
    for k in range(n_events):
        what, value = ev[k, 2], ev[k, 3]
        if what == fj.HIT:
            if value == 300:
                env_e[E_N300] += 1
                r += w[0]
            elif value == 100:
                env_e[E_N100] += 1
                r += w[1]
            elif value == 50:
                env_e[E_N50] += 1
                r += w[2]
            else:
                env_e[E_NMISS] += 1
                r += w[3]
            if value:
                env_e[E_SCORE] += np.int64(value + value * max(combo - 1, 0) * np.int64(diff_mult) * mod_mult / 25.0)
                combo += 1
            else:
                combo = 0
        elif what == fj.HEAD:
            r += w[4] * value / 300 if value else w[5]
            env_e[E_SCORE] += 30 if value else 0
            combo = combo + 1 if value else 0
        elif what == fj.TICK:
            r += w[6] if value else w[7]
            env_e[E_SCORE] += 10 if value else 0
        else:
            r += w[8]
            env_e[E_SCORE] += 100 if value % 2 == 0 else 0
    return r


# --------------------------------------------------------------------------- observations
def table_arrays(table: ObjectTable) -> tuple:
    """The arrays of an observation table, as one argument for the compiled code."""
    return (table.map_first, table.map_duration, table.key, table.kind, table.start, table.end, table.map_static,
            table.xy, table.end_xy, table.aim_xy, table.pace, table.slider_row, table.span_ms, table.spans,
            table.length, table.path_first, table.path_last, table.path_key, table.path_xy)


def observe(table: ObjectTable, map_id: np.ndarray, t_ms: np.ndarray, x: np.ndarray, y: np.ndarray, k: int,
            out: np.ndarray | None = None) -> np.ndarray:
    """``features.observe``, compiled; writes into ``out`` when given."""
    q = t_ms.shape[0]
    if out is None:
        out = np.zeros((q, GLOBAL_FEATURES + OBJECT_FEATURES * k), np.float32)
    _observe(table_arrays(table), np.ascontiguousarray(map_id, np.int64), np.ascontiguousarray(t_ms, np.float64),
             np.ascontiguousarray(x, np.float64), np.ascontiguousarray(y, np.float64), k, out)
    return out


@numba.njit(cache=True, _nrt=False, inline="always")
def _floor_div(a, b):
    """Python's and numpy's float floor division (npy_divmod), which is not floor(a / b)."""
    mod = np.fmod(a, b)
    div = (a - mod) / b
    if mod:
        if (b < 0) != (mod < 0):
            div -= 1.0
    if div:
        fl = math.floor(div)
        if div - fl > 0.5:
            fl += 1.0
        return fl
    return math.copysign(0.0, a / b)


@numba.njit(cache=True, _nrt=False, inline="always")
def _bisect(a, v, right):
    lo, hi = 0, a.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid] < v or (right and a[mid] == v):
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, _nrt=False, inline="always")
def _clip(v, lim):
    return min(max(v, -lim), lim)


@numba.njit(cache=True, _nrt=False)
def _observe(tab, map_id, t_ms, cx, cy, k, out):
    for q in range(t_ms.shape[0]):
        _observe_row(tab, map_id[q], t_ms[q], cx[q], cy[q], k, out[q])


@numba.njit(cache=True, _nrt=False, inline="always")
def _observe_row(tab, m, t, x, y, k, row):
    """One observation (``features.observe`` for one query) into ``row``."""
    map_first, map_duration, key, kind, start, end, map_static, xy, end_xy, aim_xy, pace, slider_row, span_ms, \
        spans, length, path_first, path_last, path_key, path_xy = tab
    n = kind.shape[0]
    lim = np.float32(OBS_LIMIT)
    row[:] = 0.0
    row[0] = (x - rules.SPINNER_CENTRE[0]) / POS_SCALE_PX
    row[1] = (y - rules.SPINNER_CENTRE[1]) / POS_SCALE_PX
    row[2] = min(max(t / map_duration[m], 0.0), 1.0)
    for c in range(1, 4):
        row[2 + c] = map_static[m, c]
    if n > 0:
        first = _bisect(key, t + m * MAP_TIME_GAP_MS, False)
        for j in range(k):
            idx = first + j
            present = np.float32(1.0 if idx < map_first[m + 1] else 0.0)
            o = min(idx, n - 1)
            s0, e0 = start[o], end[o]
            running = s0 <= t and t <= e0
            ax, ay = aim_xy[o, 0], aim_xy[o, 1]
            if running and kind[o] == SLIDER:
                r = slider_row[o]
                sm, sp, ln = span_ms[r], spans[r], length[r]
                safe = max(sm, 1e-9)
                elapsed = min(max(t - s0, 0.0), sm * sp)
                span = min(_floor_div(elapsed, safe), sp - 1)
                progress = elapsed / safe - span
                d = abs(np.fmod(span, 2.0) - progress) * ln
                qd = d + r * PATH_GAP_PX
                kk = _bisect(path_key, qd, True)
                last = path_last[r]
                lo = min(max(kk - 1, path_first[r]), last)
                hi = min(lo + 1, last)
                key_lo = path_key[lo]
                f = (qd - key_lo) / max(path_key[hi] - key_lo, 1e-12)
                f = min(max(f, 0.0), 1.0)
                ax = path_xy[lo, 0] * (1 - f) + path_xy[hi, 0] * f
                ay = path_xy[lo, 1] * (1 - f) + path_xy[hi, 1] * f
            b = GLOBAL_FEATURES + OBJECT_FEATURES * j
            row[b + 0] = 1.0
            row[b + 1] = _clip((s0 - t) / 1000.0, TIME_CLIP_S)
            row[b + 2] = _clip((e0 - t) / 1000.0, TIME_CLIP_S)
            row[b + 3] = (xy[o, 0] - x) / POS_SCALE_PX
            row[b + 4] = (xy[o, 1] - y) / POS_SCALE_PX
            row[b + 5] = (ax - x) / POS_SCALE_PX
            row[b + 6] = (ay - y) / POS_SCALE_PX
            row[b + 7] = (end_xy[o, 0] - x) / POS_SCALE_PX
            row[b + 8] = (end_xy[o, 1] - y) / POS_SCALE_PX
            row[b + 9 + kind[o]] = 1.0
            row[b + 12] = 1.0 if running else 0.0
            row[b + 13] = pace[o]
            for c in range(OBJECT_FEATURES):
                row[b + c] *= present
    for c in range(row.shape[0]):
        row[c] = min(max(row[c], -lim), lim)
