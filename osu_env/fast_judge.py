"""The judge of :mod:`osu_env.judge`, compiled: the same rules, one numba loop over a replay.

The readable :class:`osu_env.judge.Judge` is the reference: every rule lives there with
its source, and this module follows it statement by statement, so that the two give the
same verdict, time, hit error, slider parts, spinner count and event for every object
(``tests/test_fast_judge.py`` holds them equal on every replay in ``../shared/data``, the
robotic ones and the unit maps).  The per-frame Python of the reference is what makes it
slow (about 10 ms a replay against circleguard's 7, which judges far less), so here the
state lives in a few arrays and one compiled call steps every frame that matters.

Layout: a map is flattened once into :class:`Tables` (per-object integer and float
columns, the slider score events, and the slider ball's whole-ms chords for every
slider); a play's state is :class:`State` (per-object columns plus a handful of scalars).
Compiled code is cached on disk (``cache=True``), so only the first process on a machine
pays the compilation (8-13 s; ``scripts/bench_judge.py`` reports it).

Two compiler settings carry the speed.  The per-frame functions are built with
``_nrt=False``: they allocate nothing, and without it numba wraps every array passed
between functions in atomic reference counts, which made a frame cost 420 ns instead of
45.  The small helpers and ``_step`` are inlined into the loop (``inline="always"``);
inlining the large ones too gained 10% and tripled the compile time, so they stay calls.
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numba
import numpy as np

from . import rules
from .beatmap import CIRCLE, EVENT_TAIL, SLIDER, SPINNER, Beatmap
from .judge import JudgeResult, first_post_ms, midway_unload_ms

HIT, HEAD, TICK, SPIN = 0, 1, 2, 3  # event codes: indices into judge.EVENT_NAMES
_NEVER = np.int64(2**62)  # "no midway unload" (the reference's math.inf)
NO_POST_UNTIL = np.int64(-(2**62))  # the reference's post_until_ms=None

# per-object integer table columns
K_KIND, K_START, K_END, K_STACKED, K_FADE, K_POST_FROM, K_UNLOAD, K_EV_LO, K_EV_HI, K_BALL_LO, K_BALL_HI, \
    K_REQ, K_GREAT, K_OK, K_MEH = range(15)
# per-object float table columns
F_START, F_END, F_X, F_Y, F_MAX_ACCEL = range(5)
# per-object integer state columns
S_RESULT, S_DONE, S_DONE_AT, S_START_HIT, S_START_RESULT, S_DOWN, S_SLIDING, S_SLIDE_START, S_SCORED, S_MISSED, \
    S_UPDATED, S_ZEROS, S_LAST_COUNT, S_COUNT = range(14)
# per-object float state columns
V_JUDGED_AT, V_HIT_ERROR, V_VELOCITY, V_THEORETICAL, V_LAST_ANGLE, V_FRAME_VARIANCE, V_ROTATION = range(7)
# scalar state
G_BUTTONS, G_GAME_DOWN, G_MOUSE_DOWN, G_LAST_BUTTON, G_LAST_BUTTON2, G_LAST_FRAME_T, G_COMBO, G_MAX_COMBO, G_LO, \
    G_HI, G_T, G_N_EVENTS, G_LEFT_COND, G_RIGHT_COND, G_LEFT_E, G_RIGHT_E = range(16)
# rule parameters (floats): radius^2, follow radius^2, clock rate, windows, flags
P_R2, P_FOLLOW_R2, P_RATE, P_W300, P_W100, P_W50, P_LAZER, P_OLD_SPINNER, P_SPUN_OUT, P_SAME_MS_OFFSET = range(10)

LEFT, RIGHT = 1, 2
CLICK, SHAKE, IGNORED = 0, 1, 2


@dataclass(frozen=True)
class Tables:
    """One beatmap, flattened for the compiled judge."""

    oi: np.ndarray  # (n, 15) int64: the K_* columns
    of: np.ndarray  # (n, 5) float64: the F_* columns
    ev_time: np.ndarray  # int64 slider score event times, every slider's in a row (K_EV_LO/HI)
    ev_tail: np.ndarray  # 1 where the event is the legacy last tick
    ball_t1: np.ndarray  # the ball's chords, every slider's in a row (K_BALL_LO/HI)
    ball_t2: np.ndarray
    ball_ab: np.ndarray  # (k, 4): chord start x, y, end x, y
    params: np.ndarray  # the P_* values


@dataclass
class State:
    """One play's judgement so far."""

    si: np.ndarray  # (n, 14) int64: the S_* columns
    sf: np.ndarray  # (n, 7) float64: the V_* columns
    g: np.ndarray  # (16,) int64: the G_* scalars
    events: np.ndarray  # (capacity, 4) int64: t, object, code, value


