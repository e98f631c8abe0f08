"""Human replays -> aligned (observation, action) sequences on the env's step grid, cached.

For each replay, at every env step time ``t_i`` (:func:`osu_env.env.step_times`):

- the observation is :func:`osu_env.features.observe` at ``t_i`` with the cursor where the
  player had it one step earlier, exactly what the env shows a policy before it acts;
- the action is where the player's cursor is at ``t_i`` (interpolated between frames, in
  the env's action units) and whether each key was down at any moment within half a step
  of ``t_i``, so a press lands on the nearest step and a tap shorter than a step is kept.

Mods are normalised: HR plays are flipped back (map and cursor together, see
:meth:`Beatmap.mirrored`; the HR difficulty stays), DT/HT stay in map time, as the env
runs.  The cache is a folder: ``obs.npy`` (float32, N x D) and ``act.npy`` (float32, N x 4)
memory-mapped, ``meta.json`` with the format version, feature size, step and one entry
per replay (offset, length, map md5, player, mods, split).  The split is by map, so
validation maps are never seen in training.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from osu_env.beatmap import PLAYFIELD_HEIGHT, Beatmap, load_beatmap
from osu_env.env import ACTION_CENTRE_PX, ACTION_HALF_RANGE_PX, DEFAULT_STEP_MS, step_times
from osu_env.errors import OsuInputError
from osu_env.features import DEFAULT_K, GLOBAL_FEATURES, ObjectTable, obs_size, observe
from osu_env import rules
from osu_env.library import Pair, Skipped, category, pair_replays
from osu_env.replay import Replay
from osu_env.rules import M1, M2, Mods

FORMAT_VERSION = 1
GLOBAL_Y = (1,)  # the cursor's y in the observation (features.py's table)


def offset_index(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(present flags, x offsets, y offsets) indices of the per-object features."""
    from osu_env.features import GLOBAL_FEATURES, OBJECT_FEATURES

    base = GLOBAL_FEATURES + OBJECT_FEATURES * np.arange(k)
    return base, (base[:, None] + np.array([3, 5, 7])).ravel(), (base[:, None] + np.array([4, 6, 8])).ravel()


def mirror_index(k: int) -> np.ndarray:
    """Indices of the observation that change sign under a top-bottom mirror: the
    cursor's y and every object's y offsets."""
    return np.concatenate([GLOBAL_Y, offset_index(k)[2]])


def spinning(obs):
    """Which steps of ``obs`` (..., D) have a spinner under way as the next object."""
    kind, running = GLOBAL_FEATURES + 11, GLOBAL_FEATURES + 12  # object 0's spinner one-hot and running flag
    return (obs[..., kind] > 0.5) & (obs[..., running] > 0.5)


def spin_sense(obs):
    """Net turn (radians) of the cursor about the playfield centre over each window's
    spinner steps: > 0 one way, < 0 the other, 0 without a spinner.  ``obs`` (B, L, D),
    torch; the cursor's features are its offsets from the centre (features.py)."""
    import torch

    x, y = obs[..., 0], obs[..., 1]
    step = torch.atan2(x[:, :-1] * y[:, 1:] - y[:, :-1] * x[:, 1:], x[:, :-1] * x[:, 1:] + y[:, :-1] * y[:, 1:])
    both = spinning(obs[:, :-1]) & spinning(obs[:, 1:])
    return torch.where(both, step, torch.zeros_like(step)).sum(1)


def spinner_onsets(spinning_rows: np.ndarray) -> np.ndarray:
    """The first row of each spinner in ``spinning_rows`` (:meth:`Dataset.spinning_steps`,
    sorted): one anchor per spinner, so a short spinner is drawn as often as a long one,
    and a window placed over it holds the spin's start."""
    return spinning_rows[np.r_[True, np.diff(spinning_rows) > 1]] if len(spinning_rows) else spinning_rows


def rotate_about_centre(obs, act, prev_act, theta, k: int):
    """Windows as if the whole play had been turned by ``theta`` (radians, one per window)
    about the playfield centre: the cursor, its actions and every object offset rotate
    together, so distances, speeds and the spin about a spinner (whose centre is the
    playfield centre) stay exactly what they were.  Spinners are where this is worth it:
    a spin is the same at any angle, and the ~2% of play they fill gives few examples.
    Torch tensors, in place; ``theta`` has shape (B,)."""
    import torch

    _, xs, ys = offset_index(k)
    c, s = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]

    def turn(a, ix, iy):
        x, y = a[..., ix], a[..., iy]
        a[..., ix], a[..., iy] = c * x - s * y, s * x + c * y

    turn(obs, [0], [1])
    turn(obs, xs, ys)
    turn(act, [0], [1])
    turn(prev_act, [0], [1])
    return obs, act, prev_act


