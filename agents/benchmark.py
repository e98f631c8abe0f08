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

from . import metrics
from .runner import make_agent, play

ROBOTIC = ("auto", "autopilot")  # replays whose cursor the game moved
HUMAN_AIMED = ("relax", "stolen", "timewarp")
CALIBRATION_AGENTS = ("autoplay", "flower")
MAX_WINDOWS = 300  # per play, so one long replay cannot outweigh a player's others
HUMAN_SPLITS = 5  # random player splits averaged for human vs human
ROBOTIC_AUC_MIN = 0.95
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
    keys: metrics.KeyStats

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
    pos = metrics.resample(t, x, y, bm, phase=float(rng.random()))
    windows = metrics.window_features(pos)
    if len(windows) > MAX_WINDOWS:
        windows = windows[np.sort(rng.choice(len(windows), MAX_WINDOWS, replace=False))]
    if result is None:
        counts, combo, ur, errors, spinners = game.counts, game.max_combo, float("nan"), np.empty(0), (0, 0)
    else:
        errors = result.hit_error_ms[~np.isnan(result.hit_error_ms)]
        counts, combo, ur, spinners = result.counts, result.max_combo, result.unstable_rate, result.spinners_cleared
    return Sample(player, group, source, bm.md5, counts, combo, ur, errors, spinners, windows, metrics.kinematics(pos),
                  metrics.recording_clock_ms(t, bm.clock_rate), metrics.median_frametime_ms(t, bm.clock_rate),
                  metrics.snaps(bm, t, x, y), metrics.key_stats(bm, t, keys))


class _Maps:
    """Beatmaps loaded once per (file, mods)."""

    def __init__(self):
        self.cache: dict[tuple[Path, int], Beatmap] = {}

    def __call__(self, path: Path, mods: int) -> Beatmap:
        if (path, mods) not in self.cache:
            self.cache[path, mods] = load_beatmap(path, mods=mods)
        return self.cache[path, mods]


def recorded(maps: Path, replays: Path, seed: int, load: _Maps, progress: bool = True):
    """Judge and measure every replay under ``replays``: ({category: [Sample]},
    [Ref] of the human ones, [Skipped])."""
    pairs, skipped = pair_replays(maps, replays, progress=progress, assisted=True)
    by_cat: dict[str, list[Sample]] = {}
    refs: list[Ref] = []
    for i, pair in enumerate(tqdm(pairs, desc="measuring replays", unit="replay", disable=not progress)):
        rp = pair.replay
        cat = category(pair.replay_path, replays, rp.mods)
        who = rp.player.strip() or pair.replay_path.stem
        group = f"{cat}:{who}" if cat == "human" else f"{cat}:{pair.replay_path.stem}"
        try:
            bm = load(pair.map_path, rp.mods)
            result = None if rp.mods & Mods.Relax else judge(bm, rp)
        except OsuInputError as e:
            skipped.append(Skipped(pair.replay_path, str(e)))
            continue
        rng = np.random.default_rng([seed, i])
        by_cat.setdefault(cat, []).append(
            measure(cat, group, str(pair.replay_path), bm, bm.map_times(rp), rp.x, rp.y, rp.keys, result, rng, rp))
        if cat == "human":
            refs.append(Ref(pair.map_path, rp.mods, group))
    return by_cat, refs, skipped


def agent_samples(name: str, agent, refs: list[Ref], seed: int, load: _Maps, progress: bool = True) -> list[Sample]:
    """``agent`` plays every reference's map with its mods (once per map and mods when
    the agent is deterministic)."""
    samples, seen = [], set()
    for i, ref in enumerate(tqdm(refs, desc=f"playing {name}", unit="play", disable=not progress)):
        key = (ref.map_path, ref.mods)
        if getattr(agent, "deterministic", False) and key in seen:
            continue
        seen.add(key)
        bm = load(ref.map_path, ref.mods)
        p = play(agent, bm, seed=seed * 100_003 + i)
        t, x, y, k = (np.asarray(c) for c in zip(*p.frames))
        samples.append(measure(name, ref.group, f"{name} on {bm.display_name}", bm, t, x, y, k, p.result,
                               np.random.default_rng([seed, 1 + len(samples), zlib.crc32(name.encode())])))
    return samples