_TABLES: dict[tuple[int, bool, bool], Tables] = {}


def _forget(beatmap_id: int) -> None:
    for key in [k for k in _TABLES if k[0] == beatmap_id]:
        del _TABLES[key]


def tables(beatmap: Beatmap, *, lazer: bool = False, old_spinner_scoring: bool = False) -> Tables:
    """``beatmap`` flattened with the rules of one client (see ``judge.ClientRules``).

    Kept while the beatmap lives (its arrays are read-only, so the tables stay true): a
    batch judges many replays of one map, and the env replays one map many times."""
    key = (id(beatmap), lazer, old_spinner_scoring)
    t = _TABLES.get(key)
    if t is None:
        if not any(k[0] == key[0] for k in _TABLES):
            weakref.finalize(beatmap, _forget, key[0])
        t = _TABLES[key] = _tables(beatmap, lazer, old_spinner_scoring)
    return t


def _tables(beatmap: Beatmap, lazer: bool, old_spinner_scoring: bool) -> Tables:
    bm = beatmap
    n = bm.n_objects
    kind = bm.kind.astype(np.int64)
    start, end = bm.start_ms.astype(np.float64), bm.end_ms.astype(np.float64)
    start_i, end_i = start.astype(np.int64), end.astype(np.int64)  # int() truncates, as the reference's
    w300, w100, w50 = bm.hit_windows
    oi = np.zeros((n, 15), np.int64)
    oi[:, K_KIND], oi[:, K_START], oi[:, K_END] = kind, start_i, end_i
    oi[:, K_STACKED] = bm.stack_height > 0
    oi[:, K_FADE] = (start - bm.preempt_ms).astype(np.int64)
    unload_at = {} if lazer else midway_unload_ms(bm.kind, bm.start_ms, bm.end_ms)
    oi[:, K_UNLOAD] = _NEVER
    for i, at in unload_at.items():
        oi[i, K_UNLOAD] = at
    oi[:, K_POST_FROM] = first_post_ms(bm, unload_at)
    sliders = np.flatnonzero(kind == SLIDER)
    s = bm.slider_index[sliders]
    oi[sliders, K_EV_LO], oi[sliders, K_EV_HI] = bm.event_start[s], bm.event_start[s + 1]
    spinners = np.flatnonzero(kind == SPINNER)
    for i in spinners.tolist():
        dur = float(end[i] - start[i])
        req = rules.spinner_requirement(dur, bm.od)
        oi[i, K_REQ] = req
        oi[i, K_GREAT:K_MEH + 1] = rules.spinner_thresholds(req, old_spinner_scoring)
    of = np.zeros((n, 5), np.float64)
    of[:, F_START], of[:, F_END], of[:, F_X], of[:, F_Y] = start, end, bm.x, bm.y
    dur = end[spinners] - start[spinners]
    of[spinners, F_MAX_ACCEL] = rules.spinner_max_acceleration(dur)
    ball_lo, t1, t2, ab = _ball_paths(
        np.ascontiguousarray(bm.path_xy, np.float64), bm.path_start.astype(np.int64), start[sliders],
        bm.span_ms.astype(np.float64), bm.spans.astype(np.int64))
    oi[sliders, K_BALL_LO], oi[sliders, K_BALL_HI] = ball_lo[:-1], ball_lo[1:]
    radius = bm.radius
    params = np.array([
        radius * radius, (radius * rules.FOLLOW_RADIUS_FACTOR) ** 2, bm.clock_rate, w300, w100, w50,
        float(lazer), float(old_spinner_scoring), float(bool(bm.mods & rules.Mods.SpunOut)),
        rules.SAME_MS_PRESS_OFFSET_MS,
    ], np.float64)
    return Tables(oi, of, bm.ev_time.astype(np.int64), (bm.ev_kind == EVENT_TAIL).astype(np.int64), t1, t2, ab, params)


