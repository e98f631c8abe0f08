"""How fast the judge is, beside circleguard's on the same files in the same run.

    taskset -c 0 python scripts/bench_judge.py [--data ../shared/data] [--rounds 3] [--reference]
                                               [--circleguard-venv bench/circleguard] [--no-circleguard]

Every human replay in the manifest is judged once per round by ours (the compiled
judge; ``--reference`` adds the readable Python one) and, in a subprocess, by
circleguard 5.4.3's ``judgments``; each replay keeps its best time over the rounds.
Maps and replays are parsed outside the timing, for both.  Ours keeps a map's flattened
tables once built (a batch judges many replays of a map), so its first round, which
builds them, is printed apart.  circleguard pins osrparse 6
and we need 7, so it lives in a venv of its own (created on first use with ``pip install
circleguard==5.4.3``) and never becomes our dependency.  circleguard judges circles and
slider heads only (no ticks, ends, spinners or notelock), so the ratio flatters it.

The compiled judge's compile time is measured apart, in fresh processes: once with an
empty numba cache (what the first run on a machine pays) and once loading the cache.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from osu_env.beatmap import load_beatmap  # noqa: E402
from osu_env.corpus import data_dir  # noqa: E402
from osu_env.errors import OsuInputError  # noqa: E402
from osu_env.judge import judge  # noqa: E402
from osu_env.replay import load_replay  # noqa: E402

from fresh_process import printed_seconds  # noqa: E402

CIRCLEGUARD = "circleguard==5.4.3"
_FIRST_JUDGE = """
import sys, time
from osu_env.beatmap import load_beatmap
from osu_env.replay import load_replay
from osu_env.judge import judge
rp = load_replay(sys.argv[2]); bm = load_beatmap(sys.argv[1], mods=rp.mods)
t1 = time.perf_counter(); judge(bm, rp); t2 = time.perf_counter()
print(t2 - t1)
"""


def circleguard_python(venv_dir: Path) -> Path | None:
    """The python of a venv holding circleguard, made on first use; None if it cannot be."""
    python = venv_dir / "bin" / "python"
    if python.exists():
        return python
    print(f"creating {venv_dir} with {CIRCLEGUARD} ...", flush=True)
    try:
        venv.create(venv_dir, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", CIRCLEGUARD], check=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as e:
        print(f"circleguard: not available ({e}); timing ours alone")
        return None
    return python


def summary(name: str, per_replay: list[float], big: list[bool], frames: int) -> str:
    full = [t for t, b in zip(per_replay, big) if b]
    return (f"{name:>12}: median {1000 * statistics.median(per_replay):8.3f} ms/replay, "
            f"{1000 * statistics.median(full):8.3f} ms/full song, "
            f"{frames / sum(per_replay):13,.0f} frames/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=data_dir())
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reference", action="store_true", help="time the readable Python judge too")
    ap.add_argument("--circleguard-venv", type=Path, default=ROOT / "bench" / "circleguard")
    ap.add_argument("--no-circleguard", action="store_true")
    args = ap.parse_args()
    rows, pairs = [], []
    with open(args.data / "manifest.csv", newline="") as f:
        for m in csv.DictReader(f):
            if m["category"] != "human":
                continue
            try:
                rp = load_replay(args.data / m["replay_file"])
                pairs.append((load_beatmap(args.data / m["map_file"], mods=rp.mods), rp))
                rows.append([str(args.data / m["map_file"]), str(args.data / m["replay_file"])])
            except OsuInputError as e:
                print(f"skipped: {e}")
    cold, warm = printed_seconds(_FIRST_JUDGE, (rows[0][0], rows[0][1]), runs=2)
    print(f"compiled judge, first judgement in a fresh process: {cold:.1f} s with an empty numba cache, "
          f"{warm:.2f} s loading the cache")
    for bm, rp in pairs:  # load the compiled code here too, outside the timing
        judge(bm, rp)
        break
    python = None if args.no_circleguard else circleguard_python(args.circleguard_venv)
    timers = {"ours": lambda bm, rp: judge(bm, rp)}
    if args.reference:
        timers["reference"] = lambda bm, rp: judge(bm, rp, reference=True)
    best = {name: [float("inf")] * len(pairs) for name in [*timers, "circleguard"]}
    first = [0.0] * len(pairs)  # ours in round 1, when it also flattens each map (kept after)
    for r in range(args.rounds):
        for name, fn in timers.items():
            for k, (bm, rp) in enumerate(pairs):
                t0 = time.perf_counter()
                fn(bm, rp)
                dt = time.perf_counter() - t0
                best[name][k] = min(best[name][k], dt)
                if r == 0 and name == "ours":
                    first[k] = dt
        if python is not None:
            out = subprocess.run([str(python), str(ROOT / "scripts" / "circleguard_times.py")], input=json.dumps(rows),
                                 capture_output=True, text=True, check=True)
            for k, t in enumerate(json.loads(out.stdout)):
                best["circleguard"][k] = min(best["circleguard"][k], float("inf") if t is None else t)
    # every timer on the replays circleguard judged too (all of them without circleguard)
    keep = [k for k in range(len(pairs)) if python is None or best["circleguard"][k] < float("inf")]
    big = [pairs[k][0].n_objects >= 100 for k in keep]
    frames = sum(pairs[k][1].n_frames for k in keep)
    judged_by = " (those circleguard could judge too)" if python is not None else ""
    print(f"replays: {len(keep)} of {len(pairs)}{judged_by}, frames: {frames:,}, "
          f"full songs (>= 100 objects): {sum(big)}; best of {args.rounds} rounds per replay")
    print(summary("ours, 1st", [first[k] for k in keep], big, frames) + "  (round 1: each map's tables built too)")
    for name in best:
        if name == "circleguard" and python is None:
            continue
        print(summary(name, [best[name][k] for k in keep], big, frames))
    if python is not None:
        ours, cg = [best["ours"][k] for k in keep], [best["circleguard"][k] for k in keep]
        full = lambda a: [t for t, b in zip(a, big) if b]  # noqa: E731
        print(f"circleguard / ours: {statistics.median(cg) / statistics.median(ours):.1f}x per replay, "
              f"{statistics.median(full(cg)) / statistics.median(full(ours)):.1f}x per full song "
              f"(median of per-replay ratios {statistics.median(c / o for c, o in zip(cg, ours)):.1f}x)")


if __name__ == "__main__":
    main()
