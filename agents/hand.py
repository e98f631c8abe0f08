"""A hand and a screen between a model's intended cursor and the cursor osu! records.

A learned player outputs where it means the cursor to be.  A person's recorded cursor is
that intent after a hand, a mouse and a screen, and three marks of them tell a person from
the WGAN generator's raw output (measured on the held-out humans, README):

- **Jitter is filtered by speed.**  The generator re-aims every frame, so its slow moves
  zigzag (the side it turns to flips on 0.38 of moving frames against the humans' 0.24;
  turn q90 40 degrees against 23).  A fixed low-pass that takes that out lags fast aim
  and smooths the jerk below a person's.  A pointing device's jitter-versus-lag trade is
  the 1-euro filter's (Casiez, Roussel and Vogel, CHI 2012): a one-pole low-pass whose
  cutoff rises with the speed, so slow moves are smoothed hard and fast ones hardly lag.
- **A resting hand does not move at all.**  27% of the humans' 0.53 s windows hold frames
  where the cursor does not move (2 of 31 frames, the median of those), mostly where it
  arrives on a circle between moves; the generator's cursor never stands still.  A
  ``deadband_px`` makes the recorded cursor keep its place until the intent has moved
  further than that from it, as static friction and the sensor's threshold do.
- **The cursor lives on screen pixels.**  osu!stable records the cursor in screen pixels
  mapped to osu!px, so a human replay's positions sit on a lattice (0.44 osu!px apart at
  1080p, where the 384 px playfield is 864 screen px tall; 0.53 at 900p).  The emitted
  point is rounded to it (``lattice_px``, 0 for none).
- **A frame's position is not read at its stamp.**  A replay frame is stamped with the
  game's clock when the frame runs, but the position in it is the last one the mouse
  reported, and the gap between the two wanders with the phase of the mouse's polling
  against the game's frames and with the frame's own timing.  Along a move that is a
  displacement along the path, proportional to the speed, that changes from frame to
  frame: it gives a person's moving cursor frame-to-frame acceleration and jerk that
  the filtered intent lacks (seed 0: jerk q90 univariate AUC 0.32 without it, 0.53 with
  it).  ``timing_jitter`` J reads each frame's point at a random fraction U(-J, J) of a
  step before or after its stamp, between the last two held points, so a cursor at rest
  stays still.
- **The screen has edges.**  osu! records an OS cursor, which stops at the screen's edge
  (``rules.SCREEN_X_PX``/``SCREEN_Y_PX``, a 16:9 screen): the recorded point is kept on
  it, however far the intent goes.  The playfield lies inside the screen, so the kept point
  is never further than the intent from anything on it.
- **The intent leads the clock.**  A person's hand lags their intent, and they learn to
  aim ahead of it: a player reaches a circle on time through the lag, not a lag late.  A
  generator trained on the recorded (already handed) cursor has no such lead, so behind a
  hand it arrives late (wgan+keys, seeds 3-5: mean hit error +14 to +15 ms against the
  humans' -1.3).  ``lead_ms`` lets the agent see the map that many real ms ahead of the
  clock (the observation at t + lead for its own cursor), as if it anticipated the hand
  (``--lead-ms``; seed 0 chose 16 ms: benchmark accuracy 75.9 -> 83.7% at the same AUC).
- **A hand can run ahead of its lag.**  The lead moves the whole approach earlier, the
  departure with it (README: "Where the early departure comes from").  ``predict_ms`` P
  instead adds, while the cursor moves, the filtered point's own velocity times the
  low-pass's lag (the time a one-pole filter trails a steady move by), at most P ms of it:
  a steady move is trailed by P ms less, and a still hand is left still.  Off by default:
  every way measured of letting more of the generator's motion through (this, a higher
  ``beta``) brings its speed nearer a person's and lets the motion detector see more of
  its turning (README: "The hand running ahead").

:class:`Hand` is stepped once per env step with the intended point and returns the point
to record; it holds only the filter's state and its own seeded generator, so a fresh one
per play with the same seed makes the same emitted path from the same intent.
:class:`Handed` puts one between any closed-loop agent and the env (``--hand``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from osu_env.env import ACTION_CENTRE_PX, ACTION_HALF_RANGE_PX, DEFAULT_STEP_MS
from osu_env.fast_env import observe
from osu_env.features import GLOBAL_FEATURES, OBJECT_FEATURES, POS_SCALE_PX, ObjectTable
from osu_env.rules import SCREEN_X_PX, SCREEN_Y_PX, SPINNER_CENTRE

from .dataset import shift_cursor, spinning

MAX_LEAD_MS = 100.0  # a lead is a reaction's share, not a way to see the map ahead
SCREEN_1080P_PX = 384.0 / 864.0  # osu!px per screen pixel at 1080p (the playfield is 80% of the height)
SCREEN_LOW, SCREEN_HIGH = np.array([SCREEN_X_PX[0], SCREEN_Y_PX[0]]), np.array([SCREEN_X_PX[1], SCREEN_Y_PX[1]])


@dataclass(frozen=True)
class HandModel:
    """The 1-euro filter's parameters (in real time), the deadband and the lattice.

    Defaults chosen on the WGAN generator of seed 0 (README: the table beside them)."""

    min_cutoff_hz: float = 0.6  # the cutoff of a still hand
    beta: float = 0.02  # Hz of cutoff added per osu!px/s of speed (--hand-beta; 0.05 measured against it, README)
    speed_cutoff_hz: float = 10.0  # the low-pass on the speed estimate itself
    deadband_px: float = 1.5
    lattice_px: float = SCREEN_1080P_PX
    timing_jitter: float = 0.3  # steps either side of its stamp a frame's point is read at
    lead_ms: float = 0.0  # real ms ahead of the clock the agent sees the map
    predict_ms: float = 0.0  # the most of the low-pass's lag the hand makes up by running ahead on its own velocity

    def __post_init__(self):
        for name in ("min_cutoff_hz", "speed_cutoff_hz"):
            if not getattr(self, name) > 0:
                raise ValueError(f"hand: {name} must be positive, got {getattr(self, name)}")
        for name in ("beta", "deadband_px", "lattice_px"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"hand: {name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.timing_jitter <= 1:
            raise ValueError(f"hand: timing_jitter must be in [0, 1] steps, got {self.timing_jitter}")
        for name in ("lead_ms", "predict_ms"):
            if not 0 <= getattr(self, name) <= MAX_LEAD_MS:
                raise ValueError(f"hand: {name} must be in [0, {MAX_LEAD_MS:g}] ms, got {getattr(self, name)}")


def smoothing(cutoff_hz: float, dt_s: float) -> float:
    """The one-pole low-pass's weight on the new sample for a cutoff and a sample period
    (Casiez et al. 2012, eq. 4: 1 / (1 + tau / T), tau = 1 / (2 pi f_c))."""
    return 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff_hz * dt_s))


class Hand:
    """One play's hand: :meth:`step` takes the intended point (osu!px) and gives the one
    recorded.  ``dt_s`` is the real time between steps (an env step is map time: divide
    by the clock rate under DT/HT); ``seed`` draws the timing jitter."""

    def __init__(self, model: HandModel, dt_s: float, seed: int = 0):
        if not dt_s > 0:
            raise ValueError(f"hand: the step must be positive, got {dt_s} s")
        self.model, self.dt_s = model, dt_s
        self.rng = np.random.default_rng(seed)
        self.a_speed = smoothing(model.speed_cutoff_hz, dt_s)
        self.filtered: np.ndarray | None = None
        self.velocity = np.zeros(2)  # osu!px/s, low-passed
        self.filtered_velocity = np.zeros(2)  # osu!px/s of the filtered point, low-passed as the speed is
        self.held: np.ndarray | None = None  # where the deadband keeps the cursor
        self.held_before: np.ndarray | None = None  # the held point one step earlier

    def _low_passed(self, moved: np.ndarray, velocity: np.ndarray) -> np.ndarray:
        """A step's move as a velocity (osu!px/s), low-passed at ``speed_cutoff_hz`` into
        ``velocity``: the one estimate both the cutoff's speed and the prediction use."""
        return self.a_speed * moved / self.dt_s + (1.0 - self.a_speed) * velocity

    def step(self, intended, low_pass: bool = True) -> np.ndarray:
        """The point to record for this step's ``intended`` one; ``low_pass`` False takes
        the intent as it is into the deadband and the lattice (the speed estimate still
        follows it)."""
        x = np.asarray(intended, np.float64)
        m = self.model
        if self.filtered is None:
            self.filtered = x.copy()
        self.velocity = self._low_passed(x - self.filtered, self.velocity)
        a = smoothing(m.min_cutoff_hz + m.beta * float(np.hypot(*self.velocity)), self.dt_s) if low_pass else 1.0
        before, self.filtered = self.filtered, a * x + (1.0 - a) * self.filtered
        ahead = self.filtered
        if m.predict_ms:
            self.filtered_velocity = self._low_passed(self.filtered - before, self.filtered_velocity)
            lag_s = self.dt_s * (1.0 - a) / a  # a one-pole low-pass trails a steady move by its velocity times this
            ahead = self.filtered + min(lag_s, m.predict_ms / 1000.0) * self.filtered_velocity
        self.held_before = self.held
        if self.held is None or np.hypot(*(ahead - self.held)) > m.deadband_px:
            self.held = ahead.copy()
        out = self.held
        if m.timing_jitter and self.held_before is not None:
            out = out + self.rng.uniform(-m.timing_jitter, m.timing_jitter) * (self.held - self.held_before)
        if m.lattice_px:
            out = np.round(out / m.lattice_px) * m.lattice_px
        return np.clip(out, SCREEN_LOW, SCREEN_HIGH)