def new_state(t: Tables, capacity: int) -> State:
    """A play before its first frame, with room for ``capacity`` events."""
    n = t.oi.shape[0]
    s = State(np.empty((n, 14), np.int64), np.empty((n, 7), np.float64), np.empty(16, np.int64),
              np.zeros((max(capacity, 1), 4), np.int64))
    reset_state(s.si, s.sf, s.g)
    return s


def reset_state(si: np.ndarray, sf: np.ndarray, g: np.ndarray) -> None:
    """Set a play's state arrays (per-object integer and float columns, scalars) to
    before its first frame, as ``Judge.__init__`` starts: nothing judged, no time yet."""
    si[...] = 0
    si[..., S_RESULT] = -1
    sf[...] = 0.0
    sf[..., V_JUDGED_AT] = np.nan
    sf[..., V_HIT_ERROR] = np.nan
    sf[..., V_FRAME_VARIANCE] = rules.STABLE_FRAME_MS
    g[...] = 0
    g[..., G_T] = -(10**9)


def event_capacity(t: Tables, stepped_ms: np.ndarray) -> int:
    """An upper bound on a play's events, given the times of the frames it will step: per
    object a verdict and a head, one per slider score event, and for each spinner at most
    one count per frame stepped inside it."""
    spinners = t.oi[:, K_KIND] == SPINNER
    times = np.sort(stepped_ms)
    inside = np.searchsorted(times, t.of[spinners, F_END], "left") - np.searchsorted(times, t.of[spinners, F_START], "right")
    return 2 * t.oi.shape[0] + t.ev_time.shape[0] + int(np.maximum(inside, 0).sum()) + 1


def run(t: Tables, s: State, ft: np.ndarray, fx: np.ndarray, fy: np.ndarray, fk: np.ndarray, order: np.ndarray,
        old_ends: bool) -> None:
    """Step the frames ``order`` of a replay (map times ``ft``), as ``judge.judge`` does."""
    _run(t.oi, t.of, t.ev_time, t.ev_tail, t.ball_t1, t.ball_t2, t.ball_ab, t.params,
         s.si, s.sf, s.g, s.events, ft, fx, fy, fk, order, old_ends)


def finish(t: Tables, s: State, complete: bool) -> None:
    _finish(t.oi, t.of, t.ev_time, t.params, s.si, s.sf, s.g, s.events, complete)


def result(t: Tables, s: State) -> JudgeResult:
    """The play's verdicts, as ``Judge.finish`` returns them."""
    n_events = int(s.g[G_N_EVENTS])
    if n_events > s.events.shape[0]:  # event_capacity is a bound, so this is a bug, never bad input
        raise AssertionError(f"compiled judge: {n_events} events overflowed a capacity of {s.events.shape[0]}")
    kind, si = t.oi[:, K_KIND], s.si
    n = kind.shape[0]
    parts = np.full((n, 2), -1, np.int32)
    sl = kind == SLIDER
    parts[sl, 0] = si[sl, S_SCORED] + (si[sl, S_START_RESULT] > 0)
    parts[sl, 1] = t.oi[sl, K_EV_HI] - t.oi[sl, K_EV_LO] + 1
    spins = np.full((n, 2), -1, np.int32)
    sp = kind == SPINNER
    spins[sp, 0], spins[sp, 1] = si[sp, S_COUNT], t.oi[sp, K_REQ]
    return JudgeResult(
        result=si[:, S_RESULT].astype(np.int16),
        judged_at_ms=s.sf[:, V_JUDGED_AT].copy(),
        hit_error_ms=s.sf[:, V_HIT_ERROR].copy(),
        slider_parts=parts,
        spinner_half_turns=spins,
        max_combo=int(s.g[G_MAX_COMBO]),
        event_table=s.events[:n_events].copy(),
    )


# --------------------------------------------------------------------------- ball paths
@numba.njit(cache=True)
def _pairwise_leaf(a, lo, n):
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r = np.empty(8)
    for j in range(8):
        r[j] = a[lo + j]
    i = 8
    while i < n - (n % 8):
        for j in range(8):
            r[j] += a[lo + i + j]
        i += 8
    res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@numba.njit(cache=True)
