"""How human and how accurate a play is: the measures behind ``osu-imitation benchmark``.

Accuracy comes from the judge.  Human-likeness has two halves, the cursor's path and the
keys' timing, measured apart so that each cheat shows where it lives: Relax (machine
taps, a person's aim) in the timing, Autopilot (machine aim, a person's taps) in the
path.  This module holds the measures; :mod:`agents.detectors` the classifiers that read
them.

- every play is resampled at 60 Hz of *real* time (a DT play's 25 map-ms is one frame)
  over the span of the map's objects, with a random phase, so a player's own recording
  clock (exact grid, jittered frames) leaves no trace in the motion;
- :func:`window_features` turns each 0.53 s window of that path into 22 numbers about
  the texture of the movement (speed, acceleration and jerk levels, how they relate,
  turning angles, stillness, straightness, wiggle, tremor-band power, sharp reversals);
- :func:`key_stats` sums up the presses (lengths, alternation in streams, double taps,
  slider holding);
- :func:`c2st` trains a classifier to tell two sets of windows apart on one split of
  players and scores it on the others (ROC AUC, 0.5 = indistinguishable), with a
  bootstrap over players for the interval.

The recording clock itself is judged separately (:func:`recording_clock_ms`): a timewarp
slows the game's clock, so its 60 Hz frames land closer together in map time.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.stats import wasserstein_distance
from sklearn.ensemble import HistGradientBoostingClassifier

from osu_env.beatmap import CIRCLE, SLIDER, SPINNER, Beatmap
from osu_env.rules import M1, M2, SCREEN_X_PX, SCREEN_Y_PX

FRAME_MS = 1000.0 / 60.0  # real time between resampled positions
WINDOW = 32  # resampled frames per classifier window (0.53 s)
STRIDE = 16
MOVING_PX = 0.5  # px per frame: slower than this the direction of travel is noise
TREMOR_HZ = 8.0  # physiological tremor lives at 8-12 Hz; deliberate aim below it
SNAP_ANGLE_DEG = 10.0  # circleguard: angle abc below 10 degrees ...
SNAP_LEG_PX = 8.0  # ... with both legs longer than 8 osu!px
MAX_ITER = 100  # boosting rounds of the two-sample classifier
TIMEWARP_CLOCK_MS = 16.3  # stable records at 60 Hz real (16.67 ms); 97.5% speed gives 16.25
FEATURE_NAMES = (
    "speed_q10", "speed_q50", "speed_q90", "speed_max", "accel_q10", "accel_q50", "accel_q90",
    "jerk_q10", "jerk_q50", "jerk_q90", "jerk_per_accel", "accel_per_speed", "still", "frozen",
    "turn_q50", "turn_q90", "turn_mean", "straight_steps", "straightness", "wiggle", "tremor_power",
    "reversals",
)


def frame_grid(t_ms: np.ndarray, bm: Beatmap, phase: float = 0.0) -> np.ndarray:
    """Map times every 1/60 s of real time while the map's objects play and the play has
    frames, shifted by ``phase`` (0-1 of a frame)."""
    t = np.asarray(t_ms, np.float64)
    if not bm.n_objects or t.size < 2:
        return np.empty(0)
    start = max(float(bm.start_ms[0]), t[0])
    stop = min(float(bm.end_ms.max()), t[-1])
    step = FRAME_MS * bm.clock_rate
    return start + (phase + np.arange(max(0, int((stop - start) / step)))) * step


def resample(t_ms: np.ndarray, x: np.ndarray, y: np.ndarray, bm: Beatmap, phase: float = 0.0) -> np.ndarray:
    """Cursor positions ``(n, 2)`` on :func:`frame_grid`; repeated frame times keep the
    last frame, as the game shows the newest input of a millisecond."""
    t = np.asarray(t_ms, np.float64)
    keep = np.r_[t[1:] != t[:-1], True]
    t, x, y = t[keep], np.asarray(x, np.float64)[keep], np.asarray(y, np.float64)[keep]
    grid = frame_grid(t, bm, phase)
    if not grid.size:
        return np.empty((0, 2))
    return np.column_stack([np.interp(grid, t, x), np.interp(grid, t, y)])


def kinematics(pos: np.ndarray) -> dict[str, np.ndarray]:
    """Speed, acceleration and jerk magnitudes (osu!px per frame^k at 60 Hz) and the
    turning angle in degrees between consecutive moves of at least ``MOVING_PX``."""
    v = np.diff(pos, axis=0)
    a = np.diff(v, axis=0)
    j = np.diff(a, axis=0)
    s = np.linalg.norm(v, axis=1)
    turn = _turn_deg(v[:-1], v[1:])
    moving = (s[:-1] > MOVING_PX) & (s[1:] > MOVING_PX)
    return {"speed": s, "acceleration": np.linalg.norm(a, axis=1), "jerk": np.linalg.norm(j, axis=1),
            "angle": turn[moving]}


def _turn_deg(v1: np.ndarray, v2: np.ndarray) -> np.ndarray:
    cross = v1[..., 0] * v2[..., 1] - v1[..., 1] * v2[..., 0]
    dot = (v1 * v2).sum(-1)
    return np.degrees(np.abs(np.arctan2(cross, dot)))


def window_features(pos: np.ndarray) -> np.ndarray:
    """``(n_windows, len(FEATURE_NAMES))`` texture of the path in windows of ``WINDOW``
    frames, ``STRIDE`` apart.  Undefined values (no moving frames) are NaN, which the
    classifier treats as their own branch."""
    if len(pos) < WINDOW:
        return np.empty((0, len(FEATURE_NAMES)))
    w = sliding_window_view(pos, WINDOW, axis=0)[::STRIDE].transpose(0, 2, 1)  # (n, W, 2)
    v = np.diff(w, axis=1)
    a = np.diff(v, axis=1)
    j = np.diff(a, axis=1)
    s, am, jm = np.linalg.norm(v, axis=2), np.linalg.norm(a, axis=2), np.linalg.norm(j, axis=2)
    ls, la, lj = np.log1p(s), np.log1p(am), np.log1p(jm)
    qs, qa, qj = (np.percentile(z, [10, 50, 90], axis=1).T for z in (ls, la, lj))
    med_s, med_a, med_j = np.median(s, 1), np.median(am, 1), np.median(jm, 1)
    moving = (s[:, :-1] > MOVING_PX) & (s[:, 1:] > MOVING_PX)
    turn = np.where(moving, _turn_deg(v[:, :-1], v[:, 1:]), np.nan)
    n_moving = moving.sum(1)
    with np.errstate(all="ignore"), warnings.catch_warnings():  # windows with no moving frames get NaN on purpose
        warnings.simplefilter("ignore", RuntimeWarning)
        tq = np.nanpercentile(turn, [50, 90], axis=1).T
        turn_mean = np.nanmean(turn, 1)
        straight = np.where(n_moving > 0, (np.nan_to_num(turn, nan=99.0) < 1.0).sum(1) / n_moving, np.nan)
        cross = v[:, :-1, 0] * v[:, 1:, 1] - v[:, :-1, 1] * v[:, 1:, 0]
        side = np.sign(cross) * moving
        flips = ((side[:, 1:] * side[:, :-1]) < 0).sum(1)
        wiggle = np.where(n_moving > 1, flips / np.maximum(n_moving - 1, 1), np.nan)
        spec = np.abs(np.fft.rfft(v - v.mean(1, keepdims=True), axis=1)) ** 2
        freqs = np.fft.rfftfreq(v.shape[1], d=1 / 60)
        power = spec.sum(2)
        tremor = power[:, freqs >= TREMOR_HZ].sum(1) / (power.sum(1) + 1e-9)
    net = np.linalg.norm(w[:, -1] - w[:, 0], axis=1)
    reversal = (_turn_deg(v[:, :-1], v[:, 1:]) > 180 - SNAP_ANGLE_DEG) & (s[:, :-1] > SNAP_LEG_PX) & (s[:, 1:] > SNAP_LEG_PX)
    return np.column_stack([
        qs, ls.max(1), qa, qj,
        np.log((med_j + 0.01) / (med_a + 0.01)), np.log((med_a + 0.01) / (med_s + 0.01)),
        (s < 0.05).mean(1), (s == 0).mean(1),
        tq, turn_mean, straight, net / (s.sum(1) + 1e-6), wiggle, tremor, reversal.sum(1),
    ]).astype(np.float32)


def recording_clock_ms(t_ms: np.ndarray, clock_rate: float) -> float:
    """Real ms between the game's regularly recorded frames.

    Stable records the cursor at 60 Hz of real time plus an extra frame at every key
    change; merging those extra frames into the regular one they split (running sums of
    at least 12 ms) recovers the recording clock, 16.6-17.8 ms for the 121 human replays
    in ``../shared/data``.  A timewarp slows the game clock, so the same real frames are
    closer in map time: 15.0 ms at 90%, 15.8 ms at 95%."""
    d = np.diff(np.asarray(t_ms, np.float64)) / clock_rate
    merged, acc = [], 0.0
    for dt in d.tolist():
        if dt < 0:  # a rewound section: start over after it
            acc = 0.0
            continue
        acc += dt
        if acc >= 12.0:
            merged.append(acc)
            acc = 0.0
    m = np.asarray(merged)
    m = m[m <= 40.0]  # pauses, breaks and skips are not frames
    return float(m.mean()) if m.size else float("nan")


def off_screen(pos: np.ndarray) -> float:
    """Share of the resampled positions ``pos`` (n, 2) beyond a 16:9 screen (``SCREEN_X_PX``,
    ``SCREEN_Y_PX``, 1 px of slack); nan for none.  A person's cursor is an OS cursor and
    stops at the screen's edge; a generator's has no edge but the env's, and one that drifts
    through a break shows it (README: FREEDOM DiVE's break)."""
    if not len(pos):
        return float("nan")
    x, y = pos[:, 0], pos[:, 1]
    out = (x < SCREEN_X_PX[0] - 1) | (x > SCREEN_X_PX[1] + 1) | (y < SCREEN_Y_PX[0] - 1) | (y > SCREEN_Y_PX[1] + 1)
    return float(out.mean())


def median_frametime_ms(t_ms: np.ndarray, clock_rate: float) -> float:
    """circleguard's frametime: median gap between frames, in real ms (``cv`` frametime)."""
    d = np.diff(np.asarray(t_ms, np.float64))
    return float(np.median(d) / clock_rate) if d.size else float("nan")


def nearest(sorted_times: np.ndarray, t: np.ndarray) -> np.ndarray:
    """For each of ``t``, the index of the nearest of ``sorted_times`` (ties: the earlier)."""
    if len(sorted_times) < 2:
        return np.zeros(len(t), int)
    k = np.clip(np.searchsorted(sorted_times, t), 1, len(sorted_times) - 1)
    return np.where(np.abs(sorted_times[k - 1] - t) <= np.abs(sorted_times[k] - t), k - 1, k)


def snaps(bm: Beatmap, t_ms: np.ndarray, x: np.ndarray, y: np.ndarray) -> int:
    """circleguard's snaps: frames b where the path a-b-c turns back (angle abc under 10
    degrees) with both legs over 8 osu!px, on a hit object: within its radius and its 50
    window (spinners excluded)."""
    t = np.asarray(t_ms, np.int64)
    keep = np.r_[True, t[1:] != t[:-1]]
    t, p = t[keep], np.column_stack([x, y])[keep]
    if len(t) < 3:
        return 0
    ab, bc = p[1:-1] - p[:-2], p[2:] - p[1:-1]
    sharp = (_turn_deg(ab, bc) > 180 - SNAP_ANGLE_DEG) & (np.linalg.norm(ab, axis=1) > SNAP_LEG_PX) \
        & (np.linalg.norm(bc, axis=1) > SNAP_LEG_PX)
    hb, tb = p[1:-1][sharp], t[1:-1][sharp]
    objs = np.flatnonzero(bm.kind != SPINNER)
    if not objs.size or not tb.size:
        return 0
    o = objs[nearest(bm.start_ms[objs], tb)]
    near = np.hypot(hb[:, 0] - bm.x[o], hb[:, 1] - bm.y[o]) <= bm.radius
    return int((near & (np.abs(tb - bm.start_ms[o]) <= bm.hit_window_50)).sum())


STREAM_GAP_MS = 150.0  # presses closer than this (real time) count as a stream for alternation


@dataclass
class KeyStats:
    """The timing half of a play, from its frames: how long each press is held (real ms),
    how many consecutive stream presses switch key, how many circles got two presses in
    their 50 window, and how much of each slider a key was held."""

    press_ms: np.ndarray
    stream_pairs: int
    alternations: int
    double_taps: int
    circles: int
    slider_held_ms: float
    slider_ms: float


def presses(t_ms: np.ndarray, keys: np.ndarray, clock_rate: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every press of a play, in time order: (map ms it began, key 0/1 for M1/M2, real ms
    it was held).  K1/K2 count as the mouse buttons they set."""
    t = np.asarray(t_ms, np.float64)
    down = held(keys)
    times, which, lengths = [], [], []
    for k in (0, 1):
        edges = np.diff(np.r_[0, down[:, k].astype(np.int8), 0])
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        times.append(t[starts])
        which.append(np.full(len(starts), k, np.int8))
        lengths.append((t[np.minimum(ends, len(t) - 1)] - t[starts]) / clock_rate)
    times, which, lengths = np.concatenate(times), np.concatenate(which), np.concatenate(lengths)
    order = np.lexsort((which, times))
    return times[order], which[order], lengths[order]


def held(keys: np.ndarray) -> np.ndarray:
    """``(n, 2)`` bool: M1 and M2 down in each frame."""
    k = np.asarray(keys)
    return np.stack([(k & M1) > 0, (k & M2) > 0], 1)


def held_ms_before(t_ms: np.ndarray, down: np.ndarray, at_ms: np.ndarray) -> np.ndarray:
    """Map ms a key (``down``, per frame, held until the next frame) had been down before
    each of ``at_ms``: the running integral of the frames' states, exact between frames."""
    t = np.asarray(t_ms, np.float64)
    if len(t) == 0:
        return np.zeros(len(at_ms))
    cum = np.r_[0.0, np.cumsum(np.diff(t) * down[:-1])]
    a = np.asarray(at_ms, np.float64)
    i = np.clip(np.searchsorted(t, a, side="right") - 1, 0, len(t) - 1)
    return np.where(a < t[0], 0.0, cum[i] + (a - t[i]) * down[i])


def key_stats(bm: Beatmap, t_ms: np.ndarray, keys: np.ndarray) -> KeyStats:
    """:class:`KeyStats` of a play on ``bm`` (frames on the map's clock)."""
    pt, pk, lengths = presses(t_ms, keys, bm.clock_rate)
    gaps = np.diff(pt) / bm.clock_rate if len(pt) > 1 else np.empty(0)
    stream = gaps < STREAM_GAP_MS
    circles = np.flatnonzero(bm.kind == CIRCLE)
    double = int((presses_per_object(bm, pt)[circles] >= 2).sum()) if len(pt) and len(circles) else 0
    held_ms, slider_ms = slider_holding(bm, t_ms, keys)
    return KeyStats(lengths, int(stream.sum()), int((stream & (pk[1:] != pk[:-1])).sum()) if len(pk) > 1 else 0,
                    double, len(circles), float(held_ms.sum()), float(slider_ms.sum()))


def slider_holding(bm: Beatmap, t_ms: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per slider, in map order: (map ms a key was down while it ran, its length in map ms)."""
    sliders = np.flatnonzero(bm.kind == SLIDER)
    any_down = held(keys).any(1)
    s, e = bm.start_ms[sliders].astype(np.float64), bm.end_ms[sliders].astype(np.float64)
    return held_ms_before(t_ms, any_down, e) - held_ms_before(t_ms, any_down, s), e - s


def press_objects(bm: Beatmap, press_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each press, the object whose start is nearest, and whether the press is inside
    that object's 50 window."""
    starts = bm.start_ms.astype(np.float64)
    j = nearest(starts, press_ms)
    return j, np.abs(press_ms - starts[j]) <= bm.hit_window_50 if len(starts) else np.zeros(len(press_ms), bool)


def presses_per_object(bm: Beatmap, press_ms: np.ndarray) -> np.ndarray:
    """How many presses each object got inside its 50 window.  A press belongs to the
    object whose start is nearest (:func:`press_objects`), so a stream's next press is
    not a circle's second; two of a circle's own presses are a double tap."""
    if not bm.n_objects or not len(press_ms):
        return np.zeros(bm.n_objects, int)
    j, inside = press_objects(bm, press_ms)
    return np.bincount(j[inside], minlength=bm.n_objects)


def wasserstein(a: np.ndarray, b: np.ndarray) -> float | None:
    """1-D earth mover's distance between two samples (None when either is empty)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    return float(wasserstein_distance(a, b)) if a.size and b.size else None


def fit_gbt(x: np.ndarray, y: np.ndarray, seed: int):
    """Gradient-boosted trees on window statistics (NaN is a branch of its own); returns
    a scorer of new windows (probability of class 1)."""
    clf = HistGradientBoostingClassifier(max_iter=MAX_ITER, learning_rate=0.1, max_leaf_nodes=15,
                                         min_samples_leaf=40, l2_regularization=1.0,
                                         early_stopping=False, random_state=seed)
    clf.fit(x, y)
    return lambda xt: clf.predict_proba(xt)[:, 1]


def c2st(xa: np.ndarray, groups_a: np.ndarray, xb: np.ndarray, groups_b: np.ndarray, *, seed: int = 0,
         folds: int = 5, n_boot: int = 500, fit=fit_gbt) -> tuple[float, tuple[float, float]]:
    """Classifier two-sample test: can windows ``xb`` be told from windows ``xa``?

    Groups (players; a play paired with a human's replay shares that human's group) are
    dealt into folds, so the classifier is always scored on players it never saw; the
    ROC AUC is taken within each fold and averaged, and resampling groups with
    replacement gives its 95% interval.  Classes are weighted equally.  ``fit(x, y,
    seed)`` trains a detector on one fold's rest and returns its scorer (default
    :func:`fit_gbt`; windows may be of any shape after the first axis).  Returns
    (nan, (nan, nan)) when there are too few groups to split."""
    x = np.concatenate([xa, xb])
    y = np.r_[np.zeros(len(xa), np.int8), np.ones(len(xb), np.int8)]
    g = np.concatenate([np.asarray(groups_a, str), np.asarray(groups_b, str)])
    names, gid = np.unique(g, return_inverse=True)
    rng = np.random.default_rng(seed)
    group_fold = _deal(np.bincount(gid, weights=1 - y, minlength=len(names)) > 0,
                       np.bincount(gid, weights=y, minlength=len(names)) > 0, folds, rng)
    if group_fold is None:
        return float("nan"), (float("nan"), float("nan"))
    fold, k = group_fold[gid], int(group_fold.max()) + 1
    score = np.full(len(y), np.nan)
    for f in range(k):
        test, train = fold == f, fold != f
        yt = y[train]
        if not test.any() or len(np.unique(yt)) < 2:
            continue
        idx = _balanced(np.flatnonzero(train), yt, rng)
        score[test] = fit(x[idx], y[idx], seed)(x[test])
    folds_ = [_Fold(y[fold == f], score[fold == f], gid[fold == f]) for f in range(k)]
    ones = np.ones(len(names))
    auc = _mean_auc(folds_, ones)
    if np.isnan(auc):
        return auc, (float("nan"), float("nan"))
    boots = np.array([_mean_auc(folds_, np.bincount(rng.integers(0, len(names), len(names)), minlength=len(names)))
                      for _ in range(n_boot)])
    boots = boots[~np.isnan(boots)]
    lo, hi = np.percentile(boots, [2.5, 97.5]) if boots.size else (float("nan"), float("nan"))
    return auc, (float(lo), float(hi))


def _deal(has_a: np.ndarray, has_b: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray | None:
    """A fold for every group such that every fold holds both classes: groups holding
    both (paired plays) are dealt first, then each class's own groups carry on round
    the folds from where those stopped.  None when either class has under two groups."""
    k = min(folds, int(has_a.sum()), int(has_b.sum()))
    if k < 2:
        return None
    fold = np.empty(len(has_a), np.int64)
    both = rng.permutation(np.flatnonzero(has_a & has_b))
    fold[both] = np.arange(len(both)) % k
    for only in (has_a & ~has_b, has_b & ~has_a):
        mine = rng.permutation(np.flatnonzero(only))
        fold[mine] = (len(both) + np.arange(len(mine))) % k
    return fold


def _balanced(idx: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``idx`` with the rarer class's members repeated (in a shuffled cycle) until both
    classes are equally many: equal class weights without sample weights, which make
    scikit-learn's histogram binning several times slower."""
    pos, neg = idx[y == 1], idx[y == 0]
    small, big = (pos, neg) if len(pos) < len(neg) else (neg, pos)
    return np.concatenate([big, np.resize(rng.permutation(small), len(big))])


class _Fold:
    """One fold's out-of-fold scores, ranked once so that every bootstrap draw (groups
    taken with multiplicities) costs two weighted histograms."""

    def __init__(self, y: np.ndarray, score: np.ndarray, gid: np.ndarray):
        ok = ~np.isnan(score)
        self.y, self.gid = y[ok], gid[ok]
        _, self.rank = np.unique(score[ok], return_inverse=True)
        self.n_ranks = int(self.rank.max()) + 1 if self.rank.size else 0

    def auc(self, group_weight: np.ndarray) -> tuple[float, float]:
        """(Mann-Whitney AUC with ties counted half, number of weighted windows)."""
        w = group_weight[self.gid]
        pos = np.bincount(self.rank, weights=w * self.y, minlength=self.n_ranks)
        neg = np.bincount(self.rank, weights=w * (1 - self.y), minlength=self.n_ranks)
        n_pos, n_neg = pos.sum(), neg.sum()
        if n_pos == 0 or n_neg == 0:
            return float("nan"), 0.0
        below = np.cumsum(neg) - neg
        return float((pos * (below + 0.5 * neg)).sum() / (n_pos * n_neg)), float(n_pos + n_neg)


def _mean_auc(folds: list[_Fold], group_weight: np.ndarray) -> float:
    """AUC within each fold, averaged with the folds' sizes as weights.  Each fold has its
    own classifier, whose scores need not be on the others' scale: pooling them would
    mix calibrations and pull the AUC towards 0.5 or past it."""
    total = weight = 0.0
    for f in folds:
        auc, n = f.auc(group_weight)
        if n:
            total += auc * n
            weight += n
    return total / weight if weight else float("nan")
