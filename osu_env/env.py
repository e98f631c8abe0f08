"""The playfield as a gymnasium environment, single (:class:`OsuEnv`) and batched
(:class:`OsuVectorEnv`).  :class:`OsuEnv` steps a :class:`Play`: the readable judge
advanced one frame at a time, the frames recorded so the play can be saved as an
``.osr``.  :class:`OsuVectorEnv` steps all its plays in compiled code
(:mod:`osu_env.fast_env`), tested equal to :class:`Play` step by step.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import VectorEnv

from . import DEMO_MAP, rules
from .beatmap import CIRCLE, Beatmap, load_beatmap
from .features import DEFAULT_K, OBS_LIMIT, ObjectTable, obs_size
from .judge import HEAD, HIT, SPIN, TICK, Judge
from .replay import Replay
from .rules import K1, K2, M1, M2

DEFAULT_STEP_MS = 1000.0 / 60.0
LEAD_IN_MS = 500.0
ACTION_CENTRE_PX = np.array(rules.SPINNER_CENTRE)
CENTRE_X, CENTRE_Y = rules.SPINNER_CENTRE
# Half the side of the padded playfield the action covers, in osu!px.  A power of two so
# px -> action -> px is exact in floating point (a replay fed as actions is judged as is).
ACTION_HALF_RANGE_PX = 512.0
KEY_BITS = (M1 | K1, M2 | K2)
DEFAULT_REWARD = {"300": 1.0, "100": 1 / 3, "50": 1 / 6, "miss": -1.0, "head": 0.3, "head_miss": -0.3,
                  "tick": 0.1, "tick_miss": -0.1, "spin": 0.02}
GAME_VERSION = 20250702  # behaves as a current osu!stable client


def action_to_frame(action: np.ndarray) -> tuple[float, float, int]:
    """(x_px, y_px, key bits) for an action (x, y in [-1, 1], key values > 0 pressed)."""
    a = np.asarray(action, np.float64)
    if a.shape != (4,):
        raise ValueError(f"action must have shape (4,) = (x, y, key1, key2), got {a.shape}")
    ax, ay, k1, k2 = a.tolist()
    x = CENTRE_X + min(max(ax, -1.0), 1.0) * ACTION_HALF_RANGE_PX
    y = CENTRE_Y + min(max(ay, -1.0), 1.0) * ACTION_HALF_RANGE_PX
    return x, y, (KEY_BITS[0] if k1 > 0 else 0) | (KEY_BITS[1] if k2 > 0 else 0)


def frames_to_actions(x: np.ndarray, y: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """(n, 4) float64 actions that reproduce frames (x, y px; keys M1/M2 bits) exactly."""
    a = np.empty((len(x), 4))
    a[:, 0] = (np.asarray(x, np.float64) - ACTION_CENTRE_PX[0]) / ACTION_HALF_RANGE_PX
    a[:, 1] = (np.asarray(y, np.float64) - ACTION_CENTRE_PX[1]) / ACTION_HALF_RANGE_PX
    keys = np.asarray(keys)
    a[:, 2] = np.where(keys & M1, 1.0, -1.0)
    a[:, 3] = np.where(keys & M2, 1.0, -1.0)
    return a


def as_beatmap(beatmap: str | Path | Beatmap, mods: int | str | None = None) -> Beatmap:
    """A loaded beatmap under ``mods`` (``None``: a path loads nomod, a Beatmap keeps its mods)."""
    if isinstance(beatmap, Beatmap):
        if mods is None or rules.parse_mods(mods) == beatmap.mods:
            return beatmap
        return beatmap.with_mods(rules.parse_mods(mods))
    return load_beatmap(beatmap, mods=rules.parse_mods(mods))


def step_times(beatmap: Beatmap, step_ms: float = DEFAULT_STEP_MS, phase_ms: float = 0.0) -> np.ndarray:
    """The env's clock on ``beatmap``: int map times ``step_ms`` apart from ``preempt + 500``
    ms before the first object until every object is judged (last end + 50 window).
    ``phase_ms`` shifts the grid (training data seen at other frame phases)."""
    if not beatmap.n_objects:
        return np.zeros(1, np.int64)
    t0 = float(beatmap.start_ms[0]) - beatmap.preempt_ms - LEAD_IN_MS + phase_ms
    end = float(beatmap.end_ms.max()) + beatmap.hit_window_50 + 1
    n = int(np.ceil((end - t0) / step_ms)) + 1
    return np.round(t0 + np.arange(n) * step_ms).astype(np.int64)


def recorded_frames(frames: list[tuple[int, float, float, int]], clock_rate: float) -> list[tuple[int, float, float, int]]:
    """``frames`` (map ms, x, y, keys) as osu! records them: one every
    ``rules.STABLE_FRAME_MS`` of *real* time (``clock_rate`` times that in map time) plus
    one at every key change.

    Why: a closed-loop agent acts on the env's grid, 1000/60 ms of map time, the grid it
    was trained on.  Under DT that is a frame every 11.1 real ms; 119 of the 121 human
    replays in ../shared/data have their regular frames 16.6-17.8 real ms apart (the other
    two 24.5 and 32.4), so a replay written on the grid gives itself away.  The observation depends on time and
    cursor only, so the agent's path is the same whatever frames record it; the cursor
    between grid frames is interpolated.  At rate 1 the frames are returned as they are."""
    if clock_rate == 1.0 or len(frames) < 2:
        return list(frames)
    t = np.array([f[0] for f in frames], np.float64)
    x = np.array([f[1] for f in frames], np.float64)
    y = np.array([f[2] for f in frames], np.float64)
    keys = np.array([f[3] for f in frames], np.int64)
    frame = rules.STABLE_FRAME_MS * clock_rate  # osu!'s recording clock in map ms, not the env's step
    regular = np.round(t[0] + np.arange(int((t[-1] - t[0]) / frame) + 1) * frame)
    changes = t[1:][keys[1:] != keys[:-1]]
    at = np.unique(np.concatenate([regular, changes, t[-1:]]))
    held = keys[np.searchsorted(t, at, side="right") - 1]  # the keys of the last grid frame at or before
    return [(int(a), float(px), float(py), int(k)) for a, px, py, k in zip(at, np.interp(at, t, x), np.interp(at, t, y), held)]


class Play:
    """One player on one map: the clock, the judge, the running score and the frames.

    The clock is a fixed step in map time from shortly before the first object appears
    until every object is judged, or an explicit list of frame times (a replay's own).
    """

    def __init__(self, beatmap: Beatmap, *, step_ms: float = DEFAULT_STEP_MS, frame_times_ms=None,
                 game_version: int = GAME_VERSION, reward: dict | None = None):
        self.bm = beatmap
        self.reward_weights = {**DEFAULT_REWARD, **(reward or {})}
        self.game_version = game_version
        self.judge = Judge.for_client(beatmap, game_version)
        self.old_ends = self.judge.old_ends
        self.end_ms = float(beatmap.end_ms.max()) + beatmap.hit_window_50 + 1 if beatmap.n_objects else 0.0
        if frame_times_ms is not None:
            self.times = np.asarray(frame_times_ms, np.int64)
            if self.times.ndim != 1 or self.times.size == 0:
                raise ValueError("frame_times_ms must be a non-empty 1-D sequence of map times")
        else:
            self.times = step_times(beatmap, step_ms)
        self._times = self.times.tolist()
        self.i = 0
        self.t_ms = self._times[0]  # map time of the next frame (of the last one once over)
        self.x, self.y = float(rules.SPINNER_CENTRE[0]), float(rules.SPINNER_CENTRE[1])
        self.keys = 0
        self.frames: list[tuple[int, float, float, int]] = []
        self.counts = [0, 0, 0, 0]
        self.score = 0
        self.done = False
        self.score_mult = score_multipliers(beatmap)
        self.result = None
        self._init_skipping()

    def _init_skipping(self) -> None:
        """The judge need not see a frame where nothing can change: no key change, no
        slider or spinner under way, no hit window closing (the rule of
        :func:`osu_env.judge.frames_that_matter`, applied online).  Clients before
        late 2019 (rules.NEW_OBJECT_END_HANDLING_VERSION) judged ends every ms between
        frames, so those plays step every frame."""
        bm = self.bm
        long = bm.kind != CIRCLE
        self._busy = sorted(zip(bm.start_ms[long].tolist(), bm.end_ms[long].tolist()))
        self._deadlines = sorted((bm.start_ms.astype(np.int64) + bm.hit_window_50).tolist())
        self._busy_i = 0
        self._deadline_i = 0
        self._prev_t = 0
        self._last_stepped_keys = 0

    def _must_step(self, t: int, keys: int) -> bool:
        if self.old_ends or self.i == 0 or self.i == len(self._times) - 1:
            return True
        if (keys ^ self._last_stepped_keys) & (M1 | M2):
            return True
        busy = self._busy
        while self._busy_i < len(busy) and busy[self._busy_i][1] < self._prev_t:
            self._busy_i += 1  # ended before the previous frame: its first frame after the end was stepped
        j = self._busy_i
        while j < len(busy) and busy[j][0] <= t:
            if busy[j][1] >= self._prev_t:
                return True
            j += 1
        d = self._deadlines
        due = False
        while self._deadline_i < len(d) and d[self._deadline_i] < t:
            self._deadline_i += 1
            due = True
        return due

    def advance(self, x: float, y: float, keys: int) -> float:
        """Play the frame at :attr:`t_ms` with the cursor at (x, y) and ``keys`` held;
        returns its reward.  The play is over (``done``) after the last frame."""
        t = self._times[self.i]
        events = ()
        combo_before = self.judge.combo
        if self._must_step(t, keys):
            until = self._times[self.i + 1] if self.old_ends and self.i + 1 < len(self._times) else None
            self.judge.last_frame_t = self._prev_t  # spinners measure from the previous frame
            events = self.judge.step(t, x, y, keys, until, self.i > 0 and t == self._prev_t)
            self._last_stepped_keys = keys
        self._prev_t = t
        self.frames.append((t, x, y, keys))
        self.x, self.y, self.keys = x, y, keys
        self.i += 1
        if self.i >= len(self._times):
            self.done = True
            complete = t >= int(self.bm.end_ms.max()) - 1 if self.bm.n_objects else True
            first = len(self.judge.events)
            self.result = self.judge.finish(complete=complete)
            events = list(events) + self.judge.events[first:]
        else:
            self.t_ms = self._times[self.i]
        return self._score(events, combo_before) if events else 0.0

    def _score(self, events: list, combo: int) -> float:
        w = self.reward_weights
        r = 0.0
        diff_mult, mod_mult = self.score_mult
        for _, _, what, value in events:
            if what == HIT:
                self.counts[(300, 100, 50, 0).index(value)] += 1
                r += w[str(value)] if value else w["miss"]
                if value:
                    self.score += rules.hit_score(value, combo, diff_mult, mod_mult)
                    combo += 1
                else:
                    combo = 0
            elif what == HEAD:
                r += w["head"] * value / 300 if value else w["head_miss"]
                self.score += 30 if value else 0
                combo = combo + 1 if value else 0
            elif what == TICK:
                r += w["tick"] if value else w["tick_miss"]
                self.score += 10 if value else 0
            elif what == SPIN:
                r += w["spin"]
                self.score += 100 if value % 2 == 0 else 0
        return r

    @property
    def info(self) -> dict:
        n300, n100, n50, nmiss = self.counts
        return {
            "t_ms": self.t_ms,
            "n300": n300,
            "n100": n100,
            "n50": n50,
            "nmiss": nmiss,
            "combo": self.judge.combo,
            "max_combo": self.judge.max_combo,
            "accuracy": rules.accuracy_percent(n300, n100, n50, nmiss),
            "score": self.score,
        }

    def to_replay(self, player: str = "osu-imitation") -> Replay:
        """The frames played so far as a :class:`Replay` (times as its .osr stores them,
        :meth:`Beatmap.file_times`), with the judge's counts once done."""
        t, x, y, k = (np.array(c) for c in zip(*self.frames)) if self.frames else (np.zeros(0, np.int64),) * 4
        r = Replay(path="", player=player, beatmap_md5=self.bm.md5, mods=self.bm.mods, game_version=self.game_version,
                   t_ms=self.bm.file_times(t), x=x.astype(np.float64), y=y.astype(np.float64), keys=k.astype(np.int64))
        if self.result is not None:
            r = replace(r, n300=self.result.n300, n100=self.result.n100, n50=self.result.n50, nmiss=self.result.nmiss,
                        max_combo=self.result.max_combo, score=self.score)
        return r


def score_multipliers(bm: Beatmap) -> tuple[int, float]:
    """ScoreV1's difficulty and mod multipliers for a play of ``bm``."""
    drain_s = (float(bm.end_ms.max()) - float(bm.start_ms.min())) / 1000.0 if bm.n_objects else 1.0
    return (rules.score_difficulty_multiplier(bm.hp, bm.od, bm.cs, bm.n_objects, drain_s),
            rules.score_mod_multiplier(bm.mods))


def _observation_space(k: int) -> spaces.Box:
    return spaces.Box(-OBS_LIMIT, OBS_LIMIT, shape=(obs_size(k),), dtype=np.float32)


def _action_space() -> spaces.Box:
    return spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)


