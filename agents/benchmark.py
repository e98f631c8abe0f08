"""``osu-imitation benchmark``: how human and how accurate each player is, with the
benchmark's own sanity check printed beside every result.

The reference is a set of held-out human replays.  Every agent plays each reference
replay's map with that replay's mods, so an agent's windows are paired with a person's
on the same content; the two-sample classifier (:func:`agents.metrics.c2st`) then puts
each human player and the agent plays paired with them in the same fold.  Replays of
other categories found beside the humans (``auto``, ``autopilot``, ``relax``,
``stolen``, ``timewarp``; see :func:`osu_env.library.category`) are rows of their own.

Calibration, from the same folders:

- humans against machine-aimed play (the ``auto``/``autopilot`` replays plus this
  project's ``autoplay`` and ``flower`` on every human's map) must separate: AUC >= 0.95;
- humans against humans (disjoint sets of players, several random splits) must not:
  AUC near 0.5;
- ``relax`` and ``stolen`` are aimed by people, so the motion judge should rate them near
  human; ``timewarp`` is caught by the recording clock instead.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from osu_env import rules
from osu_env.beatmap import Beatmap, load_beatmap
from osu_env.errors import OsuInputError
from osu_env.judge import judge
from osu_env.library import Skipped, category, pair_replays
from osu_env.rules import Mods

from . import detectors, metrics
from .runner import make_agent, play

ROBOTIC = ("auto", "autopilot")  # replays whose cursor the game moved
HUMAN_AIMED = ("relax", "stolen", "timewarp")
CALIBRATION_AGENTS = ("autoplay", "flower")
MAX_WINDOWS = 300  # per play, so one long replay cannot outweigh a player's others
SEQ_MAX_WINDOWS = 150  # raw windows are 64 frames x 6 channels: 60 KB of them per play
HUMAN_SPLITS = 5  # random player splits averaged for human vs human
ROBOTIC_AUC_MIN = 0.95  # under every motion detector
MOTION_DETECTORS = ("gbt", "seq")  # what tells machine aim: the keys view sees only timing, and Autopilot's keys are a person's
HUMAN_AUC_TOLERANCE = 0.1  # "near 0.5": within 0.4-0.6
KINEMATIC_SAMPLE = 200_000  # values per distribution kept for the Wasserstein distances


@dataclass
class Sample:
    """One play reduced to what the benchmark measures."""

    player: str
    group: str  # the human player whose fold this play belongs to
    source: str
    map_md5: str
    counts: tuple[int, int, int, int]
    max_combo: int
    unstable_rate: float
    hit_errors: np.ndarray
    spinners: tuple[int, int]
    windows: np.ndarray
    kinematics: dict
    clock_ms: float
    frametime_ms: float
    snaps: int
    off_screen: float  # share of the play's time with the cursor beyond the screen (:func:`metrics.off_screen`)
    keys: metrics.KeyStats
    seq: np.ndarray  # raw windows for the ``seq`` detector
    key_windows: np.ndarray  # timing statistics for the ``keys`` view

    @property
    def objects(self) -> int:
        return sum(self.counts)


@dataclass
class Ref:
    """A human reference replay: the map and mods every agent plays in its place."""

    map_path: Path
    mods: int
    group: str


def measure(player: str, group: str, source: str, bm: Beatmap, t, x, y, keys, result, rng: np.random.Generator,
            game=None) -> Sample:
    """Everything the benchmark needs from one play, judged (``result``) or, where our
    judge refuses (Relax: the game pressed the keys), with the counts and combo osu!
    recorded in the replay ``game``."""
    phase = float(rng.random())
    grid, pos = metrics.frame_grid(t, bm, phase), metrics.resample(t, x, y, bm, phase)
    windows = _some(metrics.window_features(pos), MAX_WINDOWS, rng)
    seq = _some(detectors.seq_windows(t, keys, grid, pos), SEQ_MAX_WINDOWS, rng)
    key_windows = _some(detectors.key_windows(bm, t, keys, phase), MAX_WINDOWS, rng)
    if result is None:
        counts, combo, ur, errors, spinners = game.counts, game.max_combo, float("nan"), np.empty(0), (0, 0)
    else:
        errors = result.hit_error_ms[~np.isnan(result.hit_error_ms)]
        counts, combo, ur, spinners = result.counts, result.max_combo, result.unstable_rate, result.spinners_cleared
    return Sample(player, group, source, bm.md5, counts, combo, ur, errors, spinners, windows, metrics.kinematics(pos),
                  metrics.recording_clock_ms(t, bm.clock_rate), metrics.median_frametime_ms(t, bm.clock_rate),
                  metrics.snaps(bm, t, x, y), metrics.off_screen(pos), metrics.key_stats(bm, t, keys), seq, key_windows)


def _some(windows: np.ndarray, most: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``most`` of a play's windows, in order, so one long replay cannot
    outweigh a player's others."""
    return windows[np.sort(rng.choice(len(windows), most, replace=False))] if len(windows) > most else windows


