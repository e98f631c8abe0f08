"""The benchmark's detectors: the ways its two-sample test tries to tell a player from humans.

One classifier on one view is easy to fool, above all for an agent trained against a
critic of its own.  DMTG (arXiv 2410.18233) set ten detector families against human-like
mouse generators, and sequence models (LSTM, BiLSTM, TCN, CNN) were the hardest to fool,
so the benchmark runs a family of each kind, on windows of the same plays, and a player's
headline AUC is the highest of them:

- ``gbt``: gradient-boosted trees on the 22 statistics of 0.53 s cursor windows
  (:func:`agents.metrics.window_features`): the texture of the motion;
- ``seq``: a small 1-D CNN on raw 1.07 s windows of what was played, frame by frame at
  60 Hz real: the cursor's moves, its speed, each key's share of the frame held and the
  presses begun in it (:func:`seq_windows`).  It learns its own features, key timing
  included;
- ``keys``: the keys view, gradient-boosted trees on the timing statistics of 2 s
  windows (:func:`key_windows`): hit offsets, press lengths, alternation in streams,
  double taps, slider holding.  Machine-pressed keys (Relax, autoplay) show here even
  when the aim is a person's.

Each detector is trained and scored the same grouped way (:func:`agents.metrics.c2st`).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn

from osu_env.beatmap import CIRCLE, SLIDER, Beatmap

from . import metrics

DETECTORS = ("gbt", "seq", "keys")
SEQ_WINDOW = 64  # frames at 60 Hz real (1.07 s)
SEQ_STRIDE = 32
SEQ_CHANNELS = ("dx", "dy", "log_speed", "m1_held", "m2_held", "presses")
SEQ_TRAIN_MAX = 2000  # windows per class a fold's network trains on (time: see fit_seq)
SEQ_EPOCHS = 4
SEQ_BATCH = 128
KEY_WINDOW_MS = 2000.0  # real ms: a few presses even in slow sections
KEY_STRIDE_MS = 1000.0
KEY_FEATURE_NAMES = (
    "presses_per_object", "press_q10", "press_q50", "press_q90", "offset_mean", "offset_std", "offset_abs_q90",
    "stray", "alternation", "double_taps", "slider_hold", "both_down", "gap_min", "hold_per_gap",
)


def seq_windows(t_ms: np.ndarray, keys: np.ndarray, grid: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """``(n_windows, SEQ_WINDOW, len(SEQ_CHANNELS))`` float32 raw windows of a play.

    ``grid`` (map ms, 60 Hz real) and ``pos`` are the resampled frames
    (:func:`agents.metrics.frame_grid`, :func:`agents.metrics.resample`).  Keys are
    integrated over each frame rather than sampled at it, so a 1 ms machine tap still
    shows as a sliver of a held frame and a press."""
    if len(grid) < SEQ_WINDOW + 1:
        return np.empty((0, SEQ_WINDOW, len(SEQ_CHANNELS)), np.float32)
    step = grid[1] - grid[0]
    t = np.asarray(t_ms, np.float64)
    down = metrics.held(keys)
    edges = np.r_[grid, grid[-1] + step]
    share = [np.diff(metrics.held_ms_before(t, down[:, k], edges)) / step for k in (0, 1)]
    pt, _, _ = metrics.presses(t, keys, 1.0)
    begun = np.diff(np.searchsorted(pt, edges))
    v = np.diff(pos, axis=0)
    frames = np.column_stack([v / 16.0, np.log1p(np.linalg.norm(v, axis=1)), share[0][1:], share[1][1:], begun[1:]])
    w = sliding_window_view(frames, SEQ_WINDOW, axis=0)[::SEQ_STRIDE]
    return np.ascontiguousarray(w.transpose(0, 2, 1), np.float32)


def key_windows(bm: Beatmap, t_ms: np.ndarray, keys: np.ndarray, phase: float = 0.0) -> np.ndarray:
    """``(n_windows, len(KEY_FEATURE_NAMES))`` timing statistics of ``KEY_WINDOW_MS``
    windows, ``KEY_STRIDE_MS`` apart, over the map's objects (real ms; NaN where a window
    has nothing to measure, a branch of its own for the trees).

    Offsets are of each press from the nearest object's start, counted when inside its
    50 window: the hit errors, also for Relax, whose keys our judge does not score.
    ``stray``: presses near no object's start (spinners, mashing).  ``hold_per_gap``:
    press length over the time to the next press, how early streams are released."""
    t = np.asarray(t_ms, np.float64)
    n = len(KEY_FEATURE_NAMES)
    if not bm.n_objects or t.size < 2:
        return np.empty((0, n), np.float32)
    rate = bm.clock_rate
    length, stride = KEY_WINDOW_MS * rate, KEY_STRIDE_MS * rate
    first, last = max(float(bm.start_ms[0]), t[0]), min(float(bm.end_ms.max()), t[-1])
    starts = first + (phase + np.arange(max(0, int((last - first - length) / stride) + 1))) * stride
    if not starts.size:
        return np.empty((0, n), np.float32)
    pt, pk, pl = metrics.presses(t, keys, rate)
    obj = bm.start_ms.astype(np.float64)
    j, inside = metrics.press_objects(bm, pt)
    off = (pt - obj[j]) / rate if len(pt) else np.empty(0)
    gap = np.diff(pt) / rate
    per_object = metrics.presses_per_object(bm, pt)
    circles = np.flatnonzero(bm.kind == CIRCLE)
    s_on = obj[bm.kind == SLIDER]
    slider_held, slider_len = metrics.slider_holding(bm, t, keys)
    slider_len = np.maximum(slider_len, 1.0)
    both = metrics.held(keys).all(1)
    both_at = metrics.held_ms_before(t, both, np.r_[starts, starts + length])
    both_share = (both_at[len(starts):] - both_at[: len(starts)]) / length

    def span(times, a):
        return np.searchsorted(times, a), np.searchsorted(times, a + length)

    out = np.full((len(starts), n), np.nan)
    out[:, 11] = both_share
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for w, a in enumerate(starts.tolist()):
            p0, p1 = span(pt, a)
            o0, o1 = span(obj, a)
            if o1 > o0:
                out[w, 0] = (p1 - p0) / (o1 - o0)
            if p1 > p0:
                lens = np.log1p(pl[p0:p1])
                out[w, 1:4] = np.percentile(lens, [10, 50, 90])
                mine = inside[p0:p1]
                hit = off[p0:p1][mine]
                if hit.size:
                    out[w, 4:7] = hit.mean(), hit.std(), np.percentile(np.abs(hit), 90)
                out[w, 7] = 1.0 - mine.mean()
            if p1 - p0 > 1:
                g = gap[p0:p1 - 1]
                stream = g < metrics.STREAM_GAP_MS
                if stream.any():
                    out[w, 8] = (pk[p0 + 1:p1] != pk[p0:p1 - 1])[stream].mean()
                out[w, 12] = np.log1p(g.min())
                out[w, 13] = np.median(pl[p0:p1 - 1] / np.maximum(g, 1.0))
            c0, c1 = span(obj[circles], a)
            if c1 > c0:
                out[w, 9] = (per_object[circles[c0:c1]] >= 2).mean()
            s0, s1 = span(s_on, a)
            if s1 > s0:
                out[w, 10] = slider_held[s0:s1].sum() / slider_len[s0:s1].sum()
    return out.astype(np.float32)


class SeqNet(nn.Module):
    """A 1-D CNN over ``(batch, SEQ_WINDOW, channels)`` windows -> one logit each.

    Three strided convolutions see about 0.5 s at once; the mean and the max over the
    window of their features go to a linear head, so a single odd moment (a snap, a
    1 ms tap) counts as much as a steady texture."""

    def __init__(self, channels: int = len(SEQ_CHANNELS), width: int = 32):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(channels, width, 5, stride=1, padding=2), nn.ReLU(),
            nn.Conv1d(width, width, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv1d(width, width, 5, stride=2, padding=2), nn.ReLU(),
        )
        self.head = nn.Linear(2 * width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.transpose(1, 2))
        return self.head(torch.cat([h.mean(2), h.amax(2)], 1)).squeeze(1)


def fit_seq(x: np.ndarray, y: np.ndarray, seed: int):
    """Train a :class:`SeqNet` on one fold's windows (both classes already balanced by
    the caller) and return its scorer.

    At most ``SEQ_TRAIN_MAX`` windows per class and ``SEQ_EPOCHS`` passes keep a fold
    to about a second on one core: the benchmark runs some 15 two-sample tests of 5
    folds each.  Channels are standardised by the training windows' statistics."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    idx = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:SEQ_TRAIN_MAX] for c in (0, 1)])
    xt = torch.from_numpy(np.asarray(x[idx], np.float32))
    yt = torch.from_numpy(np.asarray(y[idx], np.float32))
    mean, std = xt.mean((0, 1)), xt.std((0, 1)) + 1e-3
    net = SeqNet(x.shape[2])
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-4)
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(SEQ_EPOCHS):
        for b in torch.randperm(len(xt)).split(SEQ_BATCH):
            opt.zero_grad()
            loss_fn(net((xt[b] - mean) / std), yt[b]).backward()
            opt.step()
    net.eval()

    def score(xs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            z = torch.from_numpy(np.asarray(xs, np.float32))
            return torch.cat([torch.sigmoid(net((c - mean) / std)) for c in z.split(4096)]).numpy() if len(z) else np.empty(0)

    return score


FIT = {"gbt": metrics.fit_gbt, "seq": fit_seq, "keys": metrics.fit_gbt}
WINDOW_SHAPE = {"gbt": (len(metrics.FEATURE_NAMES),), "seq": (SEQ_WINDOW, len(SEQ_CHANNELS)),
                "keys": (len(KEY_FEATURE_NAMES),)}  # one window of each detector's input


def parse(spec: str) -> tuple[str, ...]:
    """``gbt,seq`` -> ("gbt", "seq"); unknown names are a ValueError naming the known ones."""
    names = tuple(dict.fromkeys(s.strip() for s in spec.split(",") if s.strip()))
    bad = [n for n in names if n not in DETECTORS]
    if bad or not names:
        raise ValueError(f"unknown detector(s) {', '.join(bad) or '(none given)'}; known: {', '.join(DETECTORS)}")
    return names