class OsuEnv(gym.Env):
    """Play an osu!standard beatmap: move the cursor, press two keys, be judged like osu!stable.

    ## Description
    Each step is one frame of game time (``step_ms``, default 1000/60 ms of map time; with
    DT/HT the song runs 1.5x/0.75x faster in real time, the map clock is unchanged).  The
    cursor is put where the action says and the keys are held as it says; the judge
    (:mod:`osu_env.judge`) scores circles, slider heads/ticks/repeats/ends and spinners with
    osu!stable's rules: hit windows, notelock, follow circle, spinner RPM cap.

    ## Action Space
    ``Box(-1, 1, (4,), float32)``:

    | index | meaning | min | max |
    |-------|---------|-----|-----|
    | 0 | cursor x: ``256 + 512 a`` osu!px (playfield is 0..512) | -1 | 1 |
    | 1 | cursor y: ``192 + 512 a`` osu!px (playfield is 0..384) | -1 | 1 |
    | 2 | key 1 held when > 0 | -1 | 1 |
    | 3 | key 2 held when > 0 | -1 | 1 |

    A press is a key going from released to held (osu! judges presses, not holds).

    ## Observation Space
    ``Box(-16, 16, (6 + 14 K,), float32)``: the cursor, the map progress and the
    difficulty, then the next ``K`` objects not yet over, relative to the cursor: time
    until hit and until end, head/aim/end offsets, kind, running flag and pace (slider
    ball speed or spinner half-turns needed per second).  The table of every index is in
    :mod:`osu_env.features`; the same function builds training data from human replays.

    ## Rewards
    Per judgement (``reward=`` overrides any of these): 300 -> +1, 100 -> +1/3,
    50 -> +1/6, miss -> -1; slider head +0.3 (scaled by its accuracy) or -0.3 when
    missed; slider tick/repeat/end +0.1 or -0.1; +0.02 per spinner half-turn.

    ## Starting State
    The clock starts ``preempt + 500`` ms before the first object, the cursor at the
    playfield centre (256, 192), no key held.  With ``maps=[...]`` each reset draws one
    map with ``self.np_random``.

    ## Episode End
    ``terminated`` once the clock passes the last object's end plus the 50 window (all
    objects judged) or a given frame schedule runs out; never truncated.

    ## Info
    ``t_ms`` (time of the next frame), ``n300``, ``n100``, ``n50``, ``nmiss``, ``combo``,
    ``max_combo``, ``accuracy`` (percent, osu!stable formula), ``score`` (ScoreV1).

    ## Arguments
    - ``beatmap``: path to a ``.osu`` or a loaded :class:`~osu_env.beatmap.Beatmap`
      (default: the bundled demo map); ``maps``: a list of those to draw from on reset.
    - ``mods``: acronyms ("HDHR") or bits; HR/EZ change the map, DT/HT the clock rate.
    - ``step_ms``: frame length in map time; ``k_objects``: K; ``reward``: weights.
    - ``render_mode``: "human" (a pygame window) or "rgb_array" (``(H, W, 3)`` uint8 frames);
      ``render_size``: (width, height) in pixels.

    ``reset(options=...)`` accepts ``beatmap`` (another map), ``frame_times_ms`` (step on
    these map times instead of the fixed grid, e.g. a replay's own frames) and
    ``game_version`` (judge like that client, e.g. per-ms object ends before late 2019).

    ## Example
    >>> import gymnasium as gym, osu_env.env
    >>> env = gym.make("osu_env/Osu-v0")          # the bundled demo map
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    >>> env.unwrapped.play.to_replay().n_frames
    1

    ``env.unwrapped.play.to_replay()`` is the play so far; :func:`osu_env.replay.save_replay`
    writes it for osu!.
    """

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 60}

    def __init__(self, beatmap: str | Path | Beatmap | None = None, *, maps=None, mods=None,
                 step_ms: float = DEFAULT_STEP_MS, k_objects: int = DEFAULT_K, reward: dict | None = None,
                 render_mode: str | None = None, render_size: tuple[int, int] = (640, 480)):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, not {render_mode!r}")
        if step_ms <= 0:
            raise ValueError(f"step_ms must be positive, got {step_ms}")
        self.mods = mods
        sources = list(maps) if maps else [beatmap if beatmap is not None else DEMO_MAP]
        self.maps = [as_beatmap(m, mods) for m in sources]
        self.step_ms = step_ms
        self.k = k_objects
        self.reward = reward
        self.render_mode = render_mode
        self.render_size = render_size
        self.observation_space = _observation_space(k_objects)
        self.action_space = _action_space()
        self._tables: dict[int, ObjectTable] = {}
        self._map0, self._query = np.zeros(1, np.int64), np.zeros(3)  # one observation's (map, t, x, y)
        self._renderer = None
        self.play: Play | None = None

    def _table(self, bm: Beatmap) -> ObjectTable:
        key = id(bm)
        if key not in self._tables:
            self._tables = {key: ObjectTable.build([bm])}  # one map at a time is enough
        return self._tables[key]

    def _obs(self) -> np.ndarray:
        """The compiled :func:`osu_env.fast_env.observe` (``features.observe``'s twin, tested
        equal): numpy's whole-array calls cost more than the judge on a batch of one."""
        from . import fast_env

        p = self.play
        self._query[0], self._query[1], self._query[2] = p.t_ms, p.x, p.y
        return fast_env.observe(self._table(p.bm), self._map0, self._query[:1], self._query[1:2], self._query[2:3],
                                self.k)[0]

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        if "beatmap" in options:
            bm = as_beatmap(options["beatmap"], self.mods)
        else:
            bm = self.maps[int(self.np_random.integers(len(self.maps)))] if len(self.maps) > 1 else self.maps[0]
        self.play = Play(bm, step_ms=self.step_ms, frame_times_ms=options.get("frame_times_ms"),
                         game_version=int(options.get("game_version", GAME_VERSION)), reward=self.reward)
        if self._renderer is not None:
            self._renderer.reset(bm)
        if self.render_mode == "human":
            self.render()
        return self._obs(), self.play.info

    def step(self, action):
        if self.play is None:
            raise RuntimeError("call reset() before step()")
        if self.play.done:
            raise RuntimeError("the play is over (terminated); call reset()")
        x, y, keys = action_to_frame(action)
        reward = self.play.advance(x, y, keys)
        if self.render_mode == "human":
            self.render()
        return self._obs(), float(reward), self.play.done, False, self.play.info

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='rgb_array' or 'human'")
            return None
        from .render import Renderer

        if self._renderer is None:
            self._renderer = Renderer(self.play.bm, size=self.render_size, window=self.render_mode == "human")
        p = self.play
        self._renderer.draw_play(p)
        if self.render_mode == "human":
            self._renderer.present(self.metadata["render_fps"])
            return None
        return self._renderer.to_array()

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


