"""The osu!stable judge: a state machine fed one replay frame at a time.

Stable judges input only on replay frames, in three phases per frame (this is the
order danser-go's stable emulation and osu!stable use):

1. *click*: new presses (0->1 of M1/M2; K1/K2 always come with them) are offered to the
   visible objects in order; notelock can reject ("shake") or ignore a press;
2. *track*: the first unfinished slider checks the follow circle and scores at most one
   of its ticks/repeats/last tick; spinners integrate stable's damped rotation speed;
3. *post*: objects whose time has run out are judged (late circles are missed, slider
   heads are missed after the 50 window, sliders and spinners are summed up at their end);
   a slider with a hit circle inside it leaves unjudged at its midpoint instead
   (:func:`midway_unload_ms`).

Replays from clients before late 2019 (``rules.NEW_OBJECT_END_HANDLING_VERSION``) judged
object ends every millisecond instead of on frames; ``post_until_ms`` lets the caller
reproduce that.

Replays exported by osu!lazer were judged by lazer's rules (``lazer=True``), which
differ in three places.  Each slider counts by its head alone: without the Classic mod
lazer judges the head like a circle and scores ticks and tail apart from the
300/100/50/miss counts (R/Objects/Slider.cs CreateJudgement, SliderHeadCircle.cs).  And
there is no stable notelock: a press is refused only before the start of an earlier
unjudged circle or slider head, and a hit misses every earlier one still open
(R/UI/ObjectOrderedHitPolicy.cs).  And a failed play is judged only up to the fail
(:func:`lazer_fail_ms`).  The same ``Judge`` drives
the gymnasium env one step at a time and judges whole replays via :func:`judge`.
"""
from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field

import numpy as np

from . import rules
from .beatmap import CIRCLE, EVENT_TAIL, SLIDER, SPINNER, Beatmap, float32_chord_lengths, stable_ball_path
from .errors import ReplayError, WrongBeatmapError
from .replay import Replay
from .rules import M1, M2, Mods

LEFT, RIGHT = 1, 2
CLICK, SHAKE, IGNORED = 0, 1, 2
UNJUDGED = -1

# What happened, for rewards and rendering: (t_ms, object index, what, value).
HIT = "hit"  # final judgement of an object: value 300/100/50/0
HEAD = "head"  # slider head: value 300/100/50 on hit, 0 on miss
TICK = "tick"  # slider tick/repeat/last tick: value 1 hit, 0 missed
SPIN = "spin"  # a spinner half-turn counted: value = half-turns so far
EVENT_NAMES = (HIT, HEAD, TICK, SPIN)


@dataclass
class JudgeResult:
    """Per-object verdicts and the totals osu! shows at the end of a play."""

    result: np.ndarray  # (n,) 300/100/50/0, or -1 where never judged (play ended first; midway_unload_ms)
    judged_at_ms: np.ndarray  # (n,) map time of the verdict
    hit_error_ms: np.ndarray  # (n,) press time - object time for hit circles/slider heads, else nan
    slider_parts: np.ndarray  # (n, 2) parts hit / parts total (head + ticks + repeats + tail)
    spinner_half_turns: np.ndarray  # (n, 2) half-turns spun / required
    max_combo: int
    # (k, 4) int64: map time, object, what (index into EVENT_NAMES), value; the compiled
    # judge writes this table, and :attr:`events` names its rows only when asked
    event_table: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 4), np.int64))

    @property
    def events(self) -> list:
        """What happened, in order: (t_ms, object index, HIT/HEAD/TICK/SPIN, value)."""
        return [(t, i, EVENT_NAMES[what], v) for t, i, what, v in self.event_table.tolist()]

    @property
    def n300(self) -> int:
        return int((self.result == 300).sum())

    @property
    def n100(self) -> int:
        return int((self.result == 100).sum())

    @property
    def n50(self) -> int:
        return int((self.result == 50).sum())

    @property
    def nmiss(self) -> int:
        return int((self.result == 0).sum())

    @property
    def counts(self) -> tuple[int, int, int, int]:
        return self.n300, self.n100, self.n50, self.nmiss

    @property
    def accuracy(self) -> float:
        return rules.accuracy_percent(*self.counts)

    @property
    def unstable_rate(self) -> float:
        e = self.hit_error_ms[~np.isnan(self.hit_error_ms)]
        return rules.unstable_rate(e)

    @property
    def spinners_cleared(self) -> tuple[int, int]:
        """(cleared, total) spinners: cleared means the required half-turns were reached."""
        spun, req = self.spinner_half_turns[:, 0], self.spinner_half_turns[:, 1]
        is_spinner = req >= 0
        return int(((spun >= req) & is_spinner).sum()), int(is_spinner.sum())

    def to_dict(self) -> dict:
        cleared, spinners = self.spinners_cleared
        return {
            "n300": self.n300,
            "n100": self.n100,
            "n50": self.n50,
            "nmiss": self.nmiss,
            "max_combo": self.max_combo,
            "accuracy": round(self.accuracy, 4),
            "unstable_rate": round(self.unstable_rate, 3),
            "objects": int(self.result.shape[0]),
            "judged": int((self.result >= 0).sum()),
            "spinners": spinners,
            "spinners_cleared": cleared,
        }