class Handed:
    """A closed-loop agent (bc, wgan, gail, airl) with a :class:`Hand` between what it
    asks for and what the env records.  The agent plays on its *intended* cursor: each
    observation is shifted back to the point it asked for last (:func:`agents.dataset.shift_cursor`:
    the cursor and every object's offsets), which is the observation it would have had
    without the hand, so its own play is unchanged and only the recorded path is handed.
    Why not let it see the handed cursor: it was trained on a person's recorded cursor as
    its own, so a lagged cursor looks to it like its own error and it re-aims.  The
    low-pass is off while a spinner runs, where the agent already steers a steady circle
    and smoothing would only shrink it.  The hand's jitter is drawn from the play's seed.
    With a ``lead_ms`` the observation is taken that far ahead on the map's clock (real ms
    times the clock rate under DT/HT) before the shift: the agent plays the map early by
    the lead, and the hand brings its cursor back towards the clock."""

    closed_loop = True

    def __init__(self, agent, model: HandModel):
        self.agent, self.model = agent, model
        self.name = getattr(agent, "name", "agent")

    def reset(self, beatmap, seed: int | None = None):
        times = self.agent.reset(beatmap, seed)
        if times is not None:
            raise ValueError(f"hand: {self.name} plays on its own frame times; the hand steps on the env's grid")
        seed = seed if seed is not None else (getattr(self.agent, "seed", None) or 0)
        self.hand = Hand(self.model, DEFAULT_STEP_MS / 1000.0 / beatmap.clock_rate, seed)
        self.lead_map_ms = self.model.lead_ms * beatmap.clock_rate
        self.table = ObjectTable.build([beatmap]) if self.lead_map_ms else None
        self.intended: np.ndarray | None = None  # the agent's last cursor, in observation units
        return None

    def act(self, obs: np.ndarray, t_ms: float) -> np.ndarray:
        obs = np.array(obs, dtype=np.float32)
        k = (obs.shape[-1] - GLOBAL_FEATURES) // OBJECT_FEATURES
        if self.table is not None:  # the same cursor, the map lead_ms later
            x, y = obs[:2].astype(np.float64) * POS_SCALE_PX + SPINNER_CENTRE
            obs = observe(self.table, np.zeros(1, np.int64), np.array([t_ms + self.lead_map_ms]),
                          np.array([x]), np.array([y]), k)[0]
        if self.intended is not None:
            d_px = (self.intended - obs[:2]) * np.float32(POS_SCALE_PX)
            shift_cursor(obs, np.zeros(2, np.float32), d_px[0], d_px[1], k)  # (no previous action to shift here)
        action = np.asarray(self.agent.act(obs, t_ms), dtype=np.float32)
        self.intended = action[:2] * np.float32(ACTION_HALF_RANGE_PX / POS_SCALE_PX)
        point = action[:2].astype(np.float64) * ACTION_HALF_RANGE_PX + ACTION_CENTRE_PX
        emitted = (self.hand.step(point, low_pass=not bool(spinning(obs))) - ACTION_CENTRE_PX) / ACTION_HALF_RANGE_PX
        return np.concatenate([emitted, action[2:]]).astype(np.float32)