class OsuVectorEnv(VectorEnv):
    """``num_envs`` plays stepped together: one compiled call judges, scores and observes
    them all (:mod:`osu_env.fast_env`, tested equal to :class:`OsuEnv` step by step).

    Each sub-env draws a map from ``maps`` on reset (its own RNG stream from ``seed``) and
    starts again on its own when its play ends, as gymnasium 0.29's vector envs do (the
    version ``imitation`` 1.0.1 pins): the returned observation is the new play's first,
    ``infos["final_observation"]`` and ``infos["final_info"]`` are object arrays holding
    the finished play's last observation and info (``None`` elsewhere), masked by
    ``infos["_final_observation"]`` and ``infos["_final_info"]``.  Semantics per sub-env
    are :class:`OsuEnv`'s, judged as a current stable client.  :attr:`cursor` is where
    each play's cursor is.
    """

    metadata = {"render_modes": []}

    def __init__(self, maps, num_envs: int = 16, *, mods=None, step_ms: float = DEFAULT_STEP_MS,
                 k_objects: int = DEFAULT_K, reward: dict | None = None):
        from . import fast_env  # numba loads with the first vector env, not on import

        self.maps = [as_beatmap(m, mods) for m in (maps if isinstance(maps, (list, tuple)) else [maps])]
        if not self.maps:
            raise ValueError("OsuVectorEnv needs at least one map")
        super().__init__(num_envs, _observation_space(k_objects), _action_space())
        self.step_ms = step_ms
        self.k = k_objects
        weights = {**DEFAULT_REWARD, **(reward or {})}
        self._fast = fast_env
        self._weights = np.array([weights[key] for key in fast_env.REWARD_KEYS], np.float64)
        self.table = ObjectTable.build(self.maps)
        self._table_arrays = fast_env.table_arrays(self.table)
        self._pack = fast_env.pack(self.maps, [step_times(bm, step_ms) for bm in self.maps],
                                   [score_multipliers(bm) for bm in self.maps])
        self._plays = fast_env.Plays.new(self._pack, num_envs)
        self._rngs: list[np.random.Generator] = []

    @property
    def cursor(self) -> np.ndarray:
        """(num_envs, 2) each play's cursor in osu!px (the playfield centre at its start)."""
        return self._plays.xy.copy()

    def _start(self, e: int) -> None:
        self._plays.start(e, int(self._rngs[e].integers(len(self.maps))), self._pack)

    def _obs(self, rows: np.ndarray | None = None) -> np.ndarray:
        s = self._plays
        rows = np.arange(self.num_envs) if rows is None else rows
        return self._fast.observe(self.table, s.env[rows, self._fast.E_MAP], s.t_next[rows], s.xy[rows, 0], s.xy[rows, 1],
                                  self.k)

    def _infos(self) -> dict:
        f, s = self._fast, self._plays
        n300, n100, n50, nmiss = (s.env[:, c].copy() for c in (f.E_N300, f.E_N100, f.E_N50, f.E_NMISS))
        return {"t_ms": s.t_next.copy(), "n300": n300, "n100": n100, "n50": n50, "nmiss": nmiss,
                "combo": s.g[:, f.fj.G_COMBO].copy(), "max_combo": s.g[:, f.fj.G_MAX_COMBO].copy(),
                "accuracy": rules.accuracy_percent(n300, n100, n50, nmiss), "score": s.env[:, f.E_SCORE].copy()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._np_random, self._np_random_seed = gym.utils.seeding.np_random(seed)
        root = np.random.SeedSequence(seed)
        self._rngs = [np.random.default_rng(s) for s in root.spawn(self.num_envs)]
        for e in range(self.num_envs):
            self._start(e)
        return self._obs(), self._infos()

    def step(self, actions):
        a = np.asarray(actions, np.float64)
        if a.shape != (self.num_envs, 4):
            raise ValueError(f"actions must have shape ({self.num_envs}, 4), got {a.shape}")
        if not self._rngs:
            raise RuntimeError("call reset() before step()")
        xs = ACTION_CENTRE_PX[0] + np.clip(a[:, 0], -1, 1) * ACTION_HALF_RANGE_PX
        ys = ACTION_CENTRE_PX[1] + np.clip(a[:, 1], -1, 1) * ACTION_HALF_RANGE_PX
        keys = np.where(a[:, 2] > 0, KEY_BITS[0], 0) | np.where(a[:, 3] > 0, KEY_BITS[1], 0)
        rewards = np.empty(self.num_envs)
        obs = np.empty((self.num_envs, self.single_observation_space.shape[0]), np.float32)
        self._fast.step(self._pack, self._plays, xs, ys, keys.astype(np.int64), self._weights, rewards, self._table_arrays,
                        self.k, obs)
        done = self._plays.env[:, self._fast.E_DONE] == 1
        infos: dict = {}
        if done.any():
            final_obs = np.full(self.num_envs, None, object)
            final_info = np.full(self.num_envs, None, object)
            last = self._infos()
            ended = np.flatnonzero(done)
            for e in ended.tolist():
                final_obs[e] = obs[e].copy()
                final_info[e] = {key: (v[e].item()) for key, v in last.items()}
                self._start(e)
            obs[ended] = self._obs(ended)
            infos.update(final_observation=final_obs, _final_observation=done, final_info=final_info, _final_info=done.copy())
        infos.update(self._infos())
        return obs, rewards, done, np.zeros(self.num_envs, bool), infos