def _pairwise_sum(a, n):
    """numpy's pairwise float64 sum (numpy/_core/src/umath/loops_utils.h.src), so that a
    slider's total length, and so every chord's whole-ms time, is bit for bit the
    reference's ``seg.sum()``.  numpy recurses (halves rounded down to a multiple of 8,
    blocks of at most 128 summed eight ways); this walks the same tree with a stack,
    because numba's disk cache cannot hold a recursive function."""
    lo_, n_, stage = np.zeros(64, np.int64), np.zeros(64, np.int64), np.zeros(64, np.int64)
    vals = np.zeros(64)
    sp, vp = 1, 0
    n_[0] = n
    while sp > 0:
        top = sp - 1
        m = n_[top]
        if m <= 128:
            vals[vp] = _pairwise_leaf(a, lo_[top], m)
            vp += 1
            sp -= 1
            continue
        half = m // 2
        half -= half % 8
        if stage[top] == 0:
            stage[top] = 1
            lo_[sp], n_[sp], stage[sp] = lo_[top], half, 0
            sp += 1
        elif stage[top] == 1:
            stage[top] = 2
            lo_[sp], n_[sp], stage[sp] = lo_[top] + half, m - half, 0
            sp += 1
        else:
            vals[vp - 2] = vals[vp - 2] + vals[vp - 1]
            vp -= 1
            sp -= 1
    return vals[0]


@numba.njit(cache=True)
def _ball_paths(path_xy, path_start, start, span_ms, spans):
    """``beatmap.stable_ball_path`` for every slider at once: (offsets, t1, t2, chords)."""
    m = start.shape[0]
    lo = np.zeros(m + 1, np.int64)
    for s in range(m):
        k = path_start[s + 1] - path_start[s] - 1
        lo[s + 1] = lo[s] + (k * spans[s] if k > 0 and spans[s] >= 1 else 1)
    t1 = np.zeros(lo[m], np.int64)
    t2 = np.zeros(lo[m], np.int64)
    ab = np.zeros((lo[m], 4), np.float64)
    for s in range(m):
        p0 = path_start[s]
        k = path_start[s + 1] - p0 - 1
        seg = np.zeros(max(k, 0))
        for j in range(k):
            dx = np.float32(path_xy[p0 + j + 1, 0]) - np.float32(path_xy[p0 + j, 0])
            dy = np.float32(path_xy[p0 + j + 1, 1]) - np.float32(path_xy[p0 + j, 1])
            seg[j] = np.float64(np.sqrt(np.float32(dx * dx + dy * dy)))
        total = _pairwise_sum(seg, k)
        o = lo[s]
        if total <= 0 or span_ms[s] <= 0 or spans[s] < 1:
            t1[o] = t2[o] = np.int64(start[s])
            ab[o, 0] = ab[o, 2] = path_xy[p0, 0]
            ab[o, 1] = ab[o, 3] = path_xy[p0, 1]
            continue
        scale = span_ms[s] / total
        acc = 0.0
        for sp in range(spans[s]):
            for q in range(k):
                j = k - 1 - q if sp % 2 else q
                d = seg[j] * scale
                acc += d
                ends = start[s] + acc
                t1[o] = np.int64(math.floor(ends - d))
                t2[o] = np.int64(math.floor(ends))
                a, b = (p0 + j + 1, p0 + j) if sp % 2 else (p0 + j, p0 + j + 1)
                ab[o, 0], ab[o, 1], ab[o, 2], ab[o, 3] = path_xy[a, 0], path_xy[a, 1], path_xy[b, 0], path_xy[b, 1]
                o += 1
    return lo, t1, t2, ab


# --------------------------------------------------------------------------- the judge
@numba.njit(cache=True, _nrt=False, inline="always")
def _event(ev, g, t, i, code, value):
    k = g[G_N_EVENTS]
    if k < ev.shape[0]:  # past it, only counted: the caller's capacity was too small and it says so
        ev[k, 0], ev[k, 1], ev[k, 2], ev[k, 3] = t, i, code, value
    g[G_N_EVENTS] = k + 1


@numba.njit(cache=True, _nrt=False, inline="always")
def _combo(g, delta):
    if delta > 0:
        g[G_COMBO] += 1
        if g[G_COMBO] > g[G_MAX_COMBO]:
            g[G_MAX_COMBO] = g[G_COMBO]
    elif delta < 0:
        g[G_COMBO] = 0


