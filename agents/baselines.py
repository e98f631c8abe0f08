"""Scripted players: ``autoplay`` (osu!'s Auto), ``flower`` (a cursor-dance mover) and
``humanized`` (a heuristic human).  Each plans a whole play from the map (open loop) and
then acts it out frame by frame in the env like any other agent (:mod:`agents.runner`).

Every plan has the same skeleton, and only the cursor's way between objects and its
manner on them differ:

- frames every 1000/60 ms of real time (so 25 ms of map time under DT), plus a frame at
  every press and release, as stable records input;
- one press per object, alternating keys when the next press follows within 266 ms
  (R/Replays/OsuAutoGenerator.cs MIN_FRAME_SEPARATION_FOR_ALTERNATING), released
  ``KEY_UP_DELAY_MS`` after the object ends or just before the same key is needed again;
- between object i-1's end and object i's start the cursor travels from where it left
  i-1 to where it enters i; on a slider it follows the ball, on a spinner it circles.
"""
from __future__ import annotations

import numpy as np

from osu_env import rules
from osu_env.beatmap import CIRCLE, SLIDER, SPINNER, Beatmap
from osu_env.env import frames_to_actions
from osu_env.features import ObjectTable, ball_positions
from osu_env.replay import Replay

FRAME_MS = 1000.0 / 60.0
KEY_UP_DELAY_MS = 50  # osu.Game/Rulesets/Replays/AutoGenerator.cs KEY_UP_DELAY
ALTERNATE_WITHIN_MS = 266
KEY_BITS = (rules.M1 | rules.K1, rules.M2 | rules.K2)
GAME_VERSION = 20250702