def shift_cursor(obs, prev_act, dx_px, dy_px, k: int):
    """Observations and previous actions as if the cursor had been (dx, dy) px elsewhere
    one step earlier: the cursor moves, every object offset moves the other way.  Training
    on such shifted inputs with the true next position teaches the policy to steer back
    after its own errors (noise injection against compounding error in closed loop).
    Works on numpy arrays and torch tensors alike (in place)."""
    present, xs, ys = offset_index(k)
    obs[..., 0] += dx_px / 256.0
    obs[..., 1] += dy_px / 256.0
    flags = obs[..., present].repeat_interleave(3, -1) if hasattr(obs, "repeat_interleave") else np.repeat(obs[..., present], 3, -1)
    obs[..., xs] -= flags * (dx_px[..., None] / 256.0)
    obs[..., ys] -= flags * (dy_px[..., None] / 256.0)
    prev_act[..., 0] += dx_px / 512.0
    prev_act[..., 1] += dy_px / 512.0
    return obs, prev_act


def release_keys(prev_act, rng, share: float, max_steps: int = 60):
    """Previous actions as if the player had let go of both keys for a while: in ``share``
    of the windows, a random span of 1..``max_steps`` steps reads "keys up" while the
    targets keep the human's keys.  Teacher forcing otherwise shows the policy only its
    own (the human's) key state, so it learns "keep the key as it is"; played closed loop,
    a key released too early (often right after a tap that leads into a spinner or a
    slider) then stays up.  Training on released keys with the true next key teaches it
    to press again.  ``prev_act`` (B, L, 4) torch, in place; ``rng`` a numpy Generator."""
    import torch

    b, n, _ = prev_act.shape
    start = rng.integers(0, n, b)
    stop = start + rng.integers(1, max_steps + 1, b)
    steps = np.arange(n)
    span = (rng.random(b) < share)[:, None] & (steps >= start[:, None]) & (steps < stop[:, None])
    prev_act[torch.as_tensor(span, device=prev_act.device), 2:] = 0
    return prev_act


def as_trained(bm: Beatmap, replay: Replay) -> tuple[Beatmap, np.ndarray, np.ndarray, np.ndarray]:
    """(map, frame times on its clock, cursor x, y) of ``replay`` on ``bm`` (loaded with
    its mods) as training sees them: an HR play flipped back, map and cursor together
    (the HR difficulty stays), so every play is seen the right way up."""
    x, y = replay.x.astype(np.float64), replay.y.astype(np.float64)
    if replay.mods & Mods.HardRock:
        bm, y = bm.mirrored(), PLAYFIELD_HEIGHT - y
    return bm, bm.map_times(replay).astype(np.float64), x, y