@numba.njit(cache=True, _nrt=False, inline="always")
def _finish_object(si, sf, g, ev, i, t, result):
    si[i, S_RESULT] = result
    sf[i, V_JUDGED_AT] = t
    si[i, S_DONE] = 1
    si[i, S_DONE_AT] = t
    _event(ev, g, t, i, HIT, result)


@numba.njit(cache=True, _nrt=False, inline="always")
def _result_for_delta(p, delta):
    d = abs(delta)
    return 300 if d < p[P_W300] else 100 if d < p[P_W100] else 50 if d < p[P_W50] else 0


@numba.njit(cache=True, _nrt=False, inline="always")
def _use_press(g):
    if g[G_LEFT_E]:
        g[G_LEFT_E] = 0
    else:
        g[G_RIGHT_E] = 0


@numba.njit(cache=True, _nrt=False, inline="always")
def _head_judged(oi, si, j):
    if oi[j, K_KIND] == CIRCLE:
        return si[j, S_DONE] != 0
    return si[j, S_START_HIT] != 0 or si[j, S_DONE] != 0


@numba.njit(cache=True, _nrt=False)
def _can_be_hit(oi, of, si, g, p, t, i):
    lo = g[G_LO]
    if p[P_LAZER]:
        if abs(t - of[i, F_START]) >= rules.HITTABLE_RANGE_MS:
            return SHAKE
        for j in range(i - 1, lo - 1, -1):
            if oi[j, K_KIND] == SPINNER:
                continue
            return SHAKE if (not _head_judged(oi, si, j)) and t < of[j, F_START] else CLICK
        return CLICK
    if oi[i, K_KIND] == CIRCLE:
        for j in range(i - 1, lo - 1, -1):
            if not (si[j, S_DONE] and si[j, S_DONE_AT] < t):
                if oi[j, K_STACKED] and not si[j, S_DONE]:
                    return IGNORED
                break
    start = of[i, F_START]
    for j in range(lo, i):
        if not si[j, S_DONE] and of[j, F_END] + rules.NOTELOCK_2B_TOLERANCE_MS < start:
            return SHAKE
    if abs(t - start) >= rules.HITTABLE_RANGE_MS:
        return SHAKE
    return CLICK


@numba.njit(cache=True, _nrt=False)
def _miss_earlier_heads(oi, si, sf, g, ev, i, t):
    for j in range(g[G_LO], i):
        if oi[j, K_KIND] == SPINNER or _head_judged(oi, si, j):
            continue
        _combo(g, -1)
        if oi[j, K_KIND] == CIRCLE:
            _finish_object(si, sf, g, ev, j, t, 0)
        else:
            si[j, S_START_HIT], si[j, S_START_RESULT] = 1, 0
            _event(ev, g, t, j, HEAD, 0)


@numba.njit(cache=True, _nrt=False, inline="always")
def _over_head(of, p, i, x, y):
    return (x - of[i, F_X]) ** 2 + (y - of[i, F_Y]) ** 2 <= p[P_R2]


@numba.njit(cache=True, _nrt=False, inline="always")
def _takes_press(oi, of, si, sf, g, ev, p, i, t):
    """Whether object i, under the cursor, takes this press (notelock or lazer's order
    allowing); a shaken or ignored press is used up all the same."""
    if _can_be_hit(oi, of, si, g, p, t, i) != CLICK:
        g[G_LEFT_E] = g[G_RIGHT_E] = 0
        return False
    _use_press(g)
    if p[P_LAZER]:
        _miss_earlier_heads(oi, si, sf, g, ev, i, t)
    return True


@numba.njit(cache=True, _nrt=False)
def _click_circle(oi, of, si, sf, g, ev, p, i, t, x, y, press_offset):
    if si[i, S_DONE] or not _over_head(of, p, i, x, y) or not _takes_press(oi, of, si, sf, g, ev, p, i, t):
        return
    delta = t + press_offset - of[i, F_START]
    res = _result_for_delta(p, delta)
    if res:
        sf[i, V_HIT_ERROR] = delta
    _combo(g, 1 if res else -1)
    _finish_object(si, sf, g, ev, i, t, res)


@numba.njit(cache=True, _nrt=False, inline="always")
def _pressed_button(g):
    return LEFT if g[G_LEFT_COND] else RIGHT if g[G_RIGHT_COND] else g[G_MOUSE_DOWN]