class _Maps:
    """Beatmaps loaded once per (file, mods)."""

    def __init__(self):
        self.cache: dict[tuple[Path, int], Beatmap] = {}

    def __call__(self, path: Path, mods: int) -> Beatmap:
        if (path, mods) not in self.cache:
            self.cache[path, mods] = load_beatmap(path, mods=mods)
        return self.cache[path, mods]


class Workers:
    """The benchmark's work, a play or a two-sample test at a time, on ``jobs``
    processes (in this one when ``jobs`` is 1).

    Every task carries its own seed, so the results are the same for any ``jobs``
    (a test checks it).  Workers are spawned, not forked: a fork of a process whose
    torch or OpenMP threads have run can hang.  Each keeps its loaded maps and agents."""

    def __init__(self, jobs: int, agents: dict[str, tuple[Path | None, dict]], made: dict | None = None):
        self.jobs, self.agents = jobs, agents
        self.pool = None
        if jobs > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_start_worker, initargs=(agents,))
        else:
            _start_worker(agents, limit_threads=False)
            _WORKER["agents"].update(made or {})  # the agents already loaded serve this process

    def map(self, fn, tasks: list, desc: str, unit: str, progress: bool) -> list:
        results = map(fn, tasks) if self.pool is None else self.pool.map(fn, tasks)
        return list(tqdm(results, total=len(tasks), desc=desc, unit=unit, disable=not progress))

    def close(self):
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


_WORKER: dict = {}


def _start_worker(agents: dict, limit_threads: bool = True) -> None:
    if limit_threads:  # one thread per process: the processes are the parallelism
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(1)
        _WORKER["threads"] = threadpool_limits(1)
    _WORKER.update(maps=_Maps(), agent_specs=agents, agents={})


def _agent(name: str):
    made = _WORKER["agents"]
    if name not in made:
        checkpoint, options = _WORKER["agent_specs"].get(name, (None, {}))
        made[name] = make_agent(name, checkpoint, **options)
    return made[name]


def _measure_recorded(task) -> Sample | str:
    """One recorded replay judged and measured, or why it was skipped."""
    i, seed, cat, group, replay_path, map_path, rp = task
    try:
        bm = _WORKER["maps"](map_path, rp.mods)
        result = None if rp.mods & Mods.Relax else judge(bm, rp)
    except OsuInputError as e:
        return str(e)
    return measure(cat, group, str(replay_path), bm, bm.map_times(rp), rp.x, rp.y, rp.keys, result,
                   np.random.default_rng([seed, i]), rp)