def replay_sequence(bm: Beatmap, replay: Replay, step_ms: float = DEFAULT_STEP_MS, k: int = DEFAULT_K,
                    phase_ms: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(obs (n, D) float32, act (n, 4) float32) of ``replay`` on ``bm`` (loaded with its mods)."""
    bm, ft, x, y = as_trained(bm, replay)
    t = step_times(bm, step_ms, phase_ms).astype(np.float64)
    t = t[(t >= ft[0]) & (t <= ft[-1])]
    if t.size < 2:
        raise OsuInputError(f"{replay.path}: replay does not cover the map's objects")
    cx, cy = np.interp(t, ft, x), np.interp(t, ft, y)
    prev_t = t - step_ms
    px, py = np.interp(prev_t, ft, x), np.interp(prev_t, ft, y)
    obs = observe(ObjectTable.build([bm]), np.zeros(t.size, np.int64), t, px, py, k)

    act = np.empty((t.size, 4), np.float32)
    act[:, 0] = (cx - ACTION_CENTRE_PX[0]) / ACTION_HALF_RANGE_PX
    act[:, 1] = (cy - ACTION_CENTRE_PX[1]) / ACTION_HALF_RANGE_PX
    act[:, 2:] = keys_on_steps(replay, ft, t, step_ms)
    return obs, act


def keys_on_steps(replay: Replay, ft: np.ndarray, t: np.ndarray, step_ms: float) -> np.ndarray:
    """(n, 2) bool: each key down at any moment of the step centred on ``t_i``, so a
    press lands on the nearest step (timing error within +-step/2, unbiased) and a tap
    shorter than a step is kept.  ``ft``: the replay's frame times on the map's clock."""
    hi = np.searchsorted(ft, t + step_ms / 2, side="right")
    lo = np.searchsorted(ft, t - step_ms / 2, side="right")
    out = np.empty((len(t), 2), bool)
    for col, bit in enumerate((M1, M2)):
        down = (replay.keys & bit) > 0
        seen = np.concatenate([[0], np.cumsum(down)])
        in_step = seen[hi] - seen[lo] > 0
        held_before = down[np.maximum(lo - 1, 0)] & (lo > 0)  # still down from before the step
        out[:, col] = in_step | held_before
    return out


@dataclass
class Episode:
    replay: str
    map: str
    md5: str
    player: str
    mods: int
    offset: int
    length: int
    split: str


def build_dataset(pairs: list[Pair], out: str | Path, *, step_ms: float = DEFAULT_STEP_MS, k: int = DEFAULT_K,
                  val_fraction: float = 0.15, seed: int = 0, phases: int = 1, progress: bool = True) -> tuple[dict, list[Skipped]]:
    """Write the dataset for ``pairs`` to ``out``; returns (meta, skipped).

    ``phases`` > 1 adds copies seen on grids shifted by ``step_ms / phases`` (small time
    offsets that keep every rule true).  Written to a temporary folder, then renamed.
    """
    out = Path(out)
    md5s = sorted({p.replay.beatmap_md5 for p in pairs})
    order = np.random.default_rng(seed).permutation(len(md5s))
    n_val = int(round(len(md5s) * val_fraction)) if len(md5s) > 1 else 0
    val_maps = {md5s[i] for i in order[:n_val]}
    obs_parts, act_parts, episodes, skipped = [], [], [], []
    offset = 0
    maps: dict[tuple[str, int], Beatmap] = {}
    for pair in tqdm(pairs, desc="building sequences", unit="replay", disable=not progress):
        rp = pair.replay
        try:
            key = (str(pair.map_path), rp.mods)
            if key not in maps:
                maps[key] = load_beatmap(pair.map_path, mods=rp.mods)
            bm = maps[key]
            seqs = [replay_sequence(bm, rp, step_ms, k, phase * step_ms / phases) for phase in range(phases)]
        except OsuInputError as e:
            skipped.append(Skipped(pair.replay_path, str(e)))
            continue
        for obs, act in seqs:
            obs_parts.append(obs)
            act_parts.append(act)
            episodes.append(Episode(str(pair.replay_path), str(pair.map_path), rp.beatmap_md5, rp.player, rp.mods,
                                    offset, len(obs), "val" if rp.beatmap_md5 in val_maps else "train"))
            offset += len(obs)
    if not episodes:
        raise OsuInputError(f"{out}: no usable replay to build a dataset from ({len(skipped)} skipped)")
    meta = {
        "format_version": FORMAT_VERSION,
        "obs_size": obs_size(k),
        "k_objects": k,
        "step_ms": step_ms,
        "phases": phases,
        "frames": offset,
        "episodes": [e.__dict__ for e in episodes],
        "val_maps": sorted(val_maps),
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in skipped],
    }
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.save(tmp / "obs.npy", np.concatenate(obs_parts))
    np.save(tmp / "act.npy", np.concatenate(act_parts))
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return meta, skipped


def human_pairs(pairs: list[Pair], replays: str | Path) -> tuple[list[Pair], list[Skipped]]:
    """The pairs a human played, by the benchmark's own rules: replays in folders named
    for a non-human category (:func:`osu_env.library.category`: auto, autopilot, relax,
    stolen, timewarp) are left out, and so is any replay whose recording clock runs fast
    (a timewarp, :func:`agents.metrics.recording_clock_ms`), wherever it lies."""
    from .metrics import TIMEWARP_CLOCK_MS, recording_clock_ms

    kept, skipped = [], []
    for p in pairs:
        cat = category(p.replay_path, Path(replays), p.replay.mods)
        if cat != "human":
            skipped.append(Skipped(p.replay_path, f"filed as {cat}: not a human's play"))
        elif (clock := recording_clock_ms(p.replay.t_ms, rules.clock_rate(p.replay.mods))) < TIMEWARP_CLOCK_MS:
            skipped.append(Skipped(p.replay_path, f"recorded every {clock:.2f} ms of real time, faster than osu!'s "
                                                  f"60 Hz: a timewarped play"))
        else:
            kept.append(p)
    return kept, skipped


def build_from_folders(maps: str | Path, replays: str | Path, out: str | Path, progress: bool = True, **kwargs):
    """Pair replays with maps and build the dataset of human plays; (meta, every skipped
    file with why)."""
    pairs, skipped = pair_replays(maps, replays, progress)
    pairs, not_human = human_pairs(pairs, replays)
    skipped += not_human
    if not pairs:
        raise OsuInputError(f"{replays}: no human replay could be paired with a map under {maps} ({len(skipped)} skipped)")
    meta, more = build_dataset(pairs, out, progress=progress, **kwargs)
    return meta, skipped + more


class Dataset:
    """A built dataset, memory-mapped; samples training windows."""

    def __init__(self, path: str | Path):
        path = Path(path)
        meta_path = path / "meta.json"
        if not meta_path.exists():
            raise OsuInputError(f"{path}: not a dataset (no meta.json); build one with `osu-imitation dataset`")
        self.meta = json.loads(meta_path.read_text())
        if self.meta.get("format_version") != FORMAT_VERSION:
            raise OsuInputError(f"{path}: dataset format {self.meta.get('format_version')} is not {FORMAT_VERSION}; rebuild it")
        self.obs = np.load(path / "obs.npy", mmap_mode="r")
        self.act = np.load(path / "act.npy", mmap_mode="r")
        self.episodes = [Episode(**e) for e in self.meta["episodes"]]
        self.k = int(self.meta["k_objects"])

    def split(self, name: str) -> list[Episode]:
        return [e for e in self.episodes if e.split == name]

    def idle_steps(self, episodes: list[Episode], ahead_s: float) -> np.ndarray:
        """Rows of ``episodes`` where nothing is under way and the next object starts more
        than ``ahead_s`` seconds ahead: breaks and the long gaps a map leaves, where the
        cursor has nothing to follow."""
        G = GLOBAL_FEATURES

        def idle(o):  # object 0 present, not running, due after ahead_s
            return (o[:, G] > 0.5) & (o[:, G + 12] < 0.5) & (o[:, G + 1] > ahead_s)

        rows = [e.offset + np.flatnonzero(idle(self.obs[e.offset:e.offset + e.length])) for e in episodes]
        return np.concatenate(rows) if rows else np.empty(0, np.int64)

    def spinning_steps(self, episodes: list[Episode]) -> np.ndarray:
        """Rows of ``episodes`` where the next object is a spinner under way: rare (about
        2% of play) but where a policy must keep up a motion of its own.

        Plays with SpunOut are left out: the game turns their spinners at 287 RPM by itself
        (``rules.SPUN_OUT_VELOCITY``, the wiki's Spun Out), so the cursor there shows no one
        spinning.  In ``../shared/data`` one training replay (69yomi.osr: six spinners turned
        0-2.8 times a second, where the map's other players turn 3.3-6.2) was 5.6% of these rows."""
        rows = [e.offset + np.flatnonzero(spinning(self.obs[e.offset:e.offset + e.length]))
                for e in episodes if not e.mods & Mods.SpunOut]
        return np.concatenate(rows) if rows else np.empty(0, np.int64)

    def sample_windows(self, episodes: list[Episode], batch: int, length: int, rng: np.random.Generator,
                       anchors: np.ndarray | None = None, anchor_share: float = 0.0):
        """(obs (B, L, D), act (B, L, 4), prev_act (B, L, 4)) windows drawn in proportion
        to episode length; ``prev_act`` is the action one step earlier (zeros at a start).
        A share ``anchor_share`` of the windows is instead placed to contain a random row
        of ``anchors`` (e.g. :meth:`spinning_steps`), to oversample rare situations."""
        lengths = np.array([e.length for e in episodes], float)
        picks = rng.choice(len(episodes), size=batch, p=lengths / lengths.sum())
        anchored = (rng.random(batch) < anchor_share) if anchors is not None and len(anchors) else np.zeros(batch, bool)
        offsets = np.array([e.offset for e in episodes])
        D = self.obs.shape[1]
        obs = np.zeros((batch, length, D), np.float32)
        act = np.zeros((batch, length, 4), np.float32)
        prev = np.zeros((batch, length, 4), np.float32)
        for b, i in enumerate(picks):
            if anchored[b]:
                a = int(anchors[rng.integers(len(anchors))])
                i = int(np.searchsorted(offsets, a, side="right")) - 1
            e = episodes[i]
            n = min(length, e.length)
            if anchored[b]:
                lo, hi = max(e.offset, a - n + 1), min(a, e.offset + e.length - n)
                s = int(rng.integers(lo, hi + 1))
            else:
                s = e.offset + int(rng.integers(0, e.length - n + 1))
            obs[b, :n] = self.obs[s : s + n]
            act[b, :n] = self.act[s : s + n]
            prev[b, 1:n] = self.act[s : s + n - 1]
            if s > e.offset:
                prev[b, 0] = self.act[s - 1]
        return obs, act, prev
