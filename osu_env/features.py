"""What a player sees: the observation for a cursor at time t on a beatmap.

One function, :func:`observe`, computes it for any batch of (map, time, cursor) queries;
the env calls it for one step (or one step of many envs) and the dataset builder calls it
for every frame of a human replay, so a policy is trained on exactly what it is served.

The observation depends only on the map, the time and the cursor (not on the judge's
state), which is what makes it computable over a whole replay in one numpy call.

Layout (``obs_size(k) = 6 + 14 k`` float32 values):

=====  ==========================================================  =================
index  global feature                                              unit
=====  ==========================================================  =================
0, 1   cursor x, y                                                 (px - centre) / 256
2      progress through the map                                    0 .. 1
3      circle radius                                               px / 100
4      preempt (approach time)                                     s (map time)
5      50 hit window                                               s (map time)
=====  ==========================================================  =================

Every value is clipped to +-16 (``OBS_LIMIT``).  Then for each of the next ``k``
objects not yet over (in map order; a missing object is all zeros), 14 values:

=====  ==========================================================  =================
0      present                                                     0 / 1
1      time until its start (negative once started)                s, clipped +-10
2      time until its end                                          s, clipped +-10
3, 4   head position minus cursor                                  px / 256
5, 6   where to aim now minus cursor: the head, the slider ball    px / 256
       while the slider runs, the spinner centre for spinners
7, 8   end position minus cursor (slider end, else the head)       px / 256
9-11   kind one-hot: circle, slider, spinner                       0 / 1
12     running now (start <= t <= end)                             0 / 1
13     pace: slider ball speed (px/ms), or spinner half-turns      -
       needed per second / 10
=====  ==========================================================  =================

"Not yet over" means the object's end (for circles, its start plus the 50 window) is
still ahead, for this object or one before it (``np.maximum.accumulate``), so a long
slider under way keeps its place even after a later circle's window closes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import rules
from .beatmap import CIRCLE, SLIDER, SPINNER, Beatmap

GLOBAL_FEATURES = 6
OBJECT_FEATURES = 14
DEFAULT_K = 4
POS_SCALE_PX = 256.0
TIME_CLIP_S = 10.0
OBS_LIMIT = 16.0  # every value is clipped to +-16 (only far off-playfield slider points reach it)
# Maps are laid end to end on one time axis (and slider paths on one distance axis) so a
# single searchsorted serves a batch that mixes maps; these gaps keep them apart.
MAP_TIME_GAP_MS = 1e8
PATH_GAP_PX = 1e6


def obs_size(k: int = DEFAULT_K) -> int:
    return GLOBAL_FEATURES + OBJECT_FEATURES * k


@dataclass(frozen=True)
class ObjectTable:
    """The per-object arrays :func:`observe` reads, for one map or several end to end."""

    n_maps: int
    map_first: np.ndarray  # (m + 1,) object offsets of each map
    map_duration: np.ndarray  # (m,) ms
    key: np.ndarray  # (n,) cummax of deadlines + map gap: the searchsorted axis
    kind: np.ndarray
    start: np.ndarray
    end: np.ndarray
    map_static: np.ndarray  # (m, 4): global features 2-5 before progress is filled in
    xy: np.ndarray  # (n, 2) head
    end_xy: np.ndarray  # (n, 2)
    aim_xy: np.ndarray  # (n, 2) head, or the spinner centre
    kind_onehot: np.ndarray  # (n, 3)
    pace: np.ndarray
    slider_row: np.ndarray  # (n,) global slider row or -1
    span_ms: np.ndarray  # (s,)
    spans: np.ndarray
    length: np.ndarray
    path_first: np.ndarray  # (s,) first and last point of each slider in path_key
    path_last: np.ndarray
    path_key: np.ndarray  # (p,) cumulative distance + slider gap
    path_xy: np.ndarray  # (p, 2)

    @staticmethod
    def build(beatmaps: list[Beatmap]) -> "ObjectTable":
        keys, kinds, starts, ends, xys, end_xys, paces, rows = [], [], [], [], [], [], [], []
        span_ms, spans, lengths, path_first, path_last, path_key, path_xy = [], [], [], [], [], [], []
        first, n_sliders, n_points = [0], 0, 0
        for m, bm in enumerate(beatmaps):
            deadline = np.where(bm.kind == CIRCLE, bm.start_ms + bm.hit_window_50, bm.end_ms)
            keys.append(np.maximum.accumulate(deadline) + m * MAP_TIME_GAP_MS)
            kinds.append(bm.kind)
            starts.append(bm.start_ms)
            ends.append(bm.end_ms)
            xys.append(np.stack([bm.x, bm.y], 1))
            end_xys.append(np.stack([bm.end_x, bm.end_y], 1))
            duration = np.maximum(bm.end_ms - bm.start_ms, 1.0)
            pace = np.zeros(bm.n_objects)
            sl = bm.kind == SLIDER
            row = bm.slider_index[sl]
            pace[sl] = bm.length_px[row] * bm.spans[row] / duration[sl]
            sp = np.flatnonzero(bm.kind == SPINNER)
            pace[sp] = [rules.spinner_requirement(d, bm.od) / (d / 1000.0) / 10.0 for d in duration[sp]]
            paces.append(pace)
            rows.append(np.where(bm.slider_index >= 0, bm.slider_index + n_sliders, -1))
            s = bm.span_ms.shape[0]
            span_ms.append(bm.span_ms)
            spans.append(bm.spans)
            lengths.append(bm.path_dist[bm.path_start[1:] - 1] if s else np.zeros(0))
            path_first.append(bm.path_start[:-1] + n_points)
            path_last.append(bm.path_start[1:] - 1 + n_points)
            owner = np.repeat(np.arange(s), np.diff(bm.path_start))
            path_key.append(bm.path_dist + (owner + n_sliders) * PATH_GAP_PX)
            path_xy.append(bm.path_xy)
            n_sliders += s
            n_points += bm.path_xy.shape[0]
            first.append(first[-1] + bm.n_objects)
        cat = np.concatenate
        kind = cat(kinds)
        xy = cat(xys).astype(np.float64)
        aim_xy = xy.copy()
        aim_xy[kind == SPINNER] = rules.SPINNER_CENTRE
        map_static = np.array([(0.0, bm.radius / 100.0, bm.preempt_ms / 1000.0, bm.hit_window_50 / 1000.0) for bm in beatmaps])
        return ObjectTable(
            n_maps=len(beatmaps),
            map_first=np.array(first),
            map_duration=np.array([max(bm.duration_ms, 1.0) for bm in beatmaps]),
            key=cat(keys).astype(np.float64),
            kind=kind,
            start=cat(starts).astype(np.float64),
            end=cat(ends).astype(np.float64),
            map_static=map_static.reshape(-1, 4),
            xy=xy,
            aim_xy=aim_xy,
            kind_onehot=np.eye(3)[kind],
            end_xy=cat(end_xys).astype(np.float64),
            pace=cat(paces),
            slider_row=cat(rows),
            span_ms=cat(span_ms).astype(np.float64),
            spans=cat(spans),
            length=cat(lengths).astype(np.float64),
            path_first=cat(path_first),
            path_last=cat(path_last),
            path_key=cat(path_key).astype(np.float64),
            path_xy=cat(path_xy).astype(np.float64),
        )


def ball_positions(table: ObjectTable, obj: np.ndarray, t_ms: np.ndarray) -> np.ndarray:
    """(q, 2) slider ball positions of global objects ``obj`` at map times ``t_ms``.

    Vectorised :func:`osu_env.beatmap.path_distance_at` plus a bisect on the joined
    distance axis; equal to :meth:`Beatmap.ball_position` (a test holds them together).
    """
    row = table.slider_row[obj]
    span_ms, spans, length = table.span_ms[row], table.spans[row], table.length[row]
    safe_span = np.maximum(span_ms, 1e-9)
    elapsed = np.minimum(np.maximum(t_ms - table.start[obj], 0.0), span_ms * spans)
    span = np.minimum(elapsed // safe_span, spans - 1)
    progress = elapsed / safe_span - span
    d = np.abs((span % 2) - progress) * length  # odd spans run backwards: 1 - progress
    q = d + row * PATH_GAP_PX
    k = np.searchsorted(table.path_key, q, side="right")
    last = table.path_last[row]
    lo = np.minimum(np.maximum(k - 1, table.path_first[row]), last)
    hi = np.minimum(lo + 1, last)
    key_lo = table.path_key[lo]
    f = (q - key_lo) / np.maximum(table.path_key[hi] - key_lo, 1e-12)
    f = np.minimum(np.maximum(f, 0.0), 1.0)[:, None]
    return table.path_xy[lo] * (1 - f) + table.path_xy[hi] * f


def _clip_time(s: np.ndarray) -> np.ndarray:
    return np.minimum(np.maximum(s, -TIME_CLIP_S), TIME_CLIP_S)  # ufuncs: np.clip costs more per call


def observe(table: ObjectTable, map_id: np.ndarray, t_ms: np.ndarray, x: np.ndarray, y: np.ndarray, k: int = DEFAULT_K) -> np.ndarray:
    """(q, obs_size(k)) float32 observations for queries (map, map time ms, cursor px).

    ``map_id`` indexes the maps ``table`` was built from (all zeros for one map).  Written
    as few whole-array operations as possible: the env calls it every step.
    """
    map_id = np.asarray(map_id, np.int64)
    t = np.asarray(t_ms, np.float64)
    cx = np.asarray(x, np.float64)
    cy = np.asarray(y, np.float64)
    q = t.shape[0]
    out = np.zeros((q, GLOBAL_FEATURES + OBJECT_FEATURES * k), np.float32)
    out[:, 0] = (cx - rules.SPINNER_CENTRE[0]) / POS_SCALE_PX
    out[:, 1] = (cy - rules.SPINNER_CENTRE[1]) / POS_SCALE_PX
    out[:, 2:6] = table.map_static[map_id]
    out[:, 2] = np.minimum(np.maximum(t / table.map_duration[map_id], 0.0), 1.0)
    n = table.kind.shape[0]
    if n == 0:
        return np.minimum(np.maximum(out, -OBS_LIMIT), OBS_LIMIT)

    idx = np.searchsorted(table.key, t + map_id * MAP_TIME_GAP_MS, side="left")[:, None] + np.arange(k)
    present = idx < table.map_first[map_id + 1][:, None]  # (q, k)
    obj = np.minimum(idx, n - 1)
    tq, cxq, cyq = t[:, None], cx[:, None], cy[:, None]
    start, end = table.start[obj], table.end[obj]
    running = (start <= tq) & (tq <= end)
    aim = table.aim_xy[obj]  # (q, k, 2): head, or the spinner centre
    sliding = running & (table.kind[obj] == SLIDER)
    if sliding.any():
        aim[sliding] = ball_positions(table, obj[sliding], np.broadcast_to(tq, obj.shape)[sliding])

    f = out[:, GLOBAL_FEATURES:].reshape(q, k, OBJECT_FEATURES)
    f[..., 0] = 1.0
    f[..., 1] = _clip_time((start - tq) / 1000.0)
    f[..., 2] = _clip_time((end - tq) / 1000.0)
    f[..., 3] = (table.xy[obj, 0] - cxq) / POS_SCALE_PX
    f[..., 4] = (table.xy[obj, 1] - cyq) / POS_SCALE_PX
    f[..., 5] = (aim[..., 0] - cxq) / POS_SCALE_PX
    f[..., 6] = (aim[..., 1] - cyq) / POS_SCALE_PX
    f[..., 7] = (table.end_xy[obj, 0] - cxq) / POS_SCALE_PX
    f[..., 8] = (table.end_xy[obj, 1] - cyq) / POS_SCALE_PX
    f[..., 9:12] = table.kind_onehot[obj]
    f[..., 12] = running
    f[..., 13] = table.pace[obj]
    f *= present[..., None]
    np.minimum(np.maximum(out, -OBS_LIMIT, out=out), OBS_LIMIT, out=out)
    return out


def observe_frames(beatmap: Beatmap, t_ms: np.ndarray, x: np.ndarray, y: np.ndarray, k: int = DEFAULT_K) -> np.ndarray:
    """Observations along one play of one map (e.g. every frame of a human replay)."""
    table = ObjectTable.build([beatmap])
    return observe(table, np.zeros(len(t_ms), np.int64), t_ms, x, y, k)