@numba.njit(cache=True, _nrt=False)
def _click_slider(oi, of, si, sf, g, ev, p, i, t, x, y, press_offset):
    if si[i, S_DONE]:
        return
    over_head = _over_head(of, p, i, x, y)
    if si[i, S_START_HIT]:
        if over_head and not p[P_LAZER]:
            _use_press(g)
        return
    if not over_head or not _takes_press(oi, of, si, sf, g, ev, p, i, t):
        return
    si[i, S_DOWN] = _pressed_button(g)
    delta = t + press_offset - of[i, F_START]
    res = _result_for_delta(p, delta)
    si[i, S_START_RESULT] = res
    si[i, S_START_HIT] = 1
    if res:
        sf[i, V_HIT_ERROR] = delta
    _combo(g, 1 if res else -1)
    _event(ev, g, t, i, HEAD, res)


@numba.njit(cache=True, _nrt=False)
def _ball(oi, ball_t1, ball_t2, ball_ab, i, t):
    lo, hi = oi[i, K_BALL_LO], oi[i, K_BALL_HI]
    a, b = lo, hi  # bisect_left over t2
    while a < b:
        mid = (a + b) // 2
        if ball_t2[mid] < t:
            a = mid + 1
        else:
            b = mid
    k = min(a, hi - 1)
    t1, t2 = ball_t1[k], ball_t2[k]
    if t2 == t1:
        return ball_ab[k, 2], ball_ab[k, 3]
    f = (min(max(t, t1), t2) - t1) / (t2 - t1)
    return ball_ab[k, 0] + f * (ball_ab[k, 2] - ball_ab[k, 0]), ball_ab[k, 1] + f * (ball_ab[k, 3] - ball_ab[k, 1])


@numba.njit(cache=True, _nrt=False)
def _track_slider(oi, of, ev_time, ev_tail, ball_t1, ball_t2, ball_ab, p, si, g, ev, i, t, x, y):
    if t < of[i, F_START]:
        return
    game_down, mouse_down = g[G_GAME_DOWN], g[G_MOUSE_DOWN]
    swap_ok = game_down != 0 and not (g[G_LAST_BUTTON] == (LEFT | RIGHT) and g[G_LAST_BUTTON2] == mouse_down)
    acceptable = False
    if game_down != 0:
        if si[i, S_DOWN] == 0 or (mouse_down != (LEFT | RIGHT) and swap_ok):
            si[i, S_DOWN] = _pressed_button(g)
            acceptable = True
        elif (mouse_down & si[i, S_DOWN]) != 0:
            acceptable = True
    else:
        si[i, S_DOWN] = 0
    allowable = False
    if acceptable or swap_ok:
        bx, by = _ball(oi, ball_t1, ball_t2, ball_ab, i, t)
        allowable = (x - bx) ** 2 + (y - by) ** 2 < (p[P_FOLLOW_R2] if si[i, S_SLIDING] else p[P_R2])
    if allowable and not si[i, S_SLIDING]:
        si[i, S_SLIDING] = 1
        si[i, S_SLIDE_START] = t
    lo, n_ev = oi[i, K_EV_LO], oi[i, K_EV_HI] - oi[i, K_EV_LO]
    k = si[i, S_SCORED] + si[i, S_MISSED]
    if k < n_ev and ev_time[lo + k] <= t:
        if allowable and si[i, S_SLIDE_START] <= ev_time[lo + k]:
            si[i, S_SCORED] += 1
            _combo(g, 1)
            _event(ev, g, t, i, TICK, 1)
        else:
            si[i, S_MISSED] += 1
            if not ev_tail[lo + k]:
                _combo(g, -1)
            _event(ev, g, t, i, TICK, 0)
    if not allowable and si[i, S_SLIDING] and si[i, S_SCORED] + si[i, S_MISSED] < n_ev:
        si[i, S_SLIDING] = 0


