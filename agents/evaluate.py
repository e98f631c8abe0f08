"""Score any agent on a set of maps in the env: accuracy, counts, UR, spinners, per map and overall."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from osu_env import rules
from osu_env.beatmap import Beatmap

from .runner import play


@dataclass
class MapScore:
    map: str
    objects: int
    n300: int
    n100: int
    n50: int
    nmiss: int
    max_combo: int
    accuracy: float
    unstable_rate: float
    hit_error_mean_ms: float | None  # None where nothing was pressed for (so --json stays JSON)
    spinners_cleared: int
    spinners: int


def evaluate(agent, beatmaps: list[Beatmap], seed: int = 0, progress: bool = True) -> tuple[list[MapScore], dict]:
    """Play every map once with ``agent``; (per-map scores, overall summary).

    Overall accuracy is osu!'s formula over all objects together; unstable rate is the
    median of the maps'; the mean hit error (press minus object time, as osu!'s results
    screen shows it: a player who arrives late presses late) is over every press of
    every map; spinners cleared is a rate over all spinners.
    """
    scores, errors = [], []
    for bm in tqdm(beatmaps, desc=f"evaluating {getattr(agent, 'name', 'agent')}", unit="map", disable=not progress):
        r = play(agent, bm, seed=seed).result
        cleared, spinners = r.spinners_cleared
        e = r.hit_error_ms[~np.isnan(r.hit_error_ms)]
        errors.append(e)
        scores.append(MapScore(bm.display_name, bm.n_objects, r.n300, r.n100, r.n50, r.nmiss, r.max_combo,
                               r.accuracy, r.unstable_rate, _mean(e), cleared, spinners))
    counts = [sum(getattr(s, c) for s in scores) for c in ("n300", "n100", "n50", "nmiss")]
    spinners = sum(s.spinners for s in scores)
    summary = {
        "maps": len(scores),
        "objects": sum(s.objects for s in scores),
        "n300": counts[0], "n100": counts[1], "n50": counts[2], "nmiss": counts[3],
        "accuracy": rules.accuracy_percent(*counts),
        "unstable_rate": float(np.median([s.unstable_rate for s in scores])) if scores else 0.0,
        "hit_error_mean_ms": _mean(np.concatenate(errors)) if errors else None,
        "spinners_cleared": sum(s.spinners_cleared for s in scores) / spinners if spinners else 1.0,
        "spinners": spinners,
    }
    return scores, summary


def _mean(e: np.ndarray) -> float | None:
    return float(e.mean()) if e.size else None


def _signed_ms(v: float | None) -> str:
    return f"{'-':>6s}" if v is None else f"{v:+6.1f}"


def format_table(name: str, scores: list[MapScore], summary: dict) -> str:
    """The scores as a text table, the map column as wide as the longest name (the
    difficulty is at the end of a name, so cutting names would hide it)."""
    w = max([len(s.map) for s in scores] + [len(name) + 8, 3])
    lines = [f"{'map':{w}s} {'300':>5s} {'100':>5s} {'50':>4s} {'miss':>5s} {'acc%':>7s} {'UR':>6s} {'err ms':>6s} {'spin':>6s}"]
    for s in scores:
        lines.append(f"{s.map:{w}s} {s.n300:5d} {s.n100:5d} {s.n50:4d} {s.nmiss:5d} {s.accuracy:7.2f} {s.unstable_rate:6.1f} {_signed_ms(s.hit_error_mean_ms)} {s.spinners_cleared:>3d}/{s.spinners:<2d}")
    lines.append(f"{name + ' overall':{w}s} {summary['n300']:5d} {summary['n100']:5d} {summary['n50']:4d} {summary['nmiss']:5d} "
                 f"{summary['accuracy']:7.2f} {summary['unstable_rate']:6.1f} {_signed_ms(summary['hit_error_mean_ms'])} "
                 f"{100 * summary['spinners_cleared']:5.1f}%")
    return "\n".join(lines)


def maps_in(paths: list[str | Path]) -> list[Path]:
    """``.osu`` files named directly or found (recursively) in the folders named."""
    found = []
    for p in map(Path, paths):
        found += sorted(p.rglob("*.osu")) if p.is_dir() else [p]
    return found


def held_out_maps(paths: list[Path], dataset: str | Path) -> list[Path]:
    """The ``.osu`` files among ``paths`` that are a dataset's validation maps, picked by
    md5 before any is parsed."""
    import hashlib

    from .dataset import Dataset

    held = set(Dataset(dataset).meta["val_maps"])
    return [p for p in paths if p.is_file() and hashlib.md5(p.read_bytes()).hexdigest() in held]