class ScriptedAgent:
    """A player that plans its whole play from the map, then replays the plan.

    ``reset(beatmap, seed)`` plans and returns the frame times it wants the env to step
    on; ``act(obs, t_ms)`` returns the planned action at that time (obs is unused).
    """

    name = "scripted"
    closed_loop = False
    deterministic = False  # True: the seed changes nothing, one play per map is enough

    def plan(self, bm: Beatmap, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(t_ms int64, x_px, y_px, keys) of the whole play, in map time."""
        raise NotImplementedError

    def reset(self, bm: Beatmap, seed: int | None = None) -> np.ndarray:
        self.t, x, y, keys = self.plan(bm, np.random.default_rng(seed))
        self.actions = frames_to_actions(x, y, keys)
        return self.t

    def act(self, obs, t_ms: float) -> np.ndarray:
        i = min(int(np.searchsorted(self.t, t_ms, side="right")) - 1, len(self.t) - 1)
        return self.actions[max(i, 0)]

    def replay(self, bm: Beatmap, seed: int | None = None) -> Replay:
        """The plan as an (unjudged) :class:`Replay`."""
        t, x, y, keys = self.plan(bm, np.random.default_rng(seed))
        return Replay(path="", player=f"osu-imitation {self.name}", beatmap_md5=bm.md5, mods=bm.mods,
                      game_version=GAME_VERSION, t_ms=bm.file_times(t), x=x, y=y, keys=keys)


# ---------------------------------------------------------------------------- skeleton
def _timeline(bm: Beatmap, events_ms: np.ndarray) -> np.ndarray:
    start = float(bm.start_ms[0]) - 1000.0
    stop = float(bm.end_ms.max()) + 500.0
    grid = np.arange(start, stop, FRAME_MS * bm.clock_rate)
    return np.unique(np.concatenate([grid, events_ms]).round()).astype(np.int64)


def _key_track(bm: Beatmap, t: np.ndarray, press: np.ndarray, release: np.ndarray, alternate_ms: float) -> np.ndarray:
    """Key bits per frame for one press per object (``press`` strictly increasing), held
    until ``release`` or until 1 ms before the next press, so every press is a new one."""
    keys = np.zeros(t.shape, np.int64)
    key = 0
    n = bm.n_objects
    for i in range(n):
        key = 1 - key if i and press[i] - bm.end_ms[i - 1] < alternate_ms else 0
        up = min(release[i], press[i + 1] - 1) if i + 1 < n else release[i]
        a, b = np.searchsorted(t, [press[i], max(up, press[i] + 1)], side="left")
        keys[a:b] |= KEY_BITS[key]
    return keys


def _spin_angle(bm: Beatmap, i: int, t: np.ndarray, velocity: float, a0: float, ramp_ms: float = 0.0) -> np.ndarray:
    """Cursor angle on spinner ``i``: ``velocity`` rad per real ms after a linear ramp-up."""
    real = np.clip(t - bm.start_ms[i], 0, None) / bm.clock_rate
    if ramp_ms <= 0:
        return a0 + velocity * real
    return a0 + np.where(real < ramp_ms, 0.5 * velocity * real**2 / ramp_ms, velocity * (real - 0.5 * ramp_ms))


def _plan_positions(bm: Beatmap, t: np.ndarray, entry: np.ndarray, exit_: np.ndarray, approach, on_object) -> tuple[np.ndarray, np.ndarray]:
    """Cursor per frame: ``approach(i, frames, t0, p0, p1)`` between objects and
    ``on_object(i, frames)`` during them, where ``entry``/``exit_`` are where the cursor
    enters and leaves each object."""
    xy = np.empty((t.shape[0], 2))
    end_cummax = np.maximum.accumulate(bm.end_ms)
    cur = np.searchsorted(end_cummax, t, side="left")  # first object not over yet
    prev_t, prev_xy = float(t[0]), np.array([256.0, 500.0])
    bounds = np.searchsorted(cur, np.arange(bm.n_objects + 2), side="left")  # cur is sorted
    for i in range(bm.n_objects + 1):
        f = np.arange(bounds[i], bounds[i + 1])
        if i == bm.n_objects:
            xy[f] = prev_xy
            break
        if f.size:
            before = f[t[f] < bm.start_ms[i]]
            during = f[t[f] >= bm.start_ms[i]]
            if before.size:
                xy[before] = approach(i, t[before], prev_t, prev_xy, entry[i])
            if during.size:
                xy[during] = on_object(i, t[during])
        if bm.end_ms[i] >= prev_t:
            prev_t, prev_xy = float(bm.end_ms[i]), exit_[i]
    return xy[:, 0], xy[:, 1]


def _ease_out(p: np.ndarray) -> np.ndarray:
    return 1 - (1 - p) ** 2


def _min_jerk(p: np.ndarray) -> np.ndarray:
    """Flash & Hogan's minimum-jerk profile: the shape of a human's point-to-point reach."""
    return p**3 * (10 - 15 * p + 6 * p**2)


# ---------------------------------------------------------------------------- autoplay, flower
class _OnTime(ScriptedAgent):
    """Perfect timing, Auto's keys; subclasses say how the cursor travels between objects
    (``approach``) and how they circle spinners (``spin_radius_px``, ``spin_velocity``)."""

    spin_radius_px = 50.0
    spin_velocity = rules.SPINNER_MAX_VELOCITY  # rad per real ms; negative: clockwise on screen
    spin_start_angle = 0.0

    def plan(self, bm, rng):
        press = bm.start_ms.round()
        release = bm.end_ms.round() + KEY_UP_DELAY_MS
        # A frame at every slider tick, repeat and last tick too: the judge scores at most
        # one slider part per frame, so a reverse slider whose repeats come faster than
        # the 60 Hz grid (30 px at 8 ms a span) would lose parts.  osu!'s Auto plays at the
        # game's update rate and never does.
        t = _timeline(bm, np.concatenate([press, bm.end_ms.round(), release, bm.ev_time]))
        keys = _key_track(bm, t, press, release, ALTERNATE_WITHIN_MS)
        entry, exit_ = _entries(bm, lambda i: self._spin(bm, i, np.array([bm.start_ms[i], bm.end_ms[i]])))
        table = ObjectTable.build([bm])

        def on_object(i, ft):
            return _on_object(bm, table, i, ft, lambda: self._spin(bm, i, ft))

        x, y = _plan_positions(bm, t, entry, exit_, lambda *a: self.approach(bm, *a), on_object)
        return t, x, y, keys

    def approach(self, bm: Beatmap, i: int, ft: np.ndarray, t0: float, p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _spin(self, bm, i, ft):
        a = _spin_angle(bm, i, ft, self.spin_velocity, self.spin_start_angle)
        return np.stack([rules.SPINNER_CENTRE[0] + self.spin_radius_px * np.cos(a),
                         rules.SPINNER_CENTRE[1] + self.spin_radius_px * np.sin(a)], 1)


class Autoplay(_OnTime):
    """osu!'s Auto (R/Replays/OsuAutoGenerator.cs): presses exactly on time, waits until
    ``preempt - 100`` ms before an object, eases onto it, follows the slider ball and
    circles spinners at radius 50 at the 0.05 rad/ms cap."""

    name = "autoplay"
    deterministic = True
    reaction_ms = 100.0

    def approach(self, bm, i, ft, t0, p0, p1):
        move_from = max(t0, bm.start_ms[i] - max(0.0, bm.preempt_ms - self.reaction_ms))
        p = np.clip((ft - move_from) / max(bm.start_ms[i] - move_from, 1.0), 0, 1)
        return p0 + (p1 - p0) * _ease_out(p)[:, None]


def _entries(bm: Beatmap, spin_ends) -> tuple[np.ndarray, np.ndarray]:
    entry = np.stack([bm.x, bm.y], 1).astype(float)
    exit_ = np.stack([bm.end_x, bm.end_y], 1).astype(float)
    for i in np.flatnonzero(bm.kind == SPINNER):
        entry[i], exit_[i] = spin_ends(int(i))
    return entry, exit_


def _on_object(bm: Beatmap, table: ObjectTable, i: int, ft: np.ndarray, spin) -> np.ndarray:
    if bm.kind[i] == SLIDER:
        return ball_positions(table, np.full(ft.shape[0], i), ft.astype(float))
    if bm.kind[i] == SPINNER:
        return spin()
    return np.repeat([[float(bm.x[i]), float(bm.y[i])]], ft.shape[0], 0)


class Flower(_OnTime):
    """A cursor dancer in the spirit of danser-go's ``flower`` (AngleOffsetMover): each
    jump is a cubic Bezier whose control points leave both ends at 90 degrees to the jump
    direction, at 2/3 of its length, turning to alternate sides ("petals").  Perfect
    timing like Auto; spinners are circled at radius 100 (danser's spinner mover)."""

    name = "flower"
    deterministic = True
    angle_offset = np.pi / 2
    distance_mult = 0.666
    spin_radius_px = 100.0
    spin_velocity = -rules.SPINNER_MAX_VELOCITY
    spin_start_angle = -np.pi / 2

    def approach(self, bm, i, ft, t0, p0, p1):
        p = np.clip((ft - t0) / max(bm.start_ms[i] - t0, 1.0), 0, 1)[:, None]
        d = p1 - p0
        dist = float(np.hypot(*d))
        if dist < 1:
            return np.repeat(p0[None], ft.shape[0], 0)
        side = 1 if i % 2 else -1
        ang = np.arctan2(d[1], d[0])
        out, back = ang + side * self.angle_offset, ang + np.pi - side * self.angle_offset
        c1 = p0 + dist * self.distance_mult * np.array([np.cos(out), np.sin(out)])
        c2 = p1 + dist * self.distance_mult * np.array([np.cos(back), np.sin(back)])
        return (1 - p) ** 3 * p0 + 3 * (1 - p) ** 2 * p * c1 + 3 * (1 - p) * p**2 * c2 + p**3 * p1


# ---------------------------------------------------------------------------- humanized
class Humanized(ScriptedAgent):
    """A heuristic human.

    - Reaction: movement toward an object starts no earlier than ``reaction_ms`` after it
      appears (preempt before its start) and after the previous object ends.
    - Movement time from Fitts' law, ``MT = a + b log2(D / W + 1)`` with W the circle's
      diameter; when the map leaves less time the reach is rushed, and the endpoint
      scatter grows with the rush (speed-accuracy trade-off).
    - Paths: minimum-jerk profile, a slight sideways bow, and smooth hand tremor.
    - Timing: press = start + N(``timing_bias_ms``, (``target_ur``/10)^2), since UR is
      ten times the standard deviation of hit errors.
    - Sliders: the ball followed with a lag; spinners: circles of human radius and RPM.
    """

    name = "humanized"

    def __init__(self, target_ur: float = 140.0, reaction_ms: float = 200.0, fitts_a_ms: float = 60.0,
                 fitts_b_ms: float = 110.0, aim_sd_radius: float = 0.25, timing_bias_ms: float = -3.0,
                 spin_rpm: float = 330.0, spin_radius_px: float = 80.0, slider_lag_ms: float = 25.0,
                 tremor_px: float = 0.8):
        self.target_ur = target_ur
        self.reaction_ms = reaction_ms
        self.fitts_a_ms, self.fitts_b_ms = fitts_a_ms, fitts_b_ms
        self.aim_sd_radius = aim_sd_radius
        self.timing_bias_ms = timing_bias_ms
        self.spin_rpm, self.spin_radius_px = spin_rpm, spin_radius_px
        self.slider_lag_ms = slider_lag_ms
        self.tremor_px = tremor_px

    def plan(self, bm, rng):
        n = bm.n_objects
        sd = self.target_ur / 10.0
        press = (bm.start_ms + self.timing_bias_ms + rng.normal(0.0, sd, n)).round()
        press = np.maximum.accumulate(press - np.arange(n)) + np.arange(n)  # presses stay in order, 1 ms apart
        hold = np.clip(rng.normal(75.0, 20.0, n), 25.0, None)
        release = np.where(bm.kind == CIRCLE, press + hold, bm.end_ms + np.clip(rng.normal(40.0, 15.0, n), 5.0, None)).round()
        t = _timeline(bm, np.concatenate([press, release]))
        t = t + np.where(np.isin(t, np.concatenate([press, release])), 0, rng.integers(-1, 2, t.shape[0]))
        t = np.unique(t)
        keys = _key_track(bm, t, press, release, 200.0)

        # where each object is aimed: the target plus scatter that grows when rushed
        velocity = self.spin_rpm * 2 * np.pi / 60000.0
        spin_dir = -1.0 if rng.random() < 0.8 else 1.0  # most players spin counter-clockwise
        spin_r = np.clip(rng.normal(self.spin_radius_px, 15.0, n), 35.0, 160.0)
        a0 = rng.uniform(0, 2 * np.pi, n)
        entry, exit_ = _entries(bm, lambda i: self._spin(bm, i, np.array([bm.start_ms[i], bm.end_ms[i]]), spin_dir * velocity, a0[i], spin_r[i]))
        prev_end = np.concatenate([[bm.start_ms[0] - 1000.0], np.maximum.accumulate(bm.end_ms)[:-1]])
        prev_xy = np.concatenate([[[256.0, 500.0]], exit_[:-1]])
        dist = np.hypot(*(entry - prev_xy).T)
        fitts = self.fitts_a_ms + self.fitts_b_ms * np.log2(dist / (2 * bm.radius) + 1)
        prev_press = np.concatenate([[press[0] - 1000.0], press[:-1]])
        available = np.maximum(press - np.maximum(prev_end, prev_press), 1.0)
        rush = np.clip(fitts / available, 1.0, 2.0)
        scatter = rng.normal(0.0, 1.0, (n, 2)) * (self.aim_sd_radius * bm.radius * np.sqrt(rush))[:, None]
        scatter[bm.kind == SPINNER] = 0.0
        aim = entry + scatter
        bow = rng.normal(0.0, 0.06, n)
        table = ObjectTable.build([bm])
        # follow the ball a little behind, but never so far behind that it slips away
        speed = np.maximum(table.pace, 1e-3)
        lag = np.minimum(np.clip(rng.normal(self.slider_lag_ms, 10.0, n), 0.0, None), 0.5 * bm.radius / speed)

        def approach(i, ft, t0, p0, p1):
            # leave the previous object only once it has been pressed
            begin = max(t0, prev_press[i] + 1.0, bm.start_ms[i] - bm.preempt_ms + self.reaction_ms, press[i] - fitts[i])
            arrive = max(press[i], begin + 1.0)
            p = np.clip((ft - begin) / (arrive - begin), 0, 1)
            s = _min_jerk(p)[:, None]
            d = aim[i] - p0
            normal = np.array([-d[1], d[0]])
            return p0 + d * s + normal * (bow[i] * np.sin(np.pi * p))[:, None]

        def on_object(i, ft):
            k = bm.kind[i]
            if k == SLIDER:
                return ball_positions(table, np.full(ft.shape[0], i), ft - lag[i]) + scatter[i] * 0.5
            if k == SPINNER:
                return self._spin(bm, i, ft, spin_dir * velocity, a0[i], spin_r[i])
            return np.repeat(aim[i][None], ft.shape[0], 0)

        x, y = _plan_positions(bm, t, aim, exit_ + np.where(bm.kind[:, None] == CIRCLE, scatter, 0.0), approach, on_object)
        x, y = x + self._tremor(rng, t.shape[0]), y + self._tremor(rng, t.shape[0])
        return t, x, y, keys

    def _tremor(self, rng, n: int) -> np.ndarray:
        """Smooth low-amplitude noise (an exponentially filtered random walk)."""
        w = rng.normal(0.0, 1.0, n)
        out = np.empty(n)
        acc = 0.0
        for j in range(n):
            acc = 0.7 * acc + w[j]
            out[j] = acc
        return out * self.tremor_px / 1.4

    def _spin(self, bm, i, ft, velocity, a0, radius):
        a = _spin_angle(bm, i, ft, velocity, a0, ramp_ms=250.0)
        wobble = 1 + 0.08 * np.sin(a * 0.5)
        return np.stack([rules.SPINNER_CENTRE[0] + radius * wobble * np.cos(a),
                         rules.SPINNER_CENTRE[1] + radius * wobble * np.sin(a)], 1)


SCRIPTED = {"autoplay": Autoplay, "flower": Flower, "humanized": Humanized}


def autoplay_frames(bm: Beatmap) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(t_ms, x, y, keys) of a perfect play of ``bm`` in map time."""
    return Autoplay().plan(bm, np.random.default_rng(0))


def autoplay_replay(bm: Beatmap, player: str = "osu-imitation autoplay") -> Replay:
    """A :class:`Replay` of ``autoplay_frames`` on ``bm`` (counts left for the judge)."""
    t, x, y, keys = autoplay_frames(bm)
    return Replay(path="", player=player, beatmap_md5=bm.md5, mods=bm.mods, game_version=GAME_VERSION, t_ms=bm.file_times(t),
                  x=x, y=y, keys=keys)