@numba.njit(cache=True, _nrt=False)
def _spin(oi, of, p, si, sf, g, ev, i, t, x, y):
    if not (of[i, F_START] < t < of[i, F_END]):
        return
    rate = p[P_RATE]
    last = g[G_LAST_FRAME_T]
    dt = float(t - last) if last != 0 else rules.STABLE_FRAME_MS
    max_accel = of[i, F_MAX_ACCEL] * dt / rate
    v, th = sf[i, V_VELOCITY], sf[i, V_THEORETICAL]
    if p[P_SPUN_OUT]:
        v = rules.SPUN_OUT_VELOCITY
    elif th > v:
        v += min(th - v, max_accel)
    else:
        v += max(th - v, -max_accel)
    v = max(-rules.SPINNER_MAX_VELOCITY, min(v, rules.SPINNER_MAX_VELOCITY))
    sf[i, V_VELOCITY] = v
    angle = math.atan2(y - rules.SPINNER_CENTRE[1], x - rules.SPINNER_CENTRE[0])
    if not p[P_OLD_SPINNER] and not si[i, S_UPDATED]:
        sf[i, V_LAST_ANGLE] = angle
        si[i, S_UPDATED] = 1
    diff = angle - sf[i, V_LAST_ANGLE]
    if diff < -math.pi:
        diff += 2 * math.pi
    elif diff > math.pi:
        diff -= 2 * math.pi
    decay = 0.999**dt
    sf[i, V_FRAME_VARIANCE] = decay * sf[i, V_FRAME_VARIANCE] + (1 - decay) * dt
    if diff == 0:
        si[i, S_ZEROS] += 1
        sf[i, V_THEORETICAL] = th / 3 if si[i, S_ZEROS] < 2 else 0.0
    else:
        si[i, S_ZEROS] = 0
        if not g[G_GAME_DOWN]:
            diff = 0.0
        if abs(diff) < math.pi:
            if sf[i, V_FRAME_VARIANCE] / rate > rules.STABLE_FRAME_MS * 1.04:
                sf[i, V_THEORETICAL] = diff / (dt / rate) if dt > 0 else 0.0
            else:
                sf[i, V_THEORETICAL] = diff / rules.STABLE_FRAME_MS
        else:
            sf[i, V_THEORETICAL] = 0.0
    sf[i, V_LAST_ANGLE] = angle
    sf[i, V_ROTATION] += abs(v * dt) / math.pi
    count = int(sf[i, V_ROTATION])
    if count != si[i, S_LAST_COUNT]:
        si[i, S_COUNT] += 1
        si[i, S_LAST_COUNT] = count
        _event(ev, g, t, i, SPIN, si[i, S_COUNT])


_slider_result = numba.njit(cache=True, _nrt=False, inline="always")(rules.slider_result)


@numba.njit(cache=True, _nrt=False)
def _post(oi, of, ev_time, p, si, sf, g, ev, i, t, post_t):
    k = oi[i, K_KIND]
    w50 = np.int64(p[P_W50])
    if k == CIRCLE:
        deadline = oi[i, K_START] + w50
        if post_t > deadline:
            _combo(g, -1)
            _finish_object(si, sf, g, ev, i, max(t, deadline + 1), 0)
    elif k == SLIDER:
        if post_t >= oi[i, K_UNLOAD]:
            si[i, S_DONE], si[i, S_DONE_AT] = 1, t
            return
        deadline = oi[i, K_START] + w50
        if post_t > deadline and not si[i, S_START_HIT]:
            si[i, S_START_HIT] = 1
            si[i, S_START_RESULT] = 0
            si[i, S_DOWN] = _pressed_button(g)
            _combo(g, -1)
            _event(ev, g, max(t, deadline + 1), i, HEAD, 0)
        end_i = oi[i, K_END]
        if post_t >= end_i:
            if not si[i, S_START_HIT]:
                _combo(g, -1)
                _event(ev, g, max(t, end_i), i, HEAD, 0)
            si[i, S_START_HIT] = 1
            n_ev = oi[i, K_EV_HI] - oi[i, K_EV_LO]
            hits = si[i, S_SCORED] + (1 if si[i, S_START_RESULT] > 0 else 0)
            res = si[i, S_START_RESULT] if p[P_LAZER] else _slider_result(hits, n_ev + 1)
            if res == 0:
                _combo(g, -1)
            _finish_object(si, sf, g, ev, i, max(t, end_i), res)
    else:
        if post_t >= of[i, F_END]:
            c = si[i, S_COUNT]
            old = p[P_OLD_SPINNER]
            if ((not old) and oi[i, K_REQ] == 0) or c >= oi[i, K_GREAT]:
                res = 300
            elif c >= oi[i, K_OK]:
                res = 100
            elif c >= oi[i, K_MEH]:
                res = 50
            else:
                res = 0
            _combo(g, 1 if res else -1)
            _finish_object(si, sf, g, ev, i, max(t, oi[i, K_END]), res)