@dataclass(frozen=True)
class ClientRules:
    """Which rules judged a replay, from the version of the client that wrote it."""

    old_spinner_scoring: bool  # spinner thresholds before 2019-05-10
    lazer: bool  # osu!lazer's rules (see the module docstring)
    old_ends: bool  # object ends judged every ms, not on frames, before late 2019

    @classmethod
    def of(cls, game_version: int) -> "ClientRules":
        """0 (unknown) is judged as the newest stable."""
        version = game_version or 10**8
        return cls(old_spinner_scoring=version < rules.NEW_SPINNER_SCORING_VERSION,
                   lazer=game_version >= rules.LAZER_FIRST_VERSION,
                   old_ends=version < rules.NEW_OBJECT_END_HANDLING_VERSION)


class Judge:
    """osu!stable's judgement of one player on one beatmap, advanced frame by frame.

    ``step(t_ms, x, y, keys)`` with non-decreasing ``t_ms`` (map time) returns the events
    it produced; ``finish()`` judges what is left once the play is over.
    """

    def __init__(self, beatmap: Beatmap, *, old_spinner_scoring: bool = False, lazer: bool = False):
        if beatmap.mods & Mods.Relax:
            raise ReplayError("Relax plays are not judged: osu! clicks for the player there, so the counts say nothing about them")
        self.bm = beatmap
        n = beatmap.n_objects
        self.old_spinner_scoring = old_spinner_scoring
        self.lazer = lazer
        self.old_ends = False  # set by for_client: judge object ends every ms (pre-2019 clients)
        self.spun_out = bool(beatmap.mods & Mods.SpunOut)
        self.rate = beatmap.clock_rate
        self.radius = beatmap.radius
        self.r2 = self.radius * self.radius
        self.follow_r2 = (self.radius * rules.FOLLOW_RADIUS_FACTOR) ** 2
        self.kind = beatmap.kind.tolist()
        self.start = beatmap.start_ms.tolist()
        self.start_i = [int(s) for s in self.start]
        self.end = beatmap.end_ms.tolist()
        self.end_i = [int(e) for e in self.end]
        self.hx = beatmap.x.tolist()
        self.hy = beatmap.y.tolist()
        self.stacked = (beatmap.stack_height > 0).tolist()
        self.fade = [int(s - beatmap.preempt_ms) for s in self.start]
        w300, w100, w50 = beatmap.hit_windows
        self.w = (w300, w100, w50)

        self.result = [UNJUDGED] * n
        self.judged_at = [math.nan] * n
        self.hit_error = [math.nan] * n
        self.done = [False] * n
        self.done_at = [0] * n
        # sliders
        self.sl = {}
        for i in np.flatnonzero(beatmap.kind == SLIDER):
            ev = beatmap.slider_events_of(i)
            self.sl[int(i)] = _SliderState(beatmap.ev_time[ev].tolist(), beatmap.ev_kind[ev].tolist())
        self._paths: dict[int, tuple] = {}
        self._chords = None
        self.unload_at = {} if lazer else midway_unload_ms(beatmap.kind, beatmap.start_ms, beatmap.end_ms)
        self.post_from = first_post_ms(beatmap, self.unload_at).tolist()
        self.sp = {}
        for i in np.flatnonzero(beatmap.kind == SPINNER):
            dur = self.end[i] - self.start[i]
            self.sp[int(i)] = _SpinnerState(
                requirement=rules.spinner_requirement(dur, beatmap.od),
                max_accel=float(rules.spinner_max_acceleration(dur)),
            )

        # player
        self.buttons = 0
        self.game_down = False
        self.mouse_down = 0
        self.last_button = 0
        self.last_button2 = 0
        self.last_frame_t = 0
        self.press_offset = 0.0
        self.combo = 0
        self.max_combo = 0
        self.events: list[tuple[int, int, str, int]] = []
        self.lo = 0  # first object that may still be unfinished
        self.hi = 0  # objects [0, hi) have faded in
        self.t = -(10**9)

    @classmethod
    def for_client(cls, beatmap: Beatmap, game_version: int) -> "Judge":
        """A judge with the rules of the client that wrote ``game_version`` (see
        :class:`ClientRules`).  ``old_ends`` tells the caller to pass ``post_until_ms``
        to :meth:`step`."""
        c = ClientRules.of(game_version)
        j = cls(beatmap, old_spinner_scoring=c.old_spinner_scoring, lazer=c.lazer)
        j.old_ends = c.old_ends
        return j

    # ------------------------------------------------------------------ helpers
    def _combo(self, delta: int) -> None:
        if delta > 0:
            self.combo += 1
            self.max_combo = max(self.max_combo, self.combo)
        elif delta < 0:
            self.combo = 0

    def _finish_object(self, i: int, t: int, result: int) -> None:
        self.result[i] = result
        self.judged_at[i] = t
        self.done[i] = True
        self.done_at[i] = t
        self.events.append((t, i, HIT, result))

    def _result_for_delta(self, delta: float) -> int:
        d = abs(delta)
        w300, w100, w50 = self.w
        return 300 if d < w300 else 100 if d < w100 else 50 if d < w50 else 0

    def _visible(self, t: int) -> range:
        """Objects in stable's 'processed' list at time t: faded in before t, not removed."""
        fade, n, hi, lo = self.fade, len(self.fade), self.hi, self.lo
        while hi < n and fade[hi] <= t - 1:
            hi += 1
        done, done_at = self.done, self.done_at
        while lo < hi and done[lo] and done_at[lo] < t:
            lo += 1
        self.hi, self.lo = hi, lo
        return range(lo, hi)

    def _over_head(self, i: int, x: float, y: float) -> bool:
        """Whether the cursor is on object i's (stacked) head circle."""
        return (x - self.hx[i]) ** 2 + (y - self.hy[i]) ** 2 <= self.r2

    def _use_press(self) -> None:
        """One object takes one new press: the left one first."""
        if self.left_e:
            self.left_e = False
        else:
            self.right_e = False

    def _removed(self, j: int, t: int) -> bool:
        return self.done[j] and self.done_at[j] < t

    def _can_be_hit(self, t: int, i: int) -> int:
        """Notelock (danser CanBeHitStable + CanBeHit; RULES A7), or lazer's hit order."""
        if self.lazer:
            return self._lazer_can_be_hit(t, i)
        if self.kind[i] == CIRCLE:
            for j in range(i - 1, self.lo - 1, -1):  # processed[index-1]
                if not self._removed(j, t):
                    if self.stacked[j] and not self.done[j]:
                        return IGNORED  # don't shake stacks
                    break
        start = self.start[i]
        for j in range(self.lo, i):
            if not self.done[j] and self.end[j] + rules.NOTELOCK_2B_TOLERANCE_MS < start:
                return SHAKE
        if abs(t - start) >= rules.HITTABLE_RANGE_MS:
            return SHAKE
        return CLICK

    def _lazer_can_be_hit(self, t: int, i: int) -> int:
        """ObjectOrderedHitPolicy: the last earlier circle or slider head blocks until
        it is judged or its start time has come."""
        if abs(t - self.start[i]) >= rules.HITTABLE_RANGE_MS:
            return SHAKE
        for j in range(i - 1, self.lo - 1, -1):
            if self.kind[j] == SPINNER:
                continue
            open_ = not self._head_judged(j)
            return SHAKE if open_ and t < self.start[j] else CLICK
        return CLICK

    def _head_judged(self, j: int) -> bool:
        return self.done[j] if self.kind[j] == CIRCLE else (self.sl[j].start_hit or self.done[j])

    def _miss_earlier_heads(self, i: int, t: int) -> None:
        """lazer: hitting object i misses every earlier circle or slider head still open."""
        for j in range(self.lo, i):
            if self.kind[j] == SPINNER or self._head_judged(j):
                continue
            self._combo(-1)
            if self.kind[j] == CIRCLE:
                self._finish_object(j, t, 0)
            else:
                s = self.sl[j]
                s.start_hit, s.start_result = True, 0
                self.events.append((t, j, HEAD, 0))

    # ------------------------------------------------------------------ frame
    def step(self, t_ms: int, x: float, y: float, keys: int, post_until_ms: int | None = None,
             same_ms: bool = False) -> list:
        """Feed one frame (map time, cursor in osu!px, key bits); returns its events.

        ``post_until_ms``: judge object ends on every ms until then (replays from clients before late 2019).
        ``same_ms``: the frame repeats the previous frame's time, so its key change came
        later within that millisecond (see :data:`rules.SAME_MS_PRESS_OFFSET_MS`).
        """
        t = int(t_ms)
        self.press_offset = rules.SAME_MS_PRESS_OFFSET_MS if same_ms and not self.lazer else 0.0
        first_event = len(self.events)
        visible = self._visible(t)
        left, right = bool(keys & M1), bool(keys & M2)
        prev_left, prev_right = bool(self.buttons & LEFT), bool(self.buttons & RIGHT)
        left_cond = left and not prev_left
        right_cond = right and not prev_right
        now = (LEFT if left else 0) | (RIGHT if right else 0)
        if now != self.buttons:
            self.game_down = left or right
            self.last_button2 = self.last_button
            self.last_button = self.mouse_down
            self.mouse_down = now
        self.left_cond, self.right_cond = left_cond, right_cond

        # 1. click
        self.left_e, self.right_e = left_cond, right_cond
        if left_cond or right_cond:
            for i in visible:
                if not (self.left_e or self.right_e):
                    break
                k = self.kind[i]
                if k == CIRCLE:
                    self._click_circle(i, t, x, y)
                elif k == SLIDER:
                    self._click_slider(i, t, x, y)
        self.buttons = now

        # 2. track: only the first slider still in the processed list, and a slider
        # judged earlier in this same millisecond is still in it (it leaves on a later
        # ms), so on a repeated frame time the next slider starts tracking one ms late.
        slider_seen = False
        kind, done, done_at = self.kind, self.done, self.done_at
        for i in visible:
            k = kind[i]
            if k == SLIDER:
                if slider_seen or (done[i] and done_at[i] < t):  # removed from the list
                    continue
                slider_seen = True
                if not done[i]:
                    self._track_slider(i, t, x, y)
            elif k == SPINNER and not done[i]:
                self._spin(i, t, x, y)
        self.last_frame_t = t

        # 3. post
        post_t = t if post_until_ms is None else max(t, int(post_until_ms) - 1)
        post_from = self.post_from
        for i in visible:
            if not done[i] and post_t >= post_from[i]:
                self._post(i, t, post_t)
        self.t = t
        return self.events[first_event:]

    def finish(self, complete: bool = True) -> JudgeResult:
        """Judge what remains.  ``complete=False`` (a failed or quit play) leaves objects
        after the last frame unjudged, as osu! counts only what it judged before the end."""
        if complete:
            t_end = int(max(self.end)) + self.w[2] + 1
            for i in range(self.lo, len(self.kind)):
                if not self.done[i]:
                    self._post(i, max(self.t, t_end), t_end)
        n = len(self.kind)
        parts = np.full((n, 2), -1, np.int32)
        for i, s in self.sl.items():
            parts[i] = (s.scored + (1 if s.start_result > 0 else 0), len(s.times) + 1)
        spins = np.full((n, 2), -1, np.int32)
        for i, s in self.sp.items():
            spins[i] = (s.scoring_count, s.requirement)
        return JudgeResult(
            result=np.array(self.result, np.int16),
            judged_at_ms=np.array(self.judged_at, np.float64),
            hit_error_ms=np.array(self.hit_error, np.float64),
            slider_parts=parts,
            spinner_half_turns=spins,
            max_combo=self.max_combo,
            event_table=np.array([(t, i, EVENT_NAMES.index(what), v) for t, i, what, v in self.events],
                                 np.int64).reshape(-1, 4),
        )

    # ------------------------------------------------------------------ circles
    def _click_circle(self, i: int, t: int, x: float, y: float) -> None:
        if self.done[i] or not self._over_head(i, x, y):
            return
        action = self._can_be_hit(t, i)
        if action != CLICK:
            self.left_e = self.right_e = False  # a shaken or ignored press is used up
            return
        self._use_press()
        if self.lazer:
            self._miss_earlier_heads(i, t)
        delta = t + self.press_offset - self.start[i]
        res = self._result_for_delta(delta)
        if res:
            self.hit_error[i] = delta
        self._combo(+1 if res else -1)
        self._finish_object(i, t, res)

    # ------------------------------------------------------------------ sliders
    def _click_slider(self, i: int, t: int, x: float, y: float) -> None:
        s = self.sl[i]
        if self.done[i]:
            return
        over_head = self._over_head(i, x, y)
        if s.start_hit:
            # Until it is fully judged, a slider whose head was hit still takes a press
            # over that head, so objects lying under it stay unhit (stable's click goes to
            # the first object under the cursor that is not yet hit; ppy/osu#24762).
            if over_head and not self.lazer:
                self._use_press()
            return
        if not over_head:
            return  # a positional miss changes nothing in stable
        if self._can_be_hit(t, i) != CLICK:
            self.left_e = self.right_e = False
            return
        self._use_press()
        if self.lazer:
            self._miss_earlier_heads(i, t)
        s.down_button = LEFT if self.left_cond else RIGHT if self.right_cond else self.mouse_down
        delta = t + self.press_offset - self.start[i]
        s.start_result = self._result_for_delta(delta)
        s.start_hit = True
        if s.start_result:
            self.hit_error[i] = delta
        self._combo(+1 if s.start_result else -1)
        self.events.append((t, i, HEAD, s.start_result))

    def _track_slider(self, i: int, t: int, x: float, y: float) -> None:
        if t < self.start[i]:
            return
        s = self.sl[i]
        swap_ok = self.game_down and not (self.last_button == (LEFT | RIGHT) and self.last_button2 == self.mouse_down)
        acceptable = False
        if self.game_down:
            if s.down_button == 0 or (self.mouse_down != (LEFT | RIGHT) and swap_ok):
                s.down_button = LEFT if self.left_cond else RIGHT if self.right_cond else self.mouse_down
                acceptable = True
            elif self.mouse_down & s.down_button:
                acceptable = True
        else:
            s.down_button = 0
        allowable = False
        if acceptable or swap_ok:  # without a key down the ball's position does not matter
            bx, by = self._ball(i, t)
            allowable = (x - bx) ** 2 + (y - by) ** 2 < (self.follow_r2 if s.sliding else self.r2)
        if allowable and not s.sliding:
            s.sliding = True
            s.slide_start = t
        # stable scores at most one point per frame
        k = s.scored + s.missed
        if k < len(s.times) and s.times[k] <= t:
            if allowable and s.slide_start <= s.times[k]:
                s.scored += 1
                self._combo(+1)
                self.events.append((t, i, TICK, 1))
            else:
                s.missed += 1
                if s.kinds[k] != EVENT_TAIL:
                    self._combo(-1)  # a missed last tick only withholds combo
                self.events.append((t, i, TICK, 0))
        if not allowable and s.sliding and s.scored + s.missed < len(s.times):
            s.sliding = False

    def _ball(self, i: int, t: float) -> tuple[float, float]:
        """Where stable's judge puts the slider ball: on its whole-ms timed chords (see
        :func:`stable_ball_path`), found by a bisect over cached lists."""
        path = self._paths.get(i)
        if path is None:
            poly, _ = self.bm.slider_path_of(i)
            s = int(self.bm.slider_index[i])
            if self._chords is None:  # all sliders' chord lengths in one pass
                self._chords = float32_chord_lengths(self.bm.path_xy)
            lo = int(self.bm.path_start[s])
            chords = self._chords[lo : lo + len(poly) - 1]
            t1, t2, a, b = stable_ball_path(poly, self.start[i], float(self.bm.span_ms[s]), int(self.bm.spans[s]), chords)
            path = (t1.tolist(), t2.tolist(), a[:, 0].tolist(), a[:, 1].tolist(), b[:, 0].tolist(), b[:, 1].tolist())
            self._paths[i] = path
        t1s, t2s, ax, ay, bx, by = path
        k = min(bisect_left(t2s, t), len(t2s) - 1)
        t1, t2 = t1s[k], t2s[k]
        if t2 == t1:
            return bx[k], by[k]
        f = (min(max(t, t1), t2) - t1) / (t2 - t1)
        return ax[k] + f * (bx[k] - ax[k]), ay[k] + f * (by[k] - ay[k])

    # ------------------------------------------------------------------ spinners
    def _spin(self, i: int, t: int, x: float, y: float) -> None:
        if not (self.start[i] < t < self.end[i]):
            return
        s = self.sp[i]
        dt = float(t - self.last_frame_t) if self.last_frame_t != 0 else rules.STABLE_FRAME_MS
        max_accel = s.max_accel * dt / self.rate
        if self.spun_out:
            s.velocity = rules.SPUN_OUT_VELOCITY
        elif s.theoretical > s.velocity:
            s.velocity += min(s.theoretical - s.velocity, max_accel)
        else:
            s.velocity += max(s.theoretical - s.velocity, -max_accel)
        s.velocity = max(-rules.SPINNER_MAX_VELOCITY, min(s.velocity, rules.SPINNER_MAX_VELOCITY))

        angle = math.atan2(y - rules.SPINNER_CENTRE[1], x - rules.SPINNER_CENTRE[0])
        if not self.old_spinner_scoring and not s.updated_before:
            s.last_angle = angle
            s.updated_before = True
        diff = angle - s.last_angle
        if diff < -math.pi:
            diff += 2 * math.pi
        elif diff > math.pi:
            diff -= 2 * math.pi
        decay = 0.999**dt
        s.frame_variance = decay * s.frame_variance + (1 - decay) * dt
        if diff == 0:
            s.zero_count += 1
            s.theoretical = s.theoretical / 3 if s.zero_count < 2 else 0.0
        else:
            s.zero_count = 0
            if not self.game_down:
                diff = 0.0
            if abs(diff) < math.pi:
                if s.frame_variance / self.rate > rules.STABLE_FRAME_MS * 1.04:
                    s.theoretical = diff / (dt / self.rate) if dt > 0 else 0.0
                else:
                    s.theoretical = diff / rules.STABLE_FRAME_MS
            else:
                s.theoretical = 0.0
        s.last_angle = angle
        s.rotation_f += abs(s.velocity * dt) / math.pi
        count = int(s.rotation_f)
        if count != s.last_count:
            s.scoring_count += 1
            s.last_count = count
            self.events.append((t, i, SPIN, s.scoring_count))

    # ------------------------------------------------------------------ post
    def _post(self, i: int, t: int, post_t: int) -> None:
        """Time-outs at ``post_t`` (the frame time, or later for old replays); events
        are stamped with the first ms at which they would have fired."""
        k = self.kind[i]
        w50 = self.w[2]
        if k == CIRCLE:
            deadline = self.start_i[i] + w50
            if post_t > deadline:
                self._combo(-1)
                self._finish_object(i, max(t, deadline + 1), 0)
        elif k == SLIDER:
            if post_t >= self.unload_at.get(i, math.inf):
                self.done[i], self.done_at[i] = True, t  # leaves the list unjudged
                return
            s = self.sl[i]
            deadline = self.start_i[i] + w50
            if post_t > deadline and not s.start_hit:
                s.start_hit = True
                s.start_result = 0
                s.down_button = LEFT if self.left_cond else RIGHT if self.right_cond else self.mouse_down
                self._combo(-1)
                self.events.append((max(t, deadline + 1), i, HEAD, 0))
            if post_t >= self.end_i[i]:
                if not s.start_hit:  # a slider shorter than its head's 50 window: the head is missed now
                    self._combo(-1)
                    self.events.append((max(t, self.end_i[i]), i, HEAD, 0))
                s.start_hit = True
                hits = s.scored + (1 if s.start_result > 0 else 0)
                res = s.start_result if self.lazer else rules.slider_result(hits, len(s.times) + 1)
                if res == 0:
                    self._combo(-1)
                self._finish_object(i, max(t, self.end_i[i]), res)
        else:
            if post_t >= self.end[i]:
                s = self.sp[i]
                great, ok, meh = rules.spinner_thresholds(s.requirement, self.old_spinner_scoring)
                c = s.scoring_count
                if (not self.old_spinner_scoring and s.requirement == 0) or c >= great:
                    res = 300
                elif c >= ok:
                    res = 100
                elif c >= meh:
                    res = 50
                else:
                    res = 0
                self._combo(+1 if res else -1)
                self._finish_object(i, max(t, self.end_i[i]), res)