def recorded(maps: Path, replays: Path, seed: int, workers: Workers, progress: bool = True):
    """Judge and measure every replay under ``replays``: ({category: [Sample]},
    [Ref] of the human ones, [Skipped])."""
    pairs, skipped = pair_replays(maps, replays, progress=progress, assisted=True)
    tasks = []
    for i, pair in enumerate(pairs):
        rp = pair.replay
        cat = category(pair.replay_path, replays, rp.mods)
        who = rp.player.strip() or pair.replay_path.stem
        group = f"{cat}:{who}" if cat == "human" else f"{cat}:{pair.replay_path.stem}"
        tasks.append((i, seed, cat, group, pair.replay_path, pair.map_path, rp))
    by_cat: dict[str, list[Sample]] = {}
    refs: list[Ref] = []
    for task, out in zip(tasks, workers.map(_measure_recorded, tasks, "measuring replays", "replay", progress)):
        _, _, cat, group, replay_path, map_path, rp = task
        if isinstance(out, str):
            skipped.append(Skipped(replay_path, out))
            continue
        by_cat.setdefault(cat, []).append(out)
        if cat == "human":
            refs.append(Ref(map_path, rp.mods, group))
    return by_cat, refs, skipped


def _play_ref(task) -> Sample:
    name, ref, seed, i, n = task
    bm = _WORKER["maps"](ref.map_path, ref.mods)
    p = play(_agent(name), bm, seed=seed * 100_003 + i)
    t, x, y, k = (np.asarray(c) for c in zip(*p.frames))
    return measure(name, ref.group, f"{name} on {bm.display_name}", bm, t, x, y, k, p.result,
                   np.random.default_rng([seed, 1 + n, zlib.crc32(name.encode())]))


def agent_samples(name: str, deterministic: bool, refs: list[Ref], seed: int, workers: Workers,
                  progress: bool = True) -> list[Sample]:
    """Agent ``name`` plays every reference's map with its mods (once per map and mods
    when it is ``deterministic``)."""
    tasks, seen = [], set()
    for i, ref in enumerate(refs):
        key = (ref.map_path, ref.mods)
        if deterministic and key in seen:
            continue
        seen.add(key)
        tasks.append((name, ref, seed, i, len(tasks)))
    return workers.map(_play_ref, tasks, f"playing {name}", "play", progress)


VIEW = {"gbt": "windows", "seq": "seq", "keys": "key_windows"}  # the Sample field each detector reads


def _windows(samples: list[Sample], detector: str) -> tuple[np.ndarray, np.ndarray]:
    x = [getattr(s, VIEW[detector]) for s in samples]
    g = [np.full(len(w), s.group) for s, w in zip(samples, x) if len(w)]
    x = [w for w in x if len(w)]
    return (np.concatenate(x), np.concatenate(g)) if x else (np.empty((0,) + detectors.WINDOW_SHAPE[detector]), np.empty(0, str))


Scores = dict  # detector -> (AUC, (low, high))


def _test(task) -> tuple[float, tuple[float, float]]:
    xa, ga, xb, gb, seed, detector = task
    return metrics.c2st(xa, ga, xb, gb, seed=seed, fit=detectors.FIT[detector])


class TwoSample:
    """The run's two-sample tests, gathered first and then run together (on all the
    workers at once): ``add`` names a test, ``run`` returns {name: Scores}."""

    def __init__(self, which: tuple[str, ...]):
        self.which, self.tasks, self.names = which, [], []

    def add(self, name, a: list[Sample], b: list[Sample], seed: int) -> None:
        for d in self.which:
            self.tasks.append(_windows(a, d) + _windows(b, d) + (seed, d))
            self.names.append((name, d))

    def run(self, workers: Workers, progress: bool) -> dict:
        out: dict = {}
        for (name, d), r in zip(self.names, workers.map(_test, self.tasks, "two-sample tests", "test", progress)):
            out.setdefault(name, {})[d] = r
        return out


def headline(scores: Scores) -> tuple[float, tuple[float, float]]:
    """The hardest detector's AUC and interval: a player is as human as its most
    telling view allows."""
    known = {d: v for d, v in scores.items() if np.isfinite(v[0])}
    if not known:
        return float("nan"), (float("nan"), float("nan"))
    return known[max(known, key=lambda d: known[d][0])]