@numba.njit(cache=True, _nrt=False, inline="always")
def _step(oi, of, ev_time, ev_tail, ball_t1, ball_t2, ball_ab, p, si, sf, g, ev, t, x, y, keys, post_until, same_ms):
    """``Judge.step``; ``post_until`` == NO_POST_UNTIL stands for None."""
    n = oi.shape[0]
    press_offset = p[P_SAME_MS_OFFSET] if same_ms and not p[P_LAZER] else 0.0
    hi, lo = g[G_HI], g[G_LO]  # _visible
    while hi < n and oi[hi, K_FADE] <= t - 1:
        hi += 1
    while lo < hi and si[lo, S_DONE] and si[lo, S_DONE_AT] < t:
        lo += 1
    g[G_HI], g[G_LO] = hi, lo
    left, right = (keys & rules.M1) != 0, (keys & rules.M2) != 0
    buttons = g[G_BUTTONS]
    left_cond = left and not (buttons & LEFT)
    right_cond = right and not (buttons & RIGHT)
    now = (LEFT if left else 0) | (RIGHT if right else 0)
    if now != buttons:
        g[G_GAME_DOWN] = left or right
        g[G_LAST_BUTTON2] = g[G_LAST_BUTTON]
        g[G_LAST_BUTTON] = g[G_MOUSE_DOWN]
        g[G_MOUSE_DOWN] = now
    g[G_LEFT_COND], g[G_RIGHT_COND] = left_cond, right_cond
    g[G_LEFT_E], g[G_RIGHT_E] = left_cond, right_cond
    if left_cond or right_cond:
        for i in range(lo, hi):
            if not (g[G_LEFT_E] or g[G_RIGHT_E]):
                break
            k = oi[i, K_KIND]
            if k == CIRCLE:
                _click_circle(oi, of, si, sf, g, ev, p, i, t, x, y, press_offset)
            elif k == SLIDER:
                _click_slider(oi, of, si, sf, g, ev, p, i, t, x, y, press_offset)
    g[G_BUTTONS] = now
    slider_seen = False
    for i in range(lo, hi):
        k = oi[i, K_KIND]
        if k == SLIDER:
            if slider_seen or (si[i, S_DONE] and si[i, S_DONE_AT] < t):
                continue
            slider_seen = True
            if not si[i, S_DONE]:
                _track_slider(oi, of, ev_time, ev_tail, ball_t1, ball_t2, ball_ab, p, si, g, ev, i, t, x, y)
        elif k == SPINNER and not si[i, S_DONE]:
            _spin(oi, of, p, si, sf, g, ev, i, t, x, y)
    g[G_LAST_FRAME_T] = t
    post_t = t if post_until == NO_POST_UNTIL else max(t, post_until - 1)
    for i in range(lo, hi):
        if not si[i, S_DONE] and post_t >= oi[i, K_POST_FROM]:
            _post(oi, of, ev_time, p, si, sf, g, ev, i, t, post_t)
    g[G_T] = t


@numba.njit(cache=True, _nrt=False)
def _run(oi, of, ev_time, ev_tail, ball_t1, ball_t2, ball_ab, p, si, sf, g, ev, ft, fx, fy, fk, order, old_ends):
    n = ft.shape[0]
    for f in order:
        g[G_LAST_FRAME_T] = ft[f - 1] if f > 0 else 0
        until = ft[f + 1] if (old_ends and f + 1 < n) else NO_POST_UNTIL
        same = f > 0 and ft[f] == ft[f - 1]
        _step(oi, of, ev_time, ev_tail, ball_t1, ball_t2, ball_ab, p, si, sf, g, ev, ft[f], fx[f], fy[f], fk[f],
              until, same)


@numba.njit(cache=True, _nrt=False)
def _finish(oi, of, ev_time, p, si, sf, g, ev, complete):
    n = oi.shape[0]
    if complete and n:
        last = of[0, F_END]
        for i in range(1, n):
            last = max(last, of[i, F_END])
        t_end = np.int64(last) + np.int64(p[P_W50]) + 1
        for i in range(g[G_LO], n):
            if not si[i, S_DONE]:
                _post(oi, of, ev_time, p, si, sf, g, ev, i, max(g[G_T], t_end), t_end)