class _SliderState:
    __slots__ = ("times", "kinds", "start_hit", "start_result", "down_button", "sliding", "slide_start", "scored", "missed")

    def __init__(self, times: list, kinds: list):
        self.times = times
        self.kinds = kinds
        self.start_hit = False
        self.start_result = 0
        self.down_button = 0
        self.sliding = False
        self.slide_start = 0
        self.scored = 0
        self.missed = 0


class _SpinnerState:
    __slots__ = (
        "requirement", "max_accel", "velocity", "theoretical", "last_angle", "updated_before",
        "frame_variance", "zero_count", "rotation_f", "last_count", "scoring_count",
    )

    def __init__(self, requirement: int, max_accel: float):
        self.requirement = requirement
        self.max_accel = max_accel
        self.velocity = 0.0
        self.theoretical = 0.0
        self.last_angle = 0.0
        self.updated_before = False
        self.frame_variance = rules.STABLE_FRAME_MS
        self.zero_count = 0
        self.rotation_f = 0.0
        self.last_count = 0
        self.scoring_count = 0


def midway_unload_ms(kind: np.ndarray, start_ms: np.ndarray, end_ms: np.ndarray) -> dict[int, int]:
    """Sliders that osu!stable drops half-way: {slider index: map time it leaves}.

    A slider with a hit circle starting inside its body is taken out of stable's list of
    live objects at its midpoint (start + duration / 2): ticks and repeats up to then
    count, later ones do not, and the slider gets no 300/100/50/miss at all.  Measured,
    not from a source: on the Keyboard Latency Test map in ../shared/data (a 5-span
    slider with five circles inside) this reproduces the game's counts, max combo and
    ScoreV1 score exactly on all five replays whose counts it can reach (three human, two
    autopilot).  The data pins the cut only to (42494, 42994] ms on that map: its midpoint
    is also the start of the third circle inside it, and "2.0-2.5 s after the first object
    inside started" or "2.5-3.0 s after the slider's start" fit as well.  Those readings
    differ on 2B maps (short sliders with circles inside), which the data does not hold;
    the midpoint is the simplest.  No other map in the data has a circle inside a slider.
    """
    circle_starts = np.sort(start_ms[kind == CIRCLE])
    sliders = np.flatnonzero(kind == SLIDER)
    s, e = start_ms[sliders], end_ms[sliders]
    inside = np.searchsorted(circle_starts, e, "left") > np.searchsorted(circle_starts, s, "right")
    return {int(i): int(a + (b - a) / 2) for i, a, b in zip(sliders[inside], s[inside], e[inside])}


