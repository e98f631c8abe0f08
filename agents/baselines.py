"""Scripted players.  ``autoplay`` plays any map perfectly, the way osu!'s Auto does.

Conventions from R/Replays/OsuAutoGenerator.cs (see ../shared/RULES.md C): frames every
1000/60 ms plus one exactly at every object's start and end; presses exactly on time,
alternating keys when the next hit follows within 266 ms; keys released 50 ms after an
object ends; the cursor waits, then eases onto the next object, follows the slider
ball, and circles spinners at radius 50 at the 0.05 rad/ms cap.
"""
from __future__ import annotations

import numpy as np

from osu_env import rules
from osu_env.beatmap import SLIDER, SPINNER, Beatmap
from osu_env.replay import Replay

FRAME_MS = 1000.0 / 60.0
KEY_UP_DELAY_MS = 50
ALTERNATE_WITHIN_MS = 266
REACTION_MS = 100
SPIN_RADIUS_PX = 50.0
KEY_BITS = (rules.M1 | rules.K1, rules.M2 | rules.K2)


def autoplay_frames(bm: Beatmap) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(t_ms, x, y, keys) of a perfect play of ``bm`` in map time."""
    start, end = bm.start_ms, bm.end_ms
    t0, t1 = start[0] - 1000.0, end.max() + 500.0
    grid = np.arange(t0, t1, FRAME_MS).round()
    t = np.unique(np.concatenate([grid, start.round(), end.round(), end.round() + KEY_UP_DELAY_MS])).astype(np.int64)

    # keys: which object's hold covers each frame, alternating on quick successions
    keys = np.zeros(t.shape, np.int64)
    key = 0
    last_hit = -1e9
    for i in range(bm.n_objects):
        key = 1 - key if start[i] - last_hit < ALTERNATE_WITHIN_MS else 0
        last_hit = end[i]
        release = end[i] + KEY_UP_DELAY_MS
        if i + 1 < bm.n_objects:
            release = min(release, start[i + 1] - 1)  # let the next press be a new press
        held = (t >= start[i]) & (t < max(release, start[i] + 1))
        keys[held] |= KEY_BITS[key]

    x = np.empty(t.shape)
    y = np.empty(t.shape)
    prev_t, prev_xy = t0, (256.0, 500.0)
    obj = 0
    for f, tf in enumerate(t):
        while obj < bm.n_objects and tf > end[obj]:
            prev_t = end[obj]
            prev_xy = (float(bm.end_x[obj]), float(bm.end_y[obj])) if bm.kind[obj] != SPINNER else _spin_xy(bm, obj, end[obj])
            obj += 1
        if obj >= bm.n_objects:
            x[f], y[f] = prev_xy
            continue
        if tf >= start[obj]:
            if bm.kind[obj] == SLIDER:
                x[f], y[f] = bm.ball_position(obj, float(tf))
            elif bm.kind[obj] == SPINNER:
                x[f], y[f] = _spin_xy(bm, obj, tf)
            else:
                x[f], y[f] = bm.x[obj], bm.y[obj]
            continue
        target = (float(bm.x[obj]), float(bm.y[obj]))
        if bm.kind[obj] == SPINNER:
            target = _spin_xy(bm, obj, start[obj])
        move_from = max(prev_t, start[obj] - max(0.0, bm.preempt_ms - REACTION_MS))
        if tf <= move_from:
            x[f], y[f] = prev_xy
            continue
        p = (tf - move_from) / max(start[obj] - move_from, 1.0)
        p = 1 - (1 - p) ** 2  # ease out
        x[f] = prev_xy[0] + (target[0] - prev_xy[0]) * p
        y[f] = prev_xy[1] + (target[1] - prev_xy[1]) * p
    return t, x, y, keys


def _spin_xy(bm: Beatmap, obj: int, t: float) -> tuple[float, float]:
    a = (t - bm.start_ms[obj]) * rules.SPINNER_MAX_VELOCITY * bm.clock_rate
    return rules.SPINNER_CENTRE[0] + SPIN_RADIUS_PX * np.cos(a), rules.SPINNER_CENTRE[1] + SPIN_RADIUS_PX * np.sin(a)


def autoplay_replay(bm: Beatmap, player: str = "osu-imitation autoplay") -> Replay:
    """A :class:`Replay` of ``autoplay_frames`` on ``bm`` (counts left for the judge)."""
    t, x, y, keys = autoplay_frames(bm)
    return Replay(path="", player=player, beatmap_md5=bm.md5, mods=bm.mods, game_version=20250702, t_ms=t, x=x, y=y, keys=keys)