def _windows(samples: list[Sample]) -> tuple[np.ndarray, np.ndarray]:
    x = [s.windows for s in samples if len(s.windows)]
    g = [np.full(len(s.windows), s.group) for s in samples if len(s.windows)]
    return (np.concatenate(x), np.concatenate(g)) if x else (np.empty((0, len(metrics.FEATURE_NAMES))), np.empty(0, str))


def c2st_samples(a: list[Sample], b: list[Sample], seed: int) -> tuple[float, tuple[float, float]]:
    """Can plays ``b`` be told from plays ``a`` by their motion?"""
    xa, ga = _windows(a)
    xb, gb = _windows(b)
    return metrics.c2st(xa, ga, xb, gb, seed=seed)


def human_vs_human(humans: list[Sample], seed: int) -> tuple[float, tuple[float, float], tuple[list, list]]:
    """Disjoint halves of the players told apart, averaged over ``HUMAN_SPLITS`` random
    splits (one split's AUC swings by +-0.05 with which players land together).
    Returns (AUC, interval, the first split's halves)."""
    players = sorted({s.group for s in humans})
    if len(players) < 4:
        return float("nan"), (float("nan"), float("nan")), (humans, [])
    aucs, los, his, first = [], [], [], None
    for r in range(HUMAN_SPLITS):
        perm = np.random.default_rng([seed, 7, r]).permutation(len(players))
        half = {players[i] for i in perm[: len(players) // 2]}
        a = [s for s in humans if s.group in half]
        b = [s for s in humans if s.group not in half]
        first = first or (a, b)
        auc, (lo, hi) = c2st_samples(a, b, seed + r)
        aucs.append(auc), los.append(lo), his.append(hi)
    return float(np.mean(aucs)), (float(np.mean(los)), float(np.mean(his))), first


def _pooled(samples: list[Sample], key: str, rng: np.random.Generator) -> np.ndarray:
    v = np.concatenate([s.hit_errors if key == "hit_error" else s.kinematics[key] for s in samples] or [np.empty(0)])
    return rng.choice(v, KINEMATIC_SAMPLE, replace=False) if len(v) > KINEMATIC_SAMPLE else v


def summarize(samples: list[Sample], reference: list[Sample], auc, ci, seed: int) -> dict:
    """A row: accuracy side from the judge, human-likeness side against ``reference``."""
    rng = np.random.default_rng(seed)
    counts = np.array([s.counts for s in samples])
    total = counts.sum(0)
    boots = counts[rng.integers(0, len(samples), (1000, len(samples)))].sum(1)
    acc_boot = rules.accuracy_percent(*boots.T)
    cleared = sum(s.spinners[0] for s in samples)
    spinners = sum(s.spinners[1] for s in samples)
    clocks = np.array([s.clock_ms for s in samples])
    urs = np.array([s.unstable_rate for s in samples])
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
        "wasserstein": {k: _round(metrics.wasserstein(_pooled(samples, k, rng), _pooled(reference, k, rng)))
                        for k in ("speed", "acceleration", "jerk", "angle", "hit_error")},
        "snaps_per_1000_objects": round(1000 * sum(s.snaps for s in samples) / max(objects, 1), 2),
        "frametime_ms": _round(float(np.nanmedian(clocks))),
        "frametime_median_ms": _round(float(np.nanmedian([s.frametime_ms for s in samples]))),
        "timewarp_flagged": int((clocks < metrics.TIMEWARP_CLOCK_MS).sum()),
        "keys": _key_summary(samples, reference),
    }


def _key_summary(samples: list[Sample], reference: list[Sample]) -> dict:
    """The timing half, pooled over plays: press length (median, and its 1-D Wasserstein
    distance to the reference's), alternation in streams, double taps per 1,000 circles,
    and the share of slider time a key was held."""
    k = [s.keys for s in samples]
    press = np.concatenate([s.press_ms for s in k]) if k else np.empty(0)
    ref_press = np.concatenate([s.keys.press_ms for s in reference]) if reference else np.empty(0)
    pairs, circles, slider_ms = (sum(getattr(s, a) for s in k) for a in ("stream_pairs", "circles", "slider_ms"))
    return {
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
        held_out: set[str] | None = None, options: dict[str, dict] | None = None, progress: bool = True) -> dict:
    """The whole benchmark; returns what ``results.json`` holds.

    ``held_out``: md5s of the maps whose human replays are the reference (a dataset's
    validation maps); by default every human replay is.  Calibration always uses them all.
    ``options``: keyword arguments per agent name (e.g. ``{"bc": {"temperature": 0.3}}``)."""
    options = options or {}
    made = {name: make_agent(name, ck, **options.get(name, {})) for name, ck in agents if name != "human"}  # fail fast
    load = _Maps()
    by_cat, refs, skipped = recorded(Path(maps), Path(replays), seed, load, progress)
    humans = by_cat.get("human", [])
    if not humans:
        raise OsuInputError(f"{replays}: no human replays paired with maps under {maps}; the benchmark compares players with humans")
    is_ref = [held_out is None or load(r.map_path, r.mods).md5 in held_out for r in refs]
    reference = [s for s, keep in zip(humans, is_ref) if keep]
    ref_refs = [r for r, keep in zip(refs, is_ref) if keep]
    if not reference:
        raise OsuInputError(f"{replays}: none of the human replays is on a held-out map")

    plays: dict[str, list[Sample]] = {}
    for name in dict.fromkeys([n for n, _ in agents if n != "human"] + list(CALIBRATION_AGENTS)):
        agent = made.get(name) or make_agent(name)
        plays[name] = agent_samples(name, agent, refs if name in CALIBRATION_AGENTS else ref_refs, seed, load, progress)
    in_reference = {r.group for r in ref_refs}

    steps = tqdm(total=3 + len(agents) + len(by_cat), desc="two-sample tests", unit="test", disable=not progress)
    hh_auc, hh_ci, (half_a, half_b) = human_vs_human(humans, seed)
    steps.update()
    robotic = [s for c in ROBOTIC for s in by_cat.get(c, [])] + [s for n in CALIBRATION_AGENTS for s in plays[n]]
    hr_auc, hr_ci = c2st_samples(humans, robotic, seed)
    steps.update()
    parts = {c: by_cat[c] for c in ROBOTIC if c in by_cat} | {n: plays[n] for n in CALIBRATION_AGENTS}
    per_source = {}
    for name, samples in parts.items():
        auc, ci = c2st_samples(humans, samples, seed)
        per_source[name] = {"auc": _round(auc), "ci": [_round(ci[0]), _round(ci[1])], "plays": len(samples)}
    steps.update()

    players = {}
    for name, _ in agents:
        if name == "human":
            if held_out is None:
                auc, ci, a, b = hh_auc, hh_ci, half_a, half_b
            else:
                auc, ci, (a, b) = human_vs_human(reference, seed)
            row, halves = summarize(reference, reference, auc, ci, seed), summarize(a, b, auc, ci, seed)
            players["human"] = row | {
                "wasserstein": halves["wasserstein"],
                "keys": row["keys"] | {"w1_press_ms": halves["keys"]["w1_press_ms"]},
                "note": "held-out humans: two disjoint halves of the players against each other"}
        else:
            mine = [s for s in plays[name] if held_out is None or s.map_md5 in held_out]
            auc, ci = c2st_samples(reference, mine, seed)
            players[name] = summarize(mine, reference, auc, ci, seed)
        steps.update()
    for cat, samples in by_cat.items():
        if cat != "human":
            auc, ci = c2st_samples(reference, samples, seed)
            players[cat] = summarize(samples, reference, auc, ci, seed) | {"recorded": True}
        steps.update()
    steps.close()

    human_clocks = np.array([s.clock_ms for s in humans])
    calibration = {
        "human_vs_robotic_auc": _round(hr_auc),
        "human_vs_robotic_ci": [_round(hr_ci[0]), _round(hr_ci[1])],
        "human_vs_robotic_ok": bool(hr_auc >= ROBOTIC_AUC_MIN),
        "robotic_sources": per_source,
        "human_vs_human_auc": _round(hh_auc),
        "human_vs_human_ci": [_round(hh_ci[0]), _round(hh_ci[1])],
        "human_vs_human_ok": bool(abs(hh_auc - 0.5) <= HUMAN_AUC_TOLERANCE),
        "human_players": len({s.group for s in humans}),
        "human_replays": len(humans),
        "human_aimed": {c: {"auc": players[c]["c2st_auc"], "plays": players[c]["plays"],
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
        "features": list(metrics.FEATURE_NAMES),
    }


def calibration_text(results: dict) -> str:
    """The sanity check printed with every result."""
    c = results["calibration"]
    ok = lambda b: "ok" if b else "NOT MET"  # noqa: E731
    lines = [
        f"calibration ({c['human_replays']} human replays, {c['human_players']} players):",
        f"  human vs machine-aimed: AUC {_fmt(c['human_vs_robotic_auc'])} [{_fmt(c['human_vs_robotic_ci'][0])}, "
        f"{_fmt(c['human_vs_robotic_ci'][1])}]  (needs >= {ROBOTIC_AUC_MIN}: {ok(c['human_vs_robotic_ok'])})",
    ]
    for name, s in c["robotic_sources"].items():
        lines.append(f"    {name:10s} {s['plays']:4d} plays  AUC {_fmt(s['auc'])} [{_fmt(s['ci'][0])}, {_fmt(s['ci'][1])}]")
    lines.append(f"  human vs human (disjoint players, {HUMAN_SPLITS} splits): AUC {_fmt(c['human_vs_human_auc'])} "
                 f"[{_fmt(c['human_vs_human_ci'][0])}, {_fmt(c['human_vs_human_ci'][1])}]  "
                 f"(near 0.5: {ok(c['human_vs_human_ok'])})")
    for name, s in c["human_aimed"].items():
        if name == "timewarp":
            lines.append(f"  timewarp: {s['timewarp_flagged']}/{s['plays']} caught by frametime (recording clock < "
                         f"{c['timewarp_clock_ms']} ms; humans {c['human_frametime_ms_range'][0]}-"
                         f"{c['human_frametime_ms_range'][1]} ms, {c['humans_flagged_timewarp']} flagged); motion AUC {_fmt(s['auc'])}")
        else:
            lines.append(f"  {name}: aimed by a person, so a motion judge should rate it human: motion AUC {_fmt(s['auc'])} "
                         f"({s['plays']} plays)")
    return "\n".join(lines)


def _fmt(v, nd: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{nd}f}"


def table(results: dict) -> str:
    """Markdown, one row per player."""
    head = ("| player | plays | accuracy % [95% CI] | UR | spinners | C2ST AUC [95% CI] | W1 speed | W1 accel | "
            "W1 jerk | W1 angle | W1 hit error | press ms | W1 press | stream alternation | double taps/1k | "
            "slider hold | snaps/1k | frametime ms | fast-clock flags |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, p in results["players"].items():
        w, kv = p["wasserstein"], p["keys"]
        spin = "-" if p["spinners_cleared"] is None else f"{100 * p['spinners_cleared']:.1f}%"
        lines.append(
            f"| {name} | {p['plays']} | {p['accuracy']:.2f} [{p['accuracy_ci'][0]:.2f}, {p['accuracy_ci'][1]:.2f}] | "
            f"{_fmt(p['unstable_rate'], 0)} | {spin} | {_fmt(p['c2st_auc'])} [{_fmt(p['c2st_auc_ci'][0])}, {_fmt(p['c2st_auc_ci'][1])}] | "
            f"{_fmt(w['speed'], 2)} | {_fmt(w['acceleration'], 2)} | {_fmt(w['jerk'], 2)} | {_fmt(w['angle'], 1)} | "
            f"{_fmt(w['hit_error'], 1)} | {_fmt(kv['press_ms_median'], 0)} | {_fmt(kv['w1_press_ms'], 1)} | "
            f"{_fmt(kv['stream_alternation'], 2)} | {_fmt(kv['double_taps_per_1000_circles'], 1)} | {_fmt(kv['slider_hold'], 3)} | "
            f"{p['snaps_per_1000_objects']:.1f} | {_fmt(p['frametime_ms'], 2)} | "
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