def human_splits(humans: list[Sample], seed: int) -> list[tuple[list, list, int]]:
    """``HUMAN_SPLITS`` random splits of the players into disjoint halves, as (half a,
    half b, the test's seed); none when there are under 4 players.  One split's AUC
    swings by +-0.05 with which players land together, so the benchmark averages them."""
    players = sorted({s.group for s in humans})
    if len(players) < 4:
        return []
    out = []
    for r in range(HUMAN_SPLITS):
        perm = np.random.default_rng([seed, 7, r]).permutation(len(players))
        half = {players[i] for i in perm[: len(players) // 2]}
        out.append(([s for s in humans if s.group in half], [s for s in humans if s.group not in half], seed + r))
    return out


def averaged(runs: list[Scores], which: tuple[str, ...]) -> Scores:
    """Each detector's AUC and interval bounds averaged over the splits' tests."""
    if not runs:
        return {d: (float("nan"), (float("nan"), float("nan"))) for d in which}
    return {d: (float(np.mean([r[d][0] for r in runs])), (float(np.mean([r[d][1][0] for r in runs])),
                                                         float(np.mean([r[d][1][1] for r in runs]))))
            for d in which}


def _pooled(samples: list[Sample], key: str, rng: np.random.Generator) -> np.ndarray:
    v = np.concatenate([s.hit_errors if key == "hit_error" else s.kinematics[key] for s in samples] or [np.empty(0)])
    return rng.choice(v, KINEMATIC_SAMPLE, replace=False) if len(v) > KINEMATIC_SAMPLE else v


def summarize(samples: list[Sample], reference: list[Sample], scores: Scores, seed: int) -> dict:
    """A row: accuracy side from the judge, human-likeness side against ``reference``
    (``scores``: each detector's AUC, the headline being the highest)."""
    auc, ci = headline(scores)
    rng = np.random.default_rng(seed)
    counts = np.array([s.counts for s in samples])
    total = counts.sum(0)
    boots = counts[rng.integers(0, len(samples), (1000, len(samples)))].sum(1)
    acc_boot = rules.accuracy_percent(*boots.T)
    cleared = sum(s.spinners[0] for s in samples)
    spinners = sum(s.spinners[1] for s in samples)
    clocks = np.array([s.clock_ms for s in samples])
    urs = np.array([s.unstable_rate for s in samples])
    off = np.array([s.off_screen for s in samples])
    objects = int(total.sum())
    return {
        "plays": len(samples),
        "objects": objects,
        "n300": int(total[0]), "n100": int(total[1]), "n50": int(total[2]), "nmiss": int(total[3]),
        "accuracy": round(float(rules.accuracy_percent(*total)), 3),
        "accuracy_ci": [round(float(v), 3) for v in np.percentile(acc_boot, [2.5, 97.5])],
        "max_combo_median": float(np.median([s.max_combo for s in samples])),
        "unstable_rate": _round(float(np.nanmedian(urs)), 2) if np.isfinite(urs).any() else None,
        "spinners_cleared": round(cleared / spinners, 4) if spinners else None,
        "spinners": spinners,
        "c2st_auc": _round(auc),
        "c2st_auc_ci": [_round(ci[0]), _round(ci[1])],
        "detectors": _detector_rows(scores),
        "wasserstein": {k: _round(metrics.wasserstein(_pooled(samples, k, rng), _pooled(reference, k, rng)))
                        for k in ("speed", "acceleration", "jerk", "angle", "hit_error")},
        "snaps_per_1000_objects": round(1000 * sum(s.snaps for s in samples) / max(objects, 1), 2),
        "off_screen": _round(float(np.nanmean(off))) if np.isfinite(off).any() else None,
        "plays_off_screen": int((off > 0).sum()),
        "frametime_ms": _round(float(np.nanmedian(clocks))),
        "frametime_median_ms": _round(float(np.nanmedian([s.frametime_ms for s in samples]))),
        "timewarp_flagged": int((clocks < metrics.TIMEWARP_CLOCK_MS).sum()),
        "keys": _key_summary(samples, reference),
    }


def _detector_rows(scores: Scores) -> dict:
    return {d: {"auc": _round(auc), "ci": [_round(lo), _round(hi)]} for d, (auc, (lo, hi)) in scores.items()}


def _key_summary(samples: list[Sample], reference: list[Sample]) -> dict:
    """The timing half, pooled over plays: press length (median, and its 1-D Wasserstein
    distance to the reference's), alternation in streams, double taps per 1,000 circles,
    and the share of slider time a key was held."""
    k = [s.keys for s in samples]
    errors = np.concatenate([s.hit_errors for s in samples]) if samples else np.empty(0)
    press = np.concatenate([s.press_ms for s in k]) if k else np.empty(0)
    ref_press = np.concatenate([s.keys.press_ms for s in reference]) if reference else np.empty(0)
    pairs, circles, slider_ms = (sum(getattr(s, a) for s in k) for a in ("stream_pairs", "circles", "slider_ms"))
    return {
        "hit_error_mean_ms": _round(float(errors.mean()), 2) if errors.size else None,
        "press_ms_median": _round(float(np.median(press)), 1) if press.size else None,
        "w1_press_ms": _round(metrics.wasserstein(press, ref_press), 2),
        "stream_alternation": _round(sum(s.alternations for s in k) / pairs, 3) if pairs else None,
        "double_taps_per_1000_circles": round(1000 * sum(s.double_taps for s in k) / circles, 1) if circles else None,
        "slider_hold": _round(sum(s.slider_held_ms for s in k) / slider_ms, 3) if slider_ms else None,
    }


def _round(v, nd: int = 4):
    return None if v is None or not np.isfinite(v) else round(float(v), nd)


def parse_agents(spec: str, checkpoint: Path | None) -> list[tuple[str, Path | None]]:
    """``human,autoplay,bc=ckpt`` -> [(name, checkpoint)]; ``--checkpoint`` serves the
    trained ones named without ``=``."""
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, ck = item.partition("=")
        out.append((name, Path(ck) if ck else checkpoint))
    return out


def run(maps: Path, replays: Path, agents: list[tuple[str, Path | None]], *, seed: int = 0,
        held_out: set[str] | None = None, options: dict[str, dict] | None = None, progress: bool = True,
        which: tuple[str, ...] = detectors.DETECTORS, jobs: int = 1) -> dict:
    """The whole benchmark; returns what ``results.json`` holds.

    ``held_out``: md5s of the maps whose human replays are the reference (a dataset's
    validation maps); by default every human replay is.  Calibration always uses them all.
    ``options``: keyword arguments per agent name (e.g. ``{"bc": {"temperature": 0.3}}``).
    ``which``: the detectors (:mod:`agents.detectors`) each two-sample test runs.
    ``jobs``: processes for the plays and the tests (:class:`Workers`)."""
    options = options or {}
    specs = {name: (ck, options.get(name, {})) for name, ck in agents if name != "human"}
    made = {name: make_agent(name, ck, **kw) for name, (ck, kw) in specs.items()}  # fail fast, here
    workers = Workers(jobs, specs, made)
    try:
        return _run(Path(maps), Path(replays), agents, made, seed, held_out, which, workers, progress)
    finally:
        workers.close()


def _run(maps: Path, replays: Path, agents, made: dict, seed: int, held_out, which, workers: Workers, progress: bool) -> dict:
    by_cat, refs, skipped = recorded(maps, replays, seed, workers, progress)
    humans = by_cat.get("human", [])
    if not humans:
        raise OsuInputError(f"{replays}: no human replays paired with maps under {maps}; the benchmark compares players with humans")
    is_ref = [held_out is None or s.map_md5 in held_out for s in humans]
    reference = [s for s, keep in zip(humans, is_ref) if keep]
    ref_refs = [r for r, keep in zip(refs, is_ref) if keep]
    if not reference:
        raise OsuInputError(f"{replays}: none of the human replays is on a held-out map")

    plays: dict[str, list[Sample]] = {}
    for name in dict.fromkeys([n for n, _ in agents if n != "human"] + list(CALIBRATION_AGENTS)):
        deterministic = getattr(made.get(name) or make_agent(name), "deterministic", False)
        plays[name] = agent_samples(name, deterministic, refs if name in CALIBRATION_AGENTS else ref_refs, seed,
                                    workers, progress)
    in_reference = {r.group for r in ref_refs}

    tests = TwoSample(which)
    splits = human_splits(humans, seed)
    for r, (a, b, s) in enumerate(splits):
        tests.add(("human", r), a, b, s)
    ref_splits = splits if held_out is None else human_splits(reference, seed)
    if held_out is not None:
        for r, (a, b, s) in enumerate(ref_splits):
            tests.add(("reference", r), a, b, s)
    robotic = [s for c in ROBOTIC for s in by_cat.get(c, [])] + [s for n in CALIBRATION_AGENTS for s in plays[n]]
    tests.add("robotic", humans, robotic, seed)
    parts = {c: by_cat[c] for c in ROBOTIC if c in by_cat} | {n: plays[n] for n in CALIBRATION_AGENTS}
    for name, samples in parts.items():
        tests.add(("source", name), humans, samples, seed)
    mine = {name: [s for s in plays[name] if held_out is None or s.map_md5 in held_out] for name, _ in agents if name != "human"}
    for name, samples in mine.items():
        tests.add(("player", name), reference, samples, seed)
    for cat, samples in by_cat.items():
        if cat != "human":
            tests.add(("player", cat), reference, samples, seed)
    done = tests.run(workers, progress)

    hh = averaged([done["human", r] for r in range(len(splits))], which)
    hr = done["robotic"]
    per_source = {}
    for name, samples in parts.items():
        scores = done["source", name]
        auc, ci = headline(scores)
        per_source[name] = {"auc": _round(auc), "ci": [_round(ci[0]), _round(ci[1])], "plays": len(samples),
                            "detectors": _detector_rows(scores)}
    players = {}
    for name, _ in agents:
        if name == "human":
            key = "human" if held_out is None else "reference"
            scores = averaged([done[key, r] for r in range(len(ref_splits))], which)
            a, b = ref_splits[0][:2] if ref_splits else (reference, [])
            row, halves = summarize(reference, reference, scores, seed), summarize(a, b, scores, seed)
            players["human"] = row | {
                "wasserstein": halves["wasserstein"],
                "keys": row["keys"] | {"w1_press_ms": halves["keys"]["w1_press_ms"]},
                "note": "held-out humans: two disjoint halves of the players against each other"}
        else:
            players[name] = summarize(mine[name], reference, done["player", name], seed)
    for cat, samples in by_cat.items():
        if cat != "human":
            players[cat] = summarize(samples, reference, done["player", cat], seed) | {"recorded": True}

    human_clocks = np.array([s.clock_ms for s in humans])
    hr_auc, hr_ci = headline(hr)
    hh_auc, hh_ci = headline(hh)
    motion = [d for d in which if d in MOTION_DETECTORS]
    calibration = {
        "detectors": list(which),
        "human_vs_robotic_auc": _round(hr_auc),
        "human_vs_robotic_ci": [_round(hr_ci[0]), _round(hr_ci[1])],
        "human_vs_robotic_detectors": _detector_rows(hr),
        "human_vs_robotic_ok": bool(all(hr[d][0] >= ROBOTIC_AUC_MIN for d in motion)),
        "robotic_sources": per_source,
        "human_vs_human_auc": _round(hh_auc),
        "human_vs_human_ci": [_round(hh_ci[0]), _round(hh_ci[1])],
        "human_vs_human_detectors": _detector_rows(hh),
        "human_vs_human_ok": bool(all(abs(v[0] - 0.5) <= HUMAN_AUC_TOLERANCE for v in hh.values())),
        "human_players": len({s.group for s in humans}),
        "human_replays": len(humans),
        "human_aimed": {c: {"auc": players[c]["c2st_auc"], "plays": players[c]["plays"],
                            "detectors": players[c]["detectors"],
                            "timewarp_flagged": players[c]["timewarp_flagged"]} for c in HUMAN_AIMED if c in players},
        "humans_flagged_timewarp": int((human_clocks < metrics.TIMEWARP_CLOCK_MS).sum()),
        "human_frametime_ms_range": [_round(float(np.nanmin(human_clocks)), 2), _round(float(np.nanmax(human_clocks)), 2)],
        "timewarp_clock_ms": metrics.TIMEWARP_CLOCK_MS,
    }
    return {
        "seed": seed,
        "maps": str(maps), "replays": str(replays),
        "reference": {"replays": len(reference), "players": len(in_reference),
                      "held_out_maps": sorted(held_out) if held_out is not None else None},
        "calibration": calibration,
        "players": players,
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in skipped],
        "features": {"gbt": list(metrics.FEATURE_NAMES), "seq": list(detectors.SEQ_CHANNELS),
                     "keys": list(detectors.KEY_FEATURE_NAMES)},
    }


def calibration_text(results: dict) -> str:
    """The sanity check printed with every result."""
    c = results["calibration"]
    ok = lambda b: "ok" if b else "NOT MET"  # noqa: E731
    each = lambda rows: "  ".join(f"{d} {_fmt(v['auc'])}" for d, v in rows.items())  # noqa: E731
    motion = [d for d in c["detectors"] if d in MOTION_DETECTORS]
    lines = [
        f"calibration ({c['human_replays']} human replays, {c['human_players']} players; detectors {', '.join(c['detectors'])}):",
        f"  human vs machine-aimed: AUC {_fmt(c['human_vs_robotic_auc'])} [{_fmt(c['human_vs_robotic_ci'][0])}, "
        f"{_fmt(c['human_vs_robotic_ci'][1])}]  ({each(c['human_vs_robotic_detectors'])}; needs >= {ROBOTIC_AUC_MIN} "
        f"under {', '.join(motion) or 'no motion detector'}: {ok(c['human_vs_robotic_ok'])})",
    ]
    for name, s in c["robotic_sources"].items():
        lines.append(f"    {name:10s} {s['plays']:4d} plays  AUC {_fmt(s['auc'])} [{_fmt(s['ci'][0])}, {_fmt(s['ci'][1])}]"
                     f"  ({each(s['detectors'])})")
    lines.append(f"  human vs human (disjoint players, {HUMAN_SPLITS} splits): AUC {_fmt(c['human_vs_human_auc'])} "
                 f"[{_fmt(c['human_vs_human_ci'][0])}, {_fmt(c['human_vs_human_ci'][1])}]  "
                 f"({each(c['human_vs_human_detectors'])}; each near 0.5: {ok(c['human_vs_human_ok'])})")
    for name, s in c["human_aimed"].items():
        if name == "timewarp":
            lines.append(f"  timewarp: {s['timewarp_flagged']}/{s['plays']} caught by frametime (recording clock < "
                         f"{c['timewarp_clock_ms']} ms; humans {c['human_frametime_ms_range'][0]}-"
                         f"{c['human_frametime_ms_range'][1]} ms, {c['humans_flagged_timewarp']} flagged); "
                         f"AUC {_fmt(s['auc'])} ({each(s['detectors'])})")
        elif name == "relax":
            lines.append(f"  relax: aimed by a person, tapped by the game: the keys view should catch it: "
                         f"AUC {_fmt(s['auc'])} ({each(s['detectors'])}; {s['plays']} plays)")
        else:
            lines.append(f"  {name}: aimed and tapped by a person: AUC {_fmt(s['auc'])} ({each(s['detectors'])}; "
                         f"{s['plays']} plays)")
    return "\n".join(lines)


def _fmt(v, nd: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{nd}f}"


def table(results: dict) -> str:
    """Markdown, one row per player."""
    which = results["calibration"]["detectors"]
    head = ("| player | plays | accuracy % [95% CI] | UR | spinners | C2ST AUC [95% CI] | "
            + "".join(f"AUC {d} | " for d in which) +
            "W1 speed | W1 accel | W1 jerk | W1 angle | W1 hit error | hit error mean | press ms | W1 press | "
            "stream alternation | double taps/1k | slider hold | snaps/1k | off screen % (plays) | frametime ms | fast-clock flags |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, p in results["players"].items():
        w, kv = p["wasserstein"], p["keys"]
        spin = "-" if p["spinners_cleared"] is None else f"{100 * p['spinners_cleared']:.1f}%"
        lines.append(
            f"| {name} | {p['plays']} | {p['accuracy']:.2f} [{p['accuracy_ci'][0]:.2f}, {p['accuracy_ci'][1]:.2f}] | "
            f"{_fmt(p['unstable_rate'], 0)} | {spin} | {_fmt(p['c2st_auc'])} [{_fmt(p['c2st_auc_ci'][0])}, {_fmt(p['c2st_auc_ci'][1])}] | "
            + "".join(f"{_fmt(p['detectors'][d]['auc'])} | " for d in which) +
            f"{_fmt(w['speed'], 2)} | {_fmt(w['acceleration'], 2)} | {_fmt(w['jerk'], 2)} | {_fmt(w['angle'], 1)} | "
            f"{_fmt(w['hit_error'], 1)} | {_fmt(kv['hit_error_mean_ms'], 1)} | {_fmt(kv['press_ms_median'], 0)} | {_fmt(kv['w1_press_ms'], 1)} | "
            f"{_fmt(kv['stream_alternation'], 2)} | {_fmt(kv['double_taps_per_1000_circles'], 1)} | {_fmt(kv['slider_hold'], 3)} | "
            f"{p['snaps_per_1000_objects']:.1f} | {_fmt(None if p['off_screen'] is None else 100 * p['off_screen'], 2)} ({p['plays_off_screen']}) | {_fmt(p['frametime_ms'], 2)} | "
            f"{p['timewarp_flagged']}/{p['plays']} |")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    """Accuracy against the classifier's AUC, with both intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6))
    for name, p in results["players"].items():
        if p["c2st_auc"] is None:
            continue
        acc, (alo, ahi) = p["accuracy"], p["accuracy_ci"]
        auc, (lo, hi) = p["c2st_auc"], p["c2st_auc_ci"]
        marker = "s" if p.get("recorded") else ("*" if name == "human" else "o")
        ax.errorbar(acc, auc, xerr=[[acc - alo], [ahi - acc]],
                    yerr=[[auc - (lo if lo is not None else auc)], [(hi if hi is not None else auc) - auc]],
                    fmt=marker, capsize=3, label=name)
        ax.annotate(name, (acc, auc), textcoords="offset points", xytext=(5, 5), fontsize=9)
    ax.axhline(0.5, color="grey", ls="--", lw=1)
    ax.text(ax.get_xlim()[0], 0.505, " indistinguishable from humans", color="grey", fontsize=8, va="bottom")
    ax.set_xlabel("accuracy (%), osu!stable formula")
    ax.set_ylabel("two-sample classifier ROC AUC vs held-out humans\n(0.5 = human-like, 1 = always told apart)")
    ax.set_ylim(0.0, 1.05)
    ax.set_title("human-likeness against accuracy")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(results: dict, out: Path) -> dict[str, Path]:
    """``results.json``, ``results.md`` and ``tradeoff.png`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "md": out / "results.md", "png": out / "tradeoff.png"}
    paths["json"].write_text(json.dumps(results, indent=1))
    md = ["# Benchmark: human-likeness against accuracy", "", f"seed {results['seed']}; reference: "
          f"{results['reference']['replays']} human replays by {results['reference']['players']} players", "",
          table(results), "", "```", calibration_text(results), "```"]
    if results["skipped"]:
        md += ["", f"Skipped {len(results['skipped'])} file(s):", ""] + [f"- `{s['path']}`: {s['reason']}" for s in results["skipped"]]
    paths["md"].write_text("\n".join(md) + "\n")
    plot(results, paths["png"])
    return paths