def first_post_ms(beatmap: Beatmap, unload_at: dict[int, int]) -> np.ndarray:
    """(n,) int64: the first post time at which the judge's time-outs can act on each
    object (so calls that cannot do anything are skipped): after a circle's or slider
    head's 50 window, at a slider's end if sooner, at a spinner's end, or where a slider
    leaves midway (``unload_at``, :func:`midway_unload_ms`)."""
    start_i = beatmap.start_ms.astype(np.int64)  # int() truncates, as the judge's whole-ms times
    end_i = beatmap.end_ms.astype(np.int64)
    after_50 = start_i + beatmap.hit_window_50 + 1
    post = np.where(beatmap.kind == CIRCLE, after_50,
                    np.where(beatmap.kind == SLIDER, np.minimum(after_50, end_i), np.ceil(beatmap.end_ms).astype(np.int64)))
    for i, at in unload_at.items():
        post[i] = min(post[i], at)
    return post


def frames_that_matter(beatmap: Beatmap, t_ms: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Indices of the frames at which the judge can change anything.

    Between them the player only moves the cursor over nothing judgeable: no button
    changes, no slider or spinner under way, no time-out due.  Stepping only these frames
    gives the same verdicts as stepping all of them (a test holds the two together).
    """
    n = t_ms.shape[0]
    if n == 0:
        return np.zeros(0, np.int64)
    need = np.zeros(n + 1, np.int64)
    buttons = keys & (M1 | M2)
    changed = np.flatnonzero(buttons != np.concatenate([[0], buttons[:-1]]))
    long = np.flatnonzero(beatmap.kind != CIRCLE)
    a = np.searchsorted(t_ms, beatmap.start_ms[long], "left")
    b = np.searchsorted(t_ms, beatmap.end_ms[long], "right") + 1  # through the first frame after the end
    np.add.at(need, a, 1)
    np.add.at(need, np.minimum(b, n), -1)
    span = np.cumsum(need[:n]) > 0
    deadlines = beatmap.start_ms.astype(np.int64) + beatmap.hit_window_50
    k = np.searchsorted(t_ms, deadlines, "right")
    span[np.clip(k, 0, n - 1)] = True
    span[np.clip(k - 1, 0, n - 1)] = True
    span[changed] = True
    span[[0, n - 1]] = True
    return np.flatnonzero(span)


_FAIL_WINDOW = 15  # frames in the running median of frame intervals


def lazer_fail_ms(t_ms: np.ndarray) -> int | None:
    """The map time at which a failed osu!lazer play failed, read from its frames.

    lazer keeps recording through its fail animation while it slows the song to a stop,
    so the frames' song-time intervals shrink to zero; the judging stopped where that
    slow-down began: the last frame whose running median interval (15 frames) is still
    the play's typical one.  None when the frames do not end in such a slow-down.
    """
    d = np.diff(np.asarray(t_ms, np.float64))
    if d.size < 4 * _FAIL_WINDOW:
        return None
    typical = float(np.median(d))
    half = _FAIL_WINDOW // 2
    running = np.median(np.lib.stride_tricks.sliding_window_view(np.pad(d, half, mode="edge"), _FAIL_WINDOW), axis=1)
    if typical <= 0 or running[-1] >= 0.5 * typical:
        return None
    full_speed = np.flatnonzero(running >= typical)
    if full_speed.size == 0:
        return None
    return int(t_ms[full_speed[-1] + 1])


def judge(beatmap: Beatmap, replay: Replay, *, check_md5: bool = True, every_frame: bool = False,
          reference: bool = False) -> JudgeResult:
    """Judge a whole replay on a beatmap the way osu! did.

    ``beatmap`` must be loaded with the replay's mods.  A replay that stops before the
    last object ends is treated as failed/quit: objects after its last frame stay
    unjudged, as in the game (for a failed lazer play, after the fail: see
    :func:`lazer_fail_ms`).  Replays exported by lazer count sliders by their heads.
    ``every_frame=True`` steps every frame; the default skips frames where nothing can be
    judged (see :func:`frames_that_matter`).  The compiled judge (:mod:`osu_env.fast_judge`)
    does the work; ``reference=True`` runs the readable :class:`Judge` instead, which the
    compiled one is tested against.
    """
    if replay.mods & Mods.Relax:
        raise ReplayError(f"{replay.path}: a Relax play is not judged: osu! clicks for the player there, "
                          "so the counts say nothing about them")
    if check_md5 and replay.beatmap_md5 and replay.beatmap_md5 != beatmap.md5:
        raise WrongBeatmapError(
            f"{replay.path}: replay is for beatmap {replay.beatmap_md5}, not {beatmap.path} ({beatmap.md5})"
        )
    client = ClientRules.of(replay.game_version)
    t, n = beatmap.map_times(replay), replay.n_frames
    complete = n > 0 and int(t[-1]) >= int(beatmap.end_ms.max()) - 1
    if client.lazer and not complete:
        fail = lazer_fail_ms(t)
        if fail is not None:
            n = int(np.searchsorted(t, fail, side="right"))
    old_ends = client.old_ends
    order = np.arange(n) if every_frame else frames_that_matter(beatmap, t[:n], replay.keys[:n])
    if not reference:
        return _judge_compiled(beatmap, client, t[:n], replay.x[:n], replay.y[:n], replay.keys[:n], order, complete)
    j = Judge.for_client(beatmap, replay.game_version)
    t_list, x_list, y_list, k_list = t.tolist(), replay.x.tolist(), replay.y.tolist(), replay.keys.tolist()
    step = j.step
    for f in order.tolist():
        j.last_frame_t = t_list[f - 1] if f > 0 else 0  # spinners measure from the previous frame
        until = t_list[f + 1] if (old_ends and f + 1 < n) else None
        step(t_list[f], x_list[f], y_list[f], k_list[f], until, f > 0 and t_list[f] == t_list[f - 1])
    return j.finish(complete=complete)


def _judge_compiled(beatmap: Beatmap, client: ClientRules, t: np.ndarray, x: np.ndarray, y: np.ndarray, keys: np.ndarray,
                    order: np.ndarray, complete: bool) -> JudgeResult:
    """:func:`judge`'s frames through the compiled judge, under ``client``'s rules."""
    from . import fast_judge as fj  # numba loads on the first judgement, not on import

    tab = fj.tables(beatmap, lazer=client.lazer, old_spinner_scoring=client.old_spinner_scoring)
    order = np.ascontiguousarray(order, np.int64)
    state = fj.new_state(tab, fj.event_capacity(tab, t[order]))
    fj.run(tab, state, np.ascontiguousarray(t, np.int64), np.ascontiguousarray(x, np.float64),
           np.ascontiguousarray(y, np.float64), np.ascontiguousarray(keys, np.int64), order, client.old_ends)
    fj.finish(tab, state, complete)
    return fj.result(tab, state)
